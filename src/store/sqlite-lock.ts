/**
 * Is a content.sqlite held by a running Flux? A running broker keeps it in WAL mode with
 * locking_mode=EXCLUSIVE, so nobody else can even take a shared lock.
 *
 * On Linux the kernel lists every POSIX lock in /proc/locks: the database is busy when
 * another process holds a write lock on its PENDING byte or SHARED range (the locks
 * SQLite's EXCLUSIVE and PENDING states take; a reader's SHARED lock or a RESERVED one
 * does not stop a reader). Reading that file costs well under a millisecond; loading
 * the SQLite addon to ask, tens of milliseconds of a small store's whole dump.
 *
 * Elsewhere we ask SQLite itself (through better-sqlite3 when it loads) without creating
 * any file: a read-only connection in exclusive locking mode first takes the shared lock
 * (SQLITE_BUSY when a broker holds the database) and then fails harmlessly trying to
 * upgrade it on a read-only descriptor, before any -wal/-shm is opened. POSIX locks are
 * invisible to Node and Deno otherwise.
 */
import { readFileSync, statSync } from 'node:fs';
import { FluxError } from '../errors.js';

/** SQLite's lock bytes (os_unix.c): PENDING, RESERVED, then the SHARED range. */
const PENDING_BYTE = 0x40000000;
const RESERVED_BYTE = PENDING_BYTE + 1;
const SHARED_LAST = PENDING_BYTE + 2 + 510 - 1;

type ProbeDb = { pragma(s: string): unknown; prepare(s: string): { get(): unknown }; close(): void };
type ProbeCtor = new (path: string, opts: { readonly: boolean; fileMustExist: boolean; timeout: number }) => ProbeDb;

let binding: ProbeCtor | null | undefined;

async function loadBinding(): Promise<ProbeCtor | null> {
  if (binding === undefined) {
    try {
      binding = (await import('better-sqlite3')).default as unknown as ProbeCtor;
    } catch {
      binding = null; // e.g. Deno: no Node-API addon; the probe is skipped
    }
  }
  return binding;
}

export function inUseError(path: string): FluxError {
  return new FluxError(
    `${path} is in use by a running Flux instance: dump it through the broker instead (set FLUX_URI=local://.../local, or run under \`flux proxy\`)`,
    'EBUSY',
  );
}

/**
 * From /proc/locks: true if another process holds a write lock that keeps readers out
 * of the database at `path`, false if none does, undefined if the kernel does not say
 * (not Linux, /proc not mounted).
 */
export function lockedPerProc(path: string, locks?: string): boolean | undefined {
  let text = locks;
  if (text === undefined) {
    try {
      text = readFileSync('/proc/locks', 'latin1');
    } catch {
      return undefined;
    }
  }
  let st;
  try {
    st = statSync(path, { bigint: true });
  } catch {
    return false; // no file: the reader reports it
  }
  // glibc's dev_t layout; the kernel prints MAJOR:MINOR in hex, then the inode.
  const dev = st.dev;
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn);
  const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn);
  const id = `${major.toString(16).padStart(2, '0')}:${minor.toString(16).padStart(2, '0')}:${st.ino}`;
  const self = typeof process !== 'undefined' ? String(process.pid) : '';
  for (const line of text.split('\n')) {
    if (!line.includes(id)) continue;
    // "1: POSIX  ADVISORY  WRITE 2903 fe:00:2179122 1073741826 1073742335"; blocked
    // waiters ("1: -> POSIX ...") hold nothing.
    const f = line.trim().split(/\s+/);
    if (f[1] === '->' || f[3] !== 'WRITE' || f[5] !== id || f[4] === self) continue;
    const start = Number(f[6]);
    const end = f[7] === 'EOF' ? Infinity : Number(f[7]);
    if (start <= SHARED_LAST && end >= PENDING_BYTE && !(start === RESERVED_BYTE && end === RESERVED_BYTE)) return true;
  }
  return false;
}

export async function probeSqliteLock(path: string): Promise<void> {
  const proc = lockedPerProc(path);
  if (proc === true) throw inUseError(path);
  if (proc === false) return;
  const Database = await loadBinding();
  if (!Database) return;
  let db: ProbeDb | undefined;
  try {
    db = new Database(path, { readonly: true, fileMustExist: true, timeout: 0 });
    db.pragma('locking_mode=EXCLUSIVE');
    db.prepare('SELECT 1 FROM sqlite_master LIMIT 1').get();
  } catch (err) {
    const code = (err as { code?: string }).code ?? '';
    if (code === 'SQLITE_BUSY' || code.startsWith('SQLITE_BUSY_') || code === 'SQLITE_LOCKED') throw inUseError(path);
    // anything else (the harmless upgrade failure, a garbage file) is left to our reader
  } finally {
    try {
      db?.close();
    } catch {
      /* closing a failed probe cannot matter */
    }
  }
}
