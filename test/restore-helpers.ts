/**
 * Shared by the restore tests: scratch directories, reading a restored content.sqlite
 * back with better-sqlite3 directly (and an independent LZ4 decoder, lz4js), and
 * running restore() with its stderr captured.
 */
import { copyFileSync, lutimesSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import lz4js from 'lz4js';
import { restore, type RestoreOptions, type RestoreResult } from '../src/restore/index.js';
import {
  decodeTreeObj, encodeTreeObj, makeDir, makeDirref, makeSymlink, makeVal, makeValref, valBytes, type DirObj, type TreeObj,
} from '../src/walk/treeobj.js';

export const FIXTURES = fileURLToPath(new URL('../../shared/fixtures/', import.meta.url));
export const SMALL = join(FIXTURES, 'flux-0.88/small');
export const SMALL_ROOT = 'sha1-7ac6c1decd1ada8735dc9794d25346df66aadcf8';
export const SMALL_TIMESTAMP = 1795690510;

const scratch: string[] = [];

export function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'restore-test-'));
  scratch.push(d);
  return d;
}

export function cleanupTempDirs(): void {
  for (const d of scratch.splice(0)) rmSync(d, { recursive: true, force: true });
}

export interface StoredObject {
  hashHex: string;
  hashType: string;
  size: number;
  /** Decompressed blob. */
  blob: Uint8Array;
}

export interface StoreDump {
  objects: StoredObject[];
  checkpoints: string[];
  schema: string[];
}

/** Everything in a content.sqlite, read with better-sqlite3 and lz4js. */
export function readSqliteStore(path: string): StoreDump {
  // better-sqlite3 leaves -wal/-shm beside a WAL database it reads: read a private copy
  const dir = mkdtempSync(join(tmpdir(), 'fluxdump-read-'));
  const copy = join(dir, 'content.sqlite');
  copyFileSync(path, copy);
  try {
    return readSqliteCopy(copy);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function readSqliteCopy(path: string): StoreDump {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const rows = db.prepare('SELECT hex(hash) AS h, typeof(hash) AS t, size, object FROM objects').all() as { h: string; t: string; size: number; object: Buffer | null }[];
    const objects = rows.map((r) => {
      const raw = r.object === null ? new Uint8Array(0) : new Uint8Array(r.object);
      let blob = raw;
      if (r.size >= 0) {
        blob = new Uint8Array(r.size);
        const n = lz4js.decompressBlock(raw, blob, 0, raw.length, 0);
        if (n !== r.size) throw new Error(`lz4 block of ${r.h} decoded to ${n} bytes, not ${r.size}`);
      }
      return { hashHex: r.h.toLowerCase(), hashType: r.t, size: r.size, blob };
    });
    const checkpoints = (db.prepare('SELECT value FROM checkpt_v2 ORDER BY id').all() as { value: string }[]).map((r) => r.value);
    const schema = (db.prepare("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name").all() as { sql: string }[]).map((r) => r.sql);
    return { objects, checkpoints, schema };
  } finally {
    db.close();
  }
}

/** Every object's digest matches its decompressed bytes. */
export function allHashesValid(objects: readonly StoredObject[], hash: 'sha1' | 'sha256'): boolean {
  return objects.every((o) => createHash(hash).update(o.blob).digest('hex') === o.hashHex);
}

export function objectByRef(objects: readonly StoredObject[], ref: string): StoredObject | undefined {
  const hex = ref.slice(ref.indexOf('-') + 1);
  return objects.find((o) => o.hashHex === hex);
}

export interface Captured extends RestoreResult {
  stderr: string;
}

/** restore() into `store` with stderr captured. */
export async function runRestore(input: string, store: string, extra: Partial<RestoreOptions> = {}): Promise<Captured> {
  let stderr = '';
  const r = await restore({ input, store, checkpoint: true, write: (s) => void (stderr += s), ...extra });
  return { ...r, stderr };
}

/** The rejection message of restore(), with stderr. */
export async function restoreError(input: string, store: string, extra: Partial<RestoreOptions> = {}): Promise<string> {
  try {
    await restore({ input, store, checkpoint: true, write: () => undefined, ...extra });
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error('restore succeeded');
}

// ------------------------------------------------------------------ generated trees

export type TreeEntry =
  | { path: string; kind: 'file'; data: Uint8Array; mtime?: number }
  | { path: string; kind: 'symlink'; target: string; mtime?: number };

function sha(hash: 'sha1' | 'sha256', b: Uint8Array): string {
  return `${hash}-${createHash(hash).update(b).digest('hex')}`;
}

/**
 * Root blobref and object count of the KVS a restore of `entries` must produce, built
 * with the shared tree-object module (makeDir/encodeTreeObj), not restore's own code.
 */
export function referenceRoot(entries: readonly TreeEntry[], hash: 'sha1' | 'sha256' = 'sha1'): { root: string; objects: number } {
  const blobs = new Set<string>();
  const root = makeDir();
  for (const e of entries) {
    const parts = e.path.split('/');
    let dir = root;
    for (const p of parts.slice(0, -1)) {
      let sub = dir.data.get(p);
      if (sub === undefined || sub.type !== 'dir') {
        sub = makeDir();
        dir.data.set(p, sub);
      }
      dir = sub as DirObj;
    }
    let obj: TreeObj;
    if (e.kind === 'symlink') {
      const sep = e.target.indexOf('::');
      obj = sep < 0 ? makeSymlink(e.target) : makeSymlink(e.target.slice(sep + 2), e.target.slice(0, sep));
    } else if (e.data.length < 72) obj = makeVal(e.data);
    else {
      const ref = sha(hash, e.data);
      blobs.add(ref);
      obj = makeValref([ref]);
    }
    dir.data.set(parts[parts.length - 1]!, obj);
  }
  const store = (d: DirObj): string => {
    for (const [name, child] of d.data) if (child.type === 'dir') d.data.set(name, makeDirref(store(child)));
    const ref = sha(hash, encodeTreeObj(d));
    blobs.add(ref);
    return ref;
  };
  const ref = store(root);
  return { root: ref, objects: blobs.size };
}

export type KvsValue = { val: string } | { symlink: string };

/** Every key of the KVS at `rootref` in a restored store (values as hex), read directly. */
export function readKvs(objects: readonly StoredObject[], rootref: string): Map<string, KvsValue> {
  const load = (ref: string): Uint8Array => {
    const o = objectByRef(objects, ref);
    if (!o) throw new Error(`missing ${ref}`);
    return o.blob;
  };
  const out = new Map<string, KvsValue>();
  const walk = (ref: string, prefix: string) => {
    const dir = decodeTreeObj(load(ref));
    if (dir.type !== 'dir') throw new Error(`${ref} is not a dir`);
    for (const [name, obj] of dir.data) {
      const key = prefix + name;
      if (obj.type === 'dirref') walk(obj.data[0]!, key + '/');
      else if (obj.type === 'val') out.set(key, { val: Buffer.from(valBytes(obj)).toString('hex') });
      else if (obj.type === 'valref') out.set(key, { val: Buffer.concat(obj.data.map((r) => load(r))).toString('hex') });
      else if (obj.type === 'symlink') out.set(key, { symlink: obj.data.namespace === undefined ? obj.data.target : `${obj.data.namespace}::${obj.data.target}` });
      else throw new Error(`${key}: unexpected ${obj.type}`);
    }
  };
  walk(rootref, '');
  return out;
}

export function expectedKvs(entries: readonly TreeEntry[]): Map<string, KvsValue> {
  const m = new Map<string, KvsValue>();
  for (const e of entries) m.set(e.path, e.kind === 'file' ? { val: Buffer.from(e.data).toString('hex') } : { symlink: e.target });
  return new Map([...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

export function sortedKvs(m: Map<string, KvsValue>): Map<string, KvsValue> {
  return new Map([...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** Write the entries as real files and symlinks under `dir` (mtimes set; dirs get `dirMtime`). */
export function materialize(entries: readonly TreeEntry[], dir: string, dirMtime: number): void {
  const dirs = new Set<string>();
  for (const e of entries) {
    const full = join(dir, e.path);
    const parent = dirname(full);
    mkdirSync(parent, { recursive: true });
    for (let p = parent; p.length > dir.length; p = dirname(p)) dirs.add(p);
    if (e.kind === 'file') {
      writeFileSync(full, e.data);
      if (e.mtime !== undefined) utimesSync(full, e.mtime, e.mtime);
    } else {
      symlinkSync(e.target, full);
      if (e.mtime !== undefined) lutimesSync(full, e.mtime, e.mtime);
    }
  }
  dirs.add(dir);
  for (const d of [...dirs].sort((a, b) => b.length - a.length)) utimesSync(d, dirMtime, dirMtime);
}

// ------------------------------------------------------------------ a tiny tar writer

const enc = new TextEncoder();

function octal(n: number, width: number): string {
  return n.toString(8).padStart(width - 1, '0') + '\0';
}

function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let len = enc.encode(body).length + 1;
  while (String(len).length + enc.encode(body).length !== len) len++;
  return `${len}${body}`;
}

function ustarHeader(name: string, size: number, type: string, linkname: string, mtime: number): Uint8Array {
  const h = new Uint8Array(512);
  const put = (off: number, s: string) => h.set(enc.encode(s), off);
  put(0, name);
  put(100, octal(0o644, 8));
  put(108, octal(0, 8));
  put(116, octal(0, 8));
  put(124, octal(size, 12));
  put(136, octal(mtime, 12));
  put(148, '        ');
  put(156, type);
  put(157, linkname);
  put(257, 'ustar\0');
  put(263, '00');
  let sum = 0;
  for (const b of h) sum += b;
  put(148, sum.toString(8).padStart(6, '0') + '\0 ');
  return h;
}

export interface RawTarEntry {
  path: string;
  type?: 'file' | 'symlink' | 'dir' | 'hardlink';
  data?: Uint8Array | string;
  linkTarget?: string;
  mtime?: number;
}

/** ustar members, with a pax header wherever a name does not fit (long or non-ASCII). */
export function makeTar(entries: readonly RawTarEntry[]): Uint8Array {
  const parts: Uint8Array[] = [];
  const pad = (n: number) => new Uint8Array((512 - (n % 512)) % 512);
  for (const e of entries) {
    const data = typeof e.data === 'string' ? enc.encode(e.data) : (e.data ?? new Uint8Array(0));
    const type = { file: '0', symlink: '2', dir: '5', hardlink: '1' }[e.type ?? 'file'];
    const link = e.linkTarget ?? '';
    const fits = (s: string) => enc.encode(s).length < 100 && /^[\x20-\x7e]*$/.test(s);
    if (!fits(e.path) || !fits(link)) {
      const pax = enc.encode(paxRecord('path', e.path) + (link ? paxRecord('linkpath', link) : ''));
      parts.push(ustarHeader('PaxHeader/x', pax.length, 'x', '', 0), pax, pad(pax.length));
    }
    const size = e.type === undefined || e.type === 'file' ? data.length : 0;
    parts.push(ustarHeader(fits(e.path) ? e.path : 'long', size, type!, fits(link) ? link : 'long', e.mtime ?? 0));
    if (size > 0) parts.push(data, pad(size));
  }
  parts.push(new Uint8Array(1024));
  return Buffer.concat(parts);
}
