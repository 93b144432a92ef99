// The offline fast path: the digest table, the spilling walk queue, batched row fetches
// in rowid order with read-ahead. Each must give exactly what the slow path gives.
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { formatBlobref, fromHex } from '../src/blobref.js';
import { MissingBlobError } from '../src/errors.js';
import { DigestTable } from '../src/store/digest-table.js';
import { BlobArena } from '../src/store/blob-arena.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { loadBlob, type LoadResult } from '../src/store/source.js';
import { hasPrestarted, prestartLoadThread } from '../src/store/load-thread.js';
import { ByteFifo } from '../src/walk/fifo.js';
import { Walker } from '../src/walk/walk.js';
import type { ArchiveEntry } from '../src/walk/entry.js';
import { createBlobVerifier } from '../src/verify/verify.js';
import { ROOT, SMALL, tempDir } from './helpers/paths.js';

const tmp = tempDir('fluxdump-fast-');
afterAll(() => tmp.cleanup());

describe('DigestTable', () => {
  it('keeps every candidate of a shared prefix and survives growth', () => {
    const t = new DigestTable();
    const n = 50_000;
    for (let i = 1; i <= n; i++) t.add(i % 1000 === 0 ? 0x12345678 : (i * 2654435761) | 0, i);
    expect(t.size).toBe(n);
    const rows: number[] = [];
    for (let s = t.first(0x12345678); s >= 0; s = t.next(0x12345678, s)) rows.push(t.rowidAt(s));
    expect(rows.sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => (i + 1) * 1000));
    expect(t.rowidAt(t.first((777 * 2654435761) | 0))).toBe(777);
    expect(t.first(0x0badf00d)).toBe(-1);
    expect(t.packed).toBe(false);
  });

  it('packed (rowids known to fit 24 bits): half the bytes, every row found, foreign prefixes only as candidates', () => {
    const n = 200_000;
    const prefixOf = (i: number) => (i % 1000 === 0 ? 0x12345678 : Math.imul(i, 2654435761) | 0);
    const packed = new DigestTable(n);
    const wide = new DigestTable();
    for (let i = 1; i <= n; i++) {
      packed.add(prefixOf(i), i);
      wide.add(prefixOf(i), i);
    }
    expect(packed.packed).toBe(true);
    expect(packed.byteLength).toBe(wide.byteLength / 2);
    // Every row is among the candidates of its prefix.
    let lost = 0;
    let extra = 0;
    for (let i = 1; i <= n; i++) {
      const p = prefixOf(i);
      let found = false;
      for (let s = packed.first(p); s >= 0; s = packed.next(p, s)) {
        const r = packed.rowidAt(s);
        if (r === i) found = true;
        else if (prefixOf(r) !== p) extra++;
      }
      if (!found) lost++;
    }
    expect(lost).toBe(0);
    // 18-bit rowids leave 14 fingerprint bits: other prefixes are rare candidates.
    expect(extra).toBeLessThan(n / 1000);
    expect(packed.accepts(n + 1)).toBe(false);
    expect(packed.accepts(0)).toBe(false);
    expect(() => packed.add(1, n + 1)).toThrow(RangeError);
  });

  it('rowids over 24 bits keep the wide form', () => {
    const t = new DigestTable(1 << 24);
    expect(t.packed).toBe(false);
    t.add(7, 1 << 24);
    expect(t.rowidAt(t.first(7))).toBe(1 << 24);
  });
});

describe('ByteFifo', () => {
  it.each([false, true])('returns records in order across spilled chunks and leaves no file behind (writes end first: %s)', async (settle) => {
    // Spill writes run on libuv's threads: without a turn of the event loop the reader
    // gets chunks whose write is still in flight from memory; with one, from the file.
    const dir = join(tmp.dir, `spill-${settle}`);
    mkdirSync(dir);
    const q = new ByteFifo({ chunkBytes: 64, spillAfter: 2, spillDir: dir });
    let pushed = 0;
    let popped = 0;
    let wrong = 0;
    const pop = () => {
      const at = q.peek();
      const buf = q.head;
      const len = buf[at]!;
      if (buf[at + 1] !== (popped & 0xff)) wrong++;
      for (let i = 2; i < len; i++) if (buf[at + i] !== ((popped + i) & 0xff)) wrong++;
      q.shift(len);
      popped++;
    };
    for (let round = 0; round < 200; round++) {
      for (let k = 0; k < 20; k++) {
        const len = 2 + ((pushed * 7) % 40);
        const at = q.reserve(len);
        const buf = q.tail;
        buf[at] = len;
        buf[at + 1] = pushed & 0xff;
        for (let i = 2; i < len; i++) buf[at + i] = (pushed + i) & 0xff;
        pushed++;
      }
      if (settle && round % 20 === 0) await new Promise((r) => setTimeout(r, 5));
      for (let k = 0; k < 15; k++) pop();
    }
    while (q.length > 0) pop();
    expect(popped).toBe(pushed);
    expect(wrong).toBe(0);
    expect(q.spilledBytes).toBeGreaterThan(0);
    if (settle) expect(q.reloadedBytes).toBeGreaterThan(0);
    else expect(q.reloadedBytes).toBe(0);
    // A record larger than a chunk gets a chunk of its own.
    const big = q.reserve(1000);
    q.tail[big + 999] = 42;
    const bigAt = q.peek();
    expect(q.head[bigAt + 999]).toBe(42);
    q.shift(1000);
    q.close();
    expect(readdirSync(dir)).toEqual([]);
  });
});

describe('SqliteStore batched loads', () => {
  const db = join(SMALL, 'small.sqlite');

  it('a batch gives what single loads give, in any order, with misses in place', async () => {
    const store = await SqliteStore.open(db);
    const refs = allRefs(join(tmp.dir, 'small-copy.sqlite'), db);
    const shuffled = refs.map((r, i) => refs[(i * 7919) % refs.length]!);
    const absent = formatBlobref('sha1', new Uint8Array(20).fill(0xab));
    shuffled.splice(3, 0, absent);
    const digests = new Uint8Array(shuffled.length * 20);
    shuffled.forEach((r, i) => digests.set(fromHex(r.slice(5)), i * 20));
    const got = store.loadBatch(digests, shuffled.length) as LoadResult[];
    expect(got.length).toBe(shuffled.length);
    for (const [i, r] of shuffled.entries()) {
      if (r === absent) {
        expect(got[i]).toBeInstanceOf(MissingBlobError);
        expect((got[i] as Error).message).toContain(absent);
        await expect(loadBlob(store, r)).rejects.toThrow(`${absent}: No such file or directory`);
      } else expect(got[i]).toEqual(await loadBlob(store, r));
    }
    await store.close();
  });

  it('finds the right row when digests share their first four bytes', async () => {
    const path = join(tmp.dir, 'collide.sqlite');
    const w = new Database(path);
    w.exec('CREATE TABLE objects(hash BLOB PRIMARY KEY, size INT, object BLOB, epoch INT)');
    const put = w.prepare('INSERT INTO objects (hash,size,object) VALUES (CAST(? AS TEXT),-1,?)');
    const refs: string[] = [];
    w.exec('BEGIN');
    for (let i = 0; i < 300; i++) {
      const digest = createHash('sha1').update(`x${i}`).digest();
      digest.writeUInt32BE(0xdeadbeef, 0); // every row collides on the table's key
      put.run(digest, Buffer.from(`value ${i}`));
      refs.push(formatBlobref('sha1', digest));
    }
    w.exec('COMMIT');
    w.close();
    const store = await SqliteStore.open(path);
    const digests = new Uint8Array(refs.length * 20);
    refs.forEach((r, i) => digests.set(fromHex(r.slice(5)), i * 20));
    const got = store.loadBatchHere(digests, refs.length);
    got.forEach((b, i) => expect(new TextDecoder().decode(b as Uint8Array)).toBe(`value ${i}`));
    expect(new TextDecoder().decode(await loadBlob(store, refs[123]!))).toBe('value 123');
    // The load thread's form: colliding rows go through the general path into the arena.
    const arena = new BlobArena(8);
    const into = store.loadBatchInto(digests, refs.length, arena);
    refs.forEach((_, i) => expect(new TextDecoder().decode(arena.buf.subarray(into.start[i]!, into.end[i]!))).toBe(`value ${i}`));
    await store.close();
  });

  it('a deep index read leaf by leaf in file order, some pages only in the WAL, finds every object', async () => {
    // 30,000 objects make a three-level index whose interior cells hold entries too;
    // inserting in digest-random order scatters its leaves through the file. The last
    // third stays in the WAL (copied while the writer still holds it), so runs of leaf
    // pages must stop at pages the WAL has newer images of.
    const src = join(tmp.dir, 'deep-src.sqlite');
    const w = new Database(src);
    w.pragma('journal_mode = WAL');
    w.pragma('wal_autocheckpoint = 0');
    w.exec('CREATE TABLE objects(hash BLOB PRIMARY KEY, size INT, object BLOB, epoch INT)');
    const put = w.prepare('INSERT INTO objects (hash,size,object) VALUES (CAST(? AS TEXT),-1,?)');
    const digests = new Uint8Array(30000 * 20);
    const fill = (from: number, to: number) => {
      w.exec('BEGIN');
      for (let i = from; i < to; i++) {
        const d = createHash('sha1').update(`deep ${i}`).digest();
        digests.set(d, i * 20);
        put.run(d, Buffer.from(`value ${i}`));
      }
      w.exec('COMMIT');
    };
    fill(0, 20000);
    w.pragma('wal_checkpoint(TRUNCATE)');
    fill(20000, 30000);
    const path = join(tmp.dir, 'deep.sqlite');
    copyFileSync(src, path);
    copyFileSync(`${src}-wal`, `${path}-wal`);
    w.close();
    const store = await SqliteStore.open(path);
    const got = store.loadBatchHere(digests, 30000);
    const wrong = got.filter((b, i) => !(b instanceof Uint8Array) || new TextDecoder().decode(b) !== `value ${i}`);
    expect(wrong.length).toBe(0);
    await store.close();
  });

  it('a load thread started early for a statedir is taken over by the store that opens it', async () => {
    const dir = join(tmp.dir, 'prestart-statedir');
    mkdirSync(dir);
    const path = join(dir, 'content.sqlite');
    copyFileSync(join(SMALL, 'small.sqlite'), path);
    // Forced (FLUXDUMP_LOAD_THREAD=1): the small store would not get a thread otherwise.
    {
      prestartLoadThread(join(tmp.dir, 'no-such-dir'), true); // nothing there: nothing started, no error
      prestartLoadThread(dir);
      expect(hasPrestarted(path)).toBe(false); // too small without the setting
      prestartLoadThread(dir, true);
      expect(hasPrestarted(path)).toBe(true);
      const store = await SqliteStore.open(path, { loadThread: true });
      expect(hasPrestarted(path)).toBe(false);
      const refs = allRefs(join(tmp.dir, 'prestart-copy.sqlite'), path);
      const digests = new Uint8Array(refs.length * 20);
      refs.forEach((r, i) => digests.set(fromHex(r.slice(5)), i * 20));
      // The thread answers (a promise), and the same blobs as reading here.
      const pending = store.loadBatch(digests, refs.length);
      expect(pending).toBeInstanceOf(Promise);
      const got = await pending;
      expect(got).toEqual(store.loadBatchHere(digests, refs.length));
      expect(got.every((b) => b instanceof Uint8Array)).toBe(true);
      await store.close();
    }
  });

  it('loadBatchInto lays out exactly what loadBatchHere returns, growing a tiny arena', async () => {
    const store = await SqliteStore.open(db);
    const refs = allRefs(join(tmp.dir, 'small-copy2.sqlite'), db);
    const absent = formatBlobref('sha1', new Uint8Array(20).fill(0xcd));
    const asked = [...refs, absent, ...refs.slice().reverse()];
    const digests = new Uint8Array(asked.length * 20);
    asked.forEach((r, i) => digests.set(fromHex(r.slice(5)), i * 20));
    const want = store.loadBatchHere(digests, asked.length);
    const arena = new BlobArena(16); // grows many times within the batch
    arena.reserve(5); // and a reset must really start over
    arena.reset();
    const got = store.loadBatchInto(digests, asked.length, arena);
    expect(arena.buf.length).toBeGreaterThan(16);
    asked.forEach((r, i) => {
      if (r === absent) {
        expect(got.errors[i]).toBeInstanceOf(MissingBlobError);
        expect(got.errors[i]!.message).toContain(absent);
      } else {
        expect(got.errors[i]).toBeUndefined();
        expect(arena.buf.subarray(got.start[i]!, got.end[i]!)).toEqual(want[i]);
      }
    });
    expect(arena.used).toBe(got.end.reduce((a, b) => Math.max(a, b), 0));
    await store.close();
  });
});

describe('Walker queue', () => {
  it('a queue that spills after a few bytes walks exactly like the default one', async () => {
    const store = await SqliteStore.open(join(ROOT, 'sample/content.sqlite'));
    const root = (await store.checkpoints())[0]!.rootref;
    const checker = await createBlobVerifier('sha1');
    const meta = { mtime: 0, uid: 0, gid: 0, mode: 0o644 };
    const collect = async (w: Walker) => {
      const out: ArchiveEntry[] = [];
      for await (const b of w.walk(root)) out.push(...b);
      return out.map((e) => `${e.path} ${e.type} ${createHash('sha1').update(e.data).digest('hex')} ${e.linkTarget}`);
    };
    const plain = await collect(new Walker(store, { maxreqs: 2, ignoreFailedRead: false, meta, checker }));
    const spillDir = join(tmp.dir, 'walk-spill');
    mkdirSync(spillDir);
    const tiny = new Walker(store, { maxreqs: 2, ignoreFailedRead: false, meta, checker, queue: { chunkBytes: 256, spillAfter: 2, spillDir } });
    expect(await collect(tiny)).toEqual(plain);
    expect(plain.length).toBeGreaterThan(500);
    expect(readdirSync(spillDir)).toEqual([]);
    await store.close();
  });
});

/** Every blobref in a store, read from a copy with SQLite itself (never the fixture in place). */
function allRefs(copy: string, original: string): string[] {
  copyFileSync(original, copy);
  const d = new Database(copy, { readonly: true });
  const rows = d.prepare('SELECT CAST(hash AS BLOB) FROM objects').raw().all() as [Buffer][];
  d.close();
  return rows.map(([h]) => formatBlobref('sha1', new Uint8Array(h)));
}
