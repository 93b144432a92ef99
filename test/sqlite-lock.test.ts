/**
 * The in-use probe of an offline content.sqlite reads /proc/locks (no SQLite addon to
 * load): a broker's exclusive lock keeps readers out, a reader's shared lock does not.
 * The locks are real ones, taken by SQLite in another process.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { copyFileSync, existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { lockedPerProc, probeSqliteLock } from '../src/store/sqlite-lock.js';
import { ROOT, tempDir } from './helpers/paths.js';

const t = tempDir('sqlite-lock-');
afterAll(() => t.cleanup());
let n = 0;
function copy(): string {
  const path = join(t.dir, `${n++}.sqlite`);
  copyFileSync(join(ROOT, 'sample/content.sqlite'), path);
  return path;
}

/** SQLite in python3 holding `path` with the statements given until stdin closes. */
async function hold(path: string, statements: string[]): Promise<ChildProcess> {
  const holder = spawn('python3', ['-c', ['import sqlite3,sys', `c=sqlite3.connect(${JSON.stringify(path)}, isolation_level=None)`, ...statements, "print('held', flush=True); sys.stdin.read()"].join('\n')], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  await new Promise<void>((res, rej) => {
    holder.stdout!.once('data', () => res());
    holder.once('exit', (code) => rej(new Error(`python3 exited (${code}) before holding ${path}`)));
  });
  return holder;
}

function release(holder: ChildProcess): void {
  holder.stdin!.end();
  holder.kill();
}

/** The id /proc/locks gives the file: MAJOR:MINOR (hex) and the inode. */
function procId(path: string): string {
  const st = statSync(path, { bigint: true });
  const major = ((st.dev >> 8n) & 0xfffn) | ((st.dev >> 32n) & ~0xfffn);
  const minor = (st.dev & 0xffn) | ((st.dev >> 12n) & ~0xffn);
  return `${major.toString(16).padStart(2, '0')}:${minor.toString(16).padStart(2, '0')}:${st.ino}`;
}

describe('lock probe through /proc/locks', () => {
  it('is what this machine provides (the probe would otherwise load the SQLite addon)', () => {
    expect(existsSync('/proc/locks')).toBe(true);
    expect(lockedPerProc(copy())).toBe(false);
  });

  it("sees a broker's hold (WAL, exclusive locking, after a write) and refuses at once", async () => {
    const path = copy();
    const holder = await hold(path, [
      "c.execute('pragma locking_mode=EXCLUSIVE')",
      "c.execute('pragma journal_mode=WAL')",
      "c.execute('begin immediate'); c.execute(\"insert into checkpt_v2(value) values('x')\"); c.execute('commit')",
    ]);
    try {
      expect(lockedPerProc(path)).toBe(true);
      await expect(probeSqliteLock(path)).rejects.toThrow(/in use by a running Flux instance/);
    } finally {
      release(holder);
    }
  });

  it("lets a reader's shared lock be (SQLite would let us read too)", async () => {
    const path = copy();
    // an open read transaction keeps its SHARED lock until it ends
    const holder = await hold(path, ["c.execute('begin')", "c.execute('select count(*) from objects').fetchall()"]);
    try {
      expect(readFileSync('/proc/locks', 'latin1')).toMatch(new RegExp(`READ +\\d+ ${procId(path)} `)); // the lock is there
      expect(lockedPerProc(path)).toBe(false);
      await expect(probeSqliteLock(path)).resolves.toBeUndefined();
    } finally {
      release(holder);
    }
  });

  it('reads the lines as the kernel writes them', () => {
    const path = copy();
    const id = procId(path);
    const other = process.pid + 1;
    // a write lock on the SHARED range, to EOF, and on the PENDING byte: busy
    expect(lockedPerProc(path, `1: POSIX  ADVISORY  WRITE ${other} ${id} 1073741826 1073742335\n`)).toBe(true);
    expect(lockedPerProc(path, `1: POSIX  ADVISORY  WRITE ${other} ${id} 0 EOF\n`)).toBe(true);
    expect(lockedPerProc(path, `1: POSIX  ADVISORY  WRITE ${other} ${id} 1073741824 1073741824\n`)).toBe(true);
    // RESERVED alone, read locks, our own locks, blocked waiters, other files: not busy
    expect(lockedPerProc(path, `1: POSIX  ADVISORY  WRITE ${other} ${id} 1073741825 1073741825\n`)).toBe(false);
    expect(lockedPerProc(path, `1: POSIX  ADVISORY  READ ${other} ${id} 1073741826 1073742335\n`)).toBe(false);
    expect(lockedPerProc(path, `1: POSIX  ADVISORY  WRITE ${process.pid} ${id} 1073741826 1073742335\n`)).toBe(false);
    expect(lockedPerProc(path, `1: -> POSIX  ADVISORY  WRITE ${other} ${id} 1073741826 1073742335\n`)).toBe(false);
    expect(lockedPerProc(path, `1: POSIX  ADVISORY  WRITE ${other} ${id}9 1073741826 1073742335\n`)).toBe(false);
  });
});
