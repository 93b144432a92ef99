/**
 * The read-only SQLite reader against real files: Flux's own content.sqlite fixture (read
 * in place, proven untouched) and databases that SQLite itself writes here through
 * better-sqlite3, every read compared with what SQLite reads back.
 */
import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  copyFileSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FluxError } from '../src/errors.js';
import { SqliteFile, type SqlValue } from '../src/store/sqlite-file.js';
import { localPayloadSize } from '../src/store/sqlite-file/format.js';

const FIXTURE_DIR = fileURLToPath(new URL('../../shared/fixtures/flux-0.88/small/', import.meta.url));
const FIXTURE = join(FIXTURE_DIR, 'small.sqlite');
const FLUX_SCHEMA = `
  CREATE TABLE objects(hash BLOB PRIMARY KEY, size INT, object BLOB, epoch INT DEFAULT 0);
  CREATE TABLE checkpt_v2(id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, value TEXT);`;
const AUTOINDEX = 'sqlite_autoindex_objects_1';
const INSERT_OBJECT = 'INSERT INTO objects(hash, size, object) VALUES (CAST(? AS TEXT), ?, ?)';
const SELECT_OBJECTS = 'SELECT rowid AS r, CAST(hash AS BLOB) AS h, typeof(hash) AS th, size, object, epoch FROM objects ORDER BY rowid';

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'sqlite-file-'));
});
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

/** Deterministic xorshift32, so failures reproduce. */
function rng(seed: number): () => number {
  let x = seed | 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

function randomBytes(n: number, rand: () => number): Buffer {
  const b = Buffer.allocUnsafe(n);
  let i = 0;
  for (; i + 4 <= n; i += 4) b.writeUInt32LE(Math.floor(rand() * 2 ** 32), i);
  for (; i < n; i++) b[i] = Math.floor(rand() * 256);
  return b;
}

const sha1 = (path: string) => createHash('sha1').update(readFileSync(path)).digest('hex');

/** Name, size and mtime of every file in a directory: proof that nothing was created or touched. */
function dirState(dir: string): string[] {
  return readdirSync(dir)
    .sort()
    .map((f) => {
      const st = statSync(join(dir, f));
      return `${f} ${st.size} ${st.mtimeMs}`;
    });
}

/** One comparable string per SQL value; numbers compare by value (our API folds 2 and 2.0). */
function canon(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (v instanceof Uint8Array) return `blob:${Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex')}`;
  if (typeof v === 'string') return `text:${v}`;
  if (typeof v === 'bigint') return `num:${v}`;
  if (typeof v === 'number') {
    if (Object.is(v, -0)) return 'num:-0';
    return Number.isInteger(v) ? `num:${BigInt(v)}` : `num:${v}`;
  }
  return `?${String(v)}`;
}

/** Compares rows in lockstep; returns the first difference (or '' when equal) and the count. */
function compareRows(
  ours: Iterable<{ rowid: number | bigint; values: SqlValue[] }>,
  theirs: Iterable<unknown[]>,
): { diff: string; count: number } {
  const it = theirs[Symbol.iterator]();
  let count = 0;
  for (const row of ours) {
    const t = it.next();
    if (t.done) return { diff: `extra row ${row.rowid}`, count };
    const mine = [canon(row.rowid), ...row.values.map(canon)].join('|');
    const want = t.value.map(canon).join('|');
    if (mine !== want) return { diff: `row ${count}: ours ${mine.slice(0, 200)} sqlite ${want.slice(0, 200)}`, count };
    count++;
  }
  if (!it.next().done) return { diff: `missing rows after ${count}`, count };
  return { diff: '', count };
}

function sqliteRows(db: Database.Database, sql: string): unknown[][] {
  return db.prepare(sql).raw(true).safeIntegers(true).all() as unknown[][];
}

function expectFluxError(fn: () => unknown, pattern: RegExp): FluxError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(FluxError);
  const err = caught as FluxError;
  expect(err.message).toMatch(pattern);
  expect(err.message).not.toContain('\n');
  return err;
}

/**
 * A fresh empty database file with a chosen page size and reserved bytes per page: the
 * 100-byte header plus an empty sqlite_schema leaf. SQLite honours the header's reserve
 * for every page it writes, so this is how a reserved-bytes database is made without
 * SQLITE_FCNTL_RESERVE_BYTES (better-sqlite3 does not expose file controls).
 */
function emptyDbFile(path: string, pageSize: number, reserved: number): void {
  const p = Buffer.alloc(pageSize);
  p.write('SQLite format 3\0', 0, 'latin1');
  p.writeUInt16BE(pageSize === 65536 ? 1 : pageSize, 16);
  p[18] = 1;
  p[19] = 1;
  p[20] = reserved;
  p[21] = 64;
  p[22] = 32;
  p[23] = 32;
  p.writeUInt32BE(1, 24); // change counter
  p.writeUInt32BE(1, 28); // pages
  p.writeUInt32BE(4, 44); // schema format
  p.writeUInt32BE(1, 56); // UTF-8
  p.writeUInt32BE(1, 92); // version-valid-for = change counter
  p.writeUInt32BE(3046000, 96);
  p[100] = 13; // empty table leaf
  p.writeUInt16BE((pageSize - reserved) & 0xffff, 105);
  writeFileSync(path, p);
}

interface FluxDbSpec {
  rows: number;
  seed: number;
  /** Sizes of extra objects forced into overflow chains. */
  bigSizes?: number[];
  maxSmall?: number;
}

/** Fills a Flux-schema database the way Flux does (hash bound as TEXT); returns the hashes. */
function fillFluxDb(db: Database.Database, spec: FluxDbSpec): Buffer[] {
  db.exec(FLUX_SCHEMA);
  const rand = rng(spec.seed);
  const ins = db.prepare(INSERT_OBJECT);
  const hashes: Buffer[] = [];
  const add = (obj: Buffer | null, size: number) => {
    const h = randomBytes(rand() < 0.5 ? 20 : 32, rand);
    ins.run(h, size, obj);
    hashes.push(h);
  };
  db.transaction(() => {
    for (let i = 0; i < spec.rows; i++) {
      const n = Math.floor(rand() * (spec.maxSmall ?? 200));
      add(n === 0 && rand() < 0.5 ? null : randomBytes(n, rand), n < 256 ? -1 : n);
    }
    for (const n of spec.bigSizes ?? []) add(randomBytes(n, rand), n);
    const ck = db.prepare('INSERT INTO checkpt_v2(value) VALUES (?)');
    for (let i = 0; i < 7; i++) ck.run(JSON.stringify({ version: 1, rootref: `sha1-${i}`, sequence: i }));
  })();
  return hashes;
}

/** Everything the content store needs, checked against SQLite's own reads of the same file. */
function checkFluxDb(ours: SqliteFile, theirs: Database.Database, hashes: Buffer[]): void {
  const rows = sqliteRows(theirs, SELECT_OBJECTS);
  expect(rows.every((r) => r[2] === 'text')).toBe(true);
  const cmp = compareRows(
    ours.scan('objects', { rawText: ['hash'] }),
    rows.map((r) => [r[0], r[1], r[3], r[4], r[5]]),
  );
  expect(cmp.diff).toBe('');
  expect(cmp.count).toBe(hashes.length);

  let misses = 0;
  for (const r of rows) {
    const rowid = ours.indexLookupText(AUTOINDEX, r[1] as Buffer);
    if (BigInt(rowid ?? -1) !== r[0]) misses++;
  }
  expect(misses).toBe(0);
  // A digest bound as BLOB is another storage class: no match, exactly as in SQL.
  expect(ours.indexLookup(AUTOINDEX, hashes[0]!)).toBeUndefined();
  expect(ours.indexLookupText(AUTOINDEX, Buffer.alloc(20, 0xee))).toBeUndefined();
  expect(ours.indexLookupText(AUTOINDEX, Buffer.alloc(0))).toBeUndefined();

  const byRowid = new Map(rows.map((r) => [r[0] as bigint, r]));
  const rand = rng(99);
  for (let i = 0; i < 300; i++) {
    const id = 1 + Math.floor(rand() * (rows.length + 5));
    const got = ours.getRow('objects', id, { rawText: true });
    const want = byRowid.get(BigInt(id));
    if (want === undefined) expect(got).toBeUndefined();
    else expect(got!.map(canon)).toEqual([want[1], want[3], want[4], want[5]].map(canon));
  }
  const last = ours.lastRow('checkpt_v2');
  const wantLast = theirs.prepare('SELECT id, value FROM checkpt_v2 ORDER BY id DESC LIMIT 1').raw(true).get() as unknown[];
  expect(last?.rowid).toBe(wantLast[0]);
  expect(last?.values).toEqual(wantLast);
}

describe('flux-core 0.88 fixture, read in place', () => {
  it('reads all 24 objects and the checkpoint without changing a byte or creating a file', () => {
    const before = { sum: sha1(FIXTURE), dir: dirState(FIXTURE_DIR) };
    const copyDir = mkdtempSync(join(tmp, 'fixture-'));
    const copy = join(copyDir, 'small.sqlite');
    copyFileSync(FIXTURE, copy);
    const theirs = new Database(copy, { readonly: true });

    const ours = SqliteFile.open(FIXTURE);
    expect(ours.pageSize).toBe(4096);
    expect(ours.textEncoding).toBe('utf8');
    expect(ours.walFrames).toBe(0); // the fixture's -wal is empty
    expect([...ours.tables().keys()].sort()).toEqual(['checkpt_v2', 'objects', 'sqlite_sequence']);
    expect(ours.tables().get('objects')!.columns).toEqual(['hash', 'size', 'object', 'epoch']);
    expect(ours.indexes().get(AUTOINDEX)).toEqual({ rootPage: 3, table: 'objects', sql: null });

    const rows = sqliteRows(theirs, SELECT_OBJECTS);
    expect(rows).toHaveLength(24);
    const ourRows = [...ours.scanRaw('objects')];
    expect(ourRows).toHaveLength(24);
    expect(compareRows(ourRows, rows.map((r) => [r[0], r[1], r[3], r[4], r[5]])).diff).toBe('');
    expect(ourRows.filter((r) => r.values[1] === -1)).toHaveLength(15);
    expect(ourRows.filter((r) => r.values[2] === null)).toHaveLength(1);
    for (const r of ourRows) {
      expect(ours.indexLookupText(AUTOINDEX, r.values[0] as Uint8Array)).toBe(r.rowid);
      expect(ours.getRow('objects', r.rowid, { rawText: ['hash'] })).toEqual(r.values);
    }
    const last = ours.lastRow('checkpt_v2');
    expect(last).toEqual({
      rowid: 1,
      values: [1, '{"version":1,"rootref":"sha1-f9c7c282fa96c6824b9ba9c806e9eb376c3c5c5b","sequence":13,"timestamp":1795690510.5299776}'],
    });
    ours.close();
    theirs.close();

    expect(sha1(FIXTURE)).toBe(before.sum);
    expect(dirState(FIXTURE_DIR)).toEqual(before.dir);
  });
});

describe('Flux-schema databases written by SQLite', () => {
  it('100k objects: multi-level b-trees, every row, every hash via the autoindex', () => {
    const path = join(tmp, 'big.sqlite');
    const w = new Database(path);
    const hashes = fillFluxDb(w, { rows: 100_000, seed: 7, bigSizes: [3 << 20, 1_000_000, 70_000, 4097] });
    w.close();
    const theirs = new Database(path, { readonly: true });
    const ours = SqliteFile.open(path);
    expect(ours.pageCount).toBeGreaterThan(5000);
    checkFluxDb(ours, theirs, hashes);
    ours.close();
    theirs.close();
  });

  for (const pageSize of [512, 4096, 65536]) {
    it(`page size ${pageSize}: overflow chains of blobs up to 3 MB and at the spill boundaries`, () => {
      const path = join(tmp, `ps${pageSize}.sqlite`);
      const w = new Database(path);
      w.pragma(`page_size = ${pageSize}`);
      const rand = rng(pageSize);
      const u = pageSize;
      const maxLocal = u - 35;
      const minLocal = Math.floor(((u - 12) * 32) / 255) - 23;
      // Record overhead in `objects` is a few bytes; sweep blob sizes across every threshold.
      const edges: number[] = [];
      for (let d = -40; d <= 40; d++) edges.push(maxLocal + d, minLocal + (u - 4) + d, minLocal + 3 * (u - 4) + d);
      const bigSizes = [...edges.filter((n) => n >= 0), ...Array.from({ length: 10 }, () => Math.floor(rand() * (3 << 20)))];
      const hashes = fillFluxDb(w, { rows: pageSize === 512 ? 20_000 : 5_000, seed: pageSize + 1, bigSizes });
      w.close();
      const theirs = new Database(path, { readonly: true });
      const ours = SqliteFile.open(path);
      expect(ours.pageSize).toBe(pageSize);
      checkFluxDb(ours, theirs, hashes);
      ours.close();
      theirs.close();
    });
  }

  it('reserved bytes per page: usable size drives the spill formula', () => {
    for (const [pageSize, reserved] of [
      [1024, 32],
      [4096, 200],
    ] as const) {
      const path = join(tmp, `reserved${pageSize}.sqlite`);
      emptyDbFile(path, pageSize, reserved);
      const w = new Database(path);
      const u = pageSize - reserved;
      const sizes: number[] = [];
      for (let d = -20; d <= 20; d++) sizes.push(u - 35 + d, u + d, 2 * u + d);
      const hashes = fillFluxDb(w, { rows: 8_000, seed: reserved, bigSizes: [...sizes, 200_000], maxSmall: 600 });
      expect(w.pragma('integrity_check', { simple: true })).toBe('ok');
      w.close();
      expect(readFileSync(path).subarray(20, 21)[0]).toBe(reserved);
      const theirs = new Database(path, { readonly: true });
      const ours = SqliteFile.open(path);
      expect(ours.reservedBytes).toBe(reserved);
      checkFluxDb(ours, theirs, hashes);
      ours.close();
      theirs.close();
    }
  });

  it('a small page cache still gives the same answers (eviction)', () => {
    const path = join(tmp, 'cache.sqlite');
    const w = new Database(path);
    const hashes = fillFluxDb(w, { rows: 3_000, seed: 3, bigSizes: [50_000] });
    w.close();
    const theirs = new Database(path, { readonly: true });
    const ours = SqliteFile.open(path, { cachePages: 1 });
    checkFluxDb(ours, theirs, hashes);
    ours.close();
    // A scan interleaved with lookups: the scan's pages get recycled under it and must be re-read.
    const tiny = SqliteFile.open(path, { cachePages: 2 });
    let n = 0;
    let bad = 0;
    for (const r of tiny.scan('objects', { rawText: ['hash'] })) {
      const h = r.values[0] as Uint8Array;
      if (!Buffer.from(h).equals(hashes[n]!)) bad++;
      const other = hashes[(n * 7919) % hashes.length]!;
      const id = tiny.indexLookupText(AUTOINDEX, other);
      if (!Buffer.from(tiny.getRow('objects', id!, { rawText: true })![0] as Uint8Array).equals(other)) bad++;
      n++;
    }
    expect(bad).toBe(0);
    expect(n).toBe(hashes.length);
    tiny.close();
    theirs.close();
  });
});

describe('rowid lookups', () => {
  it('find every row in any order, across leaves, with gaps, through a cache of two pages', () => {
    const path = join(tmp, 'lookups.sqlite');
    const w = new Database(path);
    w.exec('CREATE TABLE t(v BLOB)');
    const ins = w.prepare('INSERT INTO t(rowid, v) VALUES (?, ?)');
    const rand = rng(11);
    const rowids: number[] = [];
    // Gaps between rowids, so lookups also fall between two rows of one leaf.
    w.transaction(() => {
      for (let r = 1; r <= 40_000; r += 1 + Math.floor(rand() * 3)) {
        ins.run(r, randomBytes(20 + Math.floor(rand() * 300), rand));
        rowids.push(r);
      }
    })();
    w.close();
    const want = new Map<number, string>();
    const d = new Database(path, { readonly: true });
    for (const row of d.prepare('SELECT rowid AS r, v FROM t').all() as { r: number; v: Buffer }[]) want.set(row.r, row.v.toString('hex'));
    d.close();
    const db = SqliteFile.open(path, { cachePages: 2 });
    const hex = (r: number) => {
      const c = db.rowRecord('t', r);
      if (!c) return undefined;
      const v = db.getRow('t', r)![0] as Uint8Array;
      return Buffer.from(v).toString('hex');
    };
    const shuffled = [...rowids].sort(() => rand() - 0.5);
    for (const order of [rowids, [...rowids].reverse(), shuffled]) {
      for (const r of order) expect(hex(r)).toBe(want.get(r));
    }
    for (const r of [0, 40_001, 99_999, -1]) expect(db.rowRecord('t', r)).toBeUndefined();
    const missing = Array.from({ length: 40_000 }, (_, i) => i + 1).filter((r) => !want.has(r));
    expect(missing.length).toBeGreaterThan(1000);
    for (const r of missing) expect(db.rowRecord('t', r)).toBeUndefined();
    db.close();
  });
});

describe('planned row reads', () => {
  it('a plan reads the same rows in fewer, larger reads, and a wrong plan changes no answer', () => {
    // Wanted rows between garbage, as in a real content.sqlite: one row of every forty, so
    // most leaves between two wanted ones are not wanted (read-ahead alone reads page by page).
    const path = join(tmp, 'planned.sqlite');
    const w = new Database(path);
    w.exec('CREATE TABLE t(v BLOB)');
    const ins = w.prepare('INSERT INTO t(rowid, v) VALUES (?, ?)');
    const rand = rng(5);
    w.transaction(() => {
      for (let r = 1; r <= 30_000; r++) ins.run(r, randomBytes(100 + Math.floor(rand() * 400), rand));
    })();
    w.close();
    const wanted = Float64Array.from({ length: 750 }, (_, i) => 1 + 40 * i);
    const read = (plan: 'none' | 'right' | 'wrong') => {
      const db = SqliteFile.open(path, { cachePages: 64 });
      const before = db.reads;
      if (plan === 'right') db.planRows('t', wanted, wanted.length);
      if (plan === 'wrong') db.planRows('t', wanted.map((r) => r + 15_000), wanted.length);
      const h = createHash('sha1');
      for (const r of wanted) h.update(db.getRow('t', r)![0] as Uint8Array);
      db.planRows('t', wanted, 0);
      const reads = db.reads - before;
      db.close();
      return { sum: h.digest('hex'), reads };
    };
    const none = read('none');
    const right = read('right');
    const wrong = read('wrong');
    expect(right.sum).toBe(none.sum);
    expect(wrong.sum).toBe(none.sum);
    expect(right.reads * 4).toBeLessThan(none.reads);
  });
});

describe('record format and schema', () => {
  const INTS: bigint[] = [
    0n, 1n, -1n, 2n, 127n, 128n, -128n, -129n, 32767n, 32768n, -32768n, -32769n, 8388607n, 8388608n, -8388608n,
    -8388609n, 2147483647n, 2147483648n, -2147483648n, -2147483649n, 140737488355327n, 140737488355328n,
    -140737488355328n, -140737488355329n, 9007199254740991n, 9007199254740992n, -9007199254740993n,
    9223372036854775807n, -9223372036854775808n,
  ];
  const REALS = [0.5, -0.5, 1e300, -1e-300, 2.0, 3.25, Number.MAX_VALUE, Number.MIN_VALUE, Infinity, -Infinity, -0];

  it('every serial type decodes as SQLite stores it, and numbers are bigint only when unsafe', () => {
    const path = join(tmp, 'types.sqlite');
    const w = new Database(path);
    w.defaultSafeIntegers(true);
    w.exec('CREATE TABLE t(v)');
    const ins = w.prepare('INSERT INTO t(v) VALUES (?)');
    const longText = 'ƒ'.repeat(20_000) + '😀';
    const values: unknown[] = [null, ...INTS, ...REALS, '', 'a', 'héllo ✓ 😀', longText, Buffer.alloc(0), Buffer.from([0, 1, 2, 255]), randomBytes(100_000, rng(5))];
    w.transaction(() => values.forEach((v) => ins.run(v)))();
    w.close();
    const theirs = new Database(path, { readonly: true });
    const types = theirs.prepare('SELECT typeof(v) FROM t ORDER BY rowid').pluck().all();
    expect(new Set(types)).toEqual(new Set(['null', 'integer', 'real', 'text', 'blob']));
    const ours = SqliteFile.open(path);
    const rows = [...ours.scan('t')];
    expect(compareRows(rows, sqliteRows(theirs, 'SELECT rowid, v FROM t ORDER BY rowid')).diff).toBe('');
    rows.forEach((r, i) => {
      const v = r.values[0];
      if (typeof v === 'bigint') expect(Number.isSafeInteger(Number(v))).toBe(false);
      if (types[i] === 'integer' && typeof v === 'number') expect(Number.isSafeInteger(v)).toBe(true);
    });
    expect(rows.map((r) => r.values[0])).toContain(9223372036854775807n);
    expect(rows.find((r) => r.values[0] === longText)).toBeDefined();
    ours.close();
    theirs.close();
  });

  it('random mixed rows (fast-check samples) match SQLite, and indexLookup follows its ordering rules', async () => {
    const fc = await import('fast-check');
    const value = fc.oneof(
      fc.constant(null),
      fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
      fc.integer({ min: -1000, max: 1000 }).map((n) => BigInt(n)),
      fc.double({ noNaN: true }),
      fc.integer({ min: -50, max: 50 }).map((n) => n + 0.5),
      fc.string({ maxLength: 30 }),
      fc.string({ unit: 'grapheme', maxLength: 3000 }),
      fc.uint8Array({ maxLength: 40 }),
      fc.uint8Array({ minLength: 1000, maxLength: 9000 }).map((b) => Buffer.from(b)),
    );
    const samples = fc.sample(fc.tuple(value, value, value), { numRuns: 3000, seed: 42 });
    const path = join(tmp, 'mixed.sqlite');
    const w = new Database(path);
    w.pragma('page_size = 1024');
    w.defaultSafeIntegers(true);
    w.exec('CREATE TABLE m(a, b, c); CREATE INDEX m_a ON m(a); CREATE INDEX m_b_desc ON m(b DESC, c)');
    const ins = w.prepare('INSERT INTO m VALUES (?, ?, ?)');
    const bind = (v: unknown) => (v instanceof Uint8Array ? Buffer.from(v) : v);
    w.transaction(() => samples.forEach(([a, b, c]) => ins.run(bind(a), bind(b), bind(c))))();
    w.close();
    const theirs = new Database(path, { readonly: true });
    theirs.defaultSafeIntegers(true);
    const ours = SqliteFile.open(path);
    expect(compareRows(ours.scan('m'), sqliteRows(theirs, 'SELECT rowid, a, b, c FROM m ORDER BY rowid')).diff).toBe('');

    // `=` on columns without affinity compares exactly as the index orders: class, then value.
    const firstA = theirs.prepare('SELECT min(rowid) FROM m WHERE a = ?').pluck();
    const firstANull = theirs.prepare('SELECT min(rowid) FROM m WHERE a IS NULL').pluck().get();
    // For b DESC, c: the first entry among equal b is the one with the largest c... in index order.
    const firstB = theirs.prepare('SELECT rowid FROM m INDEXED BY m_b_desc WHERE b = ? ORDER BY b DESC, c ASC, rowid ASC LIMIT 1').pluck();
    let checked = 0;
    for (const [a, b] of samples.slice(0, 600)) {
      const keyA = a instanceof Uint8Array ? new Uint8Array(a) : (a as SqlValue);
      const wantA = a === null ? firstANull : firstA.get(bind(a));
      expect(canon(ours.indexLookup('m_a', keyA))).toBe(canon(wantA));
      if (b !== null) {
        const keyB = b instanceof Uint8Array ? new Uint8Array(b) : (b as SqlValue);
        expect(canon(ours.indexLookup('m_b_desc', keyB))).toBe(canon(firstB.get(bind(b))));
      }
      checked++;
    }
    expect(checked).toBe(600);
    // Integers and reals meet by value: 2 finds a row stored as 2.0 or 2.
    expect(ours.indexLookup('m_a', 123456.5)).toBeUndefined();
    expect(ours.indexLookup('m_a', 'no such text value')).toBeUndefined();
    ours.close();
    theirs.close();
  });

  it('numbers compare across integer and real storage in an index', () => {
    const path = join(tmp, 'numeric.sqlite');
    const w = new Database(path);
    w.defaultSafeIntegers(true);
    w.exec('CREATE TABLE n(v); CREATE INDEX n_v ON n(v)');
    const ins = w.prepare('INSERT INTO n VALUES (?)');
    for (const v of [5.0, 5n, 2n ** 60n, 2.5, -1n, 'x', Buffer.from('x'), null]) ins.run(v);
    w.close();
    const ours = SqliteFile.open(path);
    expect(ours.indexLookup('n_v', 5)).toBe(1); // stored as REAL 5.0 first, INTEGER 5 second
    expect(ours.indexLookup('n_v', 5n)).toBe(1);
    expect(ours.indexLookup('n_v', 2 ** 60)).toBe(3);
    expect(ours.indexLookup('n_v', 2n ** 60n + 1n)).toBeUndefined();
    expect(ours.indexLookup('n_v', 2.5)).toBe(4);
    expect(ours.indexLookup('n_v', -1)).toBe(5);
    expect(ours.indexLookup('n_v', 'x')).toBe(6);
    expect(ours.indexLookupText('n_v', Buffer.from('x'))).toBe(6);
    expect(ours.indexLookup('n_v', new Uint8Array(Buffer.from('x')))).toBe(7);
    expect(ours.indexLookup('n_v', null)).toBe(8);
    ours.close();
  });

  it('rowid aliases, negative and 64-bit rowids, ADD COLUMN defaults, generated columns', () => {
    const path = join(tmp, 'schema.sqlite');
    const w = new Database(path);
    w.defaultSafeIntegers(true);
    w.exec(`
      CREATE TABLE "we""ird"(id INTEGER PRIMARY KEY, a TEXT);
      INSERT INTO "we""ird" VALUES (-5, 'neg'), (3, 'three'), (9223372036854775807, 'max'), (-9223372036854775808, 'min');
      ALTER TABLE "we""ird" ADD COLUMN e INT DEFAULT 7;
      ALTER TABLE "we""ird" ADD COLUMN s TEXT DEFAULT 'dflt';
      ALTER TABLE "we""ird" ADD COLUMN b BLOB DEFAULT x'01ff';
      ALTER TABLE "we""ird" ADD COLUMN n DEFAULT -3.5;
      ALTER TABLE "we""ird" ADD COLUMN z;
      INSERT INTO "we""ird"(id, a, e) VALUES (10, 'new', 8);
      CREATE TABLE g(a INT, dbl INT GENERATED ALWAYS AS (a * 2) VIRTUAL, c TEXT, st INT AS (a + 1) STORED);
      INSERT INTO g(a, c) VALUES (1, 'one'), (2, 'two');
      CREATE TABLE pk(x INTEGER, y, PRIMARY KEY(x DESC));
      INSERT INTO pk VALUES (40, 'forty');
      CREATE TABLE wr(k TEXT PRIMARY KEY, v) WITHOUT ROWID;
      INSERT INTO wr VALUES ('k', 1);
      CREATE TABLE nocase(t TEXT COLLATE NOCASE UNIQUE, u UNIQUE);
      INSERT INTO nocase VALUES ('Abc', 1);
    `);
    w.close();
    const theirs = new Database(path, { readonly: true });
    theirs.defaultSafeIntegers(true);
    const ours = SqliteFile.open(path);
    expect(ours.tables().get('we"ird')!.columns).toEqual(['id', 'a', 'e', 's', 'b', 'n', 'z']);
    expect(compareRows(ours.scan('we"ird'), sqliteRows(theirs, 'SELECT rowid, * FROM "we""ird" ORDER BY rowid')).diff).toBe('');
    expect(ours.getRow('we"ird', 9223372036854775807n)).toEqual([9223372036854775807n, 'max', 7, 'dflt', new Uint8Array([1, 255]), -3.5, null]);
    expect(ours.getRow('we"ird', -5)?.[1]).toBe('neg');
    expect(ours.getRow('we"ird', 4)).toBeUndefined();
    expect(ours.getRow('we"ird', 2n ** 62n)).toBeUndefined();
    expect(ours.lastRow('we"ird')?.rowid).toBe(9223372036854775807n);
    expect(ours.getRow('we"ird', 3, { rawText: ['s'] })?.[3]).toEqual(new TextEncoder().encode('dflt'));
    // VIRTUAL generated columns are not stored; they read as NULL. STORED ones are real.
    expect(ours.getRow('g', 2)).toEqual([2, null, 'two', 3]);
    // PRIMARY KEY(x DESC) as a table constraint is still a rowid alias.
    expect(ours.getRow('pk', 40)).toEqual([40, 'forty']);
    expectFluxError(() => ours.scan('wr'), /schema\.sqlite: table wr is WITHOUT ROWID/);
    expectFluxError(() => ours.scan('nope'), /no such table: nope/);
    expectFluxError(() => ours.indexLookup('nope', 1), /no such index: nope/);
    expectFluxError(() => ours.indexLookup('sqlite_autoindex_nocase_1', 'abc'), /collation NOCASE/);
    expect(ours.indexLookup('sqlite_autoindex_nocase_2', 1)).toBe(1);
    expect(ours.indexLookup('sqlite_autoindex_nocase_1', 5)).toBeUndefined();
    ours.close();
    theirs.close();
  });

  it('freelist pages, auto-vacuum pointer maps and empty tables are no obstacle', () => {
    for (const autoVacuum of ['NONE', 'FULL']) {
      const path = join(tmp, `free-${autoVacuum}.sqlite`);
      const w = new Database(path);
      w.pragma(`auto_vacuum = ${autoVacuum}`);
      w.exec('CREATE TABLE t(k INTEGER PRIMARY KEY, v BLOB, s TEXT UNIQUE); CREATE TABLE empty(a, b UNIQUE)');
      const ins = w.prepare('INSERT INTO t(v, s) VALUES (?, ?)');
      const rand = rng(77);
      w.transaction(() => {
        for (let i = 0; i < 4000; i++) ins.run(randomBytes(Math.floor(rand() * 3000), rand), `key-${i}`);
      })();
      w.exec('DELETE FROM t WHERE k % 3 = 0');
      w.close();
      const header = readFileSync(path);
      if (autoVacuum === 'NONE') expect(header.readUInt32BE(36)).toBeGreaterThan(100); // freelist pages
      else expect(header.readUInt32BE(52)).toBeGreaterThan(0); // largest root page: pointer maps in use
      const theirs = new Database(path, { readonly: true });
      const ours = SqliteFile.open(path);
      expect(compareRows(ours.scan('t'), sqliteRows(theirs, 'SELECT k, k, v, s FROM t ORDER BY k')).diff).toBe('');
      expect(ours.indexLookup('sqlite_autoindex_t_1', 'key-2')).toBeUndefined(); // k = 3 was deleted
      expect(ours.indexLookup('sqlite_autoindex_t_1', 'key-4')).toBe(5);
      expect([...ours.scan('empty')]).toEqual([]);
      expect(ours.lastRow('empty')).toBeUndefined();
      expect(ours.getRow('empty', 1)).toBeUndefined();
      expect(ours.indexLookup('sqlite_autoindex_empty_1', 1)).toBeUndefined();
      ours.close();
      theirs.close();
    }
  });

  for (const enc of ['UTF-16le', 'UTF-16be'] as const) {
    it(`${enc} databases decode text and look it up`, () => {
      const path = join(tmp, `${enc}.sqlite`);
      const w = new Database(path);
      w.pragma(`encoding = '${enc}'`);
      w.exec('CREATE TABLE "tÿ"(s TEXT, n INT); CREATE INDEX tÿ_s ON "tÿ"(s)');
      const ins = w.prepare('INSERT INTO "tÿ" VALUES (?, ?)');
      const words = ['', 'a', 'zebra', 'ƒuzzybunny', '😀 emoji', 'x'.repeat(5000)];
      words.forEach((s, i) => ins.run(s, i));
      w.close();
      const theirs = new Database(path, { readonly: true });
      const ours = SqliteFile.open(path);
      expect(ours.textEncoding).toBe(enc === 'UTF-16le' ? 'utf16le' : 'utf16be');
      expect(compareRows(ours.scan('tÿ'), sqliteRows(theirs, 'SELECT rowid, s, n FROM "tÿ" ORDER BY rowid')).diff).toBe('');
      words.forEach((s, i) => expect(ours.indexLookup('tÿ_s', s)).toBe(i + 1));
      expect(ours.indexLookup('tÿ_s', 'zebr')).toBeUndefined();
      ours.close();
      theirs.close();
    });
  }
});

describe('write-ahead log', () => {
  function walDb(dir: string): { path: string; w: Database.Database } {
    const path = join(dir, 'content.sqlite');
    const w = new Database(path);
    w.pragma('journal_mode = WAL');
    w.pragma('wal_autocheckpoint = 0');
    return { path, w };
  }

  it('reads committed frames while the writer is still open, then from a copy of db + wal', () => {
    const dir = mkdtempSync(join(tmp, 'wal-'));
    const { path, w } = walDb(dir);
    const hashes = fillFluxDb(w, { rows: 5_000, seed: 11, bigSizes: [400_000, 9_000] });
    w.prepare('UPDATE objects SET epoch = 3 WHERE rowid % 7 = 0').run();
    w.prepare('DELETE FROM objects WHERE rowid % 11 = 0').run();
    const kept = hashes.filter((_, i) => (i + 1) % 11 !== 0);
    const sums = { db: sha1(path), wal: sha1(`${path}-wal`), dir: dirState(dir) };

    const ours = SqliteFile.open(path);
    expect(ours.walFrames).toBeGreaterThan(100);
    checkFluxDb(ours, w, kept);
    ours.close();
    expect({ db: sha1(path), wal: sha1(`${path}-wal`), dir: dirState(dir) }).toEqual(sums);

    // The main file alone is stale: proof that the rows above came from the WAL.
    const onlyDb = mkdtempSync(join(tmp, 'walmain-'));
    copyFileSync(path, join(onlyDb, 'content.sqlite'));
    const stale = SqliteFile.open(join(onlyDb, 'content.sqlite'));
    expect(stale.walFrames).toBe(0);
    expect(stale.tables().has('objects')).toBe(false);
    stale.close();

    const copyDir = mkdtempSync(join(tmp, 'walcopy-'));
    const copy = join(copyDir, 'content.sqlite');
    copyFileSync(path, copy);
    copyFileSync(`${path}-wal`, `${copy}-wal`);
    chmodSync(copy, 0o444);
    chmodSync(`${copy}-wal`, 0o444);
    chmodSync(copyDir, 0o555);
    const copied = SqliteFile.open(copy);
    checkFluxDb(copied, w, kept);
    copied.close();
    expect(readdirSync(copyDir).sort()).toEqual(['content.sqlite', 'content.sqlite-wal']);
    chmodSync(copyDir, 0o755);
    w.close();
  });

  it('ignores uncommitted frames spilled by an open transaction', () => {
    const dir = mkdtempSync(join(tmp, 'spill-'));
    const { path, w } = walDb(dir);
    fillFluxDb(w, { rows: 500, seed: 12 });
    const committed = sqliteRows(w, SELECT_OBJECTS);
    w.pragma('cache_size = 8');
    const walBefore = statSync(`${path}-wal`).size;
    w.exec('BEGIN');
    const ins = w.prepare(INSERT_OBJECT);
    const rand = rng(0x5eed13);
    for (let i = 0; i < 2000; i++) ins.run(randomBytes(20, rand), 2000, randomBytes(2000, rand));
    expect(statSync(`${path}-wal`).size).toBeGreaterThan(walBefore);
    const during = SqliteFile.open(path);
    const cmp = compareRows(during.scanRaw('objects'), committed.map((r) => [r[0], r[1], r[3], r[4], r[5]]));
    expect(cmp.diff).toBe('');
    expect(cmp.count).toBe(500);
    during.close();
    w.exec('COMMIT');
    const after = SqliteFile.open(path);
    expect([...after.scanRaw('objects')]).toHaveLength(2500);
    after.close();
    w.close();
  });

  it('ignores stale frames left after a WAL restart (old salts)', () => {
    const dir = mkdtempSync(join(tmp, 'restart-'));
    const { path, w } = walDb(dir);
    w.exec('CREATE TABLE t(k INTEGER PRIMARY KEY, v BLOB)');
    const ins = w.prepare('INSERT INTO t VALUES (?, ?)');
    w.transaction(() => {
      for (let i = 0; i < 3000; i++) ins.run(i, Buffer.alloc(500, 'o'));
    })();
    const walSize = statSync(`${path}-wal`).size;
    w.pragma('wal_checkpoint(PASSIVE)');
    w.prepare('UPDATE t SET v = ? WHERE k < 10').run(Buffer.alloc(500, 'n'));
    // The writer restarted the log at its start; the old frames are still in the file.
    expect(statSync(`${path}-wal`).size).toBe(walSize);
    const ours = SqliteFile.open(path);
    expect(ours.walFrames).toBeGreaterThan(0);
    expect(ours.walFrames).toBeLessThan(20);
    expect(compareRows(ours.scan('t'), sqliteRows(w, 'SELECT k, k, v FROM t ORDER BY k')).diff).toBe('');
    expect(Buffer.from(ours.getRow('t', 5)![1] as Uint8Array).toString('latin1', 0, 3)).toBe('nnn');
    ours.close();
    w.close();
  });

  it('a torn or corrupted WAL is read up to its last valid commit, as SQLite recovers it', () => {
    const dir2 = mkdtempSync(join(tmp, 'torn2-'));
    const { path: p2, w: w2 } = walDb(dir2);
    w2.exec('CREATE TABLE t(k INTEGER PRIMARY KEY, v BLOB)');
    const ins2 = w2.prepare('INSERT INTO t VALUES (?, ?)');
    for (let tx = 0; tx < 20; tx++) {
      w2.transaction(() => {
        for (let i = 0; i < 50; i++) ins2.run(tx * 50 + i, Buffer.alloc(300, tx));
      })();
    }
    const wal = readFileSync(`${p2}-wal`);
    const frameSize = 24 + 4096;
    const frames = (wal.length - 32) / frameSize;
    expect(Number.isInteger(frames)).toBe(true);
    const damage: [string, (b: Buffer) => Buffer][] = [
      ['torn tail', (b) => b.subarray(0, 32 + Math.floor(frames * 0.6) * frameSize + 1000)],
      ['flipped byte', (b) => {
        const c = Buffer.from(b);
        c[32 + Math.floor(frames * 0.4) * frameSize + 24 + 100]! ^= 0xff;
        return c;
      }],
      ['bad header', (b) => {
        const c = Buffer.from(b);
        c[9]! ^= 1;
        return c;
      }],
    ];
    for (const [what, hurt] of damage) {
      const mine = mkdtempSync(join(tmp, 'tornA-'));
      const ref = mkdtempSync(join(tmp, 'tornB-'));
      for (const d of [mine, ref]) {
        copyFileSync(p2, join(d, 'db'));
        writeFileSync(join(d, 'db-wal'), hurt(wal));
      }
      const theirs = new Database(join(ref, 'db'));
      const ours = SqliteFile.open(join(mine, 'db'));
      const want = theirs.prepare("SELECT count(*) FROM sqlite_schema WHERE name = 't'").pluck().get()
        ? sqliteRows(theirs, 'SELECT k, k, v FROM t ORDER BY k')
        : [];
      const got = ours.tables().has('t') ? [...ours.scan('t')] : [];
      expect(compareRows(got, want).diff, what).toBe('');
      expect(got.length, what).toBeLessThan(1000);
      ours.close();
      theirs.close();
    }
    w2.close();
  });
});

describe('bad files fail with one clear FluxError', () => {
  let good: string;
  beforeAll(() => {
    good = join(tmp, 'good.sqlite');
    const w = new Database(good);
    fillFluxDb(w, { rows: 4_000, seed: 21, bigSizes: [30_000] });
    w.close();
  });

  it('missing, empty, garbage, short and truncated files', () => {
    expectFluxError(() => SqliteFile.open(join(tmp, 'absent.sqlite')), /absent\.sqlite: no such file/);
    expect(expectFluxError(() => SqliteFile.open(join(tmp, 'absent.sqlite')), /./).code).toBe('ENOENT');
    const empty = join(tmp, 'empty.sqlite');
    writeFileSync(empty, '');
    expectFluxError(() => SqliteFile.open(empty), /empty\.sqlite: file is empty/);
    const garbage = join(tmp, 'garbage.sqlite');
    writeFileSync(garbage, randomBytes(8192, rng(1)));
    expectFluxError(() => SqliteFile.open(garbage), /garbage\.sqlite: file is not a database/);
    const short = join(tmp, 'short.sqlite');
    writeFileSync(short, 'SQLite format 3\0');
    expectFluxError(() => SqliteFile.open(short), /short\.sqlite: file is not a database/);
    expectFluxError(() => SqliteFile.open(tmp), /is a directory/);
    const cut = join(tmp, 'cut.sqlite');
    copyFileSync(good, cut);
    truncateSync(cut, Math.floor(statSync(good).size / 2) + 100);
    expectFluxError(() => SqliteFile.open(cut), /cut\.sqlite: file is truncated/);
  });

  it('a hot rollback journal is refused rather than read around', () => {
    const path = join(tmp, 'hot.sqlite');
    copyFileSync(good, path);
    writeFileSync(`${path}-journal`, Buffer.from([0xd9, 0xd5, 0x05, 0xf9, 0x20, 0xa1, 0x63, 0xd7, 0, 0, 0, 0]));
    expectFluxError(() => SqliteFile.open(path), /hot rollback journal/);
  });

  it('corrupt b-tree structure names the page; a cycle does not hang', () => {
    const ref = SqliteFile.open(good);
    const root = ref.tables().get('objects')!.rootPage;
    const pageSize = ref.pageSize;
    ref.close();
    const bytes = readFileSync(good);
    expect(bytes[(root - 1) * pageSize]).toBe(5); // interior table page: the tree has levels

    const badType = join(tmp, 'badtype.sqlite');
    const b1 = Buffer.from(bytes);
    b1[(root - 1) * pageSize] = 7;
    writeFileSync(badType, b1);
    const db1 = SqliteFile.open(badType);
    expectFluxError(() => [...db1.scan('objects')], new RegExp(`badtype\\.sqlite: database disk image is malformed \\(page ${root}: `));
    expectFluxError(() => db1.getRow('objects', 1), /malformed/);
    db1.close();

    // Right-most child pointing back at the root: an infinite descent without a guard.
    const cyc = join(tmp, 'cycle.sqlite');
    const b2 = Buffer.from(bytes);
    b2.writeUInt32BE(root, (root - 1) * pageSize + 8);
    writeFileSync(cyc, b2);
    const db2 = SqliteFile.open(cyc);
    expectFluxError(() => [...db2.scan('objects')], /malformed/);
    expectFluxError(() => db2.getRow('objects', 4_001), /malformed/);
    db2.close();
  });

  it('random byte damage gives rows or FluxErrors, never another error or a hang', () => {
    const bytes = readFileSync(good);
    const rand = rng(1234);
    const path = join(tmp, 'fuzz.sqlite');
    const probe = Buffer.alloc(20, 1);
    let failures = 0;
    for (let round = 0; round < 150; round++) {
      const b = Buffer.from(bytes);
      const flips = 1 + Math.floor(rand() * 20);
      for (let i = 0; i < flips; i++) b[100 + Math.floor(rand() * (b.length - 100))] = Math.floor(rand() * 256);
      writeFileSync(path, b);
      try {
        const db = SqliteFile.open(path);
        try {
          let n = 0;
          for (const r of db.scanRaw('objects')) if (++n % 97 === 0) db.indexLookupText(AUTOINDEX, r.values[0] as Uint8Array);
          db.indexLookupText(AUTOINDEX, probe);
          db.lastRow('checkpt_v2');
        } finally {
          db.close();
        }
      } catch (e) {
        if (!(e instanceof FluxError)) throw e;
        expect((e as Error).message).toContain('fuzz.sqlite: ');
        failures++;
      }
    }
    expect(failures).toBeGreaterThan(0);
  });

  it('a closed file refuses further reads', () => {
    const db = SqliteFile.open(good);
    db.close();
    expectFluxError(() => db.getRow('objects', 1), /good\.sqlite: database is closed/);
  });
});

describe('spill formula', () => {
  it('matches the documented thresholds', () => {
    // U = 4096: table leaves keep up to U-35 = 4061 bytes; index cells up to 1002.
    expect(localPayloadSize(4061, 4096, true)).toBe(4061);
    expect(localPayloadSize(4062, 4096, true)).toBe(489); // K = 489 + 3573 = 4062 > X: M
    expect(localPayloadSize(5000, 4096, true)).toBe(489 + ((5000 - 489) % 4092));
    expect(localPayloadSize(1002, 4096, false)).toBe(1002);
    expect(localPayloadSize(1003, 4096, false)).toBe(489);
    expect(localPayloadSize(5000, 4096, false)).toBe(908);
    expect(localPayloadSize(489 + 4000, 4096, true)).toBe(489); // K > X falls back to M
  });
});
