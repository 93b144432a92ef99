/**
 * A RowSink whose SQLite work (LZ4, inserts, the index build) runs in a worker thread
 * (sqlite-worker.ts), so generating, hashing and tree building on this thread overlap
 * with writing: the two halves cost about the same.
 *
 * Rows go over in batches of a few MiB, each one ArrayBuffer transferred (not copied).
 * The generator is synchronous, so flow control is a shared counter of batches in
 * flight: past MAX_IN_FLIGHT this thread blocks in Atomics.wait until the worker takes
 * one (memory stays bounded), and finish() blocks until the worker reports the result
 * in shared memory. The worker receives messages while this thread is blocked.
 */
import { existsSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Checkpoint } from '../store/checkpoint.js';
import type { RowSink, RowStats } from './bulk-sqlite.js';

/** Send a batch once it holds this many bytes of blobs. */
const BATCH_BYTES = 2 << 20;
/** Batches sent but not yet written (bounds the memory between the threads). */
const MAX_IN_FLIGHT = 4;
/** How long one Atomics.wait lasts before the worker's state is checked again (ms). */
const WAIT_SLICE_MS = 1000;

/** Int32 slots of the control block. */
export const CTL = { inFlight: 0, state: 1, errorLength: 2 } as const;
export const STATE = { running: 0, done: 1, failed: 2, aborted: 3 } as const;
/** Byte offsets in the shared block: Int32 control words, Float64 stats, error text. */
export const STATS_OFFSET = 16;
export const ERROR_OFFSET = 64;
export const SHARED_BYTES = ERROR_OFFSET + 4096;

/** Messages to the worker. */
export type WorkerMessage =
  | { type: 'rows'; batch: ArrayBuffer }
  | { type: 'finish'; ckpt: Checkpoint | readonly Checkpoint[] }
  | { type: 'abort' };

export interface WorkerData {
  path: string;
  shared: SharedArrayBuffer;
}

const WORKER_URL = new URL('./sqlite-worker.js', import.meta.url);
/** From src/ (vitest runs TypeScript in-process; worker threads get plain Node): dist/. */
const DIST_WORKER_URL = new URL('../../dist/gen/sqlite-worker.js', import.meta.url);

function workerPath(): string {
  const own = fileURLToPath(WORKER_URL);
  if (existsSync(own)) return own;
  const dist = fileURLToPath(DIST_WORKER_URL);
  if (existsSync(dist)) return dist;
  throw new Error(`store generator worker not found at ${own} or ${dist}: run \`npm run build:ts\``);
}

/**
 * Batch layout: u32 row count, u32 digest size, u32 blob length per row, then the
 * digests, then the blobs end to end.
 */
export function encodeBatch(digests: readonly Uint8Array[], blobs: readonly Uint8Array[], blobBytes: number): ArrayBuffer {
  const n = blobs.length;
  const ds = n > 0 ? digests[0]!.length : 0;
  const head = 8 + 4 * n;
  const buf = new ArrayBuffer(head + n * ds + blobBytes);
  const words = new Uint32Array(buf, 0, 2 + n);
  const bytes = new Uint8Array(buf);
  words[0] = n;
  words[1] = ds;
  let at = head + n * ds;
  for (let i = 0; i < n; i++) {
    words[2 + i] = blobs[i]!.length;
    bytes.set(digests[i]!, head + i * ds);
    bytes.set(blobs[i]!, at);
    at += blobs[i]!.length;
  }
  return buf;
}

/** Calls fn(digest, blob) for each row of a batch (views into it). */
export function decodeBatch(buf: ArrayBuffer, fn: (digest: Uint8Array, blob: Uint8Array) => void): void {
  const head = new Uint32Array(buf, 0, 2);
  const n = head[0]!;
  const ds = head[1]!;
  const lengths = new Uint32Array(buf, 8, n);
  const bytes = new Uint8Array(buf);
  const digestsAt = 8 + 4 * n;
  let at = digestsAt + n * ds;
  for (let i = 0; i < n; i++) {
    const len = lengths[i]!;
    fn(bytes.subarray(digestsAt + i * ds, digestsAt + (i + 1) * ds), bytes.subarray(at, at + len));
    at += len;
  }
}

export class WorkerRows implements RowSink {
  readonly path: string;
  readonly #worker: Worker;
  readonly #ctl: Int32Array;
  readonly #shared: SharedArrayBuffer;
  #digests: Uint8Array[] = [];
  #blobs: Uint8Array[] = [];
  #bytes = 0;
  #closed = false;

  constructor(path: string) {
    this.path = path;
    this.#shared = new SharedArrayBuffer(SHARED_BYTES);
    this.#ctl = new Int32Array(this.#shared, 0, 4);
    const data: WorkerData = { path, shared: this.#shared };
    this.#worker = new Worker(workerPath(), { workerData: data });
    this.#worker.unref(); // results come through shared memory; never keep the process alive
  }

  add(digest: Uint8Array, blob: Uint8Array): void {
    this.#digests.push(digest);
    this.#blobs.push(blob);
    this.#bytes += blob.length;
    if (this.#bytes >= BATCH_BYTES) this.#send();
  }

  #failure(): Error | undefined {
    const state = Atomics.load(this.#ctl, CTL.state);
    if (state !== STATE.failed) return undefined;
    const n = Atomics.load(this.#ctl, CTL.errorLength);
    const text = new TextDecoder().decode(new Uint8Array(this.#shared, ERROR_OFFSET, n).slice());
    return new Error(`${this.path}: ${text}`);
  }

  /** Blocks while ctl[index] satisfies `busy`; throws if the worker failed. */
  #waitWhile(index: number, busy: (v: number) => boolean): void {
    for (;;) {
      const err = this.#failure();
      if (err) throw err;
      const v = Atomics.load(this.#ctl, index);
      if (!busy(v)) return;
      Atomics.wait(this.#ctl, index, v, WAIT_SLICE_MS);
    }
  }

  #send(): void {
    if (this.#blobs.length === 0) return;
    const batch = encodeBatch(this.#digests, this.#blobs, this.#bytes);
    this.#digests = [];
    this.#blobs = [];
    this.#bytes = 0;
    this.#waitWhile(CTL.inFlight, (v) => v >= MAX_IN_FLIGHT);
    Atomics.add(this.#ctl, CTL.inFlight, 1);
    this.#post({ type: 'rows', batch }, [batch]);
  }

  #post(msg: WorkerMessage, transfer: ArrayBuffer[] = []): void {
    this.#worker.postMessage(msg, transfer);
  }

  finish(ckpt: Checkpoint | readonly Checkpoint[]): RowStats {
    this.#send();
    this.#post({ type: 'finish', ckpt });
    this.#waitWhile(CTL.state, (v) => v === STATE.running);
    this.#closed = true;
    const s = new Float64Array(this.#shared, STATS_OFFSET, 4);
    return { rows: s[0]!, lateDuplicates: s[1]!, indexMs: s[2]!, finishMs: s[3]! };
  }

  /** Stop the worker and delete the partial file (blocks until it has). */
  abort(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#post({ type: 'abort' });
    try {
      this.#waitWhile(CTL.state, (v) => v === STATE.running);
    } catch {
      /* it failed on its own: its file is removed below */
    }
    rmSync(this.path, { force: true });
  }
}
