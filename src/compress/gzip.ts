/**
 * `.tar.gz` / `.tgz`: concatenated gzip members, level 6, one member per chunk, compressed
 * on the worker pool with node:zlib (fflate where node:zlib is absent). Every member has
 * MTIME 0 and OS 3 (Unix), so the output depends only on the input bytes and the chunk
 * size, never on the clock, the platform or the thread count.
 */
import { chunkedFilter, type ChunkedCodec, type ChunkedFilterOptions } from './chunked.js';
import { loadNodeGzipAsync } from './codecs.js';

/**
 * Bytes per gzip member. Measured on 100 MB of KVS-like tar (bench/results/compress.md):
 * 0.5-1 MiB is fastest and uses the least CPU (4 MiB: +40% CPU, twice the memory); 1 MiB
 * keeps the ratio within 1% of one single member (11.43 vs 11.52; pigz 11.07).
 */
export const GZIP_CHUNK_SIZE = 1 << 20;
/**
 * Chunks below this compress on the calling thread. A cold pool costs ~0.2-0.4 s before
 * its first result, in which zlib compresses well over one chunk
 * (bench/compress-inline.mjs), so an input under one chunk never starts the pool.
 */
export const GZIP_INLINE_BELOW = GZIP_CHUNK_SIZE;

export const GZIP_CODEC: ChunkedCodec = {
  codec: 'gzip',
  chunkSize: GZIP_CHUNK_SIZE,
  inlineBelow: GZIP_INLINE_BELOW,
  // node:zlib on libuv's threads: no worker isolates (~20-40 MiB less at peak).
  offThread: loadNodeGzipAsync,
};

export function gzipFilter(opts: ChunkedFilterOptions = {}): TransformStream<Uint8Array, Uint8Array> {
  return chunkedFilter(GZIP_CODEC, opts);
}
