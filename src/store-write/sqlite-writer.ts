/**
 * Writes blobs and checkpoints into a content.sqlite exactly as Flux's content-sqlite
 * module lays them out (flux-formats.md §4): the same CREATE TABLE text, WAL journal,
 * 4096-byte pages, the digest bound as TEXT, blobs of >= 256 bytes as LZ4 blocks with
 * size = uncompressed length, smaller ones raw with size -1.
 *
 * Durability: into an existing database, blobs go in through large transactions with
 * synchronous=NORMAL (no fsync per commit); flush() checkpoints the WAL into the
 * database, which fsyncs both; only then does putCheckpoint() commit the checkpoint row,
 * with synchronous=FULL. A crash at any point leaves the previous checkpoint the newest.
 * A database that does not exist yet is built in a temporary file without a journal
 * (written once instead of twice) and linked into place by flush().
 *
 * Like a running broker, the writer holds the database with locking_mode=EXCLUSIVE, and
 * it refuses (busy timeout 0) a database another process holds.
 */
import { existsSync, linkSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { DIGEST_SIZE, isHashType, parseBlobref, type HashType } from '../blobref.js';
import { FluxError, MissingBlobError } from '../errors.js';
import { formatCheckpoint, parseCheckpoint, type Checkpoint } from '../store/checkpoint.js';
import { lz4 } from '../store/lz4.js';
import { isBusyError, openSqlite, sqliteErrorCode, type SqlDatabase, type SqlStatement, type SqlValue } from './sqlite-binding.js';
import type { WritableContentStore } from '../store/source.js';
import { storeManyWith } from './store-many.js';
import { fsyncPath } from '../util/fs.js';

/** Flux's statements; SQLite keeps this text (minus IF NOT EXISTS) in sqlite_master. */
export const OBJECTS_TABLE_SQL = 'CREATE TABLE IF NOT EXISTS objects(  hash BLOB PRIMARY KEY,  size INT,  object BLOB,  epoch INT DEFAULT 0)';
export const CHECKPOINT_TABLE_SQL = 'CREATE TABLE IF NOT EXISTS checkpt_v2(  id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,  value TEXT)';

/** Blobs at least this long are stored LZ4-compressed (content-sqlite's threshold). */
export const COMPRESS_MIN = 256;
/** Flux keeps this many checkpoints. */
export const CHECKPOINTS_KEPT = 5;
/** Commit the running transaction after this many bytes of objects... */
const TXN_MAX_BYTES = 32 << 20;
/** ...or this many rows, whichever comes first. */
const TXN_MAX_ROWS = 100_000;
/**
 * Page cache: the hash index takes random inserts, so keeping its pages in memory saves
 * a read (and a write-back) per blob once it outgrows the default 2 MiB. 1.6M rows
 * (a 1M-key restore) cost 9.4-10.7 s of CPU with 32 MiB, 9.9-12.4 s with 64 MiB and
 * 11.7-13.4 s with 16 MiB (the misses are system time), and each MiB is resident: 32.
 */
const CACHE_KIB = 32 * 1024;
/** Rows per INSERT statement: one call into SQLite per 16 blobs instead of per blob. */
const ROWS_PER_INSERT = 16;
/** WAL pages between automatic checkpoints (each one fsyncs): 64 MiB instead of 4 MiB. */
const WAL_AUTOCHECKPOINT_PAGES = 16384;

export interface SqliteWriterOptions {
  /** Hash for a new (empty) database; an existing database's own hash wins. */
  hash?: HashType;
  /** Create the file when absent (default true). */
  create?: boolean;
  /** Where to build a new database before it is linked into place (default: newDatabaseTemp). */
  tmpPath?: string;
}

/** The private file a new content.sqlite is built in, next to it (same file system). */
export function newDatabaseTemp(path: string): string {
  return join(dirname(path), `.${basename(path)}.restore-${process.pid}`);
}

/** content-sqlite's `size` column for a blob: its length when stored compressed, else -1. */
export function sqliteSize(blob: Uint8Array): number {
  return blob.length >= COMPRESS_MIN ? blob.length : -1;
}

/** content-sqlite's `object` column: an LZ4 block from 256 bytes on, else the bytes (NULL when empty). */
export function sqliteObject(blob: Uint8Array): Uint8Array | null {
  if (blob.length >= COMPRESS_MIN) return lz4.encode(blob);
  return blob.length === 0 ? null : blob;
}

function insertSql(rows: number): string {
  return 'INSERT OR IGNORE INTO objects (hash, size, object) VALUES ' + Array(rows).fill('(CAST(? AS TEXT), ?, ?)').join(', ');
}

export function sqliteInUseError(path: string): FluxError {
  return new FluxError(
    `${path} is in use by a running Flux instance (database is locked): stop it first, or restore through it with FLUX_URI set and --key`,
    'EBUSY',
  );
}

function sqlError(path: string, err: unknown): FluxError {
  if (err instanceof FluxError) return err;
  if (isBusyError(err)) return sqliteInUseError(path);
  const code = sqliteErrorCode(err);
  const msg = err instanceof Error ? err.message : String(err);
  if (code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT') return new FluxError(`${path}: not a usable content.sqlite: ${msg}`, 'EPROTO');
  return new FluxError(`${path}: ${msg}`, 'EIO');
}

function tableExists(db: SqlDatabase, name: string): boolean {
  return db.prepare("SELECT 1 AS x FROM sqlite_master WHERE type = 'table' AND name = ?").get(name) !== undefined;
}

/** The hash an existing database uses: from a stored digest's length, else its checkpoint. */
function existingHash(db: SqlDatabase, path: string): HashType | undefined {
  const row = db.prepare('SELECT length(CAST(hash AS BLOB)) AS n FROM objects LIMIT 1').get();
  if (row !== undefined) {
    const n = Number(row.n);
    for (const h of ['sha1', 'sha256'] as const) if (DIGEST_SIZE[h] === n) return h;
    throw new FluxError(`${path}: stored digests are ${n} bytes long: neither sha1 nor sha256`, 'EPROTO');
  }
  if (tableExists(db, 'checkpt_v2')) {
    const ck = db.prepare('SELECT value FROM checkpt_v2 ORDER BY id DESC LIMIT 1').get();
    if (ck !== undefined && typeof ck.value === 'string') {
      const hash = parseCheckpoint(ck.value, path).rootref.split('-')[0]!;
      if (isHashType(hash)) return hash;
    }
  }
  return undefined;
}

/** Open `path` for writing with Flux's pragmas and tables; the journal mode is the caller's. */
function openWithTables(path: string, journal: 'WAL' | 'OFF'): SqlDatabase {
  let db: SqlDatabase | undefined;
  try {
    db = openSqlite(path, { create: true, busyTimeoutMs: 0 });
    // Exclusive before the first access: no -shm file, and a broker cannot start on
    // the database while we write it (and we cannot write one a broker holds).
    db.exec('PRAGMA locking_mode=EXCLUSIVE');
    db.exec(`PRAGMA journal_mode=${journal}`);
    db.exec(`PRAGMA synchronous=${journal === 'WAL' ? 'NORMAL' : 'OFF'}`);
    db.exec(`PRAGMA wal_autocheckpoint=${WAL_AUTOCHECKPOINT_PAGES}`);
    db.exec(`PRAGMA cache_size=-${CACHE_KIB}`);
    const d = db;
    d.transaction(() => {
      d.exec(OBJECTS_TABLE_SQL);
      d.exec(CHECKPOINT_TABLE_SQL);
    });
    return d;
  } catch (err) {
    try {
      db?.close();
    } catch {
      /* the open failed; nothing to keep */
    }
    throw sqlError(path, err);
  }
}

export class SqliteWriter implements WritableContentStore {
  readonly location: string;
  readonly hashType: HashType;
  /** True when the database held no objects and no checkpoint before we opened it. */
  readonly createdHash: boolean;
  #db: SqlDatabase | undefined;
  #insert!: SqlStatement;
  #insertMany!: SqlStatement;
  /** Parameters of one multi-row insert, reused. */
  readonly #params: SqlValue[] = [];
  #inTxn = false;
  #txnBytes = 0;
  #txnRows = 0;
  /**
   * A store that did not exist is built in a private temporary file with no journal
   * (nothing to protect yet: a failure just deletes it), then made a WAL database and
   * linked into place by flush(). Flux never sees a half-written content.sqlite.
   */
  #building: string | undefined;

  private constructor(path: string, db: SqlDatabase, hash: HashType, createdHash: boolean, building?: string) {
    this.location = path;
    this.hashType = hash;
    this.createdHash = createdHash;
    this.#building = building;
    this.#use(db);
  }

  #use(db: SqlDatabase): void {
    this.#db = db;
    this.#insert = db.prepare(insertSql(1));
    this.#insertMany = db.prepare(insertSql(ROWS_PER_INSERT));
  }

  /** Open or create `path`, take the exclusive lock and make sure Flux's tables exist. */
  static open(path: string, opts: SqliteWriterOptions = {}): SqliteWriter {
    const create = opts.create ?? true;
    if (!existsSync(path)) {
      if (!create) throw new FluxError(`${path}: No such file or directory`, 'ENOENT');
      const tmp = opts.tmpPath ?? newDatabaseTemp(path);
      rmSync(tmp, { force: true }); // a leftover of this same pid cannot be in use
      return new SqliteWriter(path, openWithTables(tmp, 'OFF'), opts.hash ?? 'sha1', true, tmp);
    }
    const db = openWithTables(path, 'WAL');
    try {
      const found = existingHash(db, path);
      if (found !== undefined) return new SqliteWriter(path, db, found, false);
      return new SqliteWriter(path, db, opts.hash ?? 'sha1', true);
    } catch (err) {
      db.close();
      throw sqlError(path, err);
    }
  }

  /**
   * A new store's temporary file becomes content.sqlite: switched to WAL (as Flux keeps
   * it), closed, fsynced, and linked to its name, which must still be free (a broker
   * that started meanwhile keeps its database); then reopened like an existing store.
   */
  #publish(tmp: string): void {
    const db = this.#handle();
    db.exec('PRAGMA journal_mode=WAL');
    db.close();
    this.#db = undefined;
    fsyncPath(tmp);
    try {
      linkSync(tmp, this.location);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
        throw new FluxError(`${this.location} appeared while restoring (a Flux instance started?); not replacing it`, 'EEXIST');
      }
      throw err;
    } finally {
      rmSync(tmp, { force: true });
    }
    this.#building = undefined;
    fsyncPath(dirname(this.location));
    this.#use(openWithTables(this.location, 'WAL'));
  }

  #handle(): SqlDatabase {
    if (this.#db === undefined) throw new FluxError(`${this.location}: store is closed`, 'EINVAL');
    return this.#db;
  }

  #begin(): void {
    if (!this.#inTxn) {
      this.#handle().exec('BEGIN');
      this.#inTxn = true;
      this.#txnBytes = 0;
      this.#txnRows = 0;
    }
  }

  #commit(): void {
    if (this.#inTxn) {
      this.#inTxn = false;
      this.#handle().exec('COMMIT');
    }
  }

  /**
   * Store blobs whose digests the caller computed (restore hashes in batches). Rows go
   * into the current transaction, committed every few tens of MiB.
   */
  putDigested(digests: Uint8Array, blobs: readonly Uint8Array[]): void {
    const sizes = new Int32Array(blobs.length);
    const objects: (Uint8Array | null)[] = new Array(blobs.length);
    for (let i = 0; i < blobs.length; i++) {
      const blob = blobs[i]!;
      sizes[i] = sqliteSize(blob);
      objects[i] = sqliteObject(blob);
    }
    this.putEncoded(digests, sizes, objects);
  }

  /**
   * Store rows already in content-sqlite's form (sqliteSize/sqliteObject of each blob),
   * e.g. compressed on another thread.
   */
  putEncoded(digests: Uint8Array, sizes: Int32Array, objects: readonly (Uint8Array | null)[]): void {
    const ds = DIGEST_SIZE[this.hashType];
    if (digests.length !== objects.length * ds || sizes.length !== objects.length) {
      throw new FluxError(`${this.location}: ${objects.length} objects but ${digests.length / ds} digests and ${sizes.length} sizes`);
    }
    try {
      this.#begin();
      const params = this.#params;
      params.length = 0;
      for (let i = 0; i < objects.length; i++) {
        const object = objects[i]!;
        params.push(digests.subarray(i * ds, (i + 1) * ds), sizes[i]!, object);
        if (object !== null) this.#txnBytes += object.length;
        if (params.length === ROWS_PER_INSERT * 3) {
          this.#insertMany.run(...params);
          params.length = 0;
        }
      }
      for (let p = 0; p < params.length; p += 3) this.#insert.run(params[p]!, params[p + 1]!, params[p + 2]!);
      params.length = 0;
      this.#txnRows += objects.length;
      if (this.#txnBytes >= TXN_MAX_BYTES || this.#txnRows >= TXN_MAX_ROWS) this.#commit();
    } catch (err) {
      throw sqlError(this.location, err);
    }
  }

  async storeMany(blobs: readonly Uint8Array[]): Promise<string[]> {
    return storeManyWith(this, blobs);
  }

  /** Commit, then make everything durable: every blob so far is on disk after this. */
  async flush(): Promise<void> {
    try {
      this.#commit();
      if (this.#building !== undefined) {
        this.#publish(this.#building);
        return;
      }
      const row = this.#handle().prepare('PRAGMA wal_checkpoint(FULL)').get();
      if (row !== undefined && Number(row.busy) !== 0) throw new FluxError(`${this.location}: WAL checkpoint did not complete`, 'EBUSY');
    } catch (err) {
      throw sqlError(this.location, err);
    }
  }

  /** Append a checkpoint and keep the newest CHECKPOINTS_KEPT. Call after flush(). */
  async putCheckpoint(ckpt: Checkpoint): Promise<void> {
    const db = this.#handle();
    try {
      this.#commit();
      db.exec('PRAGMA synchronous=FULL');
      db.transaction(() => {
        db.prepare('INSERT INTO checkpt_v2 (value) VALUES (?)').run(formatCheckpoint(ckpt));
        db.prepare(`DELETE FROM checkpt_v2 WHERE id NOT IN (SELECT id FROM checkpt_v2 ORDER BY id DESC LIMIT ${CHECKPOINTS_KEPT})`).run();
      });
      db.prepare('PRAGMA wal_checkpoint(TRUNCATE)').get();
      db.exec('PRAGMA synchronous=NORMAL');
    } catch (err) {
      throw sqlError(this.location, err);
    }
  }

  async load(blobref: string): Promise<Uint8Array> {
    const { hash, digest } = parseBlobref(blobref);
    if (hash !== this.hashType) throw new MissingBlobError(`${blobref}: not a ${this.hashType} blobref`);
    const row = this.#handle().prepare('SELECT size, object FROM objects WHERE hash = CAST(? AS TEXT)').get(digest);
    if (row === undefined) throw new MissingBlobError(`${this.location}: missing blob ${blobref}`);
    const size = Number(row.size);
    const object = row.object === null ? new Uint8Array(0) : new Uint8Array(row.object as Uint8Array);
    return size < 0 ? object : lz4.decode(object, size);
  }

  async checkpoints(): Promise<Checkpoint[]> {
    const rows = this.#handle().prepare('SELECT value FROM checkpt_v2 ORDER BY id DESC').all();
    return rows.map((r) => parseCheckpoint(String(r.value), this.location));
  }

  async currentRoot(): Promise<string> {
    throw new FluxError(`${this.location}: an offline store has no running KVS root`, 'ENOSYS');
  }

  /**
   * Close. Without flush() an open transaction is rolled back, and a new store's
   * temporary file is deleted (used on failure).
   */
  async close(): Promise<void> {
    const db = this.#db;
    this.#db = undefined;
    const building = this.#building;
    this.#building = undefined;
    try {
      if (db !== undefined && this.#inTxn && building === undefined) db.exec('ROLLBACK');
    } finally {
      this.#inTxn = false;
      db?.close();
      if (building !== undefined) rmSync(building, { force: true });
    }
  }
}
