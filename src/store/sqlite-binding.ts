/**
 * The few SQLite calls the store writers make, behind one small interface so the binding
 * can be swapped per runtime: better-sqlite3 in Node (a native addon, loaded lazily so
 * this module still imports where it cannot load), `node:sqlite` DatabaseSync in Deno
 * later. Parameters are positional; Uint8Array binds as a BLOB, string as TEXT.
 */
import { createRequire } from 'node:module';
import { FluxError } from '../errors.js';

export type SqlValue = null | number | bigint | string | Uint8Array;

export interface SqlStatement {
  run(...params: SqlValue[]): { changes: number };
  get(...params: SqlValue[]): Record<string, unknown> | undefined;
  all(...params: SqlValue[]): Record<string, unknown>[];
}

export interface SqlDatabase {
  exec(sql: string): void;
  prepare(sql: string): SqlStatement;
  /** Run fn inside BEGIN ... COMMIT (ROLLBACK when it throws). */
  transaction<T>(fn: () => T): T;
  close(): void;
}

export interface SqlOpenOptions {
  /** Create the file when it does not exist (otherwise a missing file is an error). */
  create: boolean;
  /** Milliseconds to wait for another connection's lock; 0 fails at once (SQLITE_BUSY). */
  busyTimeoutMs?: number;
}

interface BetterStatement {
  run(...p: unknown[]): { changes: number };
  get(...p: unknown[]): unknown;
  all(...p: unknown[]): unknown[];
}
interface BetterDatabase {
  exec(sql: string): void;
  prepare(sql: string): BetterStatement;
  transaction<F extends (...a: never[]) => unknown>(fn: F): F;
  close(): void;
}
type BetterCtor = new (path: string, opts: { fileMustExist: boolean; timeout: number }) => BetterDatabase;

let betterSqlite: BetterCtor | undefined;

function loadBetterSqlite(): BetterCtor {
  if (betterSqlite === undefined) {
    try {
      betterSqlite = createRequire(import.meta.url)('better-sqlite3') as BetterCtor;
    } catch (err) {
      throw new FluxError(`cannot load the SQLite binding (better-sqlite3): ${(err as Error).message}`, 'ENOSYS');
    }
  }
  return betterSqlite;
}

function wrapBetter(db: BetterDatabase): SqlDatabase {
  return {
    exec: (sql) => db.exec(sql),
    prepare(sql) {
      const st = db.prepare(sql);
      return {
        run: (...p) => st.run(...p),
        get: (...p) => st.get(...p) as Record<string, unknown> | undefined,
        all: (...p) => st.all(...p) as Record<string, unknown>[],
      };
    },
    transaction: <T>(fn: () => T): T => db.transaction(fn)(),
    close: () => db.close(),
  };
}

/** Open (or create) a database file with the runtime's binding. */
export function openSqlite(path: string, opts: SqlOpenOptions): SqlDatabase {
  const Database = loadBetterSqlite();
  return wrapBetter(new Database(path, { fileMustExist: !opts.create, timeout: opts.busyTimeoutMs ?? 0 }));
}

/**
 * The SQLite result code name of a binding error (`SQLITE_BUSY`, ...), or undefined.
 * better-sqlite3 puts it in `code`; node:sqlite puts the number in `errcode`.
 */
export function sqliteErrorCode(err: unknown): string | undefined {
  const e = err as { code?: unknown; errcode?: unknown };
  if (typeof e?.code === 'string' && e.code.startsWith('SQLITE_')) return e.code;
  if (typeof e?.errcode === 'number') {
    const primary = e.errcode & 0xff;
    return PRIMARY_CODES[primary] ?? `SQLITE_ERROR_${e.errcode}`;
  }
  return undefined;
}

const PRIMARY_CODES: Record<number, string> = { 5: 'SQLITE_BUSY', 6: 'SQLITE_LOCKED', 8: 'SQLITE_READONLY', 10: 'SQLITE_IOERR', 11: 'SQLITE_CORRUPT', 13: 'SQLITE_FULL', 14: 'SQLITE_CANTOPEN', 26: 'SQLITE_NOTADB' };

/** Another process holds the database (a running Flux broker, another restore). */
export function isBusyError(err: unknown): boolean {
  const code = sqliteErrorCode(err) ?? '';
  return code === 'SQLITE_BUSY' || code.startsWith('SQLITE_BUSY_') || code === 'SQLITE_LOCKED' || code.startsWith('SQLITE_LOCKED_');
}
