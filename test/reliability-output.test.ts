/**
 * Output faults for flux-dump (issue #9, part 1): a full file system, a full device, a
 * closed pipe, a terminal that hangs up (EIO), SIGINT/SIGTERM/SIGHUP and kill -9 in the
 * middle of a dump, on every writer path that behaves differently: a plain file (tar,
 * cpio), a file written through the compression worker pool (.tar.gz, .tar.xz), zip
 * (1 MiB chunks, central directory at the end), ISO 9660 (nothing written until the
 * walk ends) and stdout (a pipe, or a file).
 *
 * Promised each time: a one-line error (none for a closed pipe), a non-zero exit
 * (128+signal for signals, 141 for a closed pipe), no stack trace, and nothing under
 * OUTFILE's name or beside it: a previous OUTFILE stays as it was. After kill -9 only the
 * temporary may remain, and the next dump to that OUTFILE removes it.
 */
import { spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  dumpRun, dumpTemporaries, errorLines, freshDir, generatedStore, mountTmpfs, progressCount, throughHead, toDevFull,
  withHungUpTerminal, withoutProgress,
} from './helpers/faults.js';
import { DUMP_CLI, SMALL, tempDir } from './helpers/paths.js';

const t = tempDir('fluxdump-reliability-out-');
afterAll(() => t.cleanup());
/** 21004 keys, a dump of a second or more: signals land mid-dump. */
let store = '';
const KEYS = 21004;
/** 2104 keys, a 2.6 MB tar: enough to fill a 64 KiB file system in every format, quickly. */
let smallStore = '';
const SMALL_KEYS = 2104;
beforeAll(() => {
  store = generatedStore(t.dir);
  smallStore = generatedStore(t.dir, 300);
});

/** What a user must never see: a JS stack, a Node internal, an "internal error". */
function expectNoStackTrace(stderr: string): void {
  expect(stderr).not.toMatch(/\n\s+at |internal error|node:internal|Assertion failed|Native stack trace/);
}

describe('ENOSPC: OUTFILE on a full file system (a 64 KiB tmpfs)', () => {
  let fs: { dir: string; unmount: () => void };
  beforeAll(() => {
    fs = mountTmpfs(t.dir, 64);
  });
  afterAll(() => fs?.unmount());

  // tar and cpio: the plain file path; .tar.gz/.tar.xz: bytes from the worker pool (xz used
  // to surface "Invalid state: Unable to enqueue" from its torn-down filter instead of
  // ENOSPC); zip: inline deflate; iso: everything written at the end.
  it.each(['tar', 'cpio', 'tar.gz', 'tar.xz', 'zip', 'iso'])('.%s: one line naming OUTFILE, exit 1, nothing left', (ext) => {
    const out = join(fs.dir, `dump.${ext}`);
    const r = spawnSync(process.execPath, [DUMP_CLI, '-q', '--store', smallStore, '--checkpoint', out], { encoding: 'utf8', env: { ...process.env, FLUX_URI: '' }, timeout: 60_000 });
    expect(r.signal).toBeNull();
    expect(r.stderr).toBe(`flux-dump: ${out}: write error: ENOSPC: no space left on device, write\n`);
    expect(r.status).toBe(1);
    expect(readdirSync(fs.dir)).toEqual([]);
  });

  it('a previous OUTFILE stays as it was; progress ends its line before the error', () => {
    const out = join(fs.dir, 'kept.tar');
    writeFileSync(out, 'the previous dump');
    const r = spawnSync(process.execPath, [DUMP_CLI, '--store', smallStore, '--checkpoint', out], { encoding: 'utf8', env: { ...process.env, FLUX_URI: '' }, timeout: 60_000 });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/keys\nflux-dump: [^\n]*kept\.tar: write error: ENOSPC: no space left on device, write\n$/);
    expect(errorLines(r.stderr)).toHaveLength(1);
    expect(readdirSync(fs.dir)).toEqual(['kept.tar']);
    expect(readFileSync(out, 'utf8')).toBe('the previous dump');
  });
});

describe('stdout faults', () => {
  it('ENOSPC: `flux-dump - >/dev/full` fails in one line, exit 1', () => {
    const r = toDevFull(DUMP_CLI, ['-q', '--store', smallStore, '--checkpoint', '-']);
    expect(r.signal).toBeNull();
    expect(r.stderr).toBe('flux-dump: stdout: ENOSPC: no space left on device, write\n');
    expect(r.status).toBe(1);
  });

  it('EPIPE: `flux-dump - | head -c 1000` stops quietly with 141 (128+SIGPIPE)', () => {
    const r = throughHead(DUMP_CLI, ['--store', store, '--checkpoint', '-'], 1000);
    expect(r.status).toBe(141);
    expect(withoutProgress(r.stderr)).toBe(''); // no error line at all...
    expect(r.stderr).toMatch(/keys\n$/); // ...and the progress line is ended
    expect(progressCount(r.stderr)).toBeLessThan(KEYS); // it stopped: it did not dump on into the void
  });

  it('EIO: stdout on a terminal that hangs up mid-dump: one line, exit 1, no crash at exit', () => {
    const r = withHungUpTerminal('stdout', DUMP_CLI, ['--store', smallStore, '--checkpoint', '-'], 100_000);
    expect(r.seen).toBeGreaterThanOrEqual(100_000);
    expect(r.signal).toBeNull(); // Node aborts (SIGABRT) at exit resetting a dead terminal unless we let go of it
    expect(r.status).toBe(1);
    expect(errorLines(r.stderr)).toEqual(['flux-dump: stdout: write EIO']);
    expectNoStackTrace(r.stderr);
  });

  it('EIO on stderr (the operator\'s terminal drops): progress is dropped, the dump completes', () => {
    const dir = freshDir(t.dir, 'eio-stderr');
    const out = join(dir, 'dump.tar');
    const r = withHungUpTerminal('stderr', DUMP_CLI, ['--store', smallStore, '--checkpoint', out], 200);
    expect(r.signal).toBeNull(); // was: SIGSEGV, temporary left behind
    expect(r.status).toBe(0);
    expect(readdirSync(dir)).toEqual(['dump.tar']);
    const list = spawnSync('tar', ['tf', out], { encoding: 'utf8', maxBuffer: 1 << 26 });
    expect(list.status).toBe(0);
    expect(list.stdout.split('\n').filter(Boolean)).toHaveLength(SMALL_KEYS);
  });

  it('SIGHUP after the terminal drops: exit 129, nothing left', () => {
    const dir = freshDir(t.dir, 'hup');
    const out = join(dir, 'dump.tar.gz');
    const r = withHungUpTerminal('stderr', DUMP_CLI, ['--store', store, '--checkpoint', out], 200, 'SIGHUP');
    expect(r.signal).toBeNull();
    expect(r.status).toBe(129);
    expect(readdirSync(dir)).toEqual([]);
  });
});

type Writer = { name: string; ext: string; stdout?: 'pipe' | 'file'; previous?: boolean };
/** Every writer path; `previous`: OUTFILE exists beforehand and must stay as it was. */
const WRITERS: Writer[] = [
  { name: 'tar (plain file)', ext: 'tar' },
  { name: 'cpio (plain file, previous OUTFILE)', ext: 'cpio', previous: true },
  { name: 'tar.gz (worker pool, previous OUTFILE)', ext: 'tar.gz', previous: true },
  { name: 'zip', ext: 'zip' },
  { name: 'iso (written at the end)', ext: 'iso' },
  { name: 'stdout to a pipe', ext: '-', stdout: 'pipe' },
  { name: 'stdout to a file', ext: '-', stdout: 'file' },
];
const PREVIOUS = 'the previous dump';

/**
 * Start a dump, wait until it is mid-run (its temporary exists and progress has passed
 * 1000 keys), send `sig`; returns what it left beside OUTFILE.
 */
async function interrupted(w: Writer, sig: NodeJS.Signals) {
  const dir = freshDir(t.dir, `${sig}-${w.ext}-${w.stdout ?? 'file'}`);
  const name = `dump.${w.ext}`;
  const out = w.ext === '-' ? '-' : join(dir, name);
  if (w.previous) writeFileSync(out, PREVIOUS);
  const stdoutFd = w.stdout === 'file' ? openSync(join(dir, 'stdout.tar'), 'w') : undefined;
  const run = dumpRun(['--store', store, '--checkpoint', out], { stdio: ['ignore', stdoutFd ?? (w.stdout === 'pipe' ? 'pipe' : 'ignore'), 'pipe'] });
  if (stdoutFd !== undefined) closeSync(stdoutFd);
  if (w.ext !== '-') await run.until(() => dumpTemporaries(dir, name).length === 1, 'its temporary appeared');
  await run.progressAtLeast(1000);
  const atSignal = progressCount(run.stderr);
  run.child.kill(sig);
  const r = await run.exited;
  const left = readdirSync(dir).filter((f) => f !== 'stdout.tar');
  return { r, pid: run.child.pid!, dir, out, atSignal, left };
}

/** OUTFILE as it must be after a failed dump: absent, or the previous one untouched. */
function expectOutfileUntouched(w: Writer, dir: string, left: string[]): void {
  if (w.ext === '-') return expect(left).toEqual([]);
  const name = `dump.${w.ext}`;
  if (!w.previous) return expect(left.filter((f) => f === name)).toEqual([]);
  expect(readFileSync(join(dir, name), 'utf8')).toBe(PREVIOUS);
}

const SIGNALS: Record<string, number> = { SIGINT: 2, SIGTERM: 15 };

describe('SIGINT and SIGTERM mid-dump', () => {
  // SIGTERM (systemd's stop) on every writer; SIGINT (the same handler) on the pipe.
  const cases = WRITERS.map((w) => ({ w, sig: w.stdout === 'pipe' ? ('SIGINT' as const) : ('SIGTERM' as const) }));
  it.each(cases)('$sig, $w.name: exit 128+signal, one line, no OUTFILE or temporary, promptly', async ({ w, sig }) => {
    const { r, dir, left, atSignal } = await interrupted(w, sig);
    expect(r.signal).toBeNull();
    expect(r.status).toBe(128 + SIGNALS[sig]!);
    expect(errorLines(r.stderr)).toEqual([`flux-dump: interrupted by ${sig}`]);
    expectNoStackTrace(r.stderr);
    expect(left).toEqual(w.previous ? [`dump.${w.ext}`] : []);
    expectOutfileUntouched(w, dir, left);
    // Promptly: a signal is handled when the event loop turns, and a dump that never
    // lets it turn would finish first (systemd's stop timeout then sends SIGKILL). Counted
    // in keys, not seconds: at most half the store may go by after the signal.
    expect(progressCount(r.stderr) - atSignal).toBeLessThan(KEYS / 2);
  });
});

describe('kill -9 mid-dump', () => {
  it.each([WRITERS[2]!])('$name: only the temporary remains, never a new OUTFILE', async (w) => {
    const { r, pid, left, dir } = await interrupted(w, 'SIGKILL');
    expect(r.signal).toBe('SIGKILL');
    const temps = dumpTemporaries(dir, `dump.${w.ext}`);
    expect(temps).toHaveLength(1);
    expect(temps[0]).toMatch(new RegExp(`^\\.dump\\.${w.ext.replace('.', '\\.')}\\.${pid}\\.[0-9a-z]+\\.tmp$`));
    expect(left.sort()).toEqual([...temps, ...(w.previous ? [`dump.${w.ext}`] : [])].sort());
    expectOutfileUntouched(w, dir, left);
  });

  it('the next dump to that OUTFILE removes the leftover temporary', async () => {
    const w = WRITERS[0]!;
    const { dir, out } = await interrupted(w, 'SIGKILL');
    expect(dumpTemporaries(dir, 'dump.tar')).toHaveLength(1);
    // a live dump's temporary beside it is not touched
    const live = `.dump.tar.${process.pid}.abcdef.tmp`;
    writeFileSync(join(dir, live), '');
    const again = spawnSync(process.execPath, [DUMP_CLI, '-q', '--store', join(SMALL, 'small.sqlite'), '--checkpoint', out], { encoding: 'utf8', env: { ...process.env, FLUX_URI: '' } });
    expect(again.stderr).toBe('');
    expect(again.status).toBe(0);
    expect(readdirSync(dir).sort()).toEqual([live, 'dump.tar']);
    expect(existsSync(out)).toBe(true);
  });
});
