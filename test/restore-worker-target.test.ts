/**
 * The restore's store thread (WorkerTarget) against real files: a new content.sqlite is
 * taken for what it will be before the worker has opened it, so the main thread need not
 * wait; the worker's report is checked, and a failed open fails the next call.
 */
import Database from 'better-sqlite3';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FluxError } from '../src/errors.js';
import { openedMismatch, predictOpened, storeWorkerPath, WorkerTarget } from '../src/restore/worker-target.js';
import { getDigester } from '../src/verify/digest.js';

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'worker-target-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function workerPath(): string {
  const p = storeWorkerPath();
  if (p === undefined) throw new Error('dist/restore/store-worker.js is missing: run npm run build first');
  return p;
}

describe('predictOpened', () => {
  it('predicts a new content.sqlite (file or statedir) and nothing that already exists', () => {
    const dir = join(tmp, 'predict');
    mkdirSync(dir);
    expect(predictOpened({ location: join(dir, 'new.sqlite'), hash: 'sha256' })).toEqual({
      op: 'opened',
      location: join(dir, 'new.sqlite'),
      hashType: 'sha256',
      createdHash: true,
      encodes: true,
    });
    expect(predictOpened({ location: join(dir, 'statedir'), hash: undefined })).toMatchObject({ location: join(dir, 'statedir', 'content.sqlite'), hashType: 'sha1' });
    writeFileSync(join(dir, 'old.sqlite'), '');
    expect(predictOpened({ location: join(dir, 'old.sqlite'), hash: 'sha1' })).toBeUndefined();
    mkdirSync(join(dir, 'content.files'));
    expect(predictOpened({ location: join(dir, 'content.files'), hash: 'sha1' })).toBeUndefined();
  });

  it('a report that differs from the prediction is named', () => {
    const expected = { op: 'opened', location: '/s/content.sqlite', hashType: 'sha1', createdHash: true, encodes: true } as const;
    expect(openedMismatch(expected, { ...expected })).toBeUndefined();
    expect(openedMismatch(expected, { ...expected, hashType: 'sha256', createdHash: false })).toBe(
      'store worker: /s/content.sqlite opened as an existing sha256 content.sqlite store, not as the new sha1 content.sqlite it was taken for',
    );
  });
});

describe('WorkerTarget on a new store', () => {
  it('stores blobs and the checkpoint with the hash asked for, taken before the worker opened', async () => {
    const location = join(tmp, 'fresh', 'content.sqlite');
    const t = await WorkerTarget.open(workerPath(), { location, hash: 'sha256' });
    expect(t.hashType).toBe('sha256');
    expect(t.createdHash).toBe(true);
    const blobs = Array.from({ length: 300 }, (_, i) => new TextEncoder().encode(`value ${i} `.repeat(1 + (i % 40))));
    const digests = getDigester('sha256').digestMany(blobs);
    await t.putDigested(digests, blobs);
    await t.flush();
    await t.putCheckpoint({ version: 1, rootref: 'sha256-' + '0'.repeat(64), sequence: 0, timestamp: 1 });
    await t.close();
    const db = new Database(location, { readonly: true });
    const rows = db.prepare('SELECT count(*) AS n, min(length(CAST(hash AS BLOB))) AS w FROM objects').get() as { n: number; w: number };
    db.close();
    expect(rows).toEqual({ n: 300, w: 32 });
  });

  it('a store that cannot be created fails the next call with the reason, and closes', async () => {
    const notADir = join(tmp, 'plain-file');
    writeFileSync(notADir, 'x');
    const location = join(notADir, 'sub', 'content.sqlite');
    expect(predictOpened({ location, hash: 'sha1' })).toBeDefined();
    const t = await WorkerTarget.open(workerPath(), { location, hash: 'sha1' });
    const err = await t.flush().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(FluxError);
    expect((err as Error).message).toMatch(new RegExp(`^${join(notADir, 'sub')}: .*(ENOTDIR|not a directory)`));
    await t.close();
  });
});
