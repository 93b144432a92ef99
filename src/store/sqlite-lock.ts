/**
 * Is a content.sqlite held by a running Flux? A running broker keeps it in WAL mode with
 * locking_mode=EXCLUSIVE, so nobody else can even take a shared lock. We ask SQLite
 * itself (through better-sqlite3 when it loads) without creating any file: a read-only
 * connection in exclusive locking mode first takes the shared lock (SQLITE_BUSY when a
 * broker holds the database) and then fails harmlessly trying to upgrade it on a
 * read-only descriptor, before any -wal/-shm is opened. POSIX locks are invisible to
 * Node and Deno otherwise.
 */
import { FluxError } from '../errors.js';

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

export async function probeSqliteLock(path: string): Promise<void> {
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
