/**
 * Shared by the restore reliability tests: run the compiled flux-restore CLI (with a
 * probe that reports its peak RSS), damage real archives byte by byte, and check the
 * guarantees every failure must keep: exit 1, one line `flux-restore: ...` on a line of
 * its own, no stack trace, and the store's checkpoints exactly as they were.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';
import { readSqliteStore, SMALL, tempDir } from './restore-helpers.js';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const CLI = join(ROOT, 'dist/cli/flux-restore.js');
/** A store written by flux-core's own restore of small.tar: one checkpoint. */
export const FLUX_STORE = join(SMALL, 'small-restored.sqlite');

/** Spawn only a current build: rebuild when any source is newer than the CLI. */
export function ensureBuilt(): void {
  const newest = (dir: string): number =>
    Math.max(...readdirSync(dir, { withFileTypes: true }).map((d) => (d.isDirectory() ? newest(join(dir, d.name)) : statSync(join(dir, d.name)).mtimeMs)));
  const built = () => {
    try {
      return statSync(CLI).mtimeMs;
    } catch {
      return 0;
    }
  };
  if (built() < newest(join(ROOT, 'src'))) {
    // tsc emits even when a file elsewhere in the tree has a type error: judge by the output
    const b = spawnSync('npm', ['run', 'build:ts'], { cwd: ROOT, encoding: 'utf8' });
    if (built() < newest(join(ROOT, 'src'))) throw new Error(`npm run build:ts did not update ${CLI}:\n${b.stdout}${b.stderr}`);
  }
}

/** Loaded before the CLI: writes the process's peak RSS (KiB) to $RSS_PROBE_FILE on exit. */
const PROBE = `data:text/javascript,${encodeURIComponent(
  "import{writeFileSync}from'node:fs';process.on('exit',()=>writeFileSync(process.env.RSS_PROBE_FILE,String(process.resourceUsage().maxRSS)))",
)}`;

export interface CliRun {
  status: number | null;
  /** stderr without the probe's line. */
  stderr: string;
  /** Peak resident set of the CLI process, bytes. */
  maxRss: number;
}

export function restoreCli(args: readonly string[], input?: Uint8Array): CliRun {
  const probe = join(tempDir(), 'maxrss');
  const r = spawnSync(process.execPath, ['--import', PROBE, CLI, ...args], {
    encoding: 'utf8',
    env: { ...process.env, FLUX_URI: '', RSS_PROBE_FILE: probe },
    maxBuffer: 1 << 24,
    ...(input ? { input } : {}),
  });
  return { status: r.status, stderr: r.stderr, maxRss: Number(readFileSync(probe, 'utf8')) * 1024 };
}

/** A private copy of flux-core's restored store (it has a checkpoint), and its checkpoints. */
export function storeWithCheckpoint(): { store: string; checkpoints: string[] } {
  const store = join(tempDir(), 'content.sqlite');
  copyFileSync(FLUX_STORE, store);
  const checkpoints = readSqliteStore(store).checkpoints;
  expect(checkpoints).toHaveLength(1);
  return { store, checkpoints };
}

/** Write bytes to a fresh temp file named `name`; returns its path. */
export function archiveFile(name: string, bytes: Uint8Array): string {
  const path = join(tempDir(), name);
  writeFileSync(path, bytes);
  return path;
}

export function fixture(name: string): Uint8Array {
  return new Uint8Array(readFileSync(join(SMALL, name)));
}

/**
 * Restore `file` into a store that already has a checkpoint and check it is refused
 * the way every failure must be; `message` is the error after `flux-restore: `.
 */
export function expectRefused(file: string, message: string | RegExp, extra: readonly string[] = []): CliRun {
  const { store, checkpoints } = storeWithCheckpoint();
  const r = restoreCli(['--checkpoint', `--store=${store}`, ...extra, file]);
  expect(r.status, r.stderr).toBe(1);
  expect(r.stderr.endsWith('\n'), r.stderr).toBe(true);
  const lines = r.stderr.slice(0, -1).split('\n');
  const error = lines.pop()!;
  // the error has a line of its own: before it, only progress (`\r...` counts), skip notes
  for (const l of lines) expect(l, r.stderr).toMatch(/^(\rflux-restore: restored \d+ keys \(\d+ blobs\))*(\r.* exceeds \d+ limit, skipping)?$/);
  expect(error.startsWith('flux-restore: '), r.stderr).toBe(true);
  const text = error.slice('flux-restore: '.length);
  if (typeof message === 'string') expect(text).toBe(message);
  else expect(text).toMatch(message);
  expect(r.stderr).not.toMatch(/internal error|\n\s+at |Error:/);
  // a failed restore writes no checkpoint: the previous one stays the newest
  expect(readSqliteStore(store).checkpoints).toEqual(checkpoints);
  return r;
}

// ------------------------------------------------------------------ damaging archives

const enc = new TextEncoder();

/** Recompute a ustar header's checksum after editing it. */
export function fixTarChecksum(tar: Uint8Array, header: number): void {
  const h = tar.subarray(header, header + 512);
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  h.set(enc.encode(sum.toString(8).padStart(6, '0') + '\0 '), 148);
}

/** Overwrite a tar header field with an octal number (width - 1 digits and a NUL), checksum fixed. */
export function setTarOctal(tar: Uint8Array, header: number, field: number, width: number, value: number): void {
  tar.set(enc.encode(value.toString(8).padStart(width - 1, '0') + '\0'), header + field);
  fixTarChecksum(tar, header);
}

export const TAR_SIZE = 124;

export function le32(b: Uint8Array, off: number): number {
  return new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(off, true);
}

export function setLe32(b: Uint8Array, off: number, v: number): void {
  new DataView(b.buffer, b.byteOffset, b.byteLength).setUint32(off, v, true);
}

/** Offsets of a zip's central directory records, by member name. */
export function zipCentral(zip: Uint8Array): Map<string, number> {
  const out = new Map<string, number>();
  let eocd = zip.length - 22;
  while (eocd >= 0 && le32(zip, eocd) !== 0x06054b50) eocd--;
  let p = le32(zip, eocd + 16);
  const dec = new TextDecoder();
  while (le32(zip, p) === 0x02014b50) {
    const v = new DataView(zip.buffer, zip.byteOffset);
    const nameLen = v.getUint16(p + 28, true);
    const len = 46 + nameLen + v.getUint16(p + 30, true) + v.getUint16(p + 32, true);
    out.set(dec.decode(zip.subarray(p + 46, p + 46 + nameLen)), p);
    p += len;
  }
  return out;
}

/** The directory record (offset) in an ISO 9660 directory sector whose extent is `extent`. */
export function isoRecordByExtent(iso: Uint8Array, dirBlock: number, extent: number): number {
  const start = dirBlock * 2048;
  for (let p = start; p < start + 2048 && iso[p] !== 0; p += iso[p]!) if (le32(iso, p + 2) === extent) return p;
  throw new Error(`no record for extent ${extent} in block ${dirBlock}`);
}

/** Run a system tool on `input`; its stdout. */
export function tool(cmd: string, args: readonly string[], input?: Uint8Array, cwd?: string): Uint8Array {
  const r = spawnSync(cmd, args, { input, cwd, maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr?.toString()}`);
  return new Uint8Array(r.stdout);
}
