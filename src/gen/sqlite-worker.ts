/**
 * Worker entry (compiled to dist/gen/sqlite-worker.js, started by worker-rows.ts): the
 * SQLite half of the store generator. Messages are handled strictly in order; results
 * and errors go back through the shared block, because the main thread is blocked in
 * Atomics.wait rather than running its event loop.
 */
import { parentPort, workerData } from 'node:worker_threads';
import type { SqliteRows } from './bulk-sqlite.js';
import { CTL, decodeBatch, ERROR_OFFSET, SHARED_BYTES, STATE, STATS_OFFSET, type WorkerData, type WorkerMessage } from './worker-rows.js';

const data = workerData as WorkerData;
const ctl = new Int32Array(data.shared, 0, 4);
let rows: SqliteRows | undefined;
/** Loaded in the message queue, so a failure to load (the SQLite addon) is reported too. */
let Rows: typeof SqliteRows;

function report(state: number): void {
  Atomics.store(ctl, CTL.state, state);
  Atomics.notify(ctl, CTL.state);
  Atomics.notify(ctl, CTL.inFlight);
}

function fail(err: unknown): void {
  const text = new TextEncoder().encode(err instanceof Error ? err.message : String(err));
  const n = Math.min(text.length, SHARED_BYTES - ERROR_OFFSET);
  new Uint8Array(data.shared, ERROR_OFFSET, n).set(text.subarray(0, n));
  Atomics.store(ctl, CTL.errorLength, n);
  try {
    rows?.abort();
  } catch {
    /* already failing */
  }
  rows = undefined;
  report(STATE.failed);
  parentPort!.close();
}

function handle(msg: WorkerMessage): void {
  if (Atomics.load(ctl, CTL.state) !== STATE.running) return;
  rows ??= new Rows(data.path);
  switch (msg.type) {
    case 'rows':
      decodeBatch(msg.batch, (digest, blob) => rows!.add(digest, blob));
      Atomics.sub(ctl, CTL.inFlight, 1);
      Atomics.notify(ctl, CTL.inFlight);
      return;
    case 'finish': {
      const s = rows.finish(msg.ckpt);
      new Float64Array(data.shared, STATS_OFFSET, 4).set([s.rows, s.lateDuplicates, s.indexMs, s.finishMs]);
      report(STATE.done);
      parentPort!.close();
      return;
    }
    case 'abort':
      rows.abort();
      report(STATE.aborted);
      parentPort!.close();
  }
}

let queue: Promise<unknown> = (async () => {
  // LZ4 through the WASM core, as the CLI does (the same blocks as an in-thread build).
  await (await import('../wasm/lz4.js')).installWasmLz4();
  Rows = (await import('./bulk-sqlite.js')).SqliteRows;
})();
parentPort!.on('message', (msg: WorkerMessage) => {
  queue = queue.then(() => handle(msg)).catch(fail);
});
queue.catch(fail);
