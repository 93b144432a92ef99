/**
 * Pool worker entry (compiled to dist/compress/worker.js, loaded by pool.ts): one chunk
 * compressed into one complete gzip member / bzip2 or xz stream (the filters). The input
 * chunk arrives in a SharedArrayBuffer the filter recycles (or, where there is none, a
 * transferred ArrayBuffer). Codec instances live as long as the worker. (Other modules'
 * tasks run on the same workers by file and name: see runTask in pool.ts.)
 *
 * The result goes back by structured clone, not piscina's move(): it is the compressed
 * chunk (~1/10 of KVS input, a ~0.1 ms copy), while importing piscina's main module
 * in every worker to get move() costs ~40 ms of start-up per worker.
 */
import { getCompressor, type Codec, type GzipEngine, type XzEngine } from './codecs.js';
import { exactBuffer } from '../util/bytes.js';

export interface CompressTask {
  codec: Codec;
  gzipEngine?: GzipEngine;
  xzEngine?: XzEngine;
  /** Shared (read-only here until we return) or transferred in. */
  input: SharedArrayBuffer | ArrayBuffer;
  /** Bytes of `input` that hold data (the last chunk of a stream is short). */
  length: number;
}

export default async function compressTask(task: CompressTask): Promise<ArrayBuffer> {
  const compress = await getCompressor(task.codec, task.gzipEngine, task.xzEngine);
  return exactBuffer(compress(new Uint8Array(task.input, 0, task.length)));
}
