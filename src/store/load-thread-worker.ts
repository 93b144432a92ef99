/**
 * Worker side of LoadThread: owns its own read-only view of one content.sqlite and
 * answers batches of digests with the blobs (decoded; the walk verifies them), laid out
 * in one arena as they are read and sent back as one transferred ArrayBuffer.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { CorruptBlobError, FluxError, MissingBlobError } from '../errors.js';
import { initCore } from '../wasm/init.js';
import { SqliteStore } from './sqlite.js';
import { BlobArena } from './blob-arena.js';
import type { BatchReply, BatchRequest, WireError } from './load-thread.js';

const { path } = workerData as { path: string };

function wireError(err: unknown): WireError {
  const e = err instanceof Error ? err : new Error(String(err));
  const kind = e instanceof MissingBlobError ? 'missing' : e instanceof CorruptBlobError ? 'corrupt' : e instanceof FluxError ? 'flux' : 'other';
  return { kind, message: e.message, code: (e as FluxError).code };
}

async function main(): Promise<void> {
  await initCore();
  const store = SqliteStore.openUnprobed(path);
  const arena = new BlobArena();
  // Before the first batch: built while the main thread is still starting up.
  store.warmUp();
  parentPort!.on('message', (req: BatchRequest) => {
    let reply: BatchReply;
    try {
      const digests = new Uint8Array(req.digests);
      arena.reset();
      const batch = store.loadBatchInto(digests, req.count, arena);
      reply = {
        id: req.id,
        // The one copy of the blobs: the arena stays here for the next batch.
        data: arena.buf.slice(0, arena.used).buffer,
        start: batch.start,
        end: batch.end,
        errors: batch.errors.map((e) => (e ? wireError(e) : null)),
      };
    } catch (err) {
      reply = { id: req.id, data: new ArrayBuffer(0), start: new Uint32Array(0), end: new Uint32Array(0), errors: [], fatal: wireError(err) };
    }
    parentPort!.postMessage(reply, [reply.data, reply.start.buffer as ArrayBuffer, reply.end.buffer as ArrayBuffer]);
  });
  parentPort!.postMessage({ ready: true });
}

main().catch((err: unknown) => {
  parentPort!.postMessage({ ready: false, fatal: wireError(err) });
});
