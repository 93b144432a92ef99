/**
 * The store, on its own thread. Restore's main thread reads the archive, hashes and
 * builds the tree; SQLite inserts (or content.files writes) run in one worker
 * (store-worker.ts) on the other core. Blobs are copied into packs of about a MiB whose
 * buffers are transferred, not cloned, and come back with the acknowledgement to be
 * reused; a few packs in flight give backpressure. LZ4 compression happens on whichever
 * side has time: when packs queue up at the worker, the main thread compresses the next
 * pack itself. Order is kept (one worker, one message queue), errors come back on the
 * next call, and flush/checkpoint/close are acknowledged round trips.
 *
 * A new content.sqlite (the usual target: Flux's start-up restore builds one) is known
 * before the worker has opened it (its hash is the one asked for), so the main thread
 * starts reading and hashing at once instead of waiting out the worker's start-up
 * (~0.1 s: a Node thread, the SQLite addon, the schema); the worker's own report is
 * checked against that when it comes, and a failed open fails the next call.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { HashType } from '../blobref.js';
import { FluxError } from '../errors.js';
import type { Checkpoint } from '../store/checkpoint.js';
import { sqliteObject, sqliteSize } from '../store-write/sqlite-writer.js';
import { resolveTarget, type RestoreTarget } from './target.js';
import { registerWriterThread, releaseWriterThread } from './temporaries.js';

/**
 * A pack: `data` holds the blobs back to back, blob i ending at `ends[i]`. With `sizes`
 * they are already in content-sqlite's form (LZ4 block and length, or raw and -1; an
 * empty object with size -1 is NULL).
 */
export type WorkerRequest =
  | { op: 'put'; id: number; digests: Uint8Array; data: Uint8Array; ends: Uint32Array; sizes?: Int32Array }
  | { op: 'flush'; id: number }
  | { op: 'checkpoint'; id: number; ckpt: Checkpoint }
  | { op: 'close'; id: number };

export type WorkerReply =
  | { op: 'opened'; location: string; hashType: HashType; createdHash: boolean; encodes: boolean }
  | { op: 'done'; id: number; recycle?: ArrayBuffer }
  | { op: 'error'; id: number; message: string; code: string };

export interface WorkerInit {
  location: string;
  hash: HashType | undefined;
}

/** Bytes of blob data per message. */
const PACK_BYTES = 1 << 20;
/** Messages not yet acknowledged before put() makes the caller wait. */
const MAX_IN_FLIGHT = 6;
/** With this many packs queued at the worker, the main thread compresses the next one. */
const ENCODE_LOCALLY_AT = 2;
const SPARE_PACKS = 8;
/**
 * The worker's V8 young generation, in MiB. Its garbage is small and short-lived (a
 * pack's views and parameter arrays; blob bytes live outside the heap), so a small
 * nursery costs nothing, where the default one grows to tens of MiB of resident memory.
 */
const WORKER_YOUNG_GENERATION_MB = 8;

const WORKER_URL = new URL('./store-worker.js', import.meta.url);
/** From src/ under vitest, worker threads need the compiled file in dist/. */
const DIST_WORKER_URL = new URL('../../dist/restore/store-worker.js', import.meta.url);

/** The compiled worker entry, or undefined when there is none (then restore stores in-process). */
export function storeWorkerPath(): string | undefined {
  for (const url of [WORKER_URL, DIST_WORKER_URL]) {
    const p = fileURLToPath(url);
    if (existsSync(p)) return p;
  }
  return undefined;
}

type Opened = Extract<WorkerReply, { op: 'opened' }>;

/** Why the worker's report of its open contradicts predictOpened's (undefined: it does not). */
export function openedMismatch(expected: Opened, reported: Opened): string | undefined {
  if (reported.location === expected.location && reported.hashType === expected.hashType && reported.createdHash === expected.createdHash && reported.encodes === expected.encodes) return undefined;
  const what = `${reported.createdHash ? 'a new' : 'an existing'} ${reported.hashType} ${reported.encodes ? 'content.sqlite' : 'content.files'} store`;
  return `store worker: ${reported.location} opened as ${what}, not as the new ${expected.hashType} content.sqlite it was taken for`;
}

/**
 * What the worker will report on opening `init.location`, when that is certain without
 * opening it: a content.sqlite that does not exist yet is created with the hash asked
 * for (sha1 by default), and stores encoded rows. Anything else: undefined.
 */
export function predictOpened(init: WorkerInit): Opened | undefined {
  try {
    const { kind, path } = resolveTarget(init.location);
    if (kind !== 'sqlite' || existsSync(path)) return undefined;
    return { op: 'opened', location: path, hashType: init.hash ?? 'sha1', createdHash: true, encodes: true };
  } catch {
    return undefined; // the worker's open reports it
  }
}

export class WorkerTarget implements RestoreTarget {
  readonly location: string;
  readonly hashType: HashType;
  readonly createdHash: boolean;
  readonly #worker: Worker;
  /** The worker stores content.sqlite rows, so packs may arrive compressed. */
  readonly #encodes: boolean;
  #nextId = 1;
  readonly #waiting = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
  #inFlight = 0;
  #drained: (() => void) | undefined;
  #failure: FluxError | undefined;
  #exited = false;
  readonly #spare: ArrayBuffer[] = [];
  // the pack being filled
  #data = new Uint8Array(PACK_BYTES);
  #used = 0;
  #digests = new Uint8Array(32 * 4096);
  #digestsUsed = 0;
  #ends: number[] = [];
  #sizes: number[] | undefined;

  /** Lets a signal stop the worker before removing the blob temporaries it writes. */
  readonly #stop: () => Promise<number>;

  /** The worker has not reported its open yet (the target was made from predictOpened). */
  #awaitingOpen: Opened | undefined;

  private constructor(worker: Worker, opened: Opened, predicted = false) {
    this.#awaitingOpen = predicted ? opened : undefined;
    this.#stop = () => worker.terminate();
    registerWriterThread(this.#stop);
    this.#worker = worker;
    this.location = opened.location;
    this.hashType = opened.hashType;
    this.createdHash = opened.createdHash;
    this.#encodes = opened.encodes;
    worker.on('message', (m: WorkerReply) => this.#onReply(m));
    worker.on('error', (err) => this.#fail(new FluxError(`store worker: ${err.message}`, 'EIO')));
    worker.on('exit', () => {
      this.#exited = true;
      this.#fail(new FluxError('store worker exited unexpectedly', 'EIO'));
    });
  }

  static async open(path: string, init: WorkerInit): Promise<WorkerTarget> {
    const worker = new Worker(path, { workerData: init, resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB } });
    const expected = predictOpened(init);
    if (expected !== undefined) return new WorkerTarget(worker, expected, true);
    const opened = await new Promise<Opened>((resolve, reject) => {
      const onError = (err: Error) => reject(new FluxError(`store worker: ${err.message}`, 'EIO'));
      worker.once('error', onError);
      worker.once('message', (m: WorkerReply) => {
        worker.off('error', onError);
        if (m.op === 'opened') resolve(m);
        else if (m.op === 'error') reject(new FluxError(m.message, m.code));
        else reject(new FluxError(`store worker: unexpected ${m.op}`, 'EIO'));
      });
    }).catch(async (err: unknown) => {
      await worker.terminate();
      throw err;
    });
    return new WorkerTarget(worker, opened);
  }



  #onReply(m: WorkerReply): void {
    const expected = this.#awaitingOpen;
    if (expected !== undefined) {
      this.#awaitingOpen = undefined;
      if (m.op === 'error') return this.#fail(new FluxError(m.message, m.code));
      if (m.op !== 'opened') return this.#fail(new FluxError(`store worker: unexpected ${m.op}`, 'EIO'));
      const wrong = openedMismatch(expected, m);
      if (wrong !== undefined) return this.#fail(new FluxError(wrong, 'EIO'));
      return;
    }
    if (m.op === 'opened') return;
    const w = this.#waiting.get(m.id);
    this.#waiting.delete(m.id);
    this.#inFlight--;
    if (m.op === 'error') {
      const err = new FluxError(m.message, m.code);
      this.#failure ??= err;
      w?.reject(err);
    } else {
      if (m.recycle !== undefined && m.recycle.byteLength === PACK_BYTES && this.#spare.length < SPARE_PACKS) this.#spare.push(m.recycle);
      w?.resolve();
    }
    if (this.#drained && this.#inFlight < MAX_IN_FLIGHT) {
      const d = this.#drained;
      this.#drained = undefined;
      d();
    }
  }

  #fail(err: FluxError): void {
    this.#failure ??= err;
    for (const w of this.#waiting.values()) w.reject(this.#failure);
    this.#waiting.clear();
    this.#inFlight = 0;
    const d = this.#drained;
    this.#drained = undefined;
    d?.();
  }

  #check(): void {
    if (this.#failure) throw this.#failure;
  }

  /** Post a request; resolves when the worker acknowledges it. */
  #request(req: WorkerRequest, transfer: ArrayBuffer[] = []): Promise<void> {
    this.#check();
    this.#inFlight++;
    const p = new Promise<void>((resolve, reject) => this.#waiting.set(req.id, { resolve, reject }));
    this.#worker.postMessage(req, transfer);
    return p;
  }

  #postPack(): void {
    if (this.#ends.length === 0) return;
    const digests = this.#digests.slice(0, this.#digestsUsed);
    const data = this.#data.subarray(0, this.#used);
    const ends = Uint32Array.from(this.#ends);
    const req: WorkerRequest = { op: 'put', id: this.#nextId++, digests, data, ends };
    const transfer = [data.buffer as ArrayBuffer, digests.buffer as ArrayBuffer, ends.buffer as ArrayBuffer];
    if (this.#sizes !== undefined) {
      req.sizes = Int32Array.from(this.#sizes);
      transfer.push(req.sizes.buffer as ArrayBuffer);
    }
    // puts need no waiter: a failure surfaces through #failure on the next call
    void this.#request(req, transfer).catch(() => undefined);
    const spare = this.#spare.pop();
    this.#data = spare !== undefined ? new Uint8Array(spare) : new Uint8Array(PACK_BYTES);
    this.#used = 0;
    this.#digestsUsed = 0;
    this.#ends = [];
    this.#sizes = undefined;
  }

  #append(bytes: Uint8Array): void {
    if (this.#used + bytes.length > this.#data.length) {
      const bigger = new Uint8Array(Math.max(this.#data.length * 2, this.#used + bytes.length));
      bigger.set(this.#data.subarray(0, this.#used));
      this.#data = bigger;
    }
    this.#data.set(bytes, this.#used);
    this.#used += bytes.length;
    this.#ends.push(this.#used);
  }

  /** Queue blobs (copied into the current pack); waits while too many packs are in flight. */
  async putDigested(digests: Uint8Array, blobs: readonly Uint8Array[]): Promise<void> {
    this.#check();
    const ds = digests.length / Math.max(blobs.length, 1);
    for (let i = 0; i < blobs.length; i++) {
      const blob = blobs[i]!;
      if (this.#used > 0 && this.#used + blob.length > PACK_BYTES) this.#postPack();
      if (this.#ends.length === 0 && this.#encodes && this.#inFlight >= ENCODE_LOCALLY_AT) this.#sizes = [];
      if (this.#sizes !== undefined) {
        this.#sizes.push(sqliteSize(blob));
        this.#append(sqliteObject(blob) ?? blob);
      } else this.#append(blob);
      if (this.#digestsUsed + ds > this.#digests.length) {
        const bigger = new Uint8Array(this.#digests.length * 2);
        bigger.set(this.#digests.subarray(0, this.#digestsUsed));
        this.#digests = bigger;
      }
      this.#digests.set(digests.subarray(i * ds, (i + 1) * ds), this.#digestsUsed);
      this.#digestsUsed += ds;
    }
    if (this.#used >= PACK_BYTES / 2) this.#postPack();
    while (this.#inFlight >= MAX_IN_FLIGHT && !this.#failure) {
      await new Promise<void>((resolve) => (this.#drained = resolve));
    }
    this.#check();
  }

  async flush(): Promise<void> {
    this.#postPack();
    await this.#request({ op: 'flush', id: this.#nextId++ });
  }

  async putCheckpoint(ckpt: Checkpoint): Promise<void> {
    this.#postPack();
    await this.#request({ op: 'checkpoint', id: this.#nextId++, ckpt });
  }

  /** Close the store (rolling back what was not flushed) and end the worker. */
  async close(): Promise<void> {
    if (this.#exited) return;
    try {
      // even after a failure: the worker rolls back and closes the database cleanly
      this.#failure = undefined;
      await this.#request({ op: 'close', id: this.#nextId++ });
    } catch {
      /* reported already, or the worker is gone */
    } finally {
      this.#exited = true;
      this.#worker.removeAllListeners('exit');
      releaseWriterThread(this.#stop);
      await this.#worker.terminate();
    }
  }
}
