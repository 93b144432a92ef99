/**
 * Archive chunk buffers, recycled between the packers that fill them (Chunker) and the
 * stages that finish with them (the compression filter once it has copied a chunk, the
 * file and stdout sinks once a chunk is written).
 *
 * Why: a dump emitted a fresh 1 MiB buffer per chunk, and every fresh buffer costs a
 * zero-fill and page faults (system time of the 100,000-job dump: 3.6-5.6 s before,
 * 2.2-3.4 s after; BENCHMARKS.md). Dropped chunks are also freed only when V8 next
 * collects, after tens of MiB of external memory: glibc's main heap at the peak of a
 * 1M-key .tar.gz dump went from 147 to 119 MiB (peak RSS moved less: other threads').
 *
 * Safety: only buffers handed out here are ever taken back, each at most once per hand-out
 * (`lent` tracks it), so a chunk a caller keeps (a library user reading dump() directly
 * never releases) is simply not recycled. Consumers release a chunk only when nothing
 * else can still read it.
 */

/** Free buffers kept for reuse; more than a dump has in flight is memory for nothing. */
const MAX_FREE = 8;

const free: ArrayBuffer[] = [];
/** Buffers handed out by takeChunkBuffer and not released since. */
const lent = new WeakSet<ArrayBuffer>();

/** A buffer of `size` bytes for a packer to fill (stale bytes: write before reading). */
export function takeChunkBuffer(size: number): Uint8Array {
  for (let i = free.length - 1; i >= 0; i--) {
    if (free[i]!.byteLength !== size) continue;
    const buf = free[i]!;
    free[i] = free[free.length - 1]!;
    free.pop();
    lent.add(buf);
    return new Uint8Array(buf);
  }
  const fresh = new ArrayBuffer(size);
  lent.add(fresh);
  return new Uint8Array(fresh);
}

/** The stage that received `chunk` is done with it; recycles it if it came from here. */
export function releaseChunk(chunk: Uint8Array): void {
  const buf = chunk.buffer;
  if (!(buf instanceof ArrayBuffer) || !lent.has(buf)) return;
  lent.delete(buf);
  if (free.length < MAX_FREE) free.push(buf);
}

/** Free buffers held now (tests). */
export function freeChunkBuffers(): number {
  return free.length;
}
