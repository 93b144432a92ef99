/**
 * Production-like KVS content for the real-flux tests, and the archive comparison they
 * share: ours against flux-core's, byte for byte except what flux-core 0.88 leaves
 * unset (mtime/uid/gid 0 on inline values and symlinks) and, where asked, entry order.
 */
import { spawn } from 'node:child_process';
import { expect } from 'vitest';
import { FLUX, type Instance } from './flux.js';
import { readTar } from './tar.js';
import { DUMP_CLI, RESTORE_CLI } from './paths.js';

export interface RunResult {
  status: number | null;
  stdout: Buffer;
  stderr: string;
}

/**
 * Run a command without blocking this process's event loop (a tap in this process must
 * keep forwarding while the child talks through it).
 */
export function runAsync(cmd: string, args: readonly string[], env: NodeJS.ProcessEnv, input?: string | Buffer): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout: Buffer.concat(out), stderr: err }));
    child.stdin.end(input ?? '');
  });
}

/** Our flux-dump / flux-restore, and flux-core's `flux dump` / `flux restore`. */
export const ours = {
  dump: (args: readonly string[], env: NodeJS.ProcessEnv) => runAsync(process.execPath, [DUMP_CLI, ...args], env),
  restore: (args: readonly string[], env: NodeJS.ProcessEnv) => runAsync(process.execPath, [RESTORE_CLI, ...args], env),
};
export const fluxCore = {
  dump: (args: readonly string[], env: NodeJS.ProcessEnv) => runAsync(FLUX, ['dump', ...args], env),
  restore: (args: readonly string[], env: NodeJS.ProcessEnv) => runAsync(FLUX, ['restore', ...args], env),
};

/** A deterministic, incompressible-looking printable value of `n` bytes. */
export function noise(n: number, seed: number): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  let x = seed >>> 0 || 1;
  const out = Buffer.alloc(n);
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = alphabet.charCodeAt((x >>> 0) & 63);
  }
  return out.toString('latin1');
}

export interface Content {
  /** Keys of the primary namespace written here (values and symlinks), for read-back. */
  values: string[];
  symlinks: Record<string, string>;
  /** Keys written to namespace `ns`. */
  nsValues: string[];
}

export const BIG_SIZES = [70_000, 400_000, 1_500_000, 3_000_000];
export const APPENDS = 60;

/** N commits, each appending a line to app.log and app.events (FLUX_KVS_APPEND). */
const APPEND_PY = `
import sys, flux
import flux.constants as C
from flux.core.inner import raw, ffi
h = flux.Flux()
for i in range(1, int(sys.argv[1]) + 1):
    txn = raw.flux_kvs_txn_create()
    raw.flux_kvs_txn_put(txn, C.FLUX_KVS_APPEND, b"app.log", ("line %d %s\\n" % (i, "x" * (i % 50))).encode())
    raw.flux_kvs_txn_put(txn, C.FLUX_KVS_APPEND, b"app.events", ('{"seq":%d}\\n' % i).encode())
    f = raw.flux_kvs_commit(h, ffi.NULL, 0, txn)
    raw.flux_future_get(f, ffi.NULL)
    raw.flux_future_destroy(f)
    raw.flux_kvs_txn_destroy(txn)
`;

/**
 * Fill an instance the way a production one looks: a few hundred small values in
 * directories, UTF-8 and long keys, an empty value, big values, appended eventlogs (one
 * valref of many blobs each), symlinks (one into another namespace), a namespace of its
 * own, and a few real jobs (job-manager keys) when `jobs` is set.
 */
export function populate(inst: Instance, o: { jobs?: number; ns?: string } = {}): Content {
  const ns = o.ns ?? 'ns1';
  const values: string[] = [];
  const put: string[] = [];
  for (let i = 0; i < 360; i++) {
    const key = `data.d${i % 12}.k${i}`;
    // a mix of inline (< 72 bytes) and blob values
    put.push(`${key}=${i % 3 === 0 ? noise(80 + i * 7, i + 1) : `value-${i}`}`);
    values.push(key);
  }
  const utf8 = ['utf8.ключ', 'utf8.日本語.キー', 'utf8.emoji✓', `long.${'x'.repeat(110)}.${'y'.repeat(60)}.leaf`];
  for (const [i, k] of utf8.entries()) {
    put.push(`${k}=${i % 2 ? 'значение ✓' : noise(300, 77 + i)}`);
    values.push(k);
  }
  put.push('empty=', 'small=1', `edge.inline71=${noise(71, 5)}`, `edge.blob72=${noise(72, 6)}`);
  values.push('empty', 'small', 'edge.inline71', 'edge.blob72');
  inst.run(['kvs', 'put', ...put]);
  for (const [i, size] of BIG_SIZES.entries()) {
    inst.run(['kvs', 'put', '-r', `big.b${i}=-`], { input: noise(size, 1000 + i) });
    values.push(`big.b${i}`);
  }
  // appends, as `flux kvs put --append` makes them (one commit per append, each adding a
  // blob to the value's valref), from one process rather than one per append
  inst.run(['python', '-c', APPEND_PY, String(APPENDS)]);
  values.push('app.log', 'app.events');
  inst.run(['kvs', 'namespace', 'create', ns]);
  const nsPut = Array.from({ length: 40 }, (_, i) => `n.k${i}=${i % 4 === 0 ? noise(200, 500 + i) : `nv${i}`}`);
  inst.run(['kvs', 'put', ...nsPut, 'x=target in ns'], { env: { FLUX_KVS_NAMESPACE: ns } });
  inst.run(['kvs', 'put', '--append', 'n.log=a\n'], { env: { FLUX_KVS_NAMESPACE: ns } });
  inst.run(['kvs', 'put', '--append', 'n.log=b\n'], { env: { FLUX_KVS_NAMESPACE: ns } });
  const nsValues = [...nsPut.map((p) => p.slice(0, p.indexOf('='))), 'x', 'n.log'];
  inst.run(['kvs', 'link', 'data.d1.k1', 'links.plain']);
  inst.run(['kvs', 'link', 'utf8.ключ', 'links.utf8']);
  inst.run(['kvs', 'link', '--target-namespace', ns, 'x', 'links.ns']);
  inst.run(['kvs', 'link', 'no.such.key', 'links.dangling']);
  const symlinks = { 'links.plain': 'data.d1.k1', 'links.utf8': 'utf8.ключ', 'links.ns': `${ns}::x`, 'links.dangling': 'no.such.key' };
  if (o.jobs) inst.run(['submit', `--cc=1-${o.jobs}`, '--wait', '--quiet', 'true']);
  return { values, symlinks, nsValues };
}

/** The 512-byte blocks of each entry (header + padded data), by name, and the end blocks. */
function spans(buf: Buffer): { members: { name: string; inline: boolean; mtime: number; bytes: Buffer }[]; tail: Buffer } {
  const { members, end } = readTar(buf);
  return {
    members: members.map((m) => ({
      name: m.name,
      inline: m.mtime === 0 && m.uid === 0 && m.gid === 0,
      mtime: m.mtime,
      bytes: buf.subarray(m.offset, m.offset + 512 + Math.ceil(m.size / 512) * 512),
    })),
    tail: buf.subarray(end),
  };
}

/** Header with mtime, uid, gid and checksum zeroed. */
function blankMeta(block: Buffer, mtime: boolean, ids: boolean): Buffer {
  const c = Buffer.from(block);
  if (ids) c.fill(0, 108, 124);
  if (mtime) c.fill(0, 136, 148);
  if (mtime || ids) c.fill(0, 148, 156);
  return c;
}

export interface CompareOptions {
  /** flux-core with its cache and --maxreqs >= 8 archives in completion order. */
  unordered?: boolean;
  /**
   * Current-root dumps stamp blob-valued entries with their own start time: ours and
   * flux-core's each lie in [from, to] (seconds) and are compared for that only.
   */
  mtimeWindow?: { ours: [number, number]; theirs: [number, number] };
}

/**
 * Our tar equals flux-core's: every byte, except mtime/uid/gid (and so the checksum) of
 * entries flux-core wrote with all three 0 (inline values and symlinks), entry order when
 * `unordered`, and blob entries' mtime within each dump's window when `mtimeWindow`.
 * Returns the number of entries.
 */
export function expectSameTar(oursBuf: Buffer, theirsBuf: Buffer, o: CompareOptions = {}): number {
  const a = spans(oursBuf);
  const b = spans(theirsBuf);
  expect(a.members.length).toBe(b.members.length);
  expect(a.members.length).toBeGreaterThan(0);
  const order = (s: typeof a.members) => (o.unordered ? [...s].sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0)) : s);
  const am = order(a.members);
  const bm = order(b.members);
  if (!o.unordered) expect(am.map((m) => m.name)).toEqual(bm.map((m) => m.name));
  let blobEntries = 0;
  for (let i = 0; i < am.length; i++) {
    const x = am[i]!;
    const y = bm[i]!;
    expect(x.name).toBe(y.name);
    expect(x.bytes.length, x.name).toBe(y.bytes.length);
    const inline = y.inline;
    if (!inline) blobEntries++;
    const timeless = inline || o.mtimeWindow !== undefined;
    if (!inline && o.mtimeWindow) {
      const [ao, at] = o.mtimeWindow.ours;
      const [bo, bt] = o.mtimeWindow.theirs;
      expect(x.mtime, x.name).toBeGreaterThanOrEqual(ao);
      expect(x.mtime, x.name).toBeLessThanOrEqual(at);
      expect(y.mtime, y.name).toBeGreaterThanOrEqual(bo);
      expect(y.mtime, y.name).toBeLessThanOrEqual(bt);
    }
    const xh = blankMeta(x.bytes.subarray(0, 512), timeless, inline);
    const yh = blankMeta(y.bytes.subarray(0, 512), timeless, inline);
    if (!xh.equals(yh)) expect(xh.toString('latin1'), `header of ${x.name}`).toBe(yh.toString('latin1'));
    if (!x.bytes.subarray(512).equals(y.bytes.subarray(512))) expect.fail(`data of ${x.name} differs`);
  }
  // flux-core leaves only inline entries unset: blob values keep their metadata
  expect(blobEntries).toBeGreaterThan(0);
  expect(a.tail.equals(b.tail)).toBe(true);
  return am.length;
}

/** Wall-clock seconds, for mtime windows. */
export const nowSec = () => Math.floor(Date.now() / 1000);
