/**
 * The `node:sqlite` binding (DatabaseSync): built into Deno 2 and Node >= 22.5, absent
 * from Node 20. Its API is close to better-sqlite3's; the differences are bridged here:
 * - no `fileMustExist`: node:sqlite always creates, so a missing file is checked first;
 * - no transaction helper: BEGIN/COMMIT, with SAVEPOINTs when nested (as better-sqlite3);
 * - the busy timeout is set with PRAGMA busy_timeout, which every version honours (the
 *   `timeout` open option is newer than the module and ignored where unknown).
 * The module is fetched synchronously (process.getBuiltinModule, else require) because
 * opening a database is synchronous throughout the store writers.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { SqlDatabase, SqlOpenOptions, SqlValue } from './sqlite-binding.js';

interface NodeStatement {
  run(...p: SqlValue[]): { changes: number | bigint };
  get(...p: SqlValue[]): unknown;
  all(...p: SqlValue[]): unknown[];
}
interface NodeDatabase {
  exec(sql: string): void;
  prepare(sql: string): NodeStatement;
  close(): void;
}
type NodeDatabaseCtor = new (path: string, opts?: { enableForeignKeyConstraints?: boolean }) => NodeDatabase;

let loaded: { ctor: NodeDatabaseCtor } | { error: string } | undefined;

/** DatabaseSync, or why this runtime has none (remembered: one attempt per process). */
export function loadNodeSqlite(): { ctor: NodeDatabaseCtor } | { error: string } {
  if (loaded === undefined) {
    try {
      const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
      const mod = (proc?.getBuiltinModule?.('node:sqlite') ?? createRequire(import.meta.url)('node:sqlite')) as
        | { DatabaseSync?: NodeDatabaseCtor }
        | undefined;
      loaded = typeof mod?.DatabaseSync === 'function' ? { ctor: mod.DatabaseSync } : { error: 'node:sqlite has no DatabaseSync' };
    } catch (err) {
      loaded = { error: (err as Error).message };
    }
  }
  return loaded;
}

/** What better-sqlite3 throws for a missing file with fileMustExist, so callers see one shape. */
function cantOpen(path: string): Error {
  return Object.assign(new Error(`unable to open database file: ${path}`), { code: 'SQLITE_CANTOPEN' });
}

function wrap(db: NodeDatabase): SqlDatabase {
  let depth = 0;
  return {
    exec: (sql) => db.exec(sql),
    prepare(sql) {
      const st = db.prepare(sql);
      return {
        run: (...p) => ({ changes: Number(st.run(...p).changes) }),
        get: (...p) => st.get(...p) as Record<string, unknown> | undefined,
        all: (...p) => st.all(...p) as Record<string, unknown>[],
      };
    },
    transaction<T>(fn: () => T): T {
      const savepoint = depth === 0 ? undefined : `fluxdump_${depth}`;
      db.exec(savepoint ? `SAVEPOINT ${savepoint}` : 'BEGIN');
      depth++;
      try {
        const result = fn();
        db.exec(savepoint ? `RELEASE ${savepoint}` : 'COMMIT');
        return result;
      } catch (err) {
        try {
          db.exec(savepoint ? `ROLLBACK TO ${savepoint}; RELEASE ${savepoint}` : 'ROLLBACK');
        } catch {
          /* SQLite already rolled back (e.g. after SQLITE_FULL): nothing left to undo */
        }
        throw err;
      } finally {
        depth--;
      }
    },
    close: () => db.close(),
  };
}

/** Open with node:sqlite; the caller has checked loadNodeSqlite() succeeded. */
export function openNodeSqlite(ctor: NodeDatabaseCtor, path: string, opts: SqlOpenOptions): SqlDatabase {
  if (!opts.create && !existsSync(path)) throw cantOpen(path);
  const db = new ctor(path, { enableForeignKeyConstraints: false });
  try {
    db.exec(`PRAGMA busy_timeout=${Math.max(0, Math.trunc(opts.busyTimeoutMs ?? 0))}`);
  } catch (err) {
    db.close();
    throw err;
  }
  return wrap(db);
}
