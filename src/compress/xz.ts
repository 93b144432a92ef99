/**
 * `.tar.xz`: concatenated xz streams, preset 6 (`xz -6`, CRC64 check), one stream per
 * chunk, compressed on the worker pool by @napi-rs/lzma: its prebuilt Rust addon where
 * it loads, else the same encoder compiled to WebAssembly (codecs.ts, xz-wasm.ts).
 */
import { chunkedFilter, type ChunkedCodec, type ChunkedFilterOptions } from './chunked.js';
import type { XzEngine } from './codecs.js';

/**
 * Bytes per xz stream. Measured (bench/results/compress.md): 4 MiB keeps the ratio of one
 * single stream (15.62; 1 MiB: 15.51) at the least CPU; preset 6 allocates its ~90 MiB
 * encoder per stream, which 4 MiB of input amortises.
 */
export const XZ_CHUNK_SIZE = 4 << 20;
/** Below this, inline beats a cold pool (bench/compress-inline.mjs: break-even ~1.3 MiB). */
export const XZ_INLINE_BELOW = 1 << 20;

export const XZ_CODEC: ChunkedCodec = { codec: 'xz', chunkSize: XZ_CHUNK_SIZE, inlineBelow: XZ_INLINE_BELOW };

export function xzFilter(opts: ChunkedFilterOptions & { xzEngine?: XzEngine } = {}): TransformStream<Uint8Array, Uint8Array> {
  return chunkedFilter(opts.xzEngine ? { ...XZ_CODEC, xzEngine: opts.xzEngine } : XZ_CODEC, opts);
}
