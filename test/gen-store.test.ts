/**
 * The store generator (scripts/gen-store, src/gen/): every shape makes the key count it
 * promises, the same file for a seed (with or without the SQLite worker), a database
 * with Flux's exact schema that our dump reads, `tar` lists and restore turns back into
 * the same root; the jobs shape still makes the committed sample.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FLUX_CHECKPOINT_SQL, FLUX_OBJECTS_SQL, OBJECTS_AUTOINDEX, SqliteRows } from '../src/gen/bulk-sqlite.js';
import { genStore, jobsForKeys, syntheticPreset, type GenOptions, type GenResult } from '../src/gen/gen-store.js';
import { generateJobs } from '../src/gen/jobs.js';
import { SortedTreeBuilder } from '../src/gen/sorted-tree.js';
import { parseSizeSpec, syntheticKeys } from '../src/gen/synthetic.js';
import { installWasmLz4 } from '../src/wasm/lz4.js';
import { makeVal } from '../src/walk/treeobj.js';
import { flux, requireFlux } from './helpers/flux.js';
import { dumpCli, ROOT, run, RESTORE_CLI, tempDir } from './helpers/paths.js';

const t = tempDir('gen-store-');
afterAll(() => t.cleanup());
let n = 0;
const out = (name: string) => join(t.dir, `${n++}-${name}`, 'content.sqlite');
/** The CLI's default checkpoint timestamp. */
const TIMESTAMP = 1795690510.5299776;
/** Root of the committed sample (`scripts/gen-store --jobs 100 --seed 1`: the production shape). */
const SAMPLE_ROOT = 'sha1-55a4a38b8419b7c4be45d476ea73da5f03dbf63c';

beforeAll(async () => {
  await installWasmLz4(); // the worker uses the WASM LZ4 core: same blocks in-thread
});

function checkpointRoot(path: string): string {
  const db = new Database(path, { readonly: true });
  try {
    const row = db.prepare('SELECT value FROM checkpt_v2 ORDER BY id DESC LIMIT 1').get() as { value: string };
    return JSON.parse(row.value).rootref as string;
  } finally {
    db.close();
  }
}

function objectKeys(path: string): string[] {
  const db = new Database(path, { readonly: true });
  try {
    const rows = db.prepare('SELECT hex(CAST(hash AS BLOB)) AS h, size FROM objects').all() as { h: string; size: number }[];
    return rows.map((r) => `${r.h}:${r.size}`).sort();
  } finally {
    db.close();
  }
}

function jobs(path: string, count: number, seed: number, extra: Partial<GenOptions> = {}): GenResult {
  return genStore({ out: path, jobs: count, seed, hash: 'sha1', shape: { appends: 1, sizeFactor: 1 }, timestamp: TIMESTAMP, ...extra } as GenOptions);
}

/** Dump `store` with our CLI; the archive's member names as `tar tf` lists them. */
function dumpAndList(store: string): { tar: string; names: string[] } {
  const tar = store.replace(/content\.sqlite$/, 'dump.tar');
  const r = dumpCli(['-q', '--checkpoint', `--store=${store}`, tar]);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  const list = spawnSync('tar', ['tf', tar], { encoding: 'utf8', maxBuffer: 1 << 28 });
  expect(list.status).toBe(0);
  return { tar, names: list.stdout.split('\n').filter((s) => s !== '') };
}

/** Restore `tar` into a new store; its checkpoint's root. */
function restoreRoot(tar: string): string {
  const store = tar.replace(/dump\.tar$/, 'restored.sqlite');
  const r = run(RESTORE_CLI, ['-q', '--checkpoint', `--store=${store}`, tar]);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return checkpointRoot(store);
}

describe('jobs shapes', () => {
  it('the production shape still makes the committed sample: same root, same objects', () => {
    const path = out('sample');
    const r = genStore({ out: path, jobs: 100, seed: 1, hash: 'sha1', timestamp: TIMESTAMP, live: {} });
    expect(r).toMatchObject({ rootref: SAMPLE_ROOT, keys: 704, rows: 7148 });
    // a copy: opening a WAL database, even read-only, leaves -shm/-wal files beside it
    const sample = join(t.dir, 'sample.sqlite');
    copyFileSync(join(ROOT, 'sample/content.sqlite'), sample);
    expect(checkpointRoot(sample)).toBe(SAMPLE_ROOT);
    // (the committed file's LZ4 blocks came from another encoder: compare digests and sizes)
    expect(objectKeys(path)).toEqual(objectKeys(sample));
  });

  it('generates the same job text as before the byte-level rewrite', () => {
    // digests of generateJobs(300, 5, shape) taken from the string-building version
    const pinned: [object, string][] = [
      [{ appends: 1, sizeFactor: 1 }, '0afd0049544ff0b6468840f733a2552670e28787'],
      [{ appends: 4, sizeFactor: 2.5 }, '4575c25f3b00a911e5ab5b7c25c42772a6880074'],
    ];
    for (const [shape, digest] of pinned) {
      const h = createHash('sha1');
      for (const j of generateJobs(300, 5, shape as { appends: number; sizeFactor: number })) {
        h.update(j.dirs.join('/'));
        for (const v of j.values) {
          h.update(`${v.key.join('/')}|${v.parts.length}`);
          for (const p of v.parts) h.update(p + '\0');
        }
      }
      expect(h.digest('hex')).toBe(digest);
    }
  });

  it('sha256 stores too (root pinned from the string-building version)', () => {
    const r = jobs(out('sha256'), 200, 3, { hash: 'sha256', shape: { appends: 1, sizeFactor: 3 } });
    expect(r.rootref).toBe('sha256-4bb2734325ee559fa6e9557f66e5a8666fb4576654f1a459d64fc25e3d45465a');
    expect(r.rows).toBe(2028);
  });

  it('--keys makes whole jobs: 7 keys each plus 4 top-level keys', () => {
    expect([jobsForKeys(4), jobsForKeys(5), jobsForKeys(11), jobsForKeys(12), jobsForKeys(1_000_000)]).toEqual([0, 1, 1, 2, 142857]);
    const r = jobs(out('keys'), jobsForKeys(1000), 2);
    expect(r.keys).toBe(1005);
    expect(r.keys).toBeGreaterThanOrEqual(1000);
  });
});

describe('production-shaped jobs (the default shape)', () => {
  const JOBS = 300;
  let path: string;
  let r: GenResult;
  /** scripts/store-stats.mjs --json of the store. */
  let stats: {
    objects: number;
    reachable: number;
    garbagePct: number;
    keys: number;
    jobs: number;
    perJob: { dirs: number; keys: number; valueBlobs: number };
    valrefBlobCounts: Record<string, number>;
    valueBlobBytes: { median: number; p90: number; max: number };
    dirBytes: { median: number; p90: number };
    liveRowidGap: { median: number; p90: number; p99: number };
  };
  beforeAll(() => {
    path = out('live');
    // through the CLI: the default shape is this one
    const g = spawnSync(process.execPath, [join(ROOT, 'scripts/gen-store.mjs'), '-q', '--jobs', String(JOBS), '--seed', '11', '--checkpoint-every', '300', '--out', path], { encoding: 'utf8' });
    expect(g.stderr).toBe('');
    expect(g.status).toBe(0);
    r = { rootref: checkpointRoot(path) } as GenResult;
    const s = spawnSync(process.execPath, [join(ROOT, 'scripts/store-stats.mjs'), '--json', path], { encoding: 'utf8', maxBuffer: 1 << 26 });
    expect(s.stderr).toBe('');
    stats = JSON.parse(s.stdout);
  });

  it("has the proportions of a real store's jobs: 7 keys, 22 value blobs, ~3.4 directories each", () => {
    expect(stats.keys).toBe(7 * JOBS + 4);
    expect(stats.jobs).toBe(JOBS);
    // valrefs of 1 blob (jobspec, J, R, guest/input, and the 4 top-level keys), 2 (guest/output),
    // 6 (guest/exec/eventlog) and 10 (eventlog: one event per commit)
    expect(stats.valrefBlobCounts).toEqual({ 1: 4 * JOBS + 4, 2: JOBS, 6: JOBS, 10: JOBS });
    expect(stats.perJob.dirs).toBeGreaterThan(3.2);
    expect(stats.perJob.dirs).toBeLessThan(3.7);
    expect(stats.valueBlobBytes.median).toBeGreaterThan(80);
    expect(stats.valueBlobBytes.median).toBeLessThan(140);
    expect(stats.valueBlobBytes.p90).toBeGreaterThan(150);
    expect(stats.valueBlobBytes.p90).toBeLessThan(300);
    expect(stats.valueBlobBytes.max).toBeLessThanOrEqual(3300);
    expect(stats.dirBytes.median).toBeGreaterThan(250);
    expect(stats.dirBytes.median).toBeLessThan(500);
  });

  it('is mostly garbage, interleaved with the live objects in rowid order', () => {
    expect(stats.garbagePct).toBeGreaterThan(55);
    expect(stats.garbagePct).toBeLessThan(75);
    expect(stats.objects).toBeGreaterThan(2.5 * stats.reachable);
    expect(stats.liveRowidGap.median).toBe(1);
    expect(stats.liveRowidGap.p90).toBeGreaterThanOrEqual(4);
    expect(stats.liveRowidGap.p90).toBeLessThanOrEqual(12);
    expect(stats.liveRowidGap.p99).toBeGreaterThan(stats.liveRowidGap.p90);
  });

  it("has checkpoints as Flux keeps them: older roots first, every root's tree in the store", () => {
    const db = new Database(path, { readonly: true });
    let ckpts: { version: number; rootref: string; sequence: number; timestamp: number }[];
    try {
      ckpts = (db.prepare('SELECT value FROM checkpt_v2 ORDER BY id').pluck().all() as string[]).map((v) => JSON.parse(v));
      // the timestamp is a JSON real, as Flux's parser requires
      for (const v of db.prepare('SELECT value FROM checkpt_v2').pluck().all() as string[]) expect(v).toMatch(/"timestamp":\d+\.\d+/);
    } finally {
      db.close();
    }
    expect(ckpts.length).toBeGreaterThanOrEqual(2);
    expect(ckpts.length).toBeLessThanOrEqual(5);
    for (let i = 1; i < ckpts.length; i++) {
      expect(ckpts[i]!.sequence).toBeGreaterThan(ckpts[i - 1]!.sequence);
      expect(ckpts[i]!.timestamp).toBeGreaterThan(ckpts[i - 1]!.timestamp);
    }
    // an older checkpoint's root is a complete tree (garbage now, but whole): dump it
    const older = out('older');
    mkdirSync(join(older, '..'));
    copyFileSync(path, older);
    const w = new Database(older);
    try {
      w.prepare('DELETE FROM checkpt_v2 WHERE id > (SELECT min(id) FROM checkpt_v2)').run();
    } finally {
      w.close();
    }
    expect(checkpointRoot(older)).toBe(ckpts[0]!.rootref);
    const { names } = dumpAndList(older);
    expect(names.length).toBeGreaterThan(0);
    expect(names.length).toBeLessThan(stats.keys);
  });

  it('dumps and restores with our commands: the restored store dumps to the same archive', () => {
    const { tar, names } = dumpAndList(path);
    expect(names.length).toBe(stats.keys);
    const restored = tar.replace(/dump\.tar$/, 'restored.sqlite');
    restoreRoot(tar);
    const again = join(t.dir, 'again.tar');
    const d = dumpCli(['-q', '--checkpoint', `--store=${restored}`, again]);
    expect(d.status).toBe(0);
    // one blob per value now, so another root, but the same entries byte for byte
    expect(checkpointRoot(restored)).not.toBe(r.rootref);
    expect(readFileSync(again).equals(readFileSync(tar))).toBe(true);
  });

  it("flux-core 0.88 reads it: `flux dump --checkpoint` in a minimal instance gives our dump's entries", () => {
    requireFlux();
    const statedir = join(t.dir, 'fc-state');
    mkdirSync(statedir);
    copyFileSync(path, join(statedir, 'content.sqlite'));
    const theirs = join(t.dir, 'flux-core.tar');
    const script = `flux module load content && flux module load content-sqlite && flux dump -q --no-cache --checkpoint ${theirs}; rc=$?; flux module remove content-sqlite; flux module remove content; exit $rc`;
    const m = flux(['start', '-Scontent.hash=sha1', '-Sbroker.rc1_path=', '-Sbroker.rc3_path=', `-Sstatedir=${statedir}`, 'bash', '-c', script]);
    expect(m.status, m.stderr).toBe(0);
    const ours = dumpAndList(path).tar;
    const x = (tarFile: string, dir: string) => {
      mkdirSync(dir);
      const e = spawnSync('tar', ['-xf', tarFile, '-C', dir], { encoding: 'utf8' });
      expect(e.status, e.stderr).toBe(0);
    };
    x(theirs, join(t.dir, 'x-theirs'));
    x(ours, join(t.dir, 'x-ours'));
    const diff = spawnSync('diff', ['-r', join(t.dir, 'x-theirs'), join(t.dir, 'x-ours')], { encoding: 'utf8' });
    expect(diff.stdout).toBe('');
    expect(diff.status).toBe(0);
    const list = spawnSync('tar', ['tf', theirs], { encoding: 'utf8', maxBuffer: 1 << 26 });
    expect(list.stdout.split('\n').filter(Boolean).length).toBe(stats.keys);
  }, 120_000);

  it('is deterministic, with the SQLite worker or without, and --shape flat keeps the old shape', () => {
    const opts = (o: string, worker: boolean): GenOptions => ({ out: o, jobs: 60, seed: 2, hash: 'sha1', timestamp: 1, live: {}, worker });
    const a = out('la');
    const b = out('lb');
    const ra = genStore(opts(a, true));
    const rb = genStore(opts(b, false));
    expect(rb.rootref).toBe(ra.rootref);
    expect(readFileSync(b).equals(readFileSync(a))).toBe(true);
    const flat = out('flat');
    const g = spawnSync(process.execPath, [join(ROOT, 'scripts/gen-store.mjs'), '-q', '--shape', 'flat', '--jobs', '60', '--seed', '2', '--out', flat], { encoding: 'utf8' });
    expect(g.status, g.stderr).toBe(0);
    expect(checkpointRoot(flat)).toBe(jobs(out('flat2'), 60, 2).rootref);
    const bad = spawnSync(process.execPath, [join(ROOT, 'scripts/gen-store.mjs'), '--appends', '3', '--jobs', '5', '--out', out('bad')], { encoding: 'utf8' });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toBe('gen-store: --appends is for --shape flat (the jobs shape\'s eventlogs grow by commits)\n');
  });
});

describe('determinism', () => {
  it('the same seed gives the same file, with the SQLite worker or without', () => {
    const a = out('a');
    const b = out('b');
    const c = out('c');
    const ra = jobs(a, 300, 9, { shape: { appends: 3, sizeFactor: 1 }, worker: true });
    const rb = jobs(b, 300, 9, { shape: { appends: 3, sizeFactor: 1 }, worker: true });
    const rc = jobs(c, 300, 9, { shape: { appends: 3, sizeFactor: 1 }, worker: false });
    expect(rb.rootref).toBe(ra.rootref);
    expect(rc.rootref).toBe(ra.rootref);
    const bytes = readFileSync(a);
    expect(readFileSync(b).equals(bytes)).toBe(true);
    expect(readFileSync(c).equals(bytes)).toBe(true);
    expect(jobs(out('d'), 300, 10).rootref).not.toBe(ra.rootref);
  });

  it('synthetic shapes too', () => {
    const opts = (path: string) => ({ out: path, seed: 4, hash: 'sha1' as const, timestamp: 1, synthetic: syntheticPreset('wide', 2000, { width: 300 }) });
    const a = out('wa');
    const b = out('wb');
    expect(genStore({ ...opts(a), worker: true }).rootref).toBe(genStore({ ...opts(b), worker: false }).rootref);
    expect(readFileSync(b).equals(readFileSync(a))).toBe(true);
  });
});

describe('the database', () => {
  let path: string;
  let leftovers: boolean;
  beforeAll(() => {
    path = out('schema');
    jobs(path, 50, 3);
    leftovers = existsSync(`${path}-wal`) || existsSync(`${path}-shm`);
  });

  it('has exactly the schema Flux creates', () => {
    const native = join(t.dir, 'native.sqlite');
    const ref = new Database(native);
    ref.exec(FLUX_OBJECTS_SQL);
    ref.exec(FLUX_CHECKPOINT_SQL);
    const schema = (db: Database.Database) => db.prepare('SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY rowid').all();
    const db = new Database(path, { readonly: true });
    try {
      expect(schema(db)).toEqual(schema(ref));
      expect(schema(db)).toContainEqual({ type: 'index', name: OBJECTS_AUTOINDEX, tbl_name: 'objects', sql: null });
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
      const plan = db.prepare('EXPLAIN QUERY PLAN SELECT object FROM objects WHERE hash = CAST(? AS TEXT)').all(Buffer.alloc(20)) as { detail: string }[];
      expect(plan.map((p) => p.detail).join()).toContain(OBJECTS_AUTOINDEX);
    } finally {
      db.close();
      ref.close();
    }
    expect(leftovers).toBe(false); // closed cleanly: the WAL checkpointed and removed
  });

  it('enforces the primary key like a native one', () => {
    const db = new Database(path);
    try {
      const [some] = db.prepare('SELECT CAST(hash AS BLOB) FROM objects LIMIT 1').raw().get() as [Buffer];
      const insert = db.prepare("INSERT INTO objects (hash, size, object) VALUES (CAST(? AS TEXT), -1, x'00')");
      expect(() => insert.run(some)).toThrow(/UNIQUE constraint failed: objects.hash/);
      expect(insert.run(Buffer.alloc(20, 7)).changes).toBe(1);
    } finally {
      db.close();
    }
  });

  it('late repeats are deleted before the index becomes the unique one (first row kept)', () => {
    const p = out('late');
    const rows = new SqliteRows(p);
    const d = (b: number) => new Uint8Array(20).fill(b);
    const blob = (s: string) => new TextEncoder().encode(s);
    rows.add(d(1), blob('first'));
    rows.add(d(2), blob('other'));
    rows.add(d(1), blob('first'));
    rows.add(d(1), blob('first'));
    const s = rows.finish({ version: 1, rootref: 'sha1-' + '01'.repeat(20), sequence: 1, timestamp: 1 });
    expect(s).toMatchObject({ rows: 2, lateDuplicates: 2 });
    const db = new Database(p, { readonly: true });
    try {
      expect(db.prepare('SELECT rowid, hex(CAST(hash AS BLOB)) AS h FROM objects ORDER BY rowid').all()).toEqual([
        { rowid: 1, h: '01'.repeat(20) },
        { rowid: 2, h: '02'.repeat(20) },
      ]);
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
    } finally {
      db.close();
    }
  });
});

describe('shapes: key counts, dump, tar, restore', () => {
  const cases: { name: string; opts: () => GenOptions; keys: number; check?: (names: string[], path: string) => void }[] = [
    { name: 'flat jobs', keys: 7 * 40 + 4, opts: () => ({ out: '', seed: 1, hash: 'sha1', timestamp: 1, jobs: 40, shape: { appends: 1, sizeFactor: 1 } }) },
    {
      name: 'wide: one directory holds every key',
      keys: 1500,
      opts: () => ({ out: '', seed: 2, hash: 'sha1', timestamp: 1, synthetic: syntheticPreset('wide', 1500) }),
      check: (names) => expect(names.every((p) => /^wide\/d0\/k\d{4}$/.test(p))).toBe(true),
    },
    {
      name: 'wide, 64 keys per directory',
      keys: 500,
      opts: () => ({ out: '', seed: 2, hash: 'sha1', timestamp: 1, synthetic: syntheticPreset('wide', 500, { width: 64 }) }),
      check: (names) => expect(new Set(names.map((p) => p.split('/')[1])).size).toBe(8),
    },
    {
      name: 'deep: 40 components per key',
      keys: 300,
      opts: () => ({ out: '', seed: 3, hash: 'sha1', timestamp: 1, synthetic: syntheticPreset('deep', 300, { depth: 40, fanout: 4 }) }),
      check: (names) => {
        expect(names.every((p) => p.split('/').length === 40)).toBe(true);
        expect(Math.max(...names.map((p) => p.length))).toBeGreaterThan(100); // past ustar's name field
      },
    },
    {
      name: 'big: fixed 200 KiB values',
      keys: 12,
      opts: () => ({ out: '', seed: 4, hash: 'sha1', timestamp: 1, synthetic: syntheticPreset('big', 12, { valueSize: '200k' }) }),
      check: (_names, path) => {
        const db = new Database(path, { readonly: true });
        const sizes = db.prepare('SELECT size FROM objects WHERE size > 100000').raw().all().flat();
        db.close();
        expect(sizes).toEqual(Array(12).fill(200 * 1024));
      },
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const path = out('shape');
      const r = genStore({ ...c.opts(), out: path });
      expect(r.keys).toBe(c.keys);
      const { tar, names } = dumpAndList(path);
      expect(names.length).toBe(c.keys);
      c.check?.(names, path);
      expect(restoreRoot(tar)).toBe(r.rootref);
    });
  }

  it('appends: valrefs of many blobs; restore gives the one-blob store of the same content', () => {
    const path = out('appends');
    const keys = 60;
    const r = genStore({ out: path, seed: 5, hash: 'sha1', timestamp: 1, synthetic: syntheticPreset('appends', keys, { appends: 40 }) });
    expect(r.keys).toBe(keys);
    // every value is 40 blobs; the directories: appends/, appends/d0/, the root
    expect(r.rows).toBe(keys * 40 + 3);
    const { tar, names } = dumpAndList(path);
    expect(names.length).toBe(keys);
    const whole = genStore({ out: out('whole'), seed: 5, hash: 'sha1', timestamp: 1, synthetic: syntheticPreset('appends', keys, { appends: 1, valueSize: String(40 * 128) }) });
    expect(whole.rows).toBe(keys + 3);
    expect(restoreRoot(tar)).toBe(whole.rootref);
    expect(whole.rootref).not.toBe(r.rootref);
  });

  it('jobs with appends restore to the store without them', () => {
    const path = out('job-appends');
    const r = jobs(path, 20, 6, { shape: { appends: 4, sizeFactor: 1 } });
    const plain = jobs(out('job-plain'), 20, 6);
    expect(r.rows).toBeGreaterThan(plain.rows);
    expect(restoreRoot(dumpAndList(path).tar)).toBe(plain.rootref);
  });
});

describe('values', () => {
  it('size specs', () => {
    expect(parseSizeSpec('300')).toEqual({ kind: 'fixed', bytes: 300 });
    expect(parseSizeSpec('4k')).toEqual({ kind: 'fixed', bytes: 4096 });
    expect(parseSizeSpec('1.5M')).toEqual({ kind: 'fixed', bytes: 1.5 * 1048576 });
    expect(parseSizeSpec('10-20k')).toEqual({ kind: 'uniform', min: 10, max: 20480 });
    expect(parseSizeSpec('logn:256')).toEqual({ kind: 'lognormal', median: 256, sigma: 1, max: 64 << 20 });
    expect(parseSizeSpec('logn:1k:0.5:1M')).toEqual({ kind: 'lognormal', median: 1024, sigma: 0.5, max: 1 << 20 });
    for (const bad of ['', 'x', '5Q', '20-10', 'logn:', 'logn:1k:9', '2G']) expect(() => parseSizeSpec(bad), bad).toThrow();
  });

  it('values have the drawn size, lines of JSON, and never repeat a line', () => {
    const shape = syntheticPreset('wide', 300, { valueSize: '50-3000', appends: 3 });
    const seen = new Set<string>();
    let blobs = 0;
    for (const k of syntheticKeys(shape, 7)) {
      expect(k.value.length).toBeGreaterThanOrEqual(50);
      expect(k.value.length).toBeLessThanOrEqual(3000);
      expect(k.cuts[k.cuts.length - 1]).toBe(k.value.length);
      const text = new TextDecoder().decode(k.value);
      if (k.value.length >= 96) {
        for (const line of text.split('\n').slice(0, -1)) {
          expect(JSON.parse(line)).toMatchObject({ key: Number(k.path[2]!.slice(1)) });
          expect(seen.has(line)).toBe(false);
          seen.add(line);
        }
        expect(k.cuts.length).toBe(Math.min(3, text.split('\n').length - 1));
      }
      blobs += k.cuts.length;
    }
    expect(blobs).toBeGreaterThan(300);
  });

  it('lognormal sizes center on the median', () => {
    const sizes = [...syntheticKeys(syntheticPreset('wide', 4001, { valueSize: 'logn:1k:0.5' }), 1)].map((k) => k.value.length).sort((a, b) => a - b);
    expect(sizes[2000]).toBeGreaterThan(900);
    expect(sizes[2000]).toBeLessThan(1150);
  });
});

describe('errors', () => {
  it('keys out of order, or a value used as a directory', () => {
    const tree = new SortedTreeBuilder(() => 'sha1-' + '00'.repeat(20));
    const v = makeVal(new Uint8Array([1]));
    tree.add(['a', 'b'], v);
    expect(() => tree.add(['a', 'a'], v)).toThrow(/keys out of order: a\/a/);
    expect(() => tree.add(['a', 'b'], v)).toThrow(/duplicate/);
    expect(() => tree.add(['a', 'b', 'c'], v)).toThrow(/duplicate/);
    tree.add(['a', 'c', 'd'], v);
    expect(() => tree.add(['a', 'c'], v)).toThrow(/duplicate/);
  });

  it('shapes that cannot hold the keys are refused', () => {
    expect(() => syntheticPreset('deep', 1000, { depth: 4, fanout: 8 })).toThrow(/do not fit/);
    expect(() => syntheticPreset('deep', 10, { depth: 2 })).toThrow(/depth/);
    expect(() => syntheticPreset('wide', 0)).toThrow(/keys/);
  });

  it('a failure writing the file is reported (from the SQLite worker too, not waited on)', () => {
    const blocked = join(t.dir, 'file');
    spawnSync('touch', [blocked]);
    for (const worker of [true, false]) {
      expect(() => jobs(join(blocked, 'sub', 'content.sqlite'), 5, 1, { worker })).toThrow(/ENOTDIR|not a directory/);
    }
  });
});
