/**
 * Worker entry for WorkerTarget: opens the restore target (content.sqlite or
 * content.files) on this thread and applies requests in order: packs of blobs with
 * their digests (LZ4 and the inserts happen here), flush, checkpoint, close. Replies
 * `done` or a one-line `error` for each request.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { FluxError } from '../errors.js';
import { installWasmLz4 } from '../wasm/lz4.js';
import { openTarget, type RestoreTarget } from './target.js';
import type { WorkerInit, WorkerReply, WorkerRequest } from './worker-target.js';

const port = parentPort!;
const init = workerData as WorkerInit;

function reply(m: WorkerReply): void {
  port.postMessage(m);
}

function errorReply(id: number, err: unknown): WorkerReply {
  if (err instanceof FluxError) return { op: 'error', id, message: err.message, code: err.code };
  return { op: 'error', id, message: `internal error: ${err instanceof Error ? err.message : String(err)}`, code: 'EIO' };
}

/** Apply one request; for a put, returns the pack's buffer to hand back for reuse. */
async function handle(target: RestoreTarget, req: WorkerRequest): Promise<ArrayBuffer | undefined> {
  switch (req.op) {
    case 'put': {
      const n = req.ends.length;
      const items: Uint8Array[] = new Array(n);
      let start = 0;
      for (let i = 0; i < n; i++) {
        items[i] = req.data.subarray(start, req.ends[i]!);
        start = req.ends[i]!;
      }
      if (req.sizes === undefined) await target.putDigested(req.digests, items);
      else {
        if (target.putEncoded === undefined) throw new FluxError(`${target.location}: store takes raw blobs only`, 'EINVAL');
        const objects = items.map((o, i) => (o.length === 0 && req.sizes![i] === -1 ? null : o));
        target.putEncoded(req.digests, req.sizes, objects);
      }
      return req.data.buffer as ArrayBuffer;
    }
    case 'flush':
      await target.flush();
      return undefined;
    case 'checkpoint':
      await target.putCheckpoint(req.ckpt);
      return undefined;
    case 'close':
      await target.close();
      return undefined;
  }
}

async function main(): Promise<void> {
  await installWasmLz4().catch(() => undefined);
  let target: RestoreTarget;
  try {
    target = await openTarget(init.location, init.hash);
  } catch (err) {
    reply(errorReply(0, err));
    return;
  }
  reply({ op: 'opened', location: target.location, hashType: target.hashType, createdHash: target.createdHash, encodes: target.putEncoded !== undefined });
  // Requests run strictly one after another, in arrival order.
  let queue = Promise.resolve();
  let failed = false;
  port.on('message', (req: WorkerRequest) => {
    queue = queue.then(async () => {
      if (failed && req.op !== 'close') {
        reply({ op: 'error', id: req.id, message: 'store failed earlier', code: 'EIO' });
        return;
      }
      try {
        const recycle = await handle(target, req);
        if (recycle !== undefined) port.postMessage({ op: 'done', id: req.id, recycle } satisfies WorkerReply, [recycle]);
        else reply({ op: 'done', id: req.id });
        if (req.op === 'close') port.close();
      } catch (err) {
        failed = true;
        reply(errorReply(req.id, err));
      }
    });
  });
}

void main();
