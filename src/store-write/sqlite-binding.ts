/**
 * The few SQLite calls the store writers make, behind one small interface so the binding
 * can be swapped per runtime: better-sqlite3 in Node (a native addon built with nan),
 * `node:sqlite` DatabaseSync in Deno (which loads only Node-API addons) and, as a
 * fallback, in a Node >= 22.5 where the addon does not load. Node 20 has no node:sqlite.
 * The choice is made on first open and kept. Parameters are positional; Uint8Array binds
 * as a BLOB, string as TEXT.
 */
import { FluxError } from '../errors.js';
import { isDeno } from '../runtime.js';
import { loadBetterSqlite, openBetterSqlite } from './sqlite-binding-better.js';
import { loadNodeSqlite, openNodeSqlite } from './sqlite-binding-node.js';

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

export type SqliteBindingName = 'better-sqlite3' | 'node:sqlite';

type Opener = (path: string, opts: SqlOpenOptions) => SqlDatabase;

/**
 * Bindings to try, best first. Deno never tries better-sqlite3: its nan addon cannot load
 * there, and the attempt costs a dlopen. Node prefers the addon (the measured, pinned one).
 */
export function bindingPreference(deno = isDeno()): SqliteBindingName[] {
  return deno ? ['node:sqlite'] : ['better-sqlite3', 'node:sqlite'];
}

function tryBinding(name: SqliteBindingName): Opener | string {
  if (name === 'better-sqlite3') {
    const b = loadBetterSqlite();
    return 'ctor' in b ? (path, opts) => openBetterSqlite(b.ctor, path, opts) : b.error;
  }
  const n = loadNodeSqlite();
  return 'ctor' in n ? (path, opts) => openNodeSqlite(n.ctor, path, opts) : n.error;
}

let chosen: { name: SqliteBindingName; open: Opener } | undefined;

function choose(): { name: SqliteBindingName; open: Opener } {
  if (chosen !== undefined) return chosen;
  const why: string[] = [];
  for (const name of bindingPreference()) {
    const b = tryBinding(name);
    if (typeof b !== 'string') return (chosen = { name, open: b });
    why.push(`${name}: ${b}`);
  }
  throw new FluxError(`cannot load a SQLite binding (${why.join('; ')})`, 'ENOSYS');
}

/** The binding openSqlite uses in this process (loads it on first call). */
export function sqliteBinding(): SqliteBindingName {
  return choose().name;
}

/** Open (or create) a database file with the runtime's binding. */
export function openSqlite(path: string, opts: SqlOpenOptions): SqlDatabase {
  return choose().open(path, opts);
}

/** Open with one named binding (tests compare the two where both load). */
export function openSqliteWith(name: SqliteBindingName, path: string, opts: SqlOpenOptions): SqlDatabase {
  const b = tryBinding(name);
  if (typeof b === 'string') throw new FluxError(`cannot load the SQLite binding ${name}: ${b}`, 'ENOSYS');
  return b(path, opts);
}

/**
 * The SQLite result code name of a binding error (`SQLITE_BUSY`, ...), or undefined.
 * better-sqlite3 puts it in `code`; node:sqlite puts the number in `errcode`, except that
 * Deno's sets `errcode` only for some errors (busy, yes; not-a-database, no), so its
 * errors are also recognised by SQLite's own message for the code (sqlite3_errstr).
 */
export function sqliteErrorCode(err: unknown): string | undefined {
  const e = err as { code?: unknown; errcode?: unknown; message?: unknown };
  if (typeof e?.code === 'string' && e.code.startsWith('SQLITE_')) return e.code;
  if (typeof e?.errcode === 'number') {
    const primary = e.errcode & 0xff;
    return PRIMARY_CODES[primary] ?? `SQLITE_ERROR_${e.errcode}`;
  }
  if (e?.code === NODE_SQLITE_ERROR && typeof e.message === 'string') {
    const msg = e.message;
    return ERRSTR_CODES.find(([text]) => msg.startsWith(text))?.[1];
  }
  return undefined;
}

/** The `code` node:sqlite gives every error it throws (in Node and in Deno). */
const NODE_SQLITE_ERROR = 'ERR_SQLITE_ERROR';

const PRIMARY_CODES: Record<number, string> = { 5: 'SQLITE_BUSY', 6: 'SQLITE_LOCKED', 8: 'SQLITE_READONLY', 10: 'SQLITE_IOERR', 11: 'SQLITE_CORRUPT', 13: 'SQLITE_FULL', 14: 'SQLITE_CANTOPEN', 26: 'SQLITE_NOTADB' };

/** sqlite3_errstr() of the codes above: the message node:sqlite starts with when it omits errcode. */
const ERRSTR_CODES: readonly (readonly [string, string])[] = [
  ['database is locked', 'SQLITE_BUSY'],
  ['database table is locked', 'SQLITE_LOCKED'],
  ['attempt to write a readonly database', 'SQLITE_READONLY'],
  ['disk I/O error', 'SQLITE_IOERR'],
  ['database disk image is malformed', 'SQLITE_CORRUPT'],
  ['database or disk is full', 'SQLITE_FULL'],
  ['unable to open database file', 'SQLITE_CANTOPEN'],
  ['file is not a database', 'SQLITE_NOTADB'],
];

/** Another process holds the database (a running Flux broker, another restore). */
export function isBusyError(err: unknown): boolean {
  const code = sqliteErrorCode(err) ?? '';
  return code === 'SQLITE_BUSY' || code.startsWith('SQLITE_BUSY_') || code === 'SQLITE_LOCKED' || code.startsWith('SQLITE_LOCKED_');
}
