/**
 * content.sqlite backing store, read offline and strictly read-only through our own
 * SQLite file reader (no -wal/-shm is ever created; works on read-only files).
 *
 * Schema: objects(hash BLOB PRIMARY KEY, size INT, object BLOB[, epoch INT]) where the
 * raw digest is stored with storage class TEXT; blobs >= 256 bytes are LZ4 blocks with
 * size = uncompressed length, smaller ones raw with size -1; NULL object = empty blob.
 * Checkpoints: newest checkpt_v2 row, else checkpt['kvs-primary'].
 */
import { DIGEST_SIZE, parseBlobref, type HashType } from '../blobref.js';
import { FluxError, MissingBlobError } from '../errors.js';
import { fromUtf8Lossy } from '../util/bytes.js';
import { parseCheckpoint, type Checkpoint } from './checkpoint.js';
import { offlineRootError } from './files.js';
import { probeSqliteLock } from './sqlite-lock.js';
import { lz4 } from './lz4.js';
import { SqliteFile, type SqlValue } from './sqlite-file.js';
import type { ContentStore } from './source.js';

const EMPTY = new Uint8Array(0);
/** Parsed-page cache: the top of both b-trees plus a working set of leaves (~64 MiB at 4 KiB pages). */
const CACHE_PAGES = 16384;
/** The hash column comes back as its raw digest bytes (stored as TEXT). */
const RAW_HASH = ['hash'];

function asBytes(v: SqlValue): Uint8Array | null {
  if (v === null) return null;
  if (v instanceof Uint8Array) return v;
  if (typeof v === 'string') return new TextEncoder().encode(v);
  return null;
}

export class SqliteStore implements ContentStore {
  readonly location: string;
  readonly hashType: HashType;
  readonly #db: SqliteFile;
  readonly #index: string;

  private constructor(path: string, db: SqliteFile) {
    this.location = path;
    this.#db = db;
    if (!db.tables().has('objects')) throw new FluxError(`${path}: not a Flux content store (no objects table)`);
    const idx = [...db.indexes()].find(([, i]) => i.table === 'objects' && i.sql === null);
    if (!idx) throw new FluxError(`${path}: objects table has no primary key index`);
    this.#index = idx[0];
    this.hashType = this.#detectHash();
  }

  static async open(path: string): Promise<SqliteStore> {
    await probeSqliteLock(path);
    return new SqliteStore(path, SqliteFile.open(path, { cachePages: CACHE_PAGES }));
  }

  /** From the digest length of the first object, else the checkpoint, else sha1. */
  #detectHash(): HashType {
    for (const row of this.#db.scan('objects', { rawText: RAW_HASH })) {
      const h = asBytes(row.values[0]!);
      if (h?.length === DIGEST_SIZE.sha256) return 'sha256';
      return 'sha1';
    }
    const ck = this.#checkpointsSync()[0];
    return ck ? parseBlobref(ck.rootref).hash : 'sha1';
  }

  loadSync(blobref: string): Uint8Array {
    const { hash, digest } = parseBlobref(blobref);
    if (hash !== this.hashType) {
      throw new MissingBlobError(`${blobref}: No such file or directory (store uses ${this.hashType})`);
    }
    const rowid = this.#db.indexLookupText(this.#index, digest);
    const row = rowid === undefined ? undefined : this.#db.getRow('objects', rowid);
    if (row === undefined) throw new MissingBlobError(`${blobref}: No such file or directory`);
    const size = Number(row[1] ?? -1);
    const object = asBytes(row[2] ?? null) ?? EMPTY;
    if (size === -1) return object;
    if (!Number.isInteger(size) || size < 0) throw new FluxError(`${this.location}: ${blobref}: invalid size ${size}`, 'EPROTO');
    try {
      return lz4.decode(object, size);
    } catch (err) {
      throw new FluxError(`${this.location}: ${blobref}: ${(err as Error).message}`, 'EPROTO');
    }
  }

  async load(blobref: string): Promise<Uint8Array> {
    return this.loadSync(blobref);
  }

  #checkpointsSync(): Checkpoint[] {
    const tables = this.#db.tables();
    const where = `${this.location}: checkpoint`;
    if (tables.has('checkpt_v2')) {
      const rows = [...this.#db.scan('checkpt_v2')].reverse();
      return rows.map((r) => parseCheckpoint(textOf(r.values[1] ?? null), where));
    }
    if (tables.has('checkpt')) {
      for (const r of this.#db.scan('checkpt')) {
        if (textOf(r.values[0] ?? null) === 'kvs-primary') return [parseCheckpoint(textOf(r.values[1] ?? null), where)];
      }
    }
    return [];
  }

  async checkpoints(): Promise<Checkpoint[]> {
    return this.#checkpointsSync();
  }

  async currentRoot(): Promise<string> {
    throw offlineRootError(this.location);
  }

  async close(): Promise<void> {
    this.#db.close();
  }
}

function textOf(v: SqlValue): string {
  if (typeof v === 'string') return v;
  if (v instanceof Uint8Array) return fromUtf8Lossy(v);
  return '';
}
