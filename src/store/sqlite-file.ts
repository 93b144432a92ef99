/**
 * A strictly read-only reader of SQLite database files, in TypeScript.
 *
 * flux-dump reads Flux's content.sqlite offline. SQLite itself (via better-sqlite3) cannot
 * promise to leave a WAL-mode database untouched: a read-only connection still creates and
 * keeps -wal/-shm files. This reader opens the file with O_RDONLY and only ever reads at
 * offsets; a -wal left by a crashed or running instance is read (never written) and its
 * committed frames override the main file, as SQLite's own recovery would do. No locks are
 * taken: a database being written concurrently is read as of the moment it was opened,
 * except that a checkpoint running meanwhile may make later reads inconsistent.
 *
 * BLOB (and raw TEXT) values are private copies, but values of 65 B..4 KiB share pooled
 * ArrayBuffers and large overflowing rows share one per row: never transfer or detach a
 * value's `.buffer` (postMessage transfer lists); copy it first.
 */
import { closeSync, fstatSync, openSync } from 'node:fs';
import { FluxError } from '../errors.js';
import {
  CLASS_TEXT,
  DbHeader,
  HEADER_SIZE,
  Malformed,
  SqlValue,
  TextEncodingName,
  decodeRecord,
  encodeText,
  makeKey,
  normInt,
  parseHeader,
  textKey,
  type Key,
} from './sqlite-file/format.js';
import { Btree, type TableCell } from './sqlite-file/btree.js';
import { DEFAULT_CACHE_PAGES, Pager } from './sqlite-file/pager.js';
import { readFull } from '../util/fs.js';
import { indexWal, type WalIndex } from './sqlite-file/wal.js';
import { ColumnDef, TableDef, findColumn, parseCreateIndex, parseCreateTable } from './sqlite-file/schema.js';

export type { SqlValue, TextEncodingName } from './sqlite-file/format.js';

export interface SqliteOpenOptions {
  /** Parsed b-tree pages kept in memory (CLOCK, an LRU approximation). Default 2000. */
  cachePages?: number;
}

export interface ReadOptions {
  /**
   * TEXT values come back as their stored bytes (Uint8Array) instead of decoded strings:
   * true for every column, or the names of the columns that should. Flux stores raw digest
   * bytes as TEXT in objects.hash; decoding would mangle them. Pass the same array object
   * on hot paths: its column mapping is cached by identity.
   */
  rawText?: boolean | readonly string[];
}

export interface TableInfo {
  rootPage: number;
  sql: string;
  columns: string[];
}

export interface IndexInfo {
  rootPage: number;
  table: string;
  sql: string | null;
}

export interface Row {
  rowid: bigint | number;
  values: SqlValue[];
}

interface TableMeta extends TableInfo {
  name: string;
  def: TableDef | undefined;
  /** Record position of each declared column, or -1 for virtual generated columns. */
  recordPos: number[];
  /** Rows can be returned as decoded: no alias, no generated columns. */
  plain: boolean;
  /** rawText column lists seen before, by identity (callers pass constants on hot paths). */
  rawMasks: WeakMap<readonly string[], boolean[]>;
}

interface IndexMeta extends IndexInfo {
  name: string;
  unique: boolean;
  desc: boolean;
  /** Collation of the first column, upper-cased; BINARY unless declared otherwise. */
  collation: string;
}

const SCHEMA_ROOT = 1;
const SCHEMA_SQL = 'CREATE TABLE sqlite_schema(type text, name text, tbl_name text, rootpage int, sql text)';
const JOURNAL_MAGIC = [0xd9, 0xd5, 0x05, 0xf9, 0x20, 0xa1, 0x63, 0xd7];
const ROLLBACK_MODE = 1;

const EMPTY_PAGES = new Int32Array(0);

export class SqliteFile {
  readonly path: string;
  readonly pageSize: number;
  readonly textEncoding: TextEncodingName;
  /** Reserved bytes at the end of each page. */
  readonly reservedBytes: number;
  /** Pages in the database as read (after applying the WAL). */
  readonly pageCount: number;
  /** Committed WAL frames applied over the main file (0: no usable -wal). */
  readonly walFrames: number;
  private readonly fd: number;
  private readonly walFd: number | null;
  private readonly pager: Pager;
  private readonly btree: Btree;
  private tableMeta = new Map<string, TableMeta>();
  private indexMeta = new Map<string, IndexMeta>();
  private closed = false;

  private constructor(
    path: string,
    fd: number,
    walFd: number | null,
    header: DbHeader,
    pager: Pager,
    walFrames: number,
  ) {
    this.path = path;
    this.fd = fd;
    this.walFd = walFd;
    this.pageSize = header.pageSize;
    this.textEncoding = header.textEncoding;
    this.reservedBytes = header.reserved;
    this.pageCount = pager.dbSize;
    this.walFrames = walFrames;
    this.pager = pager;
    this.btree = new Btree(pager);
  }

  /** Opens `path` read-only and loads its schema. Throws FluxError naming the file. */
  static open(path: string, options: SqliteOpenOptions = {}): SqliteFile {
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch (e) {
      throw new FluxError(`${path}: ${sysMessage(e)}`, errCode(e));
    }
    let walFd: number | null = null;
    try {
      const st = fstatSync(fd);
      if (st.isDirectory()) throw new FluxError(`${path}: is a directory, not a database`, 'EISDIR');
      const size = st.size;
      if (size === 0) throw new FluxError(`${path}: file is empty, not a database`, 'EPROTO');
      const first = new Uint8Array(HEADER_SIZE);
      readFull(fd, first, 0, HEADER_SIZE, 0);
      const header = parseHeader(first);
      if (typeof header === 'string') throw new FluxError(`${path}: ${header}`, 'EPROTO');
      if (header.writeVersion === ROLLBACK_MODE) checkNoHotJournal(path);
      let wal: WalIndex | null = null;
      walFd = openOptional(`${path}-wal`);
      if (walFd !== null) {
        const wfd = walFd;
        const readAt = (dst: Uint8Array, pos: number) => readFull(wfd, dst, 0, dst.length, pos);
        const verdict = indexWal(readAt, fstatSync(wfd).size, header.pageSize);
        if ('ignored' in verdict) {
          closeSync(walFd);
          walFd = null;
        } else wal = verdict;
      }
      const dbSize = wal?.dbSize ?? (header.dbSizeInHeader || Math.ceil(size / header.pageSize));
      const pager = new Pager(
        fd,
        size,
        header.pageSize,
        header.usableSize,
        dbSize,
        wal && walFd !== null ? { fd: walFd, index: wal } : null,
        options.cachePages ?? DEFAULT_CACHE_PAGES,
      );
      const missing = pager.firstMissingPage();
      if (missing !== 0) {
        throw new FluxError(`${path}: file is truncated (page ${missing} of ${dbSize} is past the end)`, 'EPROTO');
      }
      const db = new SqliteFile(path, fd, walFd, header, pager, wal?.committedFrames ?? 0);
      db.guard(() => db.loadSchema());
      return db;
    } catch (e) {
      closeSync(fd);
      if (walFd !== null) closeSync(walFd);
      throw e;
    }
  }

  /** Tables from sqlite_schema (virtual tables have rootPage 0). */
  tables(): Map<string, TableInfo> {
    const out = new Map<string, TableInfo>();
    for (const t of this.tableMeta.values()) {
      if (t.rootPage === SCHEMA_ROOT) continue;
      out.set(t.name, { rootPage: t.rootPage, sql: t.sql, columns: [...t.columns] });
    }
    return out;
  }

  /** Indexes from sqlite_schema, including the implicit sqlite_autoindex_* ones. */
  indexes(): Map<string, IndexInfo> {
    const out = new Map<string, IndexInfo>();
    for (const i of this.indexMeta.values()) out.set(i.name, { rootPage: i.rootPage, table: i.table, sql: i.sql });
    return out;
  }

  /** Full scan of a rowid table in rowid order. */
  scan(table: string, options: ReadOptions = {}): IterableIterator<Row> {
    const t = this.table(table);
    return this.rows(t, this.rawMask(t, options), false);
  }

  /** scan() with every TEXT value as its stored bytes. */
  scanRaw(table: string): IterableIterator<Row> {
    return this.scan(table, { rawText: true });
  }

  /** The row with this rowid, or undefined. */
  getRow(table: string, rowid: number | bigint, options: ReadOptions = {}): SqlValue[] | undefined {
    const t = this.table(table);
    const raw = this.rawMask(t, options);
    const id = typeof rowid === 'bigint' ? normInt(rowid) : rowid;
    try {
      const cell = this.btree.findRowid(t.rootPage, id);
      return cell && this.rowValues(t, cell, raw);
    } catch (e) {
      throw this.wrap(e);
    }
  }

  /**
   * The raw record of the row with this rowid, or undefined: for hot paths that parse
   * only the columns they need (see recordFields). `buf` may be a cached page: it is
   * valid only until the next call into this file, and must never be written.
   */
  rowRecord(table: string, rowid: number): TableCell | undefined {
    const t = this.table(table);
    try {
      return this.btree.findRowid(t.rootPage, rowid);
    } catch (e) {
      throw this.wrap(e);
    }
  }

  /** Reads of the database file so far (tests and benches). */
  get reads(): number {
    return this.pager.reads;
  }

  /**
   * Tells the page cache which rows are about to be read (`rowids[0..count)`, ascending),
   * so their leaves are read in few large reads (Pager.plan); count 0 ends the plan.
   */
  planRows(table: string, rowids: Float64Array, count: number): void {
    if (count === 0) return this.pager.plan(EMPTY_PAGES, 0);
    const t = this.table(table);
    const pages = new Int32Array(count);
    let n = 0;
    try {
      for (let i = 0; i < count; i++) {
        const pg = this.btree.leafPageOf(t.rootPage, rowids[i]!);
        if (n === 0 || pages[n - 1] !== pg) pages[n++] = pg;
      }
    } catch {
      // Only a hint: a malformed page is reported against the rows that reach it.
      return this.pager.plan(EMPTY_PAGES, 0);
    }
    const sorted = pages.subarray(0, n).sort();
    let m = 0;
    for (let i = 0; i < n; i++) if (m === 0 || sorted[m - 1] !== sorted[i]) sorted[m++] = sorted[i]!;
    this.pager.plan(sorted, m);
  }

  /** The highest rowid of a table (0 when empty), from the right edge of its b-tree. */
  lastRowid(table: string): number | bigint {
    const t = this.table(table);
    try {
      const it = this.btree.cells(t.rootPage, true);
      const r = it.next();
      it.return?.(undefined);
      return r.done ? 0 : r.value.rowid;
    } catch (e) {
      throw this.wrap(e);
    }
  }

  /** Where column `name` sits in the table's records (-1: not stored, e.g. generated). */
  recordPosition(table: string, name: string): number {
    const t = this.table(table);
    const ci = t.def ? findColumn(t.def.columns, name) : t.columns.indexOf(name);
    if (ci < 0) throw new FluxError(`${this.path}: no such column: ${t.name}.${name}`, 'EINVAL');
    return t.recordPos[ci]!;
  }

  /** Every record of an index, in no particular order (see Btree.forEachIndexRecord). */
  forEachIndexRecord(index: string, visit: (buf: Uint8Array, off: number, len: number) => void): void {
    const ix = this.index(index);
    try {
      this.btree.forEachIndexRecord(ix.rootPage, visit);
    } catch (e) {
      throw this.wrap(e);
    }
  }

  /** The row with the highest rowid (e.g. the newest checkpoint), or undefined when empty. */
  lastRow(table: string, options: ReadOptions = {}): Row | undefined {
    const t = this.table(table);
    const it = this.rows(t, this.rawMask(t, options), true);
    const r = it.next();
    it.return?.(undefined);
    return r.done ? undefined : r.value;
  }

  /**
   * Rowid of the first entry of index `index` whose first column equals `key` under
   * SQLite's comparison rules (NULL < numbers < TEXT < BLOB; a string is TEXT, a
   * Uint8Array is a BLOB), or undefined.
   */
  indexLookup(index: string, key: SqlValue): number | bigint | undefined {
    return this.lookup(index, makeKey(key, this.textEncoding));
  }

  /** indexLookup for a TEXT key given as its stored bytes (compared by memcmp, never decoded). */
  indexLookupText(index: string, bytes: Uint8Array): number | bigint | undefined {
    return this.lookup(index, textKey(bytes));
  }

  /** Drops cached pages (memory only; nothing on disk changes). */
  clearCache(): void {
    this.pager.clearCache();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.pager.clearCache();
    closeSync(this.fd);
    if (this.walFd !== null) closeSync(this.walFd);
  }

  // ---- internals ------------------------------------------------------------------------

  private lookup(index: string, key: Key): number | bigint | undefined {
    const ix = this.index(index);
    if (key.cls === CLASS_TEXT && ix.collation !== 'BINARY') {
      throw new FluxError(
        `${this.path}: index ${ix.name} uses collation ${ix.collation}; only BINARY text lookups are supported`,
        'ENOTSUP',
      );
    }
    try {
      return this.btree.indexFind(ix.rootPage, key, ix.desc ? -1 : 1, ix.unique);
    } catch (e) {
      throw this.wrap(e);
    }
  }

  private *rows(t: TableMeta, raw: boolean | boolean[], reverse: boolean): Generator<Row> {
    try {
      for (const cell of this.btree.cells(t.rootPage, reverse)) {
        yield { rowid: cell.rowid, values: this.rowValues(t, cell, raw) };
      }
    } catch (e) {
      throw this.wrap(e);
    }
  }

  private rowValues(t: TableMeta, cell: TableCell, raw: boolean | boolean[]): SqlValue[] {
    const rec = decodeRecord(cell.buf, cell.off, cell.len, this.textEncoding, raw, cell.owned);
    const n = t.columns.length;
    if (t.plain && rec.length === n) return rec;
    const out: SqlValue[] = new Array<SqlValue>(n);
    const cols = t.def?.columns;
    for (let i = 0; i < n; i++) {
      const pos = t.recordPos[i]!;
      if (pos < 0) out[i] = null;
      else if (pos < rec.length) out[i] = rec[pos]!;
      else out[i] = defaultFor(cols?.[i], raw === true || (raw !== false && raw[pos] === true), this.textEncoding);
    }
    const alias = t.def?.rowidAlias ?? -1;
    if (alias >= 0) out[alias] = cell.rowid;
    return out;
  }

  /** Per record position: TEXT as bytes? Record positions differ from columns only for generated columns. */
  private rawMask(t: TableMeta, options: ReadOptions): boolean | boolean[] {
    const r = options.rawText;
    if (r === undefined || typeof r === 'boolean') return r ?? false;
    const known = t.rawMasks.get(r);
    if (known !== undefined) return known;
    const mask: boolean[] = [];
    for (const name of r) {
      const ci = t.def ? findColumn(t.def.columns, name) : t.columns.indexOf(name);
      if (ci < 0) throw new FluxError(`${this.path}: no such column: ${t.name}.${name}`, 'EINVAL');
      const pos = t.recordPos[ci]!;
      if (pos >= 0) mask[pos] = true;
    }
    t.rawMasks.set(r, mask);
    return mask;
  }

  private table(name: string): TableMeta {
    this.checkOpen();
    const t = this.tableMeta.get(name) ?? findInsensitive(this.tableMeta, name);
    if (t === undefined) throw new FluxError(`${this.path}: no such table: ${name}`, 'ENOENT');
    // Every row lookup passes here: the message is only built for an error.
    if (t.rootPage === 0) throw new FluxError(`${this.path}: table ${t.name} is virtual and has no rows on disk`, 'ENOTSUP');
    if (t.def?.withoutRowid) throw new FluxError(`${this.path}: table ${t.name} is WITHOUT ROWID (not supported)`, 'ENOTSUP');
    return t;
  }

  private index(name: string): IndexMeta {
    this.checkOpen();
    const ix = this.indexMeta.get(name) ?? findInsensitive(this.indexMeta, name);
    if (ix === undefined) throw new FluxError(`${this.path}: no such index: ${name}`, 'ENOENT');
    return ix;
  }

  private checkOpen(): void {
    if (this.closed) throw new FluxError(`${this.path}: database is closed`, 'EBADF');
  }

  private loadSchema(): void {
    const schema = makeTableMeta('sqlite_schema', SCHEMA_ROOT, SCHEMA_SQL);
    const rows: SqlValue[][] = [];
    for (const cell of this.btree.cells(SCHEMA_ROOT, false)) rows.push(this.rowValues(schema, cell, false));
    const tables = new Map<string, TableMeta>();
    tables.set('sqlite_schema', schema);
    tables.set('sqlite_master', { ...schema, name: 'sqlite_master', rawMasks: new WeakMap() });
    const indexRows: SqlValue[][] = [];
    for (const r of rows) {
      const [type, name, , rootpage, sql] = r;
      if (typeof name !== 'string') continue;
      if (type === 'table') {
        const root = validRoot(rootpage);
        tables.set(name, makeTableMeta(name, root, typeof sql === 'string' ? sql : ''));
      } else if (type === 'index') indexRows.push(r);
    }
    const indexes = new Map<string, IndexMeta>();
    for (const [, name, tblName, rootpage, sql] of indexRows) {
      const tableName = typeof tblName === 'string' ? tblName : '';
      const t = tables.get(tableName) ?? findInsensitive(tables, tableName);
      const indexSql = typeof sql === 'string' ? sql : null;
      indexes.set(name as string, makeIndexMeta(name as string, tableName, validRoot(rootpage), indexSql, t));
    }
    this.tableMeta = tables;
    this.indexMeta = indexes;
  }

  private guard<T>(fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      throw this.wrap(e);
    }
  }

  /** Corruption becomes a one-line FluxError naming the file and page. */
  private wrap(e: unknown): unknown {
    if (isSystemError(e)) return new FluxError(`${this.path}: read failed: ${sysMessage(e)}`, errCode(e));
    if (!(e instanceof Malformed)) return e;
    const page = e.page ?? this.pager.lastPage;
    const what = /truncated/.test(e.message) ? 'file is truncated' : 'database disk image is malformed';
    return new FluxError(`${this.path}: ${what} (page ${page}: ${e.message})`, 'EPROTO');
  }
}

function makeTableMeta(name: string, rootPage: number, sql: string): TableMeta {
  const def = parseCreateTable(sql);
  const columns = def ? def.columns.map((c) => c.name) : [];
  const recordPos: number[] = [];
  let pos = 0;
  for (const c of def?.columns ?? []) recordPos.push(c.stored ? pos++ : -1);
  const plain = def !== undefined && def.rowidAlias < 0 && def.columns.every((c) => c.stored);
  return { name, rootPage, sql, columns, def, recordPos, plain, rawMasks: new WeakMap() };
}

function makeIndexMeta(
  name: string,
  table: string,
  rootPage: number,
  sql: string | null,
  t: TableMeta | undefined,
): IndexMeta {
  let first: { column: string | null; collation: string | null; desc: boolean } | undefined;
  let unique = false;
  if (sql !== null) {
    const d = parseCreateIndex(sql);
    first = d?.first;
    unique = d?.unique ?? false;
  } else {
    // sqlite_autoindex_<table>_<N>: the N-th PRIMARY KEY/UNIQUE constraint of the table.
    unique = true;
    const n = Number(/_(\d+)$/.exec(name)?.[1] ?? 0);
    first = t?.def?.autoIndexes[n - 1]?.[0];
  }
  let collation = first?.collation ?? null;
  if (collation === null && first?.column && t?.def) {
    const ci = findColumn(t.def.columns, first.column);
    if (ci >= 0) collation = t.def.columns[ci]!.collation;
  }
  const desc = first?.desc ?? false;
  return { name, table, rootPage, sql, unique, desc, collation: (collation ?? 'BINARY').toUpperCase() };
}

/** A schema row's root page; anything but a positive integer (virtual tables: 0) is no tree. */
function validRoot(v: SqlValue | undefined): number {
  return typeof v === 'number' && Number.isInteger(v) && v > 0 ? v : 0;
}

function defaultFor(col: ColumnDef | undefined, raw: boolean, enc: TextEncodingName): SqlValue {
  const v = col?.defaultValue ?? null;
  if (raw && typeof v === 'string') return encodeText(v, enc);
  return v instanceof Uint8Array ? v.slice() : v;
}

function findInsensitive<T>(m: Map<string, T>, name: string): T | undefined {
  const lower = name.toLowerCase();
  for (const [k, v] of m) if (k.toLowerCase() === lower) return v;
  return undefined;
}

function openOptional(path: string): number | null {
  try {
    return openSync(path, 'r');
  } catch (e) {
    if (errCode(e) === 'ENOENT') return null;
    throw new FluxError(`${path}: ${sysMessage(e)}`, errCode(e));
  }
}

/**
 * A rollback-mode database with a hot journal may be half-written; SQLite would roll it
 * back (a write). We cannot, so we refuse rather than read torn pages.
 */
function checkNoHotJournal(path: string): void {
  const fd = openOptional(`${path}-journal`);
  if (fd === null) return;
  try {
    const head = new Uint8Array(JOURNAL_MAGIC.length);
    const n = readFull(fd, head, 0, head.length, 0);
    if (n === head.length && JOURNAL_MAGIC.every((b, i) => head[i] === b)) {
      throw new FluxError(
        `${path}: has a hot rollback journal (${path}-journal); open it once with sqlite3 to recover it first`,
        'EBUSY',
      );
    }
  } finally {
    closeSync(fd);
  }
}

function isSystemError(e: unknown): boolean {
  return e instanceof Error && typeof (e as { syscall?: unknown }).syscall === 'string';
}

function errCode(e: unknown): string {
  const code = typeof e === 'object' && e !== null ? (e as { code?: unknown }).code : undefined;
  return typeof code === 'string' ? code : 'EIO';
}

function sysMessage(e: unknown): string {
  switch (errCode(e)) {
    case 'ENOENT':
      return 'no such file';
    case 'EACCES':
      return 'permission denied';
    case 'EISDIR':
      return 'is a directory, not a database';
    default:
      return e instanceof Error ? e.message : String(e);
  }
}
