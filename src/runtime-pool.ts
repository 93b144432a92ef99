/**
 * Worker-thread policies that differ per runtime, kept here so that the modules using
 * workers only ask: the compression pool (src/compress/pool.ts, piscina) spreads
 * poolRuntimeOptions() into its constructor; restore (src/restore/index.ts) asks
 * storeWorkerByDefault() whether to store through its SQLite worker.
 *
 * Deno: piscina's Atomics fast path deadlocks. An idle piscina worker sleeps in
 * Atomics.wait() and, once woken, takes the task with receiveMessageOnPort(); under Deno's
 * node:worker_threads the task can already be queued for the port's 'message' event
 * instead, which never fires while the thread sleeps in Atomics.wait(). The dump then
 * hangs with every worker in a futex wait and 0 bytes written (often, on `.tar.bz2` dumps
 * under Deno 2.9.6 with piscina 5.3.2). With atomics disabled, tasks travel by
 * MessagePort events alone, which never hung and is no slower (BENCHMARKS.md, "Deno").
 */
import { isDeno } from './runtime.js';

export interface PoolRuntimeOptions {
  atomics?: 'sync' | 'async' | 'disabled';
}

export function poolRuntimeOptions(deno = isDeno()): PoolRuntimeOptions {
  return deno ? { atomics: 'disabled' } : {};
}

/**
 * Restore stores blobs on a worker thread in Node (hashing and SQLite overlap there). In
 * Deno the messages to and from that worker cost more than the work they move: restoring
 * an 88 MB tar of 70,004 keys took 5.0-8.3 s through the worker and 1.4-2.2 s in-process
 * (Node: 2.4-3.6 s and 1.4-2.3 s, same window; bench/deno-restore-phases.mjs), and
 * node:sqlite itself is no slower than better-sqlite3 (bench/deno-sqlite.mjs).
 */
export function storeWorkerByDefault(deno = isDeno()): boolean {
  return !deno;
}
