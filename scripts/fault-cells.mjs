/**
 * The fault matrix of flux-dump and flux-restore: every output format crossed with the
 * load thread on and off and with each fault a dump can meet, plus restores into a full
 * file system. One cell runs the real CLI against a real fault (a tiny tmpfs, /dev/full,
 * a reader that exits, a signal sent once the run is visibly under way) and checks the
 * one invariant that matters to Flux's shutdown: exit 0 if and only if OUTFILE is
 * complete under its final name, and otherwise one line naming the cause, no OUTFILE
 * (a previous one untouched) and no temporary left.
 *
 * Shared by test/fault-matrix.test.ts (a few runs on a small store, the load thread
 * forced on and off) and scripts/stress-faults.mjs (many runs on a large store).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const DUMP_CLI = join(ROOT, 'dist/cli/flux-dump.js');
export const RESTORE_CLI = join(ROOT, 'dist/cli/flux-restore.js');

/** Output formats by OUTFILE extension; '-' is a tar on stdout. */
export const FORMATS = ['tar', 'tgz', 'tar.gz', 'tar.bz2', 'tar.xz', 'zip', 'cpio', 'iso', '-'];
/** Faults of a dump to a file, and of a dump to stdout. */
export const FILE_FAULTS = ['full-fs', 'sigterm', 'sigkill'];
export const STDOUT_FAULTS = ['dev-full', 'reader-exits', 'sigterm'];
/** Restores into a full file system: a new content.sqlite, an existing one, a new content.files. */
export const RESTORE_FAULTS = ['new-sqlite', 'existing-sqlite', 'new-files'];

const PREVIOUS = 'the previous dump, which a failed dump must leave as it was\n';
/** A run that has not ended by then has hung: that is a wrong outcome too. */
const HANG_MS = 120_000;

/** Every dump cell: { format, loadThread, fault }. */
export function dumpCells() {
  const cells = [];
  for (const format of FORMATS) {
    for (const loadThread of [false, true]) {
      for (const fault of format === '-' ? STDOUT_FAULTS : FILE_FAULTS) cells.push({ format, loadThread, fault });
    }
  }
  return cells;
}

export function cellName(c) {
  return 'format' in c ? `${c.format === '-' ? '-' : '.' + c.format} lt=${c.loadThread ? 1 : 0} ${c.fault}` : `restore ${c.fault}`;
}

/**
 * A workspace for running cells: a `kib` KiB tmpfs (the full file system) and a
 * directory on the ordinary disk. Needs root (mount); throws saying so otherwise. The
 * smaller the tmpfs, the sooner a compressed format meets it (xz writes little for
 * many input bytes).
 */
export function makeWorkspace(parent, kib = 256) {
  const base = mkdtempSync(join(parent, 'faults-'));
  const full = join(base, 'full');
  const disk = join(base, 'disk');
  mkdirSync(full);
  mkdirSync(disk);
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${kib}k,mode=0755`, 'tmpfs', full], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`cannot mount a tmpfs at ${full} (the fault matrix needs root): ${r.stderr || r.error}`);
  return {
    full,
    disk,
    close() {
      spawnSync('umount', [full]);
      rmSync(base, { recursive: true, force: true });
    },
  };
}

function emptyDir(dir) {
  for (const name of readdirSync(dir)) rmSync(join(dir, name), { recursive: true, force: true });
}

/** stderr lines, less flux-dump's progress pieces (absent with -q anyway). */
function errorLines(stderr) {
  const rest = stderr.replace(/\r?[a-z-]+: (archived|restored) \d+ keys( \(\d+ blobs\))?\n?/g, '');
  return rest === '' ? [] : rest.replace(/\n$/, '').split('\n');
}

/** Spawn a CLI; `ready(child, state)` decides when to strike; resolves with how it ended. */
function watch(args, env, { stdout = 'ignore', strike } = {}) {
  return new Promise((resolvePromise) => {
    const child = spawn(process.execPath, args, { stdio: ['ignore', stdout === 'pipe' ? 'pipe' : 'ignore', 'pipe'], env });
    let stderr = '';
    let outBytes = 0;
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s) => (stderr += s));
    if (child.stdout) child.stdout.on('data', (b) => (outBytes += b.length));
    let struck = false;
    const poll = strike
      ? setInterval(() => {
          if (!struck && strike.when({ outBytes })) {
            struck = true;
            child.kill(strike.signal);
          }
        }, 2)
      : null;
    const guard = setTimeout(() => child.kill('SIGKILL'), HANG_MS);
    child.on('close', (status, signal) => {
      if (poll) clearInterval(poll);
      clearTimeout(guard);
      resolvePromise({ status, signal, stderr, struck, hung: signal === 'SIGKILL' && !strike });
    });
  });
}

/** Is `path` a complete archive of its kind? bsdtar reads every format we write. */
function completeArchive(path) {
  const r = spawnSync('bsdtar', ['-tf', path], { encoding: 'utf8', maxBuffer: 1 << 30 });
  return r.status === 0 && r.stdout.length > 0;
}

function temporariesOf(dir, name) {
  return readdirSync(dir).filter((f) => f.startsWith(`.${name}.`) && f.endsWith('.tmp'));
}

/**
 * Run one dump cell against `store`; resolves to { wrong: string | null, missed: boolean }.
 * `wrong` says what was wrong; `missed` is a signal cell whose run ended before the
 * signal could land (then the run's own outcome is checked like any other).
 */
export async function runDumpCell(cell, store, ws) {
  const env = { ...process.env, FLUX_URI: '', FLUXDUMP_LOAD_THREAD: cell.loadThread ? '1' : '0' };
  if (cell.format === '-') return runStdoutCell(cell, store, env);
  const dir = cell.fault === 'full-fs' ? ws.full : ws.disk;
  emptyDir(dir);
  const name = `OUT.${cell.format}`;
  const out = join(dir, name);
  writeFileSync(out, PREVIOUS);
  const args = [DUMP_CLI, '-q', '--store', store, '--checkpoint', out];
  const signal = cell.fault === 'sigterm' ? 'SIGTERM' : cell.fault === 'sigkill' ? 'SIGKILL' : null;
  // Strike once the dump is writing its temporary: mid-run, whatever the format.
  const strike = signal ? { signal, when: () => temporariesOf(dir, name).length > 0 } : undefined;
  const r = await watch(args, env, { strike });
  const left = readdirSync(dir).filter((f) => f !== name);
  const previousKept = existsSync(out) && readFileSync(out, 'utf8') === PREVIOUS;
  const missed = signal !== null && !r.struck;
  if (r.hung) return { wrong: 'hung', missed };
  if (r.status === 0) {
    if (cell.fault === 'full-fs') return { wrong: 'exit 0 on a full file system', missed };
    if (left.length > 0) return { wrong: `exit 0 but left ${left.join(', ')}`, missed };
    if (previousKept || !completeArchive(out)) return { wrong: 'exit 0 without a complete OUTFILE', missed };
    return { wrong: null, missed };
  }
  if (!previousKept) return { wrong: `exit ${r.status ?? r.signal} and the previous OUTFILE changed`, missed };
  if (cell.fault === 'sigkill') {
    // kill -9 runs no handler: only the temporary may remain; the next dump removes it.
    if (r.signal !== 'SIGKILL') return { wrong: `ended by ${r.status ?? r.signal}, expected SIGKILL`, missed };
    if (left.some((f) => !/^\.OUT\..+\.\d+\.[0-9a-z]+\.tmp$/.test(f))) return { wrong: `left ${left.join(', ')}`, missed };
    return { wrong: null, missed };
  }
  if (left.length > 0) return { wrong: `exit ${r.status ?? r.signal} and left ${left.join(', ')}`, missed };
  const lines = errorLines(r.stderr);
  if (lines.length !== 1) return { wrong: `expected one error line, got ${JSON.stringify(r.stderr.slice(0, 300))}`, missed };
  if (cell.fault === 'full-fs') {
    if (r.status !== 1 || lines[0] !== `flux-dump: ${out}: write error: ENOSPC: no space left on device, write`) {
      return { wrong: `exit ${r.status}: ${lines[0]}`, missed };
    }
  } else if (r.status !== 143 || lines[0] !== 'flux-dump: interrupted by SIGTERM') {
    return { wrong: `exit ${r.status ?? r.signal}: ${lines[0]}`, missed };
  }
  return { wrong: null, missed };
}

async function runStdoutCell(cell, store, env) {
  const args = [DUMP_CLI, '-q', '--store', store, '--checkpoint', '-'];
  if (cell.fault === 'dev-full' || cell.fault === 'reader-exits') {
    const sh = cell.fault === 'dev-full' ? '"$@" >/dev/full; echo "status=$?" >&3' : '"$@" | head -c 1000 >/dev/null; echo "status=${PIPESTATUS[0]}" >&3';
    const r = spawnSync('bash', ['-c', sh, 'bash', process.execPath, ...args], { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe', 'pipe'], env, timeout: HANG_MS });
    const status = Number(/status=(\d+)/.exec(String(r.output[3]))?.[1] ?? NaN);
    const lines = errorLines(String(r.stderr));
    if (Number.isNaN(status)) return { wrong: 'hung', missed: false };
    if (cell.fault === 'dev-full') {
      if (status !== 1 || lines.length !== 1 || lines[0] !== 'flux-dump: stdout: ENOSPC: no space left on device, write') {
        return { wrong: `exit ${status}: ${JSON.stringify(String(r.stderr).slice(0, 300))}`, missed: false };
      }
    } else if (status !== 141 || lines.length !== 0) {
      return { wrong: `exit ${status} (141 expected): ${JSON.stringify(String(r.stderr).slice(0, 300))}`, missed: false };
    }
    return { wrong: null, missed: false };
  }
  const r = await watch(args, env, { stdout: 'pipe', strike: { signal: 'SIGTERM', when: ({ outBytes }) => outBytes > 0 } });
  const missed = !r.struck;
  if (r.hung) return { wrong: 'hung', missed };
  if (r.status === 0) return { wrong: missed ? null : 'exit 0 after SIGTERM', missed };
  const lines = errorLines(r.stderr);
  if (r.status !== 143 || lines.length !== 1 || lines[0] !== 'flux-dump: interrupted by SIGTERM') {
    return { wrong: `exit ${r.status ?? r.signal}: ${JSON.stringify(r.stderr.slice(0, 300))}`, missed };
  }
  return { wrong: null, missed };
}

/** The newest checkpoint's rootref of a content.sqlite, read with the sqlite3 CLI. */
function sqliteCheckpoint(path) {
  const r = spawnSync('sqlite3', ['-readonly', path, 'select value from checkpt_v2 order by id desc limit 1'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`sqlite3 ${path}: ${r.stderr}`);
  return r.stdout.trim();
}

/**
 * Run one restore cell: `archive` restored into the full file system. `seed` is a small
 * archive restored first for the existing-store cell (its checkpoint must survive).
 */
export async function runRestoreCell(cell, archive, seed, ws) {
  emptyDir(ws.full);
  const env = { ...process.env, FLUX_URI: '' };
  let target;
  let before = null;
  if (cell.fault === 'new-files') target = join(ws.full, 'content.files');
  else {
    target = join(ws.full, 'state', 'content.sqlite');
    if (cell.fault === 'existing-sqlite') {
      const s = spawnSync(process.execPath, [RESTORE_CLI, '-q', '--checkpoint', '--store', target, seed], { encoding: 'utf8', env });
      if (s.status !== 0) throw new Error(`seeding ${target}: ${s.stderr}`);
      before = sqliteCheckpoint(target);
    }
  }
  const r = await watch([RESTORE_CLI, '-q', '--checkpoint', '--store', target, archive], env);
  if (r.hung) return { wrong: 'hung', missed: false };
  const lines = errorLines(r.stderr);
  if (r.status === 0) return { wrong: 'exit 0 on a full file system', missed: false };
  if (r.status !== 1 || lines.length !== 1 || !/^flux-restore: .*(ENOSPC|database or disk is full)/.test(lines[0])) {
    return { wrong: `exit ${r.status ?? r.signal}: ${JSON.stringify(r.stderr.slice(0, 300))}`, missed: false };
  }
  if (cell.fault === 'new-sqlite') {
    const left = existsSync(dirname(target)) ? readdirSync(dirname(target)) : [];
    if (left.length > 0) return { wrong: `a new store failed and left ${left.join(', ')}`, missed: false };
  } else if (cell.fault === 'existing-sqlite') {
    // SQLite's own -wal/-shm may stay when the disk is too full for its closing
    // checkpoint; they belong to the store (the next open replays them) and the
    // checkpoint read below goes through them.
    const left = readdirSync(dirname(target)).filter((f) => !/^content\.sqlite(-wal|-shm)?$/.test(f));
    if (left.length > 0) return { wrong: `left ${left.join(', ')}`, missed: false };
    const after = sqliteCheckpoint(target);
    if (after !== before) return { wrong: `the checkpoint changed: ${before} -> ${after}`, missed: false };
    const ic = spawnSync('sqlite3', ['-readonly', target, 'pragma integrity_check'], { encoding: 'utf8' });
    if (ic.stdout.trim() !== 'ok') return { wrong: `integrity_check: ${ic.stdout.trim()}`, missed: false };
  } else {
    // Blobs written before the failure may stay (each complete under its own name); no
    // checkpoint that points at them, and no half-written temporary.
    const names = existsSync(target) ? readdirSync(target) : [];
    const bad = names.filter((n) => !/^sha(1|256)-[0-9a-f]+$/.test(n));
    if (bad.length > 0) return { wrong: `content.files holds ${bad.slice(0, 3).join(', ')}`, missed: false };
  }
  return { wrong: null, missed: false };
}
