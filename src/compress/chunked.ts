/**
 * The engine behind the gzip, bzip2 and xz filters: cut the byte stream into fixed-size
 * chunks, compress each INDEPENDENTLY on the worker pool into one complete gzip member /
 * bzip2 stream / xz stream, and emit the results in input order. Concatenated members
 * are standard (RFC 1952 §2.2, bzip2 and xz multi-stream), so gzip, bzip2, xz, GNU tar,
 * bsdtar and flux restore read the output as one file.
 *
 * Memory is bounded whatever the input size: at most `TASKS_PER_WORKER * threads` chunks
 * exist at once (queued, compressing, or compressed but waiting for an earlier one), plus
 * the chunk being filled. All of them are handed to the pool as soon as they are full, so
 * each worker has its next chunk queued before it finishes the current one: a walk that
 * keeps the main thread busy without turning the event loop cannot leave a worker idle.
 * When the window is full, transform() awaits the oldest chunk, so the TransformStream
 * accepts no more input while the pool is saturated. Output order is the
 * queue order, never completion order: the bytes are the same for any thread count.
 */
import type { FilterOptions } from './filter.js';
import { getCompressor, type AsyncChunkCompressor, type Codec, type GzipEngine, type XzEngine } from './codecs.js';
import { compressOnPool, defaultThreads, prewarm, TASKS_PER_WORKER } from './pool.js';
import { releaseChunk } from '../util/chunk-recycler.js';
import { tracked, type Tracked } from '../util/promise.js';

export interface ChunkedCodec {
  codec: Codec;
  /** Bytes per independently compressed member/stream (measured per codec). */
  chunkSize: number;
  /**
   * Chunks shorter than this are compressed on the calling thread: below it, starting or
   * messaging a worker costs more than the compression itself (measured per codec).
   */
  inlineBelow: number;
  gzipEngine?: GzipEngine;
  xzEngine?: XzEngine;
  /**
   * Where this runtime can compress the codec off-thread without a worker (gzip: node:zlib
   * on libuv's pool), its loader: used instead of the worker pool when it yields one.
   */
  offThread?: () => Promise<AsyncChunkCompressor | null>;
}

export interface ChunkedFilterOptions extends FilterOptions {
  /** Override the codec's chunk size (tests, tuning). */
  chunkSize?: number;
  /** Override the inline threshold (tests: 0 forces every chunk onto the pool). */
  inlineBelow?: number;
  /** Observe each chunk as it is handed to a compressor (tests: read-ahead accounting). */
  onChunk?: (index: number, length: number) => void;
}

/**
 * Chunk buffers, recycled. Allocating a fresh buffer per chunk cost more main-thread
 * time than everything else the filter does (zero-fill and page faults, contended by the
 * compressing workers: ~1 s per 100 MB in a profile), so buffers are SharedArrayBuffers
 * the workers read in place and that are reused once their chunk is compressed. Without
 * SharedArrayBuffer (a browser that is not cross-origin isolated), each chunk gets a
 * fresh ArrayBuffer that is transferred, and nothing is recycled.
 */
function chunkBuffers(size: number): { take(): Uint8Array; give(buf: Uint8Array): void } {
  const free: Uint8Array[] = [];
  const shared = typeof SharedArrayBuffer === 'function';
  return {
    take: () => free.pop() ?? new Uint8Array(shared ? new SharedArrayBuffer(size) : new ArrayBuffer(size)),
    give: (buf) => {
      if (buf.buffer instanceof ArrayBuffer) return; // transferred: detached now
      free.push(buf);
    },
  };
}

export function chunkedFilter(spec: ChunkedCodec, opts: ChunkedFilterOptions = {}): TransformStream<Uint8Array, Uint8Array> {
  const threads = Math.max(1, Math.floor(opts.threads ?? defaultThreads()));
  const chunkSize = opts.chunkSize ?? spec.chunkSize;
  const inlineBelow = opts.inlineBelow ?? spec.inlineBelow;
  if (!(chunkSize >= 1)) throw new RangeError(`chunk size must be at least 1 byte, got ${chunkSize}`);
  const window = TASKS_PER_WORKER * threads;
  const buffers = chunkBuffers(chunkSize);
  /** Chunks' results in input order: finished heads go out without waiting. */
  const queue: Tracked<Uint8Array>[] = [];
  let chunkIndex = 0;
  let fill: Uint8Array | null = null;
  let filled = 0;
  // The off-thread compressor, if any: then the worker pool is never started.
  // A gzip engine asked for by name (fflate) is honoured: that one runs on the pool.
  const offThread = spec.offThread && spec.gzipEngine === undefined ? spec.offThread() : null;
  let warmed = offThread !== null;
  if (opts.prewarm && !warmed && chunkSize >= inlineBelow) {
    warmed = true;
    prewarm(spec.codec, threads, spec.gzipEngine, spec.xzEngine);
  }

  // No more than `window` chunks are ever queued (drain() below), so every one goes to
  // the pool at once: piscina spreads them TASKS_PER_WORKER deep over the workers.
  const compressChunk = async (buf: Uint8Array, length: number): Promise<Uint8Array> => {
    try {
      if (length < inlineBelow) {
        const compress = await getCompressor(spec.codec, spec.gzipEngine, spec.xzEngine);
        return compress(buf.subarray(0, length));
      }
      // Off-thread, as on the pool, all `window` queued chunks run at once, so no libuv
      // thread waits for this busy thread to start its next one (libuv's pool is sized for
      // that plus the file writes: UV_THREADPOOL_SIZE in flux-dump's shebang).
      const off = await offThread;
      if (off) return await off(buf.subarray(0, length));
      // The buffer holds this chunk alone: shared with (or transferred to) the worker.
      return await compressOnPool(spec.codec, buf.buffer, length, threads, spec.gzipEngine, spec.xzEngine);
    } finally {
      buffers.give(buf); // only now: the worker may read it until its task settles
    }
  };

  const submit = (buf: Uint8Array, length: number): void => {
    const index = chunkIndex++; // not inside `onChunk?.(...)`: that skips its arguments
    opts.onChunk?.(index, length);
    queue.push(tracked(compressChunk(buf, length)));
  };

  /**
   * Emit chunks from the head in order: every one already finished, then wait for more
   * until at most `keep` remain queued.
   */
  const drain = async (controller: TransformStreamDefaultController<Uint8Array>, keep: number): Promise<void> => {
    while (queue.length > 0 && (queue.length > keep || queue[0]!.settled)) {
      const out = await queue[0]!.promise;
      queue.shift();
      controller.enqueue(out);
    }
  };

  return new TransformStream<Uint8Array, Uint8Array>({
    async transform(chunk, controller) {
      // Once the input reaches half the inline threshold, it will most likely need the
      // pool: start the workers now, while the first chunk is still being filled.
      if (!warmed && chunkIndex === 0 && filled + chunk.length >= inlineBelow / 2 && chunkSize >= inlineBelow) {
        warmed = true;
        prewarm(spec.codec, threads, spec.gzipEngine, spec.xzEngine);
      }
      let off = 0;
      while (off < chunk.length) {
        fill ??= buffers.take();
        const n = Math.min(chunkSize - filled, chunk.length - off);
        // The one copy: into a buffer we own, so a worker can read it later.
        fill.set(n === chunk.length ? chunk : chunk.subarray(off, off + n), filled);
        filled += n;
        off += n;
        if (filled === chunkSize) {
          submit(fill, filled);
          fill = null;
          filled = 0;
          // Pool saturated: wait for the oldest chunk before taking more input.
          await drain(controller, window - 1);
        }
      }
      releaseChunk(chunk); // copied: the packer may refill it
      await drain(controller, window - 1); // finished chunks go out as soon as they can
    },
    async flush(controller) {
      // An empty stream still becomes one valid (empty) member, as `gzip </dev/null` does.
      if (filled > 0 || chunkIndex === 0) submit(fill ?? buffers.take(), filled);
      fill = null;
      await drain(controller, 0);
    },
  });
}
