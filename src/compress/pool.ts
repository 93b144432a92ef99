/**
 * The one worker pool for compression (piscina). Created on first use, sized from the
 * core count (or the largest `threads` any user asked for), reused by every filter and
 * by other modules' tasks (runTask: the zip writer's member deflate, as the pipeline
 * hands it the pool) for the life of the process. Idle workers are
 * unref'd by piscina, so a forgotten pool never keeps the process alive; the CLI still
 * calls closePool() at exit to end them promptly.
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { Piscina } from 'piscina';
import { poolRuntimeOptions } from '../runtime-pool.js';
import type { Codec, GzipEngine, XzEngine } from './codecs.js';
import type { CompressTask } from './worker.js';

/**
 * What the workers run: filter chunks (CompressTask, the default worker's export) and
 * other modules' tasks, whose shapes only those modules know.
 */
type PoolTask = unknown;

/** The worker entry next to this module once compiled (dist/compress/worker.js). */
const WORKER_URL = new URL('./worker.js', import.meta.url);
/**
 * When this module runs from src/ (vitest transpiles TypeScript in-process, but worker
 * threads get plain Node), the compiled worker in dist/ is used instead.
 */
const DIST_WORKER_URL = new URL('../../dist/compress/worker.js', import.meta.url);

export function workerPath(): string {
  const own = fileURLToPath(WORKER_URL);
  if (existsSync(own)) return own;
  const dist = fileURLToPath(DIST_WORKER_URL);
  if (existsSync(dist)) return dist;
  throw new Error(`compression worker not found at ${own} or ${dist}: run \`npm run build:ts\``);
}

export function defaultThreads(): number {
  return Math.max(1, availableParallelism());
}

/**
 * Tasks queued on each worker at once. With 2, a worker that finishes a chunk starts the
 * next one from its own message port at once: it does not wait for the main thread to
 * take the result and post more work, which it does only when its event loop turns, and
 * a walk of an offline store can keep that loop busy for a long stretch.
 */
export const TASKS_PER_WORKER = 2;

let pool: Piscina<PoolTask, ArrayBuffer | number> | null = null;
/** Codecs already loaded (or loading) in the current pool's workers. */
let primed = new Set<string>();
/** Pools replaced by a bigger one, still finishing their tasks. */
const retiring = new Set<Promise<void>>();

/** piscina itself is loaded on first use: inputs compressed inline never pay for it. */
const loadPiscina = () => import('piscina');
let piscina: ReturnType<typeof loadPiscina> | null = null;

async function getPool(threads: number): Promise<Piscina<PoolTask, ArrayBuffer | number>> {
  if (pool && pool.maxThreads >= threads) return pool;
  const { Piscina } = await (piscina ??= loadPiscina());
  if (pool && pool.maxThreads >= threads) return pool; // created while we waited
  if (pool) {
    const old = pool;
    const closing = old.close().finally(() => retiring.delete(closing));
    retiring.add(closing);
  }
  const size = Math.max(threads, defaultThreads());
  primed = new Set();
  pool = new Piscina<PoolTask, ArrayBuffer | number>({
    filename: workerPath(),
    minThreads: size,
    maxThreads: size,
    concurrentTasksPerWorker: TASKS_PER_WORKER,
    // Workers hold a warm codec (bzip2 WASM heap, lzma state); keep them while the
    // process runs. They are unref'd when idle, so this never delays exit.
    idleTimeout: Number.POSITIVE_INFINITY,
    ...poolRuntimeOptions(), // Deno: no Atomics fast path (it deadlocks there)
  });
  return pool;
}

/**
 * Compress `length` bytes of `input` on the pool. A SharedArrayBuffer is shared with the
 * worker (the caller must not touch it until the promise settles); an ArrayBuffer is
 * TRANSFERRED (detached here), so pass one you own outright.
 */
export async function compressOnPool(
  codec: Codec,
  input: SharedArrayBuffer | ArrayBuffer,
  length: number,
  threads: number,
  gzipEngine?: GzipEngine,
  xzEngine?: XzEngine,
): Promise<Uint8Array> {
  const task: CompressTask = { codec, input, length };
  if (gzipEngine) task.gzipEngine = gzipEngine;
  if (xzEngine) task.xzEngine = xzEngine;
  const p = await getPool(threads);
  const out = await (input instanceof ArrayBuffer ? p.run(task, { transferList: [input] }) : p.run(task));
  return new Uint8Array(out as ArrayBuffer); // the default task returns its buffer
}

/**
 * Runs export `name` of worker module `filename` (an absolute path) on the pool with
 * `task`: `transfer` buffers are TRANSFERRED (detached here), shared ones are read in
 * place (the caller must not touch them until the promise settles), the rest is copied.
 */
export async function runTask(filename: string, name: string, task: unknown, threads: number, transfer: ArrayBuffer[] = []): Promise<unknown> {
  const p = await getPool(threads);
  return transfer.length > 0 ? p.run(task, { filename, name, transferList: transfer }) : p.run(task, { filename, name });
}

/** prewarm() for another module's task: start the pool and run `task` (an empty one) on every worker. */
export function prewarmTask(filename: string, name: string, task: unknown, threads: number, key: string): void {
  warm(`${filename}#${name}:${key}`, threads, (p) => p.run(task, { filename, name }));
}

/**
 * Start the pool and load `codec` in its workers now, in the background, so that the
 * first real chunk does not wait for worker start-up (~0.1-0.4 s: thread, module graph,
 * WASM compile or addon load). Filters call this as soon as they know they will use the
 * pool. Empty tasks, TASKS_PER_WORKER per worker: a worker that boots first takes up to
 * that many from the queue, so one per worker could leave another worker cold.
 */
export function prewarm(codec: Codec, threads: number, gzipEngine?: GzipEngine, xzEngine?: XzEngine): void {
  warm(`${codec}:${gzipEngine ?? ''}:${xzEngine ?? ''}`, threads, (p) => {
    const task: CompressTask = { codec, input: new ArrayBuffer(0), length: 0 };
    if (gzipEngine) task.gzipEngine = gzipEngine;
    if (xzEngine) task.xzEngine = xzEngine;
    return p.run(task);
  });
}

function warm(key: string, threads: number, run: (p: Piscina<PoolTask, ArrayBuffer | number>) => Promise<unknown>): void {
  getPool(threads).then(
    (p) => {
      if (primed.has(key)) return;
      primed.add(key);
      for (let i = 0; i < p.maxThreads * TASKS_PER_WORKER; i++) {
        run(p).catch(() => primed.delete(key)); // a real task will report the failure
      }
    },
    () => {}, // a real task will report the failure
  );
}

/** Worker threads currently running (0 before first use and after closePool). */
export function poolThreads(): number {
  return pool?.threads.length ?? 0;
}

/** End every worker; the next compressOnPool() starts a fresh pool. Safe to call twice. */
export async function closePool(): Promise<void> {
  const p = pool;
  pool = null;
  primed = new Set();
  await Promise.all([p?.destroy(), ...retiring]);
}
