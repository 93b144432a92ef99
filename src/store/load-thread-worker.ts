/**
 * Worker side of LoadThread: owns its own read-only view of one content.sqlite and
 * answers batches of digests with the blobs (decoded, and verified when asked), packed
 * into one transferred ArrayBuffer so nothing is copied on the way back.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { CorruptBlobError, FluxError, MissingBlobError } from '../errors.js';
import { createBlobVerifier, type BlobVerifier } from '../verify/verify.js';
import { initCore } from '../wasm/init.js';
import { SqliteStore } from './sqlite.js';
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
  let verifier: BlobVerifier | undefined;
  parentPort!.on('message', async (req: BatchRequest) => {
    let reply: BatchReply;
    try {
      const digests = new Uint8Array(req.digests);
      const results = store.loadDigestsSync(digests, req.count);
      if (req.verify) {
        verifier ??= await createBlobVerifier(store.hashType);
        markMismatches(verifier, digests, results, store.digestSize);
      }
      reply = pack(req.id, results);
    } catch (err) {
      reply = { id: req.id, data: new ArrayBuffer(0), offsets: new Uint32Array(0), errors: [], fatal: wireError(err) };
    }
    parentPort!.postMessage(reply, [reply.data, reply.offsets.buffer as ArrayBuffer]);
  });
  parentPort!.postMessage({ ready: true });
}

/** Replace blobs that do not hash to their digest with the walk's CorruptBlobError. */
function markMismatches(v: BlobVerifier, digests: Uint8Array, results: (Uint8Array | Error)[], size: number): void {
  const loaded: Uint8Array[] = [];
  const at: number[] = [];
  results.forEach((r, i) => {
    if (r instanceof Uint8Array) {
      loaded.push(r);
      at.push(i);
    }
  });
  if (loaded.length === 0) return;
  const expected = new Uint8Array(loaded.length * size);
  at.forEach((i, j) => expected.set(digests.subarray(i * size, (i + 1) * size), j * size));
  const ok = v.check(expected, loaded);
  for (let j = 0; j < loaded.length; j++) {
    if (!ok[j]) results[at[j]!] = new CorruptBlobError(`content does not match, it hashes to ${v.blobrefOf(loaded[j]!)}`);
  }
}

/** All blobs of a batch back to back in one buffer; offsets[i]..offsets[i+1] is blob i. */
function pack(id: number, results: (Uint8Array | Error)[]): BatchReply {
  let total = 0;
  for (const r of results) if (r instanceof Uint8Array) total += r.length;
  const data = new Uint8Array(total);
  const offsets = new Uint32Array(results.length + 1);
  const errors: (WireError | null)[] = new Array(results.length).fill(null);
  let p = 0;
  results.forEach((r, i) => {
    offsets[i] = p;
    if (r instanceof Uint8Array) {
      data.set(r, p);
      p += r.length;
    } else errors[i] = wireError(r);
  });
  offsets[results.length] = p;
  return { id, data: data.buffer, offsets, errors };
}

main().catch((err: unknown) => {
  parentPort!.postMessage({ ready: false, fatal: wireError(err) });
});
