/**
 * Pool worker entry (compiled to dist/compress/worker.js, loaded by pool.ts). Two tasks:
 * - the default export: one chunk compressed into one complete gzip member / bzip2 or xz
 *   stream (the filters). The input chunk arrives in a SharedArrayBuffer the filter
 *   recycles (or, where there is none, a transferred ArrayBuffer).
 * - `deflateBatch` (piscina's `name` run option): the members of one zip write(), each
 *   raw-deflated on its own, in one message each way.
 * Codec instances live as long as the worker.
 *
 * The result goes back by structured clone, not piscina's move(): it is the compressed
 * chunk (~1/10 of KVS input, a ~0.1 ms copy), while importing piscina's main module
 * in every worker to get move() costs ~40 ms of start-up per worker.
 */
import { getCompressor, type Codec, type GzipEngine } from './codecs.js';

export interface CompressTask {
  codec: Codec;
  gzipEngine?: GzipEngine;
  /** Shared (read-only here until we return) or transferred in. */
  input: SharedArrayBuffer | ArrayBuffer;
  /** Bytes of `input` that hold data (the last chunk of a stream is short). */
  length: number;
}

/**
 * Exactly the output bytes in an ArrayBuffer of their own: structured clone copies a
 * view's WHOLE buffer, and node:zlib can return a slice of Buffer's shared pool.
 */
function exact(out: Uint8Array): ArrayBuffer {
  const buf = out.buffer;
  if (buf instanceof ArrayBuffer && out.byteOffset === 0 && out.byteLength === buf.byteLength) return buf;
  return out.slice().buffer as ArrayBuffer;
}

export default async function compressTask(task: CompressTask): Promise<ArrayBuffer> {
  const compress = await getCompressor(task.codec, task.gzipEngine);
  return exact(compress(new Uint8Array(task.input, 0, task.length)));
}

/**
 * One zip write() batch (src/pack/zip/batch.ts): the members' bodies back to back in ONE
 * buffer (shared and recycled by the writer, or transferred), their names (a few KiB,
 * cloned: the writer keeps them for the central directory) and FIELDS numbers per
 * member. One task per batch, not per member: a hand-off costs about as much as
 * deflating a KVS value.
 */
export interface DeflateBatchTask {
  /** Member bodies back to back: shared (read-only here until we return) or transferred in. */
  bodies: SharedArrayBuffer | ArrayBuffer;
  /** Bytes of `bodies` in use (a recycled shared buffer is longer). */
  bodiesLength: number;
  /** UTF-8 names back to back. */
  names: Uint8Array;
  fields: Uint32Array;
  level: number;
  /**
   * Where to lay the result out (shared, recycled by the writer, at least resultBound()
   * long): the task then returns only its length, and no result bytes are copied through
   * a message. Without it the result comes back as its own ArrayBuffer.
   */
  output?: SharedArrayBuffer;
}

/** The zip code, loaded by the first deflate task: filter-only workers never load it. */
let zipBatch: Promise<typeof import('../pack/zip/batch.js')> | null = null;

/**
 * Named task `deflateBatch` (layout: src/pack/zip/batch.ts). The result goes into the
 * writer's shared `output` when there is one, so no result bytes cross by message.
 */
export async function deflateBatch(task: DeflateBatchTask): Promise<ArrayBuffer | number> {
  const { layOutMembers, layOutMembersInto } = await (zipBatch ??= import('../pack/zip/batch.js'));
  const bodies = new Uint8Array(task.bodies, 0, task.bodiesLength);
  if (task.output) return layOutMembersInto(new Uint8Array(task.output), task.names, bodies, task.fields, task.level);
  return exact(layOutMembers(task.names, bodies, task.fields, task.level));
}
