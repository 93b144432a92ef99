/**
 * The same CLIs under Deno 2 (the `deno` devDependency), with exactly the permissions
 * `npm run deno:dump` / `deno:restore` give (scripts/deno-run.mjs):
 * - the shared small store dumped to every registry format and to stdout, under Node and
 *   under Deno: archives byte for byte (gzip: Deno's node:zlib deflates differently,
 *   so its members are compared header for header and inflated byte for byte);
 * - each archive restored into a fresh content.sqlite by the runtime that wrote it:
 *   flux-core's root, and the same rows, checkpoint and schema as Node's restore;
 * - flux-core's own archives of the small store restored under Deno;
 * - a generated store large enough that gzip, bzip2 and xz chunks go to the worker pool;
 * - a live broker peer, dumped and restored through its unix socket;
 * - the node:sqlite binding and the pool, probed from inside Deno (test/deno-probe.mjs).
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import Database from 'better-sqlite3';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EXTENSIONS } from '../src/registry.js';
import { openStore } from '../src/store/open.js';
import { bindingPreference, openSqliteWith, sqliteBinding, sqliteErrorCode } from '../src/store-write/sqlite-binding.js';
import type { ContentStore } from '../src/store/source.js';
import { poolRuntimeOptions } from '../src/runtime-pool.js';
import { denoBinary, denoCommand, denoEnv, denoPermissions, ROOT as SCRIPT_ROOT, RUN_FLAGS } from '../scripts/deno-run.mjs';
import { DUMP_CLI, RESTORE_CLI, ROOT, SMALL, tempDir } from './helpers/paths.js';
import { peerPool } from './peer/live-cli.js';
import { readSqliteStore, type StoreDump } from './restore-helpers.js';

const SMALL_DB = join(SMALL, 'small.sqlite');
/** flux-core's root after `flux restore --checkpoint` of the small dump (fixtures README). */
const FLUX_CORE_ROOT = 'sha1-7ac6c1decd1ada8735dc9794d25346df66aadcf8';
const DENO_PROBE = join(ROOT, 'test/deno-probe.mjs');

const t = tempDir('fluxdump-deno-');
afterAll(() => t.cleanup());

type Runtime = 'node' | 'deno';
type Cli = 'flux-dump' | 'flux-restore';
interface Ran {
  status: number | null;
  stdout: Buffer;
  stderr: string;
}

/**
 * A run that takes longer than this has hung (every run here takes seconds even on a
 * loaded machine): it is killed and reported, not left to the suite's timeout. This is
 * what a deadlocked worker pool looks like (see src/runtime-pool.ts).
 */
const HUNG_MS = 90_000;

/** Spawn and collect (async, so two runs share the two cores and a peer can answer). */
function exec(argv: string[], env: NodeJS.ProcessEnv, input?: Buffer): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), { env, stdio: [input ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let stderr = '';
    const timer = setTimeout(() => {
      stderr += `[killed: no exit after ${HUNG_MS / 1000} s]`;
      child.kill('SIGKILL');
    }, HUNG_MS);
    child.stdout!.on('data', (d: Buffer) => out.push(d));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout: Buffer.concat(out), stderr });
    });
    if (input) child.stdin!.end(input);
  });
}

function cli(runtime: Runtime, name: Cli, args: string[], extraEnv: Record<string, string> = {}, input?: Buffer): Promise<Ran> {
  const env = { ...process.env, FLUX_URI: '', NOTIFY_SOCKET: '', ...extraEnv };
  if (runtime === 'node') return exec([process.execPath, name === 'flux-dump' ? DUMP_CLI : RESTORE_CLI, ...args], env, input);
  return exec(denoCommand(name, args, env), denoEnv(env), input);
}

/** The newest checkpoint's root in a restored content.sqlite. */
function rootOf(dump: StoreDump): string {
  return (JSON.parse(dump.checkpoints.at(-1)!) as { rootref: string }).rootref;
}

/** Rows sorted by digest: what two restores of the same archive must agree on. */
function rows(dump: StoreDump): string[] {
  return dump.objects.map((o) => `${o.hashType} ${o.hashHex} ${o.size} ${Buffer.from(o.blob).toString('hex')}`).sort();
}

/** GZIP_MEMBER_START: ID1 ID2 CM=deflate FLG=0 and MTIME 0, which every member we write starts with. */
const GZIP_MEMBER_START = Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0, 0, 0, 0]);

/**
 * The members of a multi-member gzip file: each one's 10-byte header and its ISIZE (the
 * trailer's inflated length). Members are found by their fixed start; a false match inside
 * deflate data would make the two runtimes' lists differ, failing loudly, never silently.
 */
function gzipMembers(file: Buffer): { header: string; size: number }[] {
  const out: { header: string; size: number }[] = [];
  for (let i = 0; i + 10 <= file.length; ) {
    const next = file.indexOf(GZIP_MEMBER_START, i + 10);
    const end = next === -1 ? file.length : next;
    out.push({ header: file.subarray(i, i + 10).toString('hex'), size: file.readUInt32LE(end - 4) });
    i = end;
  }
  return out;
}

const FORMATS = [...EXTENSIONS.map((k) => ({ suffix: k.suffix, filter: k.filter })), { suffix: '-', filter: 'none' as const }];

describe('the permissions users get', () => {
  it('no network, ffi only for the xz addon, sys only for uid/gid, run only systemd-notify', () => {
    expect(denoPermissions('flux-dump', [], {})).toEqual([
      '--allow-read',
      '--allow-write',
      '--allow-env',
      '--allow-sys=uid,gid',
      `--allow-ffi=${join(SCRIPT_ROOT, 'node_modules/@napi-rs')}`,
      '--allow-run=systemd-notify',
    ]);
    expect(denoPermissions('flux-restore', [], {})).toEqual(['--allow-read', '--allow-write', '--allow-env', '--allow-run=systemd-notify']);
    // a live run may reach its broker's socket, and nothing else
    expect(denoPermissions('flux-restore', ['--store=local:///run/flux/local', 'x.tar'], {}).at(-1)).toBe('--allow-net=unix:/run/flux/local');
    expect(denoPermissions('flux-dump', ['x.tar'], { FLUX_URI: 'local:///tmp/f/local-0' }).at(-1)).toBe('--allow-net=unix:/tmp/f/local-0');
  });

  it('the Deno binary is the npm-installed one', async () => {
    const argv = denoCommand('flux-dump', ['--help'], {});
    expect(argv[0]).toBe(join(ROOT, 'node_modules/.bin/deno'));
    const r = await exec([argv[0], '--version'], denoEnv());
    expect(r.status).toBe(0);
    expect(r.stdout.toString()).toMatch(/^deno 2\.\d+\.\d+ /);
  });
});

describe('the SQLite binding is chosen per runtime', () => {
  it('Deno: node:sqlite only; Node: better-sqlite3, then node:sqlite where it exists', () => {
    expect(bindingPreference(true)).toEqual(['node:sqlite']);
    expect(bindingPreference(false)).toEqual(['better-sqlite3', 'node:sqlite']);
    expect(sqliteBinding()).toBe('better-sqlite3'); // this test process is Node
  });

  it('node:sqlite is refused with one line where the runtime lacks it (Node 20), and works where it has it', () => {
    const path = join(t.dir, 'binding-node-sqlite.sqlite');
    const builtin = (process as { getBuiltinModule?: (id: string) => unknown }).getBuiltinModule?.('node:sqlite');
    if (builtin === undefined) {
      expect(() => openSqliteWith('node:sqlite', path, { create: true })).toThrow(/^cannot load the SQLite binding node:sqlite: /);
      expect(existsSync(path)).toBe(false);
    } else {
      const db = openSqliteWith('node:sqlite', path, { create: true });
      expect(db.prepare('SELECT 7 AS x').get()).toEqual({ x: 7 });
      db.close();
    }
  });

  it('node:sqlite errors without errcode (as Deno throws them) are classified by SQLite\'s message', () => {
    const nodeSqlite = (message: string, errcode?: number) => Object.assign(new Error(message), { code: 'ERR_SQLITE_ERROR', ...(errcode === undefined ? {} : { errcode }) });
    expect(sqliteErrorCode(nodeSqlite('file is not a database'))).toBe('SQLITE_NOTADB');
    expect(sqliteErrorCode(nodeSqlite('unable to open database file: /x/y'))).toBe('SQLITE_CANTOPEN');
    expect(sqliteErrorCode(nodeSqlite('database disk image is malformed'))).toBe('SQLITE_CORRUPT');
    expect(sqliteErrorCode(nodeSqlite('database is locked', 5))).toBe('SQLITE_BUSY');
    expect(sqliteErrorCode(nodeSqlite('database is locked'))).toBe('SQLITE_BUSY');
    expect(sqliteErrorCode(nodeSqlite('near "BOGUS": syntax error'))).toBeUndefined();
    // only node:sqlite's errors: another error quoting the text is not a SQLite code
    expect(sqliteErrorCode(new Error('file is not a database'))).toBeUndefined();
  });
});

describe('the compression pool is configured per runtime', () => {
  it('Deno: piscina without its Atomics fast path (it deadlocks there); Node: piscina\'s defaults', () => {
    expect(poolRuntimeOptions(true)).toEqual({ atomics: 'disabled' });
    expect(poolRuntimeOptions(false)).toEqual({});
  });
});

describe('the small store, every format, Node and Deno', () => {
  const file = (runtime: Runtime, suffix: string) => join(t.dir, `small-${runtime}${suffix === '-' ? '.stdout.tar' : suffix}`);
  const restored: Record<string, StoreDump> = {};

  beforeAll(async () => {
    // Two processes at a time: one dump per runtime.
    for (const { suffix } of FORMATS) {
      const [n, d] = await Promise.all(
        (['node', 'deno'] as const).map((rt) => cli(rt, 'flux-dump', ['-q', '--store', SMALL_DB, '--checkpoint', suffix === '-' ? '-' : file(rt, suffix)])),
      );
      for (const [rt, r] of [['node', n!], ['deno', d!]] as const) {
        expect(r.stderr, `${rt} ${suffix}`).toBe('');
        expect(r.status, `${rt} ${suffix}`).toBe(0);
        if (suffix === '-') writeFileSync(file(rt, suffix), r.stdout);
      }
    }
    // Node's restores of every format are compared in dump-formats.test.ts; here Node's
    // restore of the .tar is the reference for Deno's restore of each format.
    const restore = async (rt: Runtime, suffix: string) => {
      const store = join(t.dir, `restore-${rt}-${suffix === '-' ? 'stdin' : suffix.slice(1)}`);
      const input = suffix === '-' ? readFileSync(file(rt, suffix)) : undefined;
      const r = await cli(rt, 'flux-restore', ['-q', '--checkpoint', '--store', store, suffix === '-' ? '-' : file(rt, suffix)], {}, input);
      expect(r.stderr, `${rt} ${suffix}`).toBe('');
      expect(r.status, `${rt} ${suffix}`).toBe(0);
      restored[`${rt}${suffix}`] = readSqliteStore(join(store, 'content.sqlite'));
    };
    const jobs: [Runtime, string][] = [['node', '.tar'], ...FORMATS.map(({ suffix }) => ['deno', suffix] as [Runtime, string])];
    for (let i = 0; i < jobs.length; i += 2) await Promise.all(jobs.slice(i, i + 2).map(([rt, suffix]) => restore(rt, suffix)));
  }, 240_000);

  it.each(FORMATS)('$suffix: Deno writes the archive Node writes', ({ suffix, filter }) => {
    const node = readFileSync(file('node', suffix));
    const deno = readFileSync(file('deno', suffix));
    if (filter !== 'gzip') {
      expect(deno.length).toBe(node.length);
      expect(deno.equals(node)).toBe(true);
      return;
    }
    // Deno's node:zlib is another deflate implementation: same members, same headers,
    // same inflated bytes, which are Node's .tar byte for byte.
    expect(gzipMembers(deno)).toEqual(gzipMembers(node));
    expect(gunzipSync(deno).equals(gunzipSync(node))).toBe(true);
    expect(gunzipSync(deno).equals(readFileSync(file('node', '.tar')))).toBe(true);
  });

  it.each(FORMATS)('$suffix: Deno restores flux-core\'s root with the rows Node restores', ({ suffix }) => {
    const node = restored['node.tar']!;
    const deno = restored[`deno${suffix}`]!;
    expect(rootOf(deno)).toBe(FLUX_CORE_ROOT);
    expect(rootOf(node)).toBe(FLUX_CORE_ROOT);
    expect(deno.objects).toHaveLength(4);
    expect(rows(deno)).toEqual(rows(node));
    expect(deno.checkpoints).toEqual(node.checkpoints);
    expect(deno.schema).toEqual(node.schema);
  });

  it('each runtime reads the other\'s gzip deflate', async () => {
    const store = join(t.dir, 'cross-gzip');
    const r = await cli('node', 'flux-restore', ['-q', '--checkpoint', '--store', store, file('deno', '.tar.gz')]);
    expect(r.status).toBe(0);
    expect(rootOf(readSqliteStore(join(store, 'content.sqlite')))).toBe(FLUX_CORE_ROOT);
    const store2 = join(t.dir, 'cross-gzip-2');
    const r2 = await cli('deno', 'flux-restore', ['-q', '--checkpoint', '--store', store2, file('node', '.tgz')]);
    expect(r2.status).toBe(0);
    expect(rootOf(readSqliteStore(join(store2, 'content.sqlite')))).toBe(FLUX_CORE_ROOT);
  });

  it('a second restore into the same store (WAL, existing tables) appends a checkpoint', async () => {
    const store = join(t.dir, 'restore-deno-tar');
    const r = await cli('deno', 'flux-restore', ['-q', '--checkpoint', '--store', store, file('node', '.tar.xz')]);
    expect(r.status).toBe(0);
    const again = readSqliteStore(join(store, 'content.sqlite'));
    expect(again.checkpoints).toHaveLength(2);
    expect(rootOf(again)).toBe(FLUX_CORE_ROOT);
    expect(rows(again)).toEqual(rows(restored['deno.tar']!));
    // WAL mode (file format bytes 18-19 = 2) and 4096-byte pages, as Flux keeps it
    const header = readFileSync(join(store, 'content.sqlite')).subarray(0, 100);
    expect([header.readUInt16BE(16), header[18], header[19]]).toEqual([4096, 2, 2]);
  });
});

describe('flux-core\'s own archives restored under Deno', () => {
  // written by libarchive's own gzip, bzip2, xz, zip and ISO writers, not ours
  const ARCHIVES = ['small.tar.gz', 'small.tar.bz2', 'small.tar.xz', 'small.zip', 'small.iso'];
  it.each(ARCHIVES)('%s', async (name) => {
    const store = join(t.dir, `core-${name}`);
    const r = await cli('deno', 'flux-restore', ['-q', '--checkpoint', '--store', store, join(SMALL, name)]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const dump = readSqliteStore(join(store, 'content.sqlite'));
    expect(rootOf(dump)).toBe(FLUX_CORE_ROOT);
    expect(dump.objects).toHaveLength(4);
  });
});

describe('a store big enough for the compression pool', () => {
  const GEN = join(t.dir, 'gen', 'content.sqlite');
  const POOLED = ['.tar.gz', '.tar.bz2', '.tar.xz'] as const;
  const out = (rt: Runtime, suffix: string) => join(t.dir, `gen-${rt}${suffix}`);

  beforeAll(async () => {
    // ~2.2 MB of tar: two 1 MiB gzip chunks, three bzip2 chunks and one xz chunk on the pool
    const g = await exec([process.execPath, join(ROOT, 'scripts/gen-store.mjs'), '--jobs', '250', '--out', GEN], process.env);
    expect(g.status).toBe(0);
    const reference = await cli('node', 'flux-dump', ['-q', '--store', GEN, '--checkpoint', out('node', '.tar')]);
    expect(reference.status).toBe(0);
    for (const suffix of POOLED) {
      const rs = await Promise.all((['node', 'deno'] as const).map((rt) => cli(rt, 'flux-dump', ['-q', '--store', GEN, '--checkpoint', out(rt, suffix)])));
      for (const r of rs) expect(r.stderr).toBe('');
    }
  }, 240_000);

  it('the uncompressed tar is over two chunks long', () => {
    expect(readFileSync(out('node', '.tar')).length).toBeGreaterThan(2 << 20);
  });

  it.each(POOLED)('%s: Deno\'s pooled output equals Node\'s', (suffix) => {
    const node = readFileSync(out('node', suffix));
    const deno = readFileSync(out('deno', suffix));
    if (suffix !== '.tar.gz') {
      expect(deno.equals(node)).toBe(true);
      return;
    }
    const members = gzipMembers(deno);
    expect(members.map((m) => m.size)).toEqual([1 << 20, 1 << 20, readFileSync(out('node', '.tar')).length - (2 << 20)]);
    expect(members).toEqual(gzipMembers(node));
    expect(gunzipSync(deno).equals(readFileSync(out('node', '.tar')))).toBe(true);
  });

  it('Deno restores its pooled .tar.xz to the root and rows Node restores from its own', async () => {
    const stores = ['node', 'deno'].map((n) => join(t.dir, `gen-restore-${n}`));
    const rs = await Promise.all([
      cli('node', 'flux-restore', ['-q', '--checkpoint', '--store', stores[0]!, out('node', '.tar.xz')]),
      cli('deno', 'flux-restore', ['-q', '--checkpoint', '--store', stores[1]!, out('deno', '.tar.xz')]),
    ]);
    for (const r of rs) expect(r.status).toBe(0);
    const [node, deno] = stores.map((s) => readSqliteStore(join(s, 'content.sqlite')));
    expect(deno!.objects.length).toBeGreaterThan(2000);
    expect(rootOf(deno!)).toBe(rootOf(node!));
    expect(rows(deno!)).toEqual(rows(node!));
  });
});

describe('a live broker under Deno (unix socket only)', () => {
  const peers = peerPool();
  afterEach(peers.stopAll);
  let small: ContentStore;
  beforeAll(async () => {
    small = await openStore(SMALL_DB);
  });
  afterAll(async () => {
    await small.close();
  });

  it('flux-dump --checkpoint through FLUX_URI equals Node\'s live dump', async () => {
    const peer = await peers.start({ store: small });
    const [n, d] = await Promise.all(
      (['node', 'deno'] as const).map((rt) => cli(rt, 'flux-dump', ['-q', '--checkpoint', join(t.dir, `live-${rt}.tar`)], { FLUX_URI: peer.uri })),
    );
    expect(d!.stderr).toBe('');
    expect(d!.status).toBe(0);
    expect(n!.status).toBe(0);
    expect(readFileSync(join(t.dir, 'live-deno.tar')).equals(readFileSync(join(t.dir, 'live-node.tar')))).toBe(true);
  });

  it('flux-restore --checkpoint into the broker writes flux-core\'s root', async () => {
    const peer = await peers.start({ store: small, root: null });
    const r = await cli('deno', 'flux-restore', ['-q', '--checkpoint', `--store=${peer.uri}`, join(SMALL, 'small.tar')]);
    expect(r.status).toBe(0);
    expect(peer.checkpoints[0]!.rootref).toBe(FLUX_CORE_ROOT);
  });

  it('another socket than the one named is refused by Deno, not reached', async () => {
    const peer = await peers.start({ store: small });
    // FLUX_URI names one socket; the permission is for that socket only
    const argv = denoCommand('flux-dump', ['-q', '--checkpoint', join(t.dir, 'other.tar')], { FLUX_URI: 'local:///nonexistent/local' });
    const r = await exec(argv, denoEnv({ ...process.env, FLUX_URI: peer.uri }));
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/Requires net access to "unix:.*local"/);
    expect(peer.requests()).toEqual([]);
    expect(existsSync(join(t.dir, 'other.tar'))).toBe(false);
  });
});

describe('node:sqlite behind the binding interface, and the pool, inside Deno', () => {
  it('transactions, blobs, busy / missing / not-a-database errors, pool round trip', async () => {
    const dir = join(t.dir, 'probe');
    await mkdir(dir, { recursive: true });
    // flux-dump's permissions: the probe drives the same pool, xz addon included
    const r = await exec([denoBinary(), 'run', ...RUN_FLAGS, ...denoPermissions('flux-dump', [], {}), DENO_PROBE, dir], denoEnv());
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const p = JSON.parse(r.stdout.toString());
    expect(p.runtime).toBe('deno');
    expect(p.binding).toBe('node:sqlite');
    expect(p.txReturn).toBe('outer result');
    expect(p.rows).toEqual([1, 3]);
    expect(p.blob).toEqual({ isUint8Array: true, bytes: [0, 1, 255] });
    expect(p.changes).toBe(2);
    expect(p.missingRow).toBeNull();
    expect(p.locked).toMatchObject({ code: 'SQLITE_BUSY', busy: true });
    expect(p.missingFile).toMatchObject({ code: 'SQLITE_CANTOPEN', busy: false });
    expect(p.notADatabase).toMatchObject({ code: 'SQLITE_NOTADB', busy: false });
    expect(p.pool).toEqual({ threads: 2, gzipRoundTrip: true, bzip2Magic: 'BZh', xzMagic: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], threadsAfterClose: 0 });
  });

  it('a content.sqlite held by another process (a broker) is refused in one line', async () => {
    const store = join(t.dir, 'held');
    const seed = await cli('node', 'flux-restore', ['-q', '--checkpoint', '--store', store, join(SMALL, 'small.tar')]);
    expect(seed.status).toBe(0);
    const db = join(store, 'content.sqlite');
    const broker = new Database(db);
    try {
      broker.pragma('locking_mode=EXCLUSIVE');
      broker.exec("BEGIN IMMEDIATE; INSERT INTO checkpt_v2 (value) VALUES ('x'); COMMIT");
      const r = await cli('deno', 'flux-restore', ['-q', '--checkpoint', '--store', store, join(SMALL, 'small.tar')]);
      expect(r.status).toBe(1);
      expect(r.stderr).toBe(
        `flux-restore: ${db} is in use by a running Flux instance (database is locked): stop it first, or restore through it with FLUX_URI set and --key\n`,
      );
    } finally {
      broker.close();
    }
  });

  it('a file that is not a database is named as such', async () => {
    const store = join(t.dir, 'junk');
    await mkdir(store, { recursive: true });
    writeFileSync(join(store, 'content.sqlite'), 'not a database '.repeat(100));
    const r = await cli('deno', 'flux-restore', ['-q', '--checkpoint', '--store', store, join(SMALL, 'small.tar')]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^flux-restore: ${join(store, 'content.sqlite')}: not a usable content.sqlite: file is not a database\\n$`));
  });
});
