/**
 * The better-sqlite3 binding (Node): a native addon built with nan, so Node only (Deno
 * loads Node-API addons alone). Loaded lazily with require(), so that importing this
 * module never fails where the addon cannot load; openBetterSqlite() reports that.
 */
import { createRequire } from 'node:module';
import type { SqlDatabase, SqlOpenOptions } from './sqlite-binding.js';

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

let loaded: { ctor: BetterCtor } | { error: string } | undefined;

/** The addon's constructor, or why it cannot load here (remembered: one attempt per process). */
export function loadBetterSqlite(): { ctor: BetterCtor } | { error: string } {
  if (loaded === undefined) {
    try {
      loaded = { ctor: createRequire(import.meta.url)('better-sqlite3') as BetterCtor };
    } catch (err) {
      loaded = { error: (err as Error).message };
    }
  }
  return loaded;
}

function wrap(db: BetterDatabase): SqlDatabase {
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

/** Open with better-sqlite3; the caller has checked loadBetterSqlite() succeeded. */
export function openBetterSqlite(ctor: BetterCtor, path: string, opts: SqlOpenOptions): SqlDatabase {
  return wrap(new ctor(path, { fileMustExist: !opts.create, timeout: opts.busyTimeoutMs ?? 0 }));
}
