/**
 * Entry sets and read-back helpers for the cpio, zip and ISO 9660 writer tests: every
 * archive is written to a temp file and read back by the system tools (bsdtar, cpio,
 * unzip, isoinfo, xorriso), then compared file by file with the entries.
 */
import { execFileSync, type ExecFileSyncOptions } from 'node:child_process';
import { lstatSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FormatFactory } from '../../src/pack/format.js';
import { openArchive } from '../../src/restore/input.js';
import type { ArchiveEntry } from '../../src/walk/entry.js';

export const SMALL_TAR = '../shared/fixtures/flux-0.88/small/small.tar';

const enc = new TextEncoder();
/** The checkpoint timestamp of the shared small store, truncated. */
export const SMALL_MTIME = 1795690510;

function file(path: string, text: string, mtime: number, extra: Partial<ArchiveEntry> = {}): ArchiveEntry {
  return { path, type: 'file', data: enc.encode(text), linkTarget: '', mode: 0o644, mtime, uid: 0, gid: 0, ...extra };
}

function symlink(path: string, target: string, mtime: number, extra: Partial<ArchiveEntry> = {}): ArchiveEntry {
  return { path, type: 'symlink', data: new Uint8Array(0), linkTarget: target, mode: 0o644, mtime, uid: 0, gid: 0, ...extra };
}

/** The entries of `small.tar` (flux-core 0.88's dump of the shared small store), in order. */
export function smallEntries(): ArchiveEntry[] {
  return [
    file('empty', '', 0),
    symlink('y', 'linkedthing', 0),
    symlink('z', 'smurf::otherthing', 0),
    file('ƒuzzybunny', '42', 0),
    file('a/e', 'shallow', 0),
    file('v60', '0'.repeat(60), SMALL_MTIME),
    file('w', 'foobar', SMALL_MTIME),
    file('x', '0'.repeat(100), SMALL_MTIME),
    file('a/b/c', 'testkey', 0),
    file('a/b/d', 'second', 0),
  ];
}

/** Deterministic pseudo-random bytes (xorshift32), so failures reproduce. */
export function pseudoRandom(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed | 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** A JSON-ish KVS value of `n` bytes. */
export function kvsValue(n: number, seed: number): Uint8Array {
  let s = `{"id":${seed},"state":"RUN","t":[`;
  let v = seed;
  while (s.length < n) {
    v = (v * 1103515245 + 12345) & 0x7fffffff;
    s += `${v % 100000},`;
  }
  return enc.encode(s.slice(0, n));
}

/** A UTF-8 component of exactly `bytes` bytes (2-byte 'ƒ' plus ASCII padding). */
export function utf8Component(bytes: number, tag: string): string {
  const head = `${tag}-`;
  const rest = bytes - head.length;
  return head + 'ƒ'.repeat(Math.floor(rest / 2)) + 'x'.repeat(rest % 2);
}

/**
 * Symlinks (plain, namespaced, with '/', '..', absolute, very long), UTF-8 names,
 * a 255-byte component, paths over 1,000 bytes, 20 levels deep, empty files, a 1 MiB
 * incompressible file, names that collide in 8.3 form, and varied mtimes/uid/gid.
 */
export function generatedEntries(): ArchiveEntry[] {
  const long255 = utf8Component(255, 'long');
  const deep = Array.from({ length: 20 }, (_, i) => `level${i}`).join('/');
  const longPath = [utf8Component(250, 'p1'), utf8Component(250, 'p2'), utf8Component(250, 'p3'), utf8Component(200, 'p4')].join('/');
  const entries: ArchiveEntry[] = [
    file('job/0000/eventlog', '{"timestamp":1.5,"name":"submit"}\n', 1700000000, { uid: 4242, gid: 4243 }),
    file('job/0000/jobspec', '{"version":1}', 1700000001, { uid: 4242, gid: 4243 }),
    file('job/0001/eventlog', '', 1700000002),
    symlink('job/latest', 'job.0001', 1700000003),
    symlink('ns-link', 'primary::job.0000.eventlog', 1700000004),
    symlink('slashy', '../job/0000/./eventlog', 1700000005),
    symlink('absolute', '/etc/flux/system/conf.d', 1700000006),
    symlink('longlink', Array.from({ length: 12 }, (_, i) => utf8Component(60, `t${i}`)).join('/'), 1700000007),
    file('ユニコード/キー', 'unicode value ✓', 1700000008),
    file('emoji-🦀-key', 'crab', 1700000009),
    file(`names/${long255}`, 'a 255-byte name', 1700000010),
    file(`${longPath}/leaf`, 'at the end of a path over 1000 bytes', 1700000011),
    file(`${deep}/bottom`, 'twenty levels down', 1700000012),
    symlink(`${deep}/uplink`, '../../../..', 1700000013),
    file('empty1', '', 1700000014),
    file('dir-with-empty/empty2', '', 1700000015),
    { path: 'big/one-mebibyte', type: 'file', data: pseudoRandom(1 << 20, 7), linkTarget: '', mode: 0o644, mtime: 2000000000, uid: 1000, gid: 1000 },
    file('big/compressible', 'abcdefgh'.repeat(40000), 2100000000),
    file('post-2038', 'mtime after 2038', 2500000000),
  ];
  // Names that all map to the same 8.3 ISO name, in one directory.
  for (let i = 0; i < 40; i++) entries.push(file(`collide/verylongname.value${i}`, `v${i}`, 1700000100 + i));
  // Many long names in one directory: their Rock Ridge names spill into several
  // continuation-area sectors.
  for (let i = 0; i < 24; i++) entries.push(file(`longnames/${utf8Component(200 + i, `n${i}`)}`, `long name ${i}`, 1700000150));
  // KVS-sized values.
  for (let i = 0; i < 30; i++) {
    entries.push({ path: `kvs/key${i}`, type: 'file', data: kvsValue(100 + i * 60, i), linkTarget: '', mode: 0o644, mtime: 1700000200, uid: 0, gid: 0 });
  }
  return entries;
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), `fluxdump-${prefix}-`));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** Run a tool; returns stdout as a string (throws with stderr on a non-zero exit). */
export function run(cmd: string, args: string[], opts: ExecFileSyncOptions = {}): string {
  return execFileSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 28, stdio: ['pipe', 'pipe', 'pipe'], ...opts }) as string;
}

/** Write entries through a writer, in batches of `batchSize`, into `path`. */
export async function writeArchive(
  factory: FormatFactory,
  entries: readonly ArchiveEntry[],
  path: string,
  batchSize = 7,
): Promise<Uint8Array> {
  const writer = factory({ stdout: false });
  const chunks: Uint8Array[] = [];
  for (let i = 0; i < entries.length; i += batchSize) chunks.push(...(await writer.write(entries.slice(i, i + batchSize))));
  chunks.push(...(await writer.end()));
  const bytes = Buffer.concat(chunks);
  writeFileSync(path, bytes);
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
}

/** Regular files and symlinks under `dir`, as relative '/' paths (directories skipped). */
export function listTree(dir: string, prefix = ''): string[] {
  const out: string[] = [];
  for (const d of readdirSync(join(dir, prefix), { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${d.name}` : d.name;
    if (d.isDirectory()) out.push(...listTree(dir, rel));
    else out.push(rel);
  }
  return out;
}

export interface CompareOptions {
  mtime: boolean;
  /** Compare symlink mtimes too (default true; GNU cpio does not set them). */
  linkMtime?: boolean;
  /** Compare permission bits of regular files (default true). */
  mode?: boolean;
  /** Also compare owners (only meaningful when extracting as root). */
  owner?: boolean;
}

/**
 * Check that `dir` holds exactly `entries`: the same set of paths, each file's bytes,
 * each symlink's target, and (optionally) mtimes and owners. Returns the mismatches.
 */
export function compareTree(dir: string, entries: readonly ArchiveEntry[], opts: CompareOptions): string[] {
  const problems: string[] = [];
  const want = new Set(entries.map((e) => e.path));
  const have = new Set(listTree(dir));
  for (const p of have) if (!want.has(p)) problems.push(`unexpected ${p}`);
  for (const e of entries) {
    const p = join(dir, e.path);
    if (!have.has(e.path)) {
      problems.push(`missing ${e.path}`);
      continue;
    }
    const st = lstatSync(p);
    if (e.type === 'symlink') {
      if (!st.isSymbolicLink()) problems.push(`${e.path}: not a symlink`);
      else if (readlinkSync(p) !== e.linkTarget) problems.push(`${e.path}: target ${readlinkSync(p)} != ${e.linkTarget}`);
    } else {
      if (!st.isFile()) problems.push(`${e.path}: not a regular file`);
      else if (Buffer.compare(readFileSync(p), e.data) !== 0) problems.push(`${e.path}: bytes differ`);
      if (opts.mode !== false && (st.mode & 0o7777) !== e.mode) problems.push(`${e.path}: mode ${(st.mode & 0o7777).toString(8)}`);
    }
    if (opts.mtime && (e.type === 'file' || opts.linkMtime !== false) && Math.floor(st.mtimeMs / 1000) !== e.mtime) problems.push(`${e.path}: mtime ${st.mtimeMs / 1000} != ${e.mtime}`);
    if (opts.owner && (st.uid !== e.uid || st.gid !== e.gid)) problems.push(`${e.path}: owner ${st.uid}:${st.gid} != ${e.uid}:${e.gid}`);
  }
  return problems;
}

/**
 * Read an archive back with the project's own restore readers (what `flux-restore`
 * uses): files and symlinks in archive order, data copied out of the reader's buffers.
 */
export async function restoreReadBack(archive: string): Promise<{ format: string; entries: Omit<ArchiveEntry, 'mode' | 'uid' | 'gid'>[] }> {
  const opened = await openArchive(archive, { sizeLimit: 0 });
  const entries: Omit<ArchiveEntry, 'mode' | 'uid' | 'gid'>[] = [];
  try {
    for await (const batch of opened.entries) {
      for (const e of batch) {
        if (e.type === 'other') continue;
        entries.push({ path: e.path, type: e.type, data: new Uint8Array(e.data), linkTarget: e.linkTarget, mtime: e.mtime });
      }
    }
  } finally {
    await opened.close();
  }
  return { format: opened.format, entries };
}

/** What restoreReadBack should give for `entries` (order aside). */
export function restoreView(entries: readonly ArchiveEntry[]): Omit<ArchiveEntry, 'mode' | 'uid' | 'gid'>[] {
  return entries.map((e) => ({ path: e.path, type: e.type, data: e.data, linkTarget: e.linkTarget, mtime: e.mtime }));
}

/** Extract with `bsdtar -xf` into a fresh directory under os.tmpdir(). */
export function bsdtarExtract(archive: string, into: string): void {
  run('bsdtar', ['-xf', archive, '-C', into]);
}
