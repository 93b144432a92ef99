/**
 * content.sqlite backing store, read offline and strictly read-only through our own
 * SQLite file reader (no -wal/-shm is ever created; works on read-only files).
 *
 * Schema: objects(hash BLOB PRIMARY KEY, size INT, object BLOB[, epoch INT]) where the
 * raw digest is stored with storage class TEXT; blobs >= 256 bytes are LZ4 blocks with
 * size = uncompressed length, smaller ones raw with size -1; NULL object = empty blob.
 * Checkpoints: newest checkpt_v2 row, else checkpt['kvs-primary'].
 */
import { DIGEST_SIZE, formatBlobref, parseBlobref, type HashType } from '../blobref.js';
import { FluxError, MissingBlobError } from '../errors.js';
import { fromUtf8Lossy } from '../util/bytes.js';
import { parseCheckpoint, type Checkpoint } from './checkpoint.js';
import { offlineRootError } from './files.js';
import { probeSqliteLock } from './sqlite-lock.js';
import { lz4 } from './lz4.js';
import { SqliteFile, type SqlValue } from './sqlite-file.js';
import { readNumeric, recordFields } from './sqlite-file/format.js';
import { DigestTable, MAX_ROWID } from './digest-table.js';
import { LoadThread, wantsLoadThread } from './load-thread.js';
import type { BlobArena } from './blob-arena.js';
import type { ContentStore, LoadResult, LoadWindow } from './source.js';

const EMPTY = new Uint8Array(0);
/** Largest batch #loadSorted sorts (a power of two: the sort key packs rowid and index). */
const MAX_BATCH = 1 << 16;
/**
 * Blobs per batch read here: big enough that sorting a batch by row turns random page
 * reads into a sweep, small enough that its blobs stay a few MiB.
 */
const BATCH = 4096;
const WINDOW: LoadWindow = { batch: BATCH, inflight: 1, window: 1 };
/**
 * Parsed-page cache (16 MiB at 4 KiB pages): interior pages plus recent leaves. Batches
 * sweep the table in rowid order with read-ahead, so a bigger cache saved nothing: at 1M
 * keys 16,384 pages cost 50 MiB more peak RSS and more CPU than 4,096.
 */
const CACHE_PAGES = 4096;
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
  /** Record positions of hash, size and object. */
  readonly #pos: readonly [number, number, number];
  readonly #types: Int32Array;
  readonly #offsets: Int32Array;
  #table: DigestTable | null | undefined;
  /** The row #locate found last: its record's bytes, object column and declared size. */
  #hitBuf: Uint8Array = EMPTY;
  #hitOwned = false;
  #hitStart = 0;
  #hitLen = 0;
  #hitSize = -1;
  /** Batches are read on this thread instead, when the store has one. */
  #thread: LoadThread | undefined;

  private constructor(path: string, db: SqliteFile) {
    this.location = path;
    this.#db = db;
    if (!db.tables().has('objects')) throw new FluxError(`${path}: not a Flux content store (no objects table)`);
    const idx = [...db.indexes()].find(([, i]) => i.table === 'objects' && i.sql === null);
    if (!idx) throw new FluxError(`${path}: objects table has no primary key index`);
    this.#index = idx[0];
    this.#pos = [db.recordPosition('objects', 'hash'), db.recordPosition('objects', 'size'), db.recordPosition('objects', 'object')];
    if (this.#pos.some((p) => p < 0)) throw new FluxError(`${path}: objects table lacks hash, size or object`);
    const width = Math.max(...this.#pos) + 1;
    this.#types = new Int32Array(width);
    this.#offsets = new Int32Array(width);
    this.hashType = this.#detectHash();
  }

  /**
   * Opens a content.sqlite read-only, refusing one a running Flux holds. `loadThread`:
   * load batches on a second thread (default: wantsLoadThread, i.e. stores big enough
   * for it to pay for its start-up). A thread the CLI started early is taken over.
   */
  static async open(path: string, opts: { loadThread?: boolean | undefined } = {}): Promise<SqliteStore> {
    await probeSqliteLock(path);
    const store = SqliteStore.openUnprobed(path);
    if (wantsLoadThread(path, opts.loadThread)) {
      store.#thread = await LoadThread.start(path);
    }
    return store;
  }

  /** Builds the digest table now rather than on the first load (a load thread's start-up). */
  warmUp(): void {
    this.#digests();
  }

  /** Opens without the lock probe (a load thread's view of a store already opened). */
  static openUnprobed(path: string): SqliteStore {
    return new SqliteStore(path, SqliteFile.open(path, { cachePages: CACHE_PAGES }));
  }

  get digestSize(): number {
    return DIGEST_SIZE[this.hashType];
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

  loadWindow(): LoadWindow {
    return this.#thread ? this.#thread.loadWindow() : WINDOW;
  }

  /**
   * Many blobs at once, fetched in rowid order: consecutive rows share table pages, so a
   * batch reads each page once however the tree orders its keys. Results come back in
   * the order asked; a blob that cannot be loaded is its error. With a load thread, the
   * batch is read there.
   */
  loadBatch(digests: Uint8Array, count: number): LoadResult[] | Promise<LoadResult[]> {
    return this.#thread ? this.#thread.loadBatch(digests, count) : this.loadBatchHere(digests, count);
  }

  /** loadBatch on this thread, whether or not the store has a load thread. */
  loadBatchHere(digests: Uint8Array, count: number): LoadResult[] {
    const out = new Array<LoadResult>(count);
    this.#loadSorted(digests, count, (i, err) => (out[i] = err), (i, at, rowid, table) => {
      const blob = (rowid > 0 ? this.#readObject(digests, at, rowid) : undefined) ?? this.#find(table, digests, at);
      out[i] = blob ?? missing(this.#refAt(digests, at));
    });
    return out;
  }

  /**
   * loadBatchHere for the load thread: blob i goes to arena bytes start[i]..end[i]
   * (in the order read, not asked), so no blob gets a buffer of its own. errors[i] is
   * set for blobs that could not be loaded.
   */
  loadBatchInto(digests: Uint8Array, count: number, arena: BlobArena): { start: Uint32Array; end: Uint32Array; errors: (Error | undefined)[] } {
    const start = new Uint32Array(count);
    const end = new Uint32Array(count);
    const errors = new Array<Error | undefined>(count);
    this.#loadSorted(digests, count, (i, err) => (errors[i] = err), (i, at, rowid, table) => {
      start[i] = arena.used;
      if (rowid > 0 && this.#readObjectInto(digests, at, rowid, arena) >= 0) {
        end[i] = arena.used;
        return;
      }
      // Not the first candidate (or no table): the general path, copied in.
      const blob = this.#find(table, digests, at);
      if (!blob) return void (errors[i] = missing(this.#refAt(digests, at)));
      arena.append(blob);
      end[i] = arena.used;
    });
    return { start, end, errors };
  }

  /**
   * The core of both batch loads: each digest's row in rowid order (`rowid` 0 when the
   * store has no digest table), `found` to read it (digest i is digests[at ..]); an
   * error goes to `failed`.
   */
  #loadSorted(
    digests: Uint8Array,
    count: number,
    failed: (i: number, err: Error) => void,
    found: (i: number, at: number, rowid: number, table: DigestTable | null) => void,
  ): void {
    const table = this.#digests();
    const size = this.digestSize;
    // No view or closure per blob: digest i is digests[i * size ..], and its blobref is
    // only ever formatted for an error message.
    const visit = (i: number, rowid: number) => {
      try {
        found(i, i * size, rowid, table);
      } catch (err) {
        failed(i, err as Error);
      }
    };
    if (!table || count > MAX_BATCH) {
      for (let i = 0; i < count; i++) visit(i, 0);
      return;
    }
    // rowid * MAX_BATCH + index sorts by rowid and stays exact below 2^53.
    const order = new Float64Array(count);
    let m = 0;
    for (let i = 0; i < count; i++) {
      const slot = table.first(DigestTable.prefix(digests, i * size));
      if (slot < 0) failed(i, missing(this.#refAt(digests, i * size)));
      else order[m++] = table.rowidAt(slot) * MAX_BATCH + i;
    }
    const sorted = order.subarray(0, m).sort();
    const rowids = new Float64Array(m);
    for (let k = 0; k < m; k++) rowids[k] = Math.floor(sorted[k]! / MAX_BATCH);
    this.#db.planRows('objects', rowids, m);
    try {
      for (let k = 0; k < m; k++) visit(sorted[k]! % MAX_BATCH, rowids[k]!);
    } finally {
      this.#db.planRows('objects', rowids, 0);
    }
  }

  /** The blobref of digest bytes digests[at ..] (for messages). */
  #refAt(digests: Uint8Array, at: number): string {
    return formatBlobref(this.hashType, digests.subarray(at, at + this.digestSize));
  }

  /** The digest table, built on first use; null when this store cannot have one. */
  #digests(): DigestTable | null {
    if (this.#table === undefined) this.#table = this.#buildDigestTable();
    return this.#table;
  }

  #buildDigestTable(): DigestTable | null {
    // Flux only appends objects, so the last rowid is about their count: size for it.
    const last = this.#db.lastRowid('objects');
    const table = new DigestTable(typeof last === 'number' && last <= MAX_ROWID ? last : 0);
    const size = DIGEST_SIZE[this.hashType];
    const types = new Int32Array(2);
    const offsets = new Int32Array(2);
    let usable = true;
    this.#db.forEachIndexRecord(this.#index, (buf, off, len) => {
      if (!usable || recordFields(buf, off, len, types, offsets) < 2) return;
      // Only TEXT keys of this store's digest size can ever be found by a blobref.
      if (types[0] !== 13 + 2 * size) return;
      const st = types[1]!;
      const rowid = st >= 1 && st <= 9 && st !== 7 ? readNumeric(buf, offsets[1]!, st) : -1;
      if (typeof rowid !== 'number' || !table.tryAdd(DigestTable.prefix(buf, offsets[0]!), rowid)) usable = false;
    });
    return usable ? table : null;
  }

  /** The blob whose digest is digests[at ..]: through the digest table, else the index b-tree. */
  #find(table: DigestTable | null, digests: Uint8Array, at: number): Uint8Array | undefined {
    return table ? this.#findInTable(table, digests, at) : this.#findInIndex(digests, at);
  }

  /** The blob whose digest is digests[at ..], trying each row the table has for its prefix. */
  #findInTable(table: DigestTable, digests: Uint8Array, at: number): Uint8Array | undefined {
    const prefix = DigestTable.prefix(digests, at);
    for (let slot = table.first(prefix); slot >= 0; slot = table.next(prefix, slot)) {
      const blob = this.#readObject(digests, at, table.rowidAt(slot));
      if (blob !== undefined) return blob;
    }
    return undefined;
  }

  /** Lookup through the index b-tree (stores whose rowids do not fit the table). */
  #findInIndex(digests: Uint8Array, at: number): Uint8Array | undefined {
    const rowid = this.#db.indexLookupText(this.#index, digests.subarray(at, at + this.digestSize));
    if (rowid === undefined) return undefined;
    return this.#readObject(digests, at, Number(rowid));
  }

  /**
   * Finds the object column of row `rowid` if that row's hash is digests[at ..]: true, and
   * #hit* describe it (fields, not a result object per blob).
   */
  #locate(digests: Uint8Array, at: number, rowid: number): boolean {
    const cell = this.#db.rowRecord('objects', rowid);
    if (cell === undefined) return false;
    const { buf } = cell;
    const types = this.#types;
    const offsets = this.#offsets;
    const n = recordFields(buf, cell.off, cell.len, types, offsets);
    const pos = this.#pos;
    const h = pos[0];
    const z = pos[1];
    const o = pos[2];
    const width = this.digestSize;
    if (h >= n || types[h] !== 13 + 2 * width) return false;
    const hashAt = offsets[h]!;
    for (let i = 0; i < width; i++) if (buf[hashAt + i] !== digests[at + i]) return false;
    const st = o < n ? types[o]! : 0;
    this.#hitBuf = buf;
    this.#hitOwned = cell.owned;
    if (st === 0) {
      this.#hitStart = this.#hitLen = 0;
      this.#hitSize = -1;
      return true;
    }
    if (st < 12) throw new FluxError(`${this.location}: ${this.#refAt(digests, at)}: object column is not a blob`, 'EPROTO');
    this.#hitStart = offsets[o]!;
    this.#hitLen = (st - 12) >>> 1;
    const size = z < n && types[z]! >= 1 && types[z]! <= 9 ? Number(readNumeric(buf, offsets[z]!, types[z]!)) : -1;
    if (size !== -1 && (!Number.isInteger(size) || size < 0)) throw new FluxError(`${this.location}: ${this.#refAt(digests, at)}: invalid size ${size}`, 'EPROTO');
    this.#hitSize = size;
    return true;
  }

  /**
   * The blob in row `rowid` if that row's hash is digests[at ..] (else undefined), decoded
   * straight from the record: no column but the object is ever copied.
   */
  #readObject(digests: Uint8Array, at: number, rowid: number): Uint8Array | undefined {
    if (!this.#locate(digests, at, rowid)) return undefined;
    if (this.#hitLen === 0 && this.#hitSize === -1) return EMPTY;
    const object = this.#hitBuf.subarray(this.#hitStart, this.#hitStart + this.#hitLen);
    if (this.#hitSize === -1) return this.#hitOwned ? object : object.slice();
    try {
      return lz4.decode(object, this.#hitSize);
    } catch (err) {
      throw new FluxError(`${this.location}: ${this.#refAt(digests, at)}: ${(err as Error).message}`, 'EPROTO');
    }
  }

  /** As #readObject, but the blob is written at the end of `arena`; its length, or -1. */
  #readObjectInto(digests: Uint8Array, at: number, rowid: number, arena: BlobArena): number {
    if (!this.#locate(digests, at, rowid)) return -1;
    const object = this.#hitBuf.subarray(this.#hitStart, this.#hitStart + this.#hitLen);
    if (this.#hitSize === -1) {
      arena.append(object);
      return object.length;
    }
    try {
      const at = arena.reserve(this.#hitSize); // first: it may replace arena.buf
      lz4.decodeInto(object, this.#hitSize, arena.buf, at);
    } catch (err) {
      throw new FluxError(`${this.location}: ${this.#refAt(digests, at)}: ${(err as Error).message}`, 'EPROTO');
    }
    return this.#hitSize;
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
    await this.#thread?.close();
    this.#db.close();
  }
}

function missing(blobref: string): MissingBlobError {
  return new MissingBlobError(`${blobref}: No such file or directory`);
}

function textOf(v: SqlValue): string {
  if (typeof v === 'string') return v;
  if (v instanceof Uint8Array) return fromUtf8Lossy(v);
  return '';
}
