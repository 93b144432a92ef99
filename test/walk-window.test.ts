// The walk's one load loop over the batch loader interface: whatever window a store
// asks for (batch size, calls in flight, calls not yet handled), answered at once or
// later and in any order, the entries come out the same, and every blob is verified the
// same way. The loaders here are the real content.sqlite reader behind different windows.
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteStore } from '../src/store/sqlite.js';
import type { BlobLoader, LoadResult, LoadWindow } from '../src/store/source.js';
import { createBlobVerifier, type BlobVerifier } from '../src/verify/verify.js';
import type { ArchiveEntry } from '../src/walk/entry.js';
import { Walker } from '../src/walk/walk.js';
import { ROOT } from './helpers/paths.js';

const meta = { mtime: 0, uid: 0, gid: 0, mode: 0o644 };
let store: SqliteStore;
let root: string;
let checker: BlobVerifier;

beforeAll(async () => {
  // sample/: 704 keys, multi-blob values (appends) among them.
  store = await SqliteStore.open(join(ROOT, 'sample/content.sqlite'), { loadThread: false });
  root = (await store.checkpoints())[0]!.rootref;
  checker = await createBlobVerifier('sha1');
});
afterAll(async () => {
  await store.close();
});

/**
 * The store behind `win`; async loaders answer their calls in reverse order of asking
 * (each call waits until the next is asked, or until none is in flight but it).
 */
function loader(win: LoadWindow, opts: { async?: boolean; corrupt?: number } = {}): BlobLoader & { calls: number[]; maxInflight: number } {
  const waiting: (() => void)[] = [];
  let inflight = 0;
  let blobs = 0;
  const self = {
    hashType: store.hashType,
    calls: [] as number[],
    maxInflight: 0,
    loadWindow: () => win,
    loadBatch(digests: Uint8Array, count: number): LoadResult[] | Promise<LoadResult[]> {
      self.calls.push(count);
      const results = store.loadBatchHere(digests, count);
      for (let i = 0; i < count; i++, blobs++) {
        const r = results[i]!;
        if (blobs === opts.corrupt && r instanceof Uint8Array && r.length > 0) {
          const bad = r.slice();
          bad[0]! ^= 1;
          results[i] = bad;
        }
      }
      if (!opts.async) return results;
      inflight++;
      self.maxInflight = Math.max(self.maxInflight, inflight);
      // Answered after the call asked next (newest first), or on the next turn if none comes.
      waiting.forEach((w) => w());
      waiting.length = 0;
      return new Promise((resolve) => {
        const answer = () => {
          inflight--;
          resolve(results);
        };
        waiting.push(answer);
        setImmediate(() => {
          const i = waiting.indexOf(answer);
          if (i >= 0) waiting.splice(i, 1), answer();
        });
      });
    },
  };
  return self;
}

async function entries(l: BlobLoader, maxreqs = 4): Promise<string[]> {
  const out: ArchiveEntry[] = [];
  for await (const b of new Walker(l, { maxreqs, ignoreFailedRead: false, meta, checker }).walk(root)) out.push(...b);
  return out.map((e) => `${e.path} ${e.type} ${createHash('sha1').update(e.data).digest('hex')} ${e.linkTarget}`);
}

describe('Walker over any load window', () => {
  it('gives the same entries for every window, answered at once or later and out of order', async () => {
    const want = await entries(store);
    expect(want.length).toBe(704);
    for (const win of [
      { batch: 1, inflight: 1, window: 1 },
      { batch: 1, inflight: 7, window: 20 },
      { batch: 2, inflight: 3, window: 3 },
      { batch: 5, inflight: 4, window: 9 },
      { batch: 1024, inflight: 2, window: 2 },
    ]) {
      const sync = loader(win);
      expect(await entries(sync), `sync ${JSON.stringify(win)}`).toEqual(want);
      expect(Math.max(...sync.calls)).toBeLessThanOrEqual(win.batch);
      const later = loader(win, { async: true });
      expect(await entries(later), `async ${JSON.stringify(win)}`).toEqual(want);
      expect(later.maxInflight).toBeLessThanOrEqual(win.inflight);
      // Every blob asked exactly once: 2,545 loads for 704 keys.
      expect(later.calls.reduce((a, b) => a + b, 0)).toBe(2545);
    }
  });

  it('verifies what every loader returns, with one message', async () => {
    const messages: string[] = [];
    for (const [win, async] of [
      [{ batch: 4096, inflight: 1, window: 1 }, false],
      [{ batch: 1024, inflight: 2, window: 2 }, true],
      [{ batch: 1, inflight: 4, window: 8 }, true],
    ] as const) {
      const err = await entries(loader(win, { async, corrupt: 600 })).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(Error);
      messages.push((err as Error).message);
    }
    expect(messages[0]).toMatch(/: (blobref \d+|dirref) \(?sha1-[0-9a-f]{40}\)?: content does not match, it hashes to sha1-[0-9a-f]{40}$/);
    expect(new Set(messages).size).toBe(1);
  });

  it('a store that fails a call fails the walk with its error', async () => {
    const base = loader({ batch: 8, inflight: 3, window: 4 }, { async: true });
    let calls = 0;
    const failing: BlobLoader = {
      hashType: base.hashType,
      loadWindow: base.loadWindow,
      loadBatch: (d, c) => (++calls === 10 ? Promise.reject(new Error('store went away')) : base.loadBatch(d, c)),
    };
    const err = await (async () => {
      for await (const b of new Walker(failing, { maxreqs: 4, ignoreFailedRead: false, meta, checker }).walk(root)) void b;
    })().catch((e: unknown) => e);
    expect((err as Error).message).toBe('store went away');
  });
});
