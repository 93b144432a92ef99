/**
 * Offline loads on a second thread. A dump's walk is sequential, but the breadth-first
 * queue knows many loads ahead: while the main thread decodes directories and writes the
 * archive for one batch, this thread reads the next batch from content.sqlite, decodes
 * LZ4 and hashes every blob. On a large store that is half the work moved off the main
 * thread. Replies come back in request order; errors keep their class.
 */
import { existsSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Worker as NodeWorker } from 'node:worker_threads';
import { CorruptBlobError, FluxError, MissingBlobError } from '../errors.js';
import type { BlobLoader, LoadResult, LoadWindow } from './source.js';

export interface WireError {
  kind: 'missing' | 'corrupt' | 'flux' | 'other';
  message: string;
  code?: string;
}

export interface BatchRequest {
  id: number;
  digests: ArrayBuffer;
  count: number;
}

export interface BatchReply {
  id: number;
  data: ArrayBuffer;
  /** Blob i is data[start[i]..end[i]] (laid out in the order read, not asked). */
  start: Uint32Array;
  end: Uint32Array;
  errors: (WireError | null)[];
  fatal?: WireError;
}

/** Stores this big get a load thread by default (smaller ones finish before it would start). */
const LOAD_THREAD_BYTES = 32 << 20;
/**
 * Batches of 1,024 (the main thread reads 4,096 at a time): two are in flight, and their
 * blobs are what the main thread's young generation has to keep alive (measured: 15%
 * less peak RSS than 4,096, same CPU). The next batch loads here while the walk handles
 * the one before.
 */
const WINDOW: LoadWindow = { batch: 1024, inflight: 2, window: 2 };

/**
 * Whether the content.sqlite at `path` is loaded on a load thread: `forced` if given
 * (the run's settings: FLUXDUMP_LOAD_THREAD), else by its size.
 */
export function wantsLoadThread(path: string, forced?: boolean): boolean {
  if (forced !== undefined) return forced;
  try {
    return statSync(path).size >= LOAD_THREAD_BYTES;
  } catch {
    return false;
  }
}

/** Threads started ahead of SqliteStore.open, by resolved path. */
const prestarted = new Map<string, Promise<LoadThread>>();

/**
 * Starts the load thread of the content.sqlite that `location` (a --store value: the
 * file, or a statedir holding it) names, if it gets one, before the program needs it.
 * LoadThread.start() for the same file then takes it over. Anything unusual about the
 * location is left for the store's opening to report.
 */
export function prestartLoadThread(location: string | undefined, forced?: boolean): void {
  if (location === undefined || location.includes('://')) return;
  try {
    const path = statSync(location).isDirectory() ? join(location, 'content.sqlite') : location;
    if (!existsSync(path) || !wantsLoadThread(path, forced)) return;
    const thread = LoadThread.start(path);
    thread.catch(() => {}); // taken over by start(), which reports its failure
    prestarted.set(resolve(path), thread);
  } catch {
    /* reported by the store's opening */
  }
}

/** Whether a thread started by prestartLoadThread() waits for `path` (tests). */
export function hasPrestarted(path: string): boolean {
  return prestarted.has(resolve(path));
}

const WORKER_URL = new URL('./load-thread-worker.js', import.meta.url);
/** Under vitest this module runs from src/; the worker must be compiled JS (dist/). */
const DIST_WORKER_URL = new URL('../../dist/store/load-thread-worker.js', import.meta.url);

function workerPath(): string {
  const own = fileURLToPath(WORKER_URL);
  if (existsSync(own)) return own;
  return fileURLToPath(DIST_WORKER_URL);
}

function toError(w: WireError): Error {
  switch (w.kind) {
    case 'missing':
      return new MissingBlobError(w.message);
    case 'corrupt':
      return new CorruptBlobError(w.message);
    case 'flux':
      return new FluxError(w.message, w.code);
    default:
      return new Error(w.message);
  }
}

export class LoadThread implements Omit<BlobLoader, 'hashType'> {
  readonly #worker: NodeWorker;
  readonly #ready: Promise<void>;
  readonly #pending = new Map<number, { resolve: (r: (Uint8Array | Error)[]) => void; reject: (e: Error) => void }>();
  #nextId = 0;
  #failed: Error | null = null;

  private constructor(worker: NodeWorker, location: string) {
    this.#worker = worker;
    this.#ready = new Promise((resolve, reject) => {
      worker.once('message', (m: { ready: boolean; fatal?: WireError }) => {
        if (m.ready) resolve();
        else reject(toError(m.fatal!));
      });
    });
    this.#ready.catch(() => {}); // reported by the first batch
    worker.on('message', (m: BatchReply | { ready: boolean }) => {
      if ('id' in m) this.#settle(m);
    });
    worker.on('error', (err) => this.#failAll(new FluxError(`${location}: load thread failed: ${err.message}`)));
    worker.on('exit', (code) => {
      if (this.#pending.size > 0) this.#failAll(new FluxError(`${location}: load thread exited (${code})`));
    });
    worker.unref();
  }

  static async start(path: string): Promise<LoadThread> {
    const early = prestarted.get(resolve(path));
    if (early) {
      prestarted.delete(resolve(path));
      return early;
    }
    const { Worker } = await import('node:worker_threads');
    return new LoadThread(new Worker(workerPath(), { workerData: { path } }), path);
  }

  loadWindow(): LoadWindow {
    return WINDOW;
  }

  /**
   * Blobs for `count` packed digests; the digests' bytes are copied, the caller keeps
   * them. Not verified here: reading and LZ4 keep this thread busier than the walk keeps
   * the main one (profiled: 7.3 s vs 4.0 s per 100,000 jobs), so the walk hashes them.
   */
  async loadBatch(digests: Uint8Array, count: number): Promise<LoadResult[]> {
    // While a batch is wanted, the thread keeps the process alive (even during start-up).
    this.#worker.ref();
    await this.#ready;
    if (this.#failed) throw this.#failed;
    const id = this.#nextId++;
    const copy = digests.slice(0, count * (digests.length / Math.max(count, 1)));
    const req: BatchRequest = { id, digests: copy.buffer as ArrayBuffer, count };
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#worker.postMessage(req, [req.digests]);
    });
  }

  #settle(m: BatchReply): void {
    const p = this.#pending.get(m.id);
    if (!p) return;
    this.#pending.delete(m.id);
    if (this.#pending.size === 0) this.#worker.unref();
    if (m.fatal) return p.reject(toError(m.fatal));
    const data = new Uint8Array(m.data);
    const out: (Uint8Array | Error)[] = new Array(m.errors.length);
    for (let i = 0; i < m.errors.length; i++) {
      const e = m.errors[i];
      out[i] = e ? toError(e) : data.subarray(m.start[i]!, m.end[i]!);
    }
    p.resolve(out);
  }

  #failAll(err: Error): void {
    this.#failed = err;
    for (const p of this.#pending.values()) p.reject(err);
    this.#pending.clear();
  }

  async close(): Promise<void> {
    // An unref'd worker's exit does not hold the event loop: without this, a caller
    // awaiting close() could see the process end first (and exit with no status set).
    this.#worker.ref();
    await this.#worker.terminate();
  }
}
