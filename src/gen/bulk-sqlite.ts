/**
 * Builds a new content.sqlite for the generator, fast at millions of objects.
 *
 * Flux's table is `objects(hash BLOB PRIMARY KEY, ...)`: every insert also goes into the
 * hash index at a random place, and once that index outgrows the page cache (a few
 * million objects) each insert costs page misses: measured at 4M rows, 3x the CPU of
 * appending to a table without it, and falling to 40k rows/s at 8M rows (64 MiB cache).
 * So the rows are appended in generation order (tree order, as a restore writes them)
 * to a table without the constraint, the index is built once at the end by SQLite's
 * sorter, and the schema rows are then rewritten to exactly what Flux's CREATE TABLE
 * makes: the table's text, and an index named `sqlite_autoindex_objects_1` with no text.
 * The b-tree of `CREATE INDEX ... ON objects(hash)` holds the same (hash, rowid) records
 * as the implicit unique index, so SQLite, our reader and Flux see a native database
 * (`PRAGMA integrity_check` checks the index and its uniqueness).
 *
 * Uniqueness: the caller drops most repeats (BlobWriter's recent-digest cache); any
 * that remain are deleted after the index build, before it becomes the unique index.
 * Memory stays flat: a 16 MiB page cache (8 MiB for the sorter), one pending
 * multi-row insert.
 */
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { formatCheckpoint, type Checkpoint } from '../store/checkpoint.js';
import { lz4 } from '../store/lz4.js';

/** Flux's CREATE TABLE text for the objects table (kept verbatim in sqlite_master). */
export const FLUX_OBJECTS_SQL = 'CREATE TABLE objects(  hash BLOB PRIMARY KEY,  size INT,  object BLOB,  epoch INT DEFAULT 0)';
export const FLUX_CHECKPOINT_SQL = 'CREATE TABLE checkpt_v2(  id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,  value TEXT)';
/** The same table without the constraint, while rows are appended. */
const BUILD_OBJECTS_SQL = 'CREATE TABLE objects(  hash BLOB,  size INT,  object BLOB,  epoch INT DEFAULT 0)';
/** SQLite's name for the implicit index of the table's first PRIMARY KEY/UNIQUE. */
export const OBJECTS_AUTOINDEX = 'sqlite_autoindex_objects_1';
const BUILD_INDEX = 'gen_objects_hash';

/** Blobs of at least this many bytes are stored LZ4-compressed (content-sqlite's rule). */
export const LZ4_THRESHOLD = 256;
/** Rows per INSERT statement: one call into SQLite per 32 rows. */
const ROWS_PER_INSERT = 32;
/** Commit after about this many bytes of objects (with no journal, a commit just writes pages). */
const TXN_BYTES = 64 << 20;
/** Page cache while rows are appended (KiB): pages are written once, in order. */
const CACHE_KIB = 16 * 1024;
/**
 * Page cache during the index build (KiB), which is also the sorter's memory budget:
 * measured on 7.2M rows, 8 MiB builds as fast as 32 MiB with 50 MiB less peak RSS.
 */
const INDEX_CACHE_KIB = 8 * 1024;

export interface RowStats {
  /** Rows in the objects table at the end. */
  rows: number;
  /** Repeats deleted after the index build (the caller's cache missed them). */
  lateDuplicates: number;
  /** Milliseconds spent in finish(): building the index, and all of it. */
  indexMs: number;
  finishMs: number;
}

/** Where rows go: this thread's SqliteRows, or one in a worker (row-worker.ts). */
export interface RowSink {
  /**
   * One object: its digest and its uncompressed bytes. Both may be read until finish():
   * pass views of memory that is not rewritten (slabs, transferred batches).
   */
  add(digest: Uint8Array, blob: Uint8Array): void;
  finish(ckpt: Checkpoint | readonly Checkpoint[]): RowStats;
  abort(): void;
}

/** Appends rows to a new content.sqlite with SQLite in this thread. */
export class SqliteRows implements RowSink {
  readonly path: string;
  readonly #db: Database.Database;
  readonly #insertMany: Database.Statement;
  readonly #insertOne: Database.Statement;
  readonly #params: unknown[] = [];
  #txnBytes = 0;
  #rows = 0;

  constructor(path: string) {
    this.path = path;
    for (const p of [path, `${path}-wal`, `${path}-shm`, `${path}-journal`]) if (existsSync(p)) rmSync(p);
    mkdirSync(dirname(path), { recursive: true });
    const db = new Database(path);
    this.#db = db;
    // A new file nobody else may open: no journal (each page written once), no fsync,
    // exclusive lock. Flux's WAL mode is set when finished.
    db.pragma('locking_mode = EXCLUSIVE');
    db.pragma('journal_mode = OFF');
    db.pragma('synchronous = OFF');
    db.pragma(`cache_size = -${CACHE_KIB}`);
    db.exec(BUILD_OBJECTS_SQL);
    const row = '(CAST(? AS TEXT),?,?)';
    this.#insertMany = db.prepare(`INSERT INTO objects (hash,size,object) VALUES ${Array(ROWS_PER_INSERT).fill(row).join(',')}`);
    this.#insertOne = db.prepare(`INSERT INTO objects (hash,size,object) VALUES ${row}`);
    db.exec('BEGIN');
  }

  add(digest: Uint8Array, blob: Uint8Array): void {
    const big = blob.length >= LZ4_THRESHOLD;
    const object = big ? lz4.encode(blob) : blob;
    const params = this.#params;
    params.push(digest, big ? blob.length : -1, object.length === 0 ? null : object);
    this.#rows++;
    this.#txnBytes += object.length;
    if (params.length === ROWS_PER_INSERT * 3) {
      this.#insertMany.run(params);
      params.length = 0;
      if (this.#txnBytes >= TXN_BYTES) {
        this.#db.exec('COMMIT');
        this.#db.exec('BEGIN');
        this.#txnBytes = 0;
      }
    }
  }

  /**
   * Write the rest, build the hash index, drop late duplicates, add the checkpoint and
   * give the schema Flux's exact form; the file is left in WAL mode, as Flux keeps it.
   */
  finish(ckpt: Checkpoint | readonly Checkpoint[]): RowStats {
    const t0 = performance.now();
    const db = this.#db;
    const params = this.#params;
    for (let p = 0; p < params.length; p += 3) this.#insertOne.run(params[p], params[p + 1], params[p + 2]);
    params.length = 0;
    db.exec('COMMIT');
    const t1 = performance.now();
    db.pragma(`cache_size = -${INDEX_CACHE_KIB}`);
    db.exec(`CREATE INDEX ${BUILD_INDEX} ON objects(hash)`);
    const indexMs = performance.now() - t1;
    const lateDuplicates = this.#deleteDuplicates();
    // After the index, so sqlite_master lists the tables in Flux's order.
    db.exec(FLUX_CHECKPOINT_SQL);
    // Oldest first: the newest checkpoint has the highest id, as Flux reads them.
    const insert = db.prepare('INSERT INTO checkpt_v2 (value) VALUES (?)');
    for (const c of Array.isArray(ckpt) ? ckpt : [ckpt]) insert.run(formatCheckpoint(c));
    db.unsafeMode(true); // lifts SQLite's defensive flag for the schema rewrite only
    db.transaction(() => {
      db.pragma('writable_schema = ON');
      db.prepare("UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = 'objects'").run(FLUX_OBJECTS_SQL);
      db.prepare("UPDATE sqlite_master SET name = ?, sql = NULL WHERE type = 'index' AND name = ?").run(OBJECTS_AUTOINDEX, BUILD_INDEX);
      db.pragma('writable_schema = OFF');
    })();
    db.close();
    // Reopen to load the rewritten schema, then switch to WAL (header bytes only; no
    // fsync: like the rest of the build, durability is the page cache's business).
    const again = new Database(this.path);
    again.pragma('synchronous = OFF');
    again.pragma('journal_mode = WAL');
    again.close();
    return { rows: this.#rows - lateDuplicates, lateDuplicates, indexMs, finishMs: performance.now() - t0 };
  }

  /** Delete all but the first row of each digest stored more than once. */
  #deleteDuplicates(): number {
    const db = this.#db;
    const dups = db
      .prepare(`SELECT CAST(hash AS BLOB), min(rowid) FROM objects INDEXED BY ${BUILD_INDEX} GROUP BY hash HAVING count(*) > 1`)
      .raw()
      .all() as [Uint8Array, number][];
    if (dups.length === 0) return 0;
    const del = db.prepare('DELETE FROM objects WHERE hash = CAST(? AS TEXT) AND rowid <> ?');
    let n = 0;
    db.transaction(() => {
      for (const [hash, keep] of dups) n += del.run(hash, keep).changes;
    })();
    return n;
  }

  /** Abandon the build (used on failure): close and delete the file. */
  abort(): void {
    if (this.#db.open) this.#db.close();
    rmSync(this.path, { force: true });
  }
}
