/**
 * Fault injection for the reliability suites: real faults, not mocks. A full file system
 * is a tiny tmpfs (we run as root), a full device is /dev/full, a closed pipe is
 * `head -c`, an I/O error is a pseudo-terminal whose other side hung up (the kernel
 * answers writes with EIO), and signals are sent once the CLI has shown that it is
 * mid-run (its temporary exists, its progress has passed a count), never after a sleep.
 */
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { DUMP_CLI, ROOT } from './paths.js';

/** Kill a child that has not finished by then: a hang fails the test instead of stalling it. */
export const HANG_GUARD_MS = 30_000;

export function sha256File(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/**
 * A job-shaped content.sqlite made by scripts/gen-store.mjs, in `dir` (one per test
 * file, so it is made once per run). 3000 jobs: 21004 keys, a 26 MB tar, a dump of a
 * second or more, long enough for a signal to land in the middle. The flat shape: these
 * tests are about faults, not store shapes, and it is made in a tenth of the time.
 */
export function generatedStore(dir: string, jobs = 3000): string {
  const out = join(dir, `gen-${jobs}`, 'content.sqlite');
  if (existsSync(out)) return out;
  const r = spawnSync(process.execPath, [join(ROOT, 'scripts/gen-store.mjs'), '--shape', 'flat', '--jobs', String(jobs), '--out', out], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`gen-store failed: ${r.stderr}`);
  return out;
}

/**
 * stderr without flux-core's progress (`\rprog: archived N keys` pieces, the final count
 * line). What is left is what the user is told besides progress: the error lines.
 */
export function withoutProgress(stderr: string): string {
  return stderr.replace(/\r?[a-z-]+: (archived|restored) \d+ keys( \(\d+ blobs\))?\n?/g, '');
}

/** The highest key count a progress line reported. */
export function progressCount(stderr: string): number {
  let max = 0;
  for (const m of stderr.matchAll(/(archived|restored) (\d+) keys/g)) max = Math.max(max, Number(m[2]));
  return max;
}

/** Every line (after progress is removed) is one `prog: ...` line; no stack trace, no JS internals. */
export function errorLines(stderr: string): string[] {
  const rest = withoutProgress(stderr);
  return rest === '' ? [] : rest.replace(/\n$/, '').split('\n');
}

export interface Exit {
  status: number | null;
  signal: NodeJS.Signals | null;
  stderr: string;
  stdout: Buffer;
}

/** A CLI run we can watch and interrupt. */
export class Running {
  readonly child: ChildProcess;
  stderr = '';
  readonly #stdout: Buffer[] = [];
  readonly exited: Promise<Exit>;
  #waiters: Array<() => void> = [];

  constructor(cli: string, args: string[], opts: SpawnOptions = {}) {
    this.child = spawn(process.execPath, [cli, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      ...opts,
      env: { ...process.env, FLUX_URI: '', ...opts.env },
    });
    this.child.stderr?.setEncoding('utf8');
    this.child.stderr?.on('data', (s: string) => {
      this.stderr += s;
      this.#poke();
    });
    this.child.stdout?.on('data', (b: Buffer) => this.#stdout.push(b));
    const guard = setTimeout(() => this.child.kill('SIGKILL'), HANG_GUARD_MS);
    this.exited = new Promise((resolve) => {
      this.child.on('close', (status, signal) => {
        clearTimeout(guard);
        this.#poke();
        resolve({ status, signal, stderr: this.stderr, stdout: Buffer.concat(this.#stdout) });
      });
    });
  }

  #poke(): void {
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }

  /**
   * Resolve once `ready()` holds, checked at each stderr write and every 10 ms (files
   * appear without a word on stderr); reject if the process ends first.
   */
  async until(ready: () => boolean, what: string): Promise<void> {
    let done = false;
    void this.exited.then(() => (done = true));
    while (!ready()) {
      if (done) throw new Error(`exited before ${what}; stderr: ${this.stderr.slice(-300)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 10);
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Wait until progress on stderr has reached `n` keys. */
  progressAtLeast(n: number): Promise<void> {
    return this.until(() => progressCount(this.stderr) >= n, `progress reached ${n} keys`);
  }
}

export function dumpRun(args: string[], opts: SpawnOptions = {}): Running {
  return new Running(DUMP_CLI, args, opts);
}

/** Files in `dir` named like the dump temporary for `name` (`.NAME.PID.RAND.tmp`). */
export function dumpTemporaries(dir: string, name: string): string[] {
  return readdirSync(dir).filter((f) => f.startsWith(`.${name}.`) && f.endsWith('.tmp'));
}

/**
 * Mount a tmpfs of `kib` KiB at a new directory under `parent`. Fails, saying why, when
 * mounting is impossible (not root, no CAP_SYS_ADMIN): a real full file system is the
 * point of the test, so there is no silent fallback.
 */
export function mountTmpfs(parent: string, kib: number): { dir: string; unmount: () => void } {
  const dir = mkdtempSync(join(parent, 'tmpfs-'));
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${kib}k,mode=0755`, 'tmpfs', dir], { encoding: 'utf8' });
  if (r.status !== 0) {
    throw new Error(`cannot mount a ${kib} KiB tmpfs at ${dir} (these tests need root with CAP_SYS_ADMIN): ${r.stderr || r.error}`);
  }
  return {
    dir,
    unmount: () => {
      spawnSync('umount', [dir]);
      rmdirSync(dir);
    },
  };
}

/** Run `args` (node CLI) with stdout into a pipe that `head -c bytes` closes early. */
export function throughHead(cli: string, args: string[], bytes: number): { status: number | null; stderr: string } {
  const script = `"$@" | head -c ${bytes} >/dev/null; echo "status=\${PIPESTATUS[0]}" >&3`;
  const r = spawnSync('bash', ['-c', script, 'bash', process.execPath, cli, ...args], {
    encoding: 'utf8',
    stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
    env: { ...process.env, FLUX_URI: '' },
    timeout: HANG_GUARD_MS,
  });
  const status = /status=(\d+)/.exec(String(r.output[3]))?.[1];
  return { status: status === undefined ? null : Number(status), stderr: String(r.stderr) };
}

/** Run with stdout on /dev/full: every write fails with ENOSPC. */
export function toDevFull(cli: string, args: string[]): { status: number | null; signal: string | null; stderr: string } {
  const r = spawnSync('bash', ['-c', '"$@" >/dev/full', 'bash', process.execPath, cli, ...args], {
    encoding: 'utf8',
    env: { ...process.env, FLUX_URI: '' },
    timeout: HANG_GUARD_MS,
  });
  return { status: r.status, signal: r.signal, stderr: r.stderr };
}

/**
 * Run a CLI with one of its stdio streams on a pseudo-terminal, then hang the terminal
 * up (close the master side) once `bytes` have come through: every later write to it
 * fails with EIO, as on a dropped ssh session. `then` is sent as a signal after the
 * hangup, if given (the SIGHUP a session leader's children would get).
 */
export function withHungUpTerminal(
  which: 'stdout' | 'stderr',
  cli: string,
  args: string[],
  bytes: number,
  then?: NodeJS.Signals,
): { status: number | null; signal: string | null; stderr: string; seen: number } {
  const py = `
import json, os, pty, signal, subprocess, sys, tty
which, want, sig = sys.argv[1], int(sys.argv[2]), sys.argv[3]
master, slave = pty.openpty()
tty.setraw(slave)
child = subprocess.Popen(sys.argv[4:], stdin=subprocess.DEVNULL,
    stdout=slave if which == 'stdout' else subprocess.DEVNULL,
    stderr=slave if which == 'stderr' else subprocess.PIPE)
os.close(slave)
seen = 0
while seen < want:
    try:
        b = os.read(master, 65536)
    except OSError:
        break
    if not b:
        break
    seen += len(b)
os.close(master)
if sig != '-':
    child.send_signal(getattr(signal, sig))
err = child.stderr.read().decode() if which == 'stdout' else ''
rc = child.wait()
print(json.dumps({"status": rc if rc >= 0 else None, "signal": None if rc >= 0 else signal.Signals(-rc).name, "stderr": err, "seen": seen}))
`;
  const r = spawnSync('python3', ['-c', py, which, String(bytes), then ?? '-', process.execPath, cli, ...args], {
    encoding: 'utf8',
    env: { ...process.env, FLUX_URI: '' },
    timeout: HANG_GUARD_MS,
  });
  if (r.status !== 0) throw new Error(`pty harness failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as { status: number | null; signal: string | null; stderr: string; seen: number };
}

/** A fresh empty directory under `parent`. */
export function freshDir(parent: string, name: string): string {
  const d = join(parent, name);
  mkdirSync(d, { recursive: true });
  return d;
}
