/**
 * Source faults for flux-dump (issue #9, part 2): a store held by a running Flux, a
 * content.sqlite that is truncated, empty or garbage (random bytes; a valid header over
 * garbage pages), a corrupt LZ4 block, a directory object that is not JSON, tree objects
 * of an unknown type or version, a checkpoint that is not JSON.
 *
 * Promised each time: one line `flux-dump: ...` naming the key (or the file, for damage
 * to the whole file), exit 1, no stack trace, no OUTFILE and no temporary, and the store
 * exactly as it was: same sha256, no -wal/-shm beside it.
 *
 * Damaged stores are copies of small.sqlite (the fixture itself is only ever copied),
 * edited with better-sqlite3: blobs added under their true sha1 (so verification passes
 * and the damage reaches the decoder), a new root holding small's entries plus the
 * damaged ones, and a checkpoint for it.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, mkdirSync, readdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { lz4DecodeBlockTS, lz4EncodeBlockTS } from '../src/store/lz4.js';
import { errorLines, HANG_GUARD_MS, sha256File } from './helpers/faults.js';
import { DUMP_CLI, SMALL, tempDir } from './helpers/paths.js';

const SMALL_DB = join(SMALL, 'small.sqlite');
/** content-sqlite stores blobs of this many bytes or more as LZ4 blocks. */
const LZ4_MIN = 256;

const t = tempDir('fluxdump-reliability-src-');
afterAll(() => t.cleanup());
let n = 0;

const sha1 = (b: Uint8Array) => createHash('sha1').update(b).digest();
const blobref = (b: Uint8Array) => `sha1-${sha1(b).toString('hex')}`;
const bytes = (s: string) => new Uint8Array(Buffer.from(s));

/** A fresh statedir holding a copy of small.sqlite; returns the copy's path. */
function copyOfSmall(name: string): string {
  const dir = join(t.dir, `${n++}-${name}`);
  mkdirSync(dir);
  const copy = join(dir, 'content.sqlite');
  copyFileSync(SMALL_DB, copy);
  chmodSync(copy, 0o644);
  return copy;
}

/** Insert a blob as content-sqlite does (digest bound as TEXT; LZ4 from 256 bytes). */
function putBlob(db: Database.Database, blob: Uint8Array): string {
  const lz4 = blob.length >= LZ4_MIN;
  db.prepare('INSERT OR REPLACE INTO objects (hash, size, object) VALUES (CAST(? AS TEXT), ?, ?)').run(sha1(blob), lz4 ? blob.length : -1, lz4 ? lz4EncodeBlockTS(blob) : blob);
  return blobref(blob);
}

function getBlob(db: Database.Database, ref: string): Uint8Array {
  const row = db.prepare('SELECT size, object FROM objects WHERE hash = CAST(? AS TEXT)').get(Buffer.from(ref.slice(5), 'hex')) as { size: number; object: Buffer };
  return row.size === -1 ? new Uint8Array(row.object) : lz4DecodeBlockTS(row.object, row.size);
}

/** Overwrite a stored blob's row (the damage), keeping its key. */
function setRow(db: Database.Database, ref: string, size: number, object: Uint8Array): void {
  const r = db.prepare('UPDATE objects SET size = ?, object = ? WHERE hash = CAST(? AS TEXT)').run(size, object, Buffer.from(ref.slice(5), 'hex'));
  expect(r.changes).toBe(1);
}

/**
 * A copy of small.sqlite whose newest checkpoint is a root with small's entries plus
 * `entries` (raw tree-object JSON); `edit` runs last, on the open copy.
 */
function storeWith(name: string, entries: Record<string, unknown>, edit?: (db: Database.Database) => void): string {
  const copy = copyOfSmall(name);
  const db = new Database(copy);
  const rows = db.prepare('SELECT value FROM checkpt_v2 ORDER BY id').all() as { value: string }[];
  const ck = JSON.parse(rows.at(-1)!.value) as { rootref: string };
  const root = JSON.parse(Buffer.from(getBlob(db, ck.rootref)).toString()) as { data: Record<string, unknown> };
  Object.assign(root.data, entries);
  const rootref = putBlob(db, bytes(JSON.stringify(root)));
  db.prepare('INSERT INTO checkpt_v2 (value) VALUES (?)').run(JSON.stringify({ ...ck, rootref }));
  edit?.(db);
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
  return copy;
}

/** Add `blob` to the store being built (for `entries` that refer to it). */
function withBlobs(blobs: Uint8Array[], edit?: (db: Database.Database, refs: string[]) => void) {
  return (db: Database.Database) => {
    const refs = blobs.map((b) => putBlob(db, b));
    edit?.(db, refs);
  };
}

const dirref = (ref: string) => ({ data: [ref], type: 'dirref', ver: 1 });
const valref = (ref: string) => ({ data: [ref], type: 'valref', ver: 1 });
/** A value long enough to be an LZ4 block (content-sqlite compresses from 256 bytes). */
const LONG_VALUE = bytes('a value stored as an LZ4 block, repeated. '.repeat(40));
/** A directory object long enough to be stored as an LZ4 block. */
const LONG_DIR = bytes(JSON.stringify({ data: Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`key${i}`, { data: 'eA==', type: 'val', ver: 1 }])), type: 'dir', ver: 1 }));

/**
 * Dump `store` (a content.sqlite, or its statedir) and check the promises common to every
 * source fault; returns the one error line.
 */
function failingDump(store: string, opts: { dir?: string } = {}): string {
  const storeFile = store.endsWith('.sqlite') ? store : join(store, 'content.sqlite');
  const storeDir = join(storeFile, '..');
  const before = { sha: sha256File(storeFile), files: readdirSync(storeDir).sort() };
  const outDir = join(t.dir, `${n++}-out`);
  mkdirSync(outDir);
  const r = spawnSync(process.execPath, [DUMP_CLI, '--store', opts.dir ?? store, '--checkpoint', join(outDir, 'dump.tar')], {
    encoding: 'utf8',
    env: { ...process.env, FLUX_URI: '' },
    timeout: HANG_GUARD_MS,
  });
  expect(r.signal).toBeNull(); // not stopped by the hang guard
  expect(r.status).toBe(1);
  expect(r.stderr).not.toMatch(/\n\s+at |internal error|node:internal/);
  const lines = errorLines(r.stderr);
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^flux-dump: /);
  expect(readdirSync(outDir)).toEqual([]);
  expect(sha256File(storeFile)).toBe(before.sha);
  expect(readdirSync(storeDir).sort()).toEqual(before.files); // no -wal, -shm or anything else
  return lines[0]!;
}

describe('a store held by a running Flux', () => {
  /** Hold `db` as a process would: `setup` statements in python's sqlite3, then wait. */
  async function holding(db: string, setup: string[], body: () => void): Promise<void> {
    const holder = spawn('python3', ['-c', [
      'import sqlite3,sys',
      `c=sqlite3.connect(${JSON.stringify(db)}, isolation_level=None)`,
      ...setup.map((s) => `c.execute(${JSON.stringify(s)})`),
      "print('held', flush=True); sys.stdin.read()",
    ].join('\n')], { stdio: ['pipe', 'pipe', 'inherit'] });
    await new Promise<void>((res, rej) => {
      holder.stdout.once('data', () => res());
      holder.once('exit', (code) => rej(new Error(`holder exited ${code}`)));
    });
    try {
      body();
    } finally {
      holder.stdin.end();
      holder.kill();
    }
  }

  it('a broker (WAL, exclusive locking) holding a statedir: fails at once, saying so, touching nothing', async () => {
    const db = copyOfSmall('broker');
    const statedir = join(db, '..');
    const setup = ['pragma locking_mode=EXCLUSIVE', 'pragma journal_mode=WAL', 'begin immediate', "insert into checkpt_v2(value) values('x')", 'commit'];
    await holding(db, setup, () => {
      // returns (the hang guard would stop a wait for the lock) with the reason
      expect(failingDump(statedir, { dir: statedir })).toBe(
        `flux-dump: ${db} is in use by a running Flux instance: dump it through the broker instead (set FLUX_URI=local://.../local, or run under \`flux proxy\`)`,
      );
    });
  });

  it('a writer in the middle of a transaction (rollback journal, exclusive lock): in use', async () => {
    const db = copyOfSmall('writer');
    const setup = ['pragma journal_mode=DELETE', 'begin exclusive', "insert into checkpt_v2(value) values('x')"];
    await holding(db, setup, () => {
      expect(failingDump(db)).toMatch(/ is in use by a running Flux instance: /);
    });
  });
});

describe('damage to the whole content.sqlite: the error names the file', () => {
  const cases: { name: string; make: (path: string) => void; message: RegExp }[] = [
    { name: 'truncated to half', make: (p) => truncateSync(p, readFileSync(SMALL_DB).length >> 1), message: /: file is truncated \(page \d+ of \d+ is past the end\)$/ },
    { name: 'truncated inside the header', make: (p) => truncateSync(p, 60), message: /: (file is truncated|file is not a database)/ },
    { name: 'empty', make: (p) => truncateSync(p, 0), message: /: file is empty, not a database$/ },
    { name: 'random bytes', make: (p) => writeFileSync(p, randomBytes(16384)), message: /: file is not a database$/ },
    {
      name: 'a valid header (WAL mode) over garbage pages',
      make: (p) => writeFileSync(p, Buffer.concat([readFileSync(SMALL_DB).subarray(0, 100), randomBytes(readFileSync(SMALL_DB).length - 100)])),
      message: /: database disk image is malformed \(page 1: /,
    },
    {
      name: 'a valid first page over garbage pages',
      make: (p) => writeFileSync(p, Buffer.concat([readFileSync(SMALL_DB).subarray(0, 4096), randomBytes(readFileSync(SMALL_DB).length - 4096)])),
      message: /: database disk image is malformed \(page \d+: /,
    },
  ];
  it.each(cases)('$name', ({ name, make, message }) => {
    const db = copyOfSmall(name.replace(/\W+/g, '-'));
    make(db);
    const line = failingDump(db);
    expect(line.startsWith(`flux-dump: ${db}: `)).toBe(true);
    expect(line).toMatch(message);
  });
});

describe('damaged objects: the error names the key', () => {
  it('a corrupt LZ4 block of a value', () => {
    const store = storeWith('lz4-val', { big: valref(blobref(LONG_VALUE)) }, withBlobs([LONG_VALUE], (db, [ref]) => {
      const block = lz4EncodeBlockTS(LONG_VALUE);
      setRow(db, ref!, LONG_VALUE.length, block.subarray(0, block.length >> 1)); // cut mid-sequence
    }));
    // (the reason depends on the decoder in use, TS or WASM)
    expect(failingDump(store)).toMatch(new RegExp(`^flux-dump: big: ${store}: ${blobref(LONG_VALUE)}: corrupt LZ4 block: .+$`));
  });

  it('a corrupt LZ4 block of a directory', () => {
    const store = storeWith('lz4-dir', { sub: dirref(blobref(LONG_DIR)) }, withBlobs([LONG_DIR], (db, [ref]) => {
      const block = new Uint8Array(lz4EncodeBlockTS(LONG_DIR));
      block.fill(0xff, 8, 24); // literal and match lengths that run past the end
      setRow(db, ref!, LONG_DIR.length, block);
    }));
    expect(failingDump(store)).toMatch(new RegExp(`^flux-dump: sub: ${store}: ${blobref(LONG_DIR)}: corrupt LZ4 block: .+$`));
  });

  it('an LZ4 block whose size column lies', () => {
    const store = storeWith('lz4-size', { big: valref(blobref(LONG_VALUE)) }, withBlobs([LONG_VALUE], (db, [ref]) => {
      setRow(db, ref!, LONG_VALUE.length + 100, lz4EncodeBlockTS(LONG_VALUE));
    }));
    expect(failingDump(store)).toMatch(new RegExp(`^flux-dump: big: ${store}: ${blobref(LONG_VALUE)}: corrupt LZ4 block: .+$`));
  });

  it('a directory object that is not JSON', () => {
    const junk = bytes('this is not JSON {');
    const store = storeWith('dir-not-json', { sub: dirref(blobref(junk)) }, withBlobs([junk]));
    expect(failingDump(store)).toBe('flux-dump: sub: could not decode tree object');
  });

  it('a root directory object that is not JSON', () => {
    const junk = bytes('{"data": {"a": ');
    const store = storeWith('root-not-json', {}, withBlobs([junk], (db, [ref]) => {
      db.prepare('INSERT INTO checkpt_v2 (value) VALUES (?)').run(JSON.stringify({ version: 1, rootref: ref, sequence: 14, timestamp: 1795690511 }));
    }));
    expect(failingDump(store)).toBe('flux-dump: .: could not decode tree object');
  });

  it('a checkpoint that is not JSON names the file', () => {
    const store = storeWith('ckpt-not-json', {}, (db) => db.prepare('INSERT INTO checkpt_v2 (value) VALUES (?)').run('{"version":1,"rootref":'));
    expect(failingDump(store)).toBe(`flux-dump: ${store}: checkpoint: checkpoint is not valid JSON`);
  });

  // Tree objects of a type or version this reader does not know: the error must name the
  // key holding the object and say what is unknown, not just "invalid".
  const UNKNOWN: { name: string; obj: unknown; what: RegExp }[] = [
    { name: 'unknown type', obj: { data: {}, type: 'hdir', ver: 1 }, what: /hdir/ },
    { name: 'unknown version', obj: { data: {}, type: 'dir', ver: 2 }, what: /version 2|ver(sion)? ?2/ },
  ];
  it.each(UNKNOWN)('a directory object of $name (behind a dirref)', ({ obj, what }) => {
    const blob = bytes(JSON.stringify(obj));
    const store = storeWith('dirref-unknown', { sub: dirref(blobref(blob)) }, withBlobs([blob]));
    const line = failingDump(store);
    expect(line).toMatch(/^flux-dump: sub: /);
    expect(line).toMatch(what);
  });
  it.each(UNKNOWN)('an entry of $name inside a directory', ({ obj, what }) => {
    const store = storeWith('entry-unknown', { odd: obj });
    const line = failingDump(store);
    expect(line).toMatch(/^flux-dump: odd: /);
    expect(line).toMatch(what);
  });
});
