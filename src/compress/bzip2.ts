/**
 * `.tar.bz2`: concatenated bzip2 streams, block size 9 (`bzip2 -9`), one stream per chunk,
 * compressed on the worker pool by bzip2-wasm (bzip2 1.0.8 compiled to WASM). Each stream
 * is byte-identical to `bzip2 -9` of the same chunk.
 */
import { chunkedFilter, type ChunkedCodec, type ChunkedFilterOptions } from './chunked.js';

/**
 * Bytes per bzip2 stream: one 900 kB block, as pbzip2 does. Measured on 100 MB of KVS-like
 * tar (bench/results/compress.md): ~20% less CPU than 4 MiB streams (the WASM heap stays
 * in cache), for a 2.5% lower ratio (16.89, = pbzip2; 4 MiB: 17.33, bzip2 -9: 17.37).
 */
export const BZIP2_CHUNK_SIZE = 900_000;
/** A cold pool costs ~2 MiB of inline bzip2 time (bench/compress-inline.mjs): > one chunk. */
export const BZIP2_INLINE_BELOW = BZIP2_CHUNK_SIZE;

export const BZIP2_CODEC: ChunkedCodec = { codec: 'bzip2', chunkSize: BZIP2_CHUNK_SIZE, inlineBelow: BZIP2_INLINE_BELOW };

export function bzip2Filter(opts: ChunkedFilterOptions = {}): TransformStream<Uint8Array, Uint8Array> {
  return chunkedFilter(BZIP2_CODEC, opts);
}
