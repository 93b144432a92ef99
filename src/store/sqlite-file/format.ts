/**
 * The SQLite database file format, as pure functions over bytes: the 100-byte header,
 * varints, b-tree page headers, the payload spill formula and the record format.
 * Nothing here does I/O; callers hand in page buffers. Offsets follow the layout that
 * sqlite.org's "Database File Format" documents.
 */

export type SqlValue = null | number | bigint | string | Uint8Array;
export type TextEncodingName = 'utf8' | 'utf16le' | 'utf16be';

/** Corruption found while decoding; the reader turns it into a FluxError naming the file. */
export class Malformed extends Error {
  readonly page: number | undefined;
  constructor(detail: string, page?: number) {
    super(detail);
    this.name = 'Malformed';
    this.page = page;
  }
}

// ---- database header (first 100 bytes of page 1) --------------------------------------
export const HEADER_SIZE = 100;
export const MAGIC = 'SQLite format 3\0';
const OFF_PAGE_SIZE = 16;
const OFF_WRITE_VERSION = 18;
const OFF_READ_VERSION = 19;
const OFF_RESERVED = 20;
const OFF_MAX_EMBEDDED = 21;
const OFF_MIN_EMBEDDED = 22;
const OFF_LEAF_PAYLOAD = 23;
const OFF_CHANGE_COUNTER = 24;
const OFF_DB_SIZE = 28;
const OFF_TEXT_ENCODING = 56;
const OFF_VERSION_VALID_FOR = 92;

export interface DbHeader {
  pageSize: number;
  /** Bytes at the end of every page that belong to extensions (checksums, encryption). */
  reserved: number;
  usableSize: number;
  /** 1 = rollback journal, 2 = WAL. */
  writeVersion: number;
  readVersion: number;
  /** In-header page count, or 0 when it is not trustworthy (legacy writers). */
  dbSizeInHeader: number;
  textEncoding: TextEncodingName;
}

/** Parses the 100-byte header; returns a reason string when the bytes are not a database. */
export function parseHeader(h: Uint8Array): DbHeader | string {
  if (h.length < HEADER_SIZE) return 'file is not a database';
  for (let i = 0; i < MAGIC.length; i++) if (h[i] !== MAGIC.charCodeAt(i)) return 'file is not a database';
  const raw = u16(h, OFF_PAGE_SIZE);
  const pageSize = raw === 1 ? 65536 : raw;
  if (pageSize < 512 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0) return 'file is not a database';
  // SQLite refuses these fixed payload fractions when they differ from 64/32/32.
  if (h[OFF_MAX_EMBEDDED] !== 64 || h[OFF_MIN_EMBEDDED] !== 32 || h[OFF_LEAF_PAYLOAD] !== 32) {
    return 'file is not a database';
  }
  const readVersion = h[OFF_READ_VERSION]!;
  if (readVersion > 2) return `unsupported file format (read version ${readVersion})`;
  const reserved = h[OFF_RESERVED]!;
  const usableSize = pageSize - reserved;
  if (usableSize < 480) return 'file is not a database';
  const enc = u32(h, OFF_TEXT_ENCODING);
  // 0 means "not yet chosen" (empty database); SQLite then uses UTF-8.
  if (enc > 3) return 'file is not a database';
  const textEncoding: TextEncodingName = enc === 2 ? 'utf16le' : enc === 3 ? 'utf16be' : 'utf8';
  const sizeValid = u32(h, OFF_CHANGE_COUNTER) === u32(h, OFF_VERSION_VALID_FOR);
  return {
    pageSize,
    reserved,
    usableSize,
    writeVersion: h[OFF_WRITE_VERSION]!,
    readVersion,
    dbSizeInHeader: sizeValid ? u32(h, OFF_DB_SIZE) : 0,
    textEncoding,
  };
}

// ---- integers ---------------------------------------------------------------------------
export function u16(b: Uint8Array, off: number): number {
  return (b[off]! << 8) | b[off + 1]!;
}

export function u32(b: Uint8Array, off: number): number {
  return ((b[off]! << 24) >>> 0) + ((b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!);
}

/** Length of the varint just read by readVarint/readSize (a shared out-parameter: no allocation). */
export let varintLen = 0;

/**
 * Reads a signed 64-bit varint (rowids, integer keys): a number when it is a safe
 * integer, else a bigint. Throws Malformed when it runs past `end`.
 */
export function readVarint(b: Uint8Array, off: number, end: number): number | bigint {
  let v = 0;
  // Up to 7 bytes hold at most 49 bits: exact in a double.
  for (let i = 0; i < 7; i++) {
    if (off + i >= end) throw new Malformed('varint runs past its cell');
    const c = b[off + i]!;
    if (c < 0x80) {
      varintLen = i + 1;
      return v * 128 + c;
    }
    v = v * 128 + (c & 0x7f);
  }
  return readVarintBig(b, off, end);
}

function readVarintBig(b: Uint8Array, off: number, end: number): number | bigint {
  let v = 0n;
  for (let i = 0; i < 9; i++) {
    if (off + i >= end) throw new Malformed('varint runs past its cell');
    const c = b[off + i]!;
    if (i === 8) {
      v = (v << 8n) | BigInt(c);
      varintLen = 9;
      break;
    }
    v = (v << 7n) | BigInt(c & 0x7f);
    if (c < 0x80) {
      varintLen = i + 1;
      break;
    }
  }
  return normInt(BigInt.asIntN(64, v));
}

/** A varint that must be a small non-negative number (sizes, serial types, header lengths). */
export function readSize(b: Uint8Array, off: number, end: number): number {
  const v = readVarint(b, off, end);
  if (typeof v !== 'number' || v < 0) throw new Malformed('size varint out of range');
  return v;
}

/** bigint -> number when exact, so callers see one representation per value. */
export function normInt(v: bigint): number | bigint {
  return v >= -9007199254740991n && v <= 9007199254740991n ? Number(v) : v;
}

/** Numeric comparison across number/bigint that is exact, as SQLite compares int vs real. */
export function compareNumeric(a: number | bigint, b: number | bigint): number {
  if (typeof a === 'number' && typeof b === 'number') return a < b ? -1 : a > b ? 1 : 0;
  if (typeof a === 'bigint' && typeof b === 'bigint') return a < b ? -1 : a > b ? 1 : 0;
  if (typeof a === 'bigint') return -compareBigNum(b as number, a);
  return compareBigNum(a, b as bigint);
}

/** number vs bigint, exactly (the bigint is outside the safe range by construction, but need not be). */
function compareBigNum(n: number, big: bigint): number {
  if (n === Infinity) return 1;
  if (n === -Infinity) return -1;
  const fl = Math.floor(n);
  const bf = BigInt(fl);
  if (bf < big) return -1;
  if (bf > big) return 1;
  return n > fl ? 1 : 0;
}

// ---- b-tree pages ----------------------------------------------------------------------
export const PAGE_INTERIOR_INDEX = 2;
export const PAGE_INTERIOR_TABLE = 5;
export const PAGE_LEAF_INDEX = 10;
export const PAGE_LEAF_TABLE = 13;
const LEAF_HEADER_SIZE = 8;
const INTERIOR_HEADER_SIZE = 12;
const OFF_NUM_CELLS = 3;
const OFF_RIGHT_CHILD = 8;

/** A validated b-tree page: cell pointers are checked once, when the page enters the cache. */
export interface BtreePage {
  pgno: number;
  buf: Uint8Array;
  type: number;
  leaf: boolean;
  nCells: number;
  /** Offset of the cell pointer array. */
  cellPtrs: number;
  /** Right-most child (interior pages only). */
  right: number;
  /** End of cell data: usable size (the reserved tail is not ours). */
  end: number;
  /** False once the cache reused this page's memory: re-fetch by pgno before reading. */
  live: boolean;
}

export function parseBtreePage(pgno: number, buf: Uint8Array, usableSize: number): BtreePage {
  const hdr = pgno === 1 ? HEADER_SIZE : 0;
  const type = buf[hdr]!;
  const leaf = type === PAGE_LEAF_TABLE || type === PAGE_LEAF_INDEX;
  if (!leaf && type !== PAGE_INTERIOR_TABLE && type !== PAGE_INTERIOR_INDEX) {
    throw new Malformed(`not a b-tree page (type ${type})`, pgno);
  }
  const nCells = u16(buf, hdr + OFF_NUM_CELLS);
  const cellPtrs = hdr + (leaf ? LEAF_HEADER_SIZE : INTERIOR_HEADER_SIZE);
  const ptrEnd = cellPtrs + 2 * nCells;
  if (ptrEnd > usableSize) throw new Malformed('cell count exceeds page', pgno);
  // A cell needs at least 2 bytes (leaf) or 5 bytes (interior) after its start.
  const minCell = leaf ? 2 : 5;
  for (let p = cellPtrs; p < ptrEnd; p += 2) {
    const c = u16(buf, p);
    if (c < ptrEnd || c + minCell > usableSize) throw new Malformed('cell pointer out of range', pgno);
  }
  const right = leaf ? 0 : u32(buf, hdr + OFF_RIGHT_CHILD);
  return { pgno, buf, type, leaf, nCells, cellPtrs, right, end: usableSize, live: true };
}

export function cellOffset(p: BtreePage, i: number): number {
  const o = p.cellPtrs + 2 * i;
  return (p.buf[o]! << 8) | p.buf[o + 1]!;
}

/**
 * How many payload bytes stay on the b-tree page (the rest spills to overflow pages):
 * the documented X/M/K formula, with U the usable page size.
 */
export function localPayloadSize(payload: number, usableSize: number, tableLeaf: boolean): number {
  const maxLocal = tableLeaf ? usableSize - 35 : Math.floor(((usableSize - 12) * 64) / 255) - 23;
  if (payload <= maxLocal) return payload;
  const minLocal = Math.floor(((usableSize - 12) * 32) / 255) - 23;
  const k = minLocal + ((payload - minLocal) % (usableSize - 4));
  return k <= maxLocal ? k : minLocal;
}

// ---- records -------------------------------------------------------------------------
/** Storage classes in SQLite's cross-class sort order. */
export const CLASS_NULL = 0;
export const CLASS_NUMERIC = 1;
export const CLASS_TEXT = 2;
export const CLASS_BLOB = 3;

export function serialClass(st: number): number {
  if (st === 0) return CLASS_NULL;
  if (st <= 9) return CLASS_NUMERIC;
  if (st < 12) throw new Malformed(`reserved serial type ${st}`);
  return st & 1 ? CLASS_TEXT : CLASS_BLOB;
}

const INT_WIDTH = [0, 1, 2, 3, 4, 6, 8, 8, 0, 0];

/** Bytes a value of serial type `st` occupies in the record body. */
export function serialSize(st: number): number {
  if (st < 10) return INT_WIDTH[st]!;
  if (st < 12) throw new Malformed(`reserved serial type ${st}`);
  return (st - 12) >>> 1;
}

const f64 = new DataView(new ArrayBuffer(8));

/** Numeric value of serial types 1..9 at `off`. */
export function readNumeric(b: Uint8Array, off: number, st: number): number | bigint {
  switch (st) {
    case 1:
      return (b[off]! << 24) >> 24;
    case 2:
      return (((b[off]! << 8) | b[off + 1]!) << 16) >> 16;
    case 3:
      return (((b[off]! << 16) | (b[off + 1]! << 8) | b[off + 2]!) << 8) >> 8;
    case 4:
      return (b[off]! << 24) | (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!;
    case 5: {
      const hi = (((b[off]! << 8) | b[off + 1]!) << 16) >> 16;
      return hi * 0x100000000 + u32(b, off + 2);
    }
    case 6: {
      const hi = (b[off]! << 24) | (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!;
      const lo = u32(b, off + 4);
      // |hi| < 2^21 keeps hi * 2^32 + lo exact.
      if (hi >= -0x200000 && hi < 0x200000) return hi * 0x100000000 + lo;
      return normInt((BigInt(hi) << 32n) | BigInt(lo));
    }
    case 7:
      for (let i = 0; i < 8; i++) f64.setUint8(i, b[off + i]!);
      return f64.getFloat64(0, false);
    case 8:
      return 0;
    case 9:
      return 1;
    default:
      throw new Malformed(`serial type ${st} is not numeric`);
  }
}

const decoders: Record<TextEncodingName, TextDecoder> = {
  utf8: new TextDecoder('utf-8'),
  utf16le: new TextDecoder('utf-16le'),
  utf16be: new TextDecoder('utf-16be'),
};

export function decodeText(b: Uint8Array, enc: TextEncodingName): string {
  if (enc === 'utf8') {
    // Short ASCII strings (names, SQL keywords, JSON) are faster without TextDecoder.
    if (b.length <= 64) {
      let s = '';
      for (let i = 0; i < b.length; i++) {
        const c = b[i]!;
        if (c >= 0x80) return decoders.utf8.decode(b);
        s += String.fromCharCode(c);
      }
      return s;
    }
  }
  return decoders[enc].decode(b);
}

export function encodeText(s: string, enc: TextEncodingName): Uint8Array {
  if (enc === 'utf8') return new TextEncoder().encode(s);
  const out = new Uint8Array(s.length * 2);
  const le = enc === 'utf16le';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    out[2 * i + (le ? 0 : 1)] = c & 0xff;
    out[2 * i + (le ? 1 : 0)] = c >>> 8;
  }
  return out;
}

/**
 * Medium values (65 B .. 4 KiB) are carved from a shared 32 KiB ArrayBuffer, as Node's
 * Buffer.allocUnsafe pools: a fresh ArrayBuffer per value cost more than the whole b-tree
 * descent of a row fetch. Tiny values need no pool (V8 keeps them on its heap) and large
 * ones get their own buffer, so keeping a value pins at most 32 KiB of other values.
 */
const TINY_VALUE = 64;
const MEDIUM_VALUE = 4096;
const POOL_BYTES = 32 * 1024;
let pool = new ArrayBuffer(POOL_BYTES);
let poolUsed = 0;

/** A private copy of b[start, end): callers may keep or change it without touching the cache. */
function copyValue(b: Uint8Array, start: number, end: number): Uint8Array {
  const n = end - start;
  if (n <= TINY_VALUE || n > MEDIUM_VALUE) return b.slice(start, end);
  if (poolUsed + n > POOL_BYTES) {
    pool = new ArrayBuffer(POOL_BYTES);
    poolUsed = 0;
  }
  // Views made with the constructor: subarray() is slower (species lookup).
  const out = new Uint8Array(pool, poolUsed, n);
  out.set(new Uint8Array(b.buffer, b.byteOffset + start, n));
  // 8-byte aligned, so callers may wrap values in wider typed arrays.
  poolUsed = (poolUsed + n + 7) & ~7;
  return out;
}

/**
 * Decodes the record at b[off, off+len). `raw[i]` (or raw === true) says TEXT column i
 * comes back as its stored bytes. `owned` says b is a private buffer, so BLOB/raw values
 * may be views of it; otherwise (a cached page) they are copied so callers can never
 * alter the cache.
 */
export function decodeRecord(
  b: Uint8Array,
  off: number,
  len: number,
  enc: TextEncodingName,
  raw: boolean | readonly boolean[],
  owned: boolean,
): SqlValue[] {
  const end = off + len;
  let hdrSize = b[off]!;
  let p = off + 1;
  if (hdrSize >= 0x80) {
    hdrSize = readSize(b, off, end);
    p = off + varintLen;
  }
  const hdrEnd = off + hdrSize;
  if (hdrEnd > end || hdrEnd < p) throw new Malformed('record header out of range');
  let body = hdrEnd;
  const out: SqlValue[] = [];
  while (p < hdrEnd) {
    // Serial types below 128 (small blobs/texts, every number) are one byte.
    let st = b[p]!;
    if (st < 0x80) p++;
    else {
      st = readSize(b, p, hdrEnd);
      p += varintLen;
    }
    const size = st < 12 ? serialSize(st) : (st - 12) >>> 1;
    if (body + size > end) throw new Malformed('record body out of range');
    let v: SqlValue;
    if (st === 0) v = null;
    else if (st < 10) v = readNumeric(b, body, st);
    else if (st < 12) throw new Malformed(`reserved serial type ${st}`);
    else if ((st & 1) === 0 || raw === true || (raw !== false && raw[out.length] === true)) {
      v = owned ? b.subarray(body, body + size) : copyValue(b, body, body + size);
    } else v = decodeText(b.subarray(body, body + size), enc);
    out.push(v);
    body += size;
  }
  return out;
}

/** The last column of an index record: the rowid it points at. */
export function recordLastInt(b: Uint8Array, off: number, len: number): number | bigint {
  const end = off + len;
  const hdrSize = readSize(b, off, end);
  let p = off + varintLen;
  const hdrEnd = off + hdrSize;
  if (hdrEnd > end || hdrEnd < p) throw new Malformed('record header out of range');
  let body = hdrEnd;
  let st = -1;
  let at = 0;
  while (p < hdrEnd) {
    st = readSize(b, p, hdrEnd);
    p += varintLen;
    at = body;
    body += serialSize(st);
  }
  if (st < 1 || st > 9 || st === 7 || body > end) throw new Malformed('index record has no rowid');
  return readNumeric(b, at, st);
}

/** A lookup key prepared once: its storage class and comparable form. */
export interface Key {
  cls: number;
  num: number | bigint;
  bytes: Uint8Array;
}

const EMPTY = new Uint8Array(0);

export function makeKey(v: SqlValue, enc: TextEncodingName): Key {
  if (v === null || (typeof v === 'number' && Number.isNaN(v))) return { cls: CLASS_NULL, num: 0, bytes: EMPTY };
  if (typeof v === 'number' || typeof v === 'bigint') {
    return { cls: CLASS_NUMERIC, num: typeof v === 'bigint' ? normInt(v) : v, bytes: EMPTY };
  }
  if (typeof v === 'string') return { cls: CLASS_TEXT, num: 0, bytes: encodeText(v, enc) };
  return { cls: CLASS_BLOB, num: 0, bytes: v };
}

export function textKey(bytes: Uint8Array): Key {
  return { cls: CLASS_TEXT, num: 0, bytes };
}

/**
 * Compares the first column of the record at b[off, off+len) with `key` under SQLite's
 * rules (BINARY collation): <0, 0 or >0.
 */
export function compareFirstColumn(b: Uint8Array, off: number, len: number, key: Key): number {
  const end = off + len;
  const hdrSize = readSize(b, off, end);
  const p = off + varintLen;
  const hdrEnd = off + hdrSize;
  if (hdrEnd > end || hdrEnd < p) throw new Malformed('record header out of range');
  // A record without columns sorts as NULL.
  const st = p < hdrEnd ? readSize(b, p, hdrEnd) : 0;
  const cls = serialClass(st);
  if (cls !== key.cls) return cls < key.cls ? -1 : 1;
  if (cls === CLASS_NULL) return 0;
  if (cls === CLASS_NUMERIC) return compareNumeric(readNumeric(b, hdrEnd, st), key.num);
  const n = (st - 12) >>> 1;
  if (hdrEnd + n > end) throw new Malformed('record body out of range');
  const k = key.bytes;
  const m = n < k.length ? n : k.length;
  for (let i = 0; i < m; i++) {
    const d = b[hdrEnd + i]! - k[i]!;
    if (d !== 0) return d;
  }
  return n - k.length;
}

/** Number of columns in a record (counts serial types in its header). */
export function recordColumnCount(b: Uint8Array, off: number, len: number): number {
  const end = off + len;
  const hdrSize = readSize(b, off, end);
  let p = off + varintLen;
  const hdrEnd = off + hdrSize;
  let n = 0;
  while (p < hdrEnd) {
    readSize(b, p, hdrEnd);
    p += varintLen;
    n++;
  }
  return n;
}

/**
 * Serial types and body offsets of the first `types.length` columns of the record at
 * b[off, off+len), without decoding any value (hot row fetches parse only what they use).
 * Returns the number of columns filled; every filled column lies inside the record.
 */
export function recordFields(b: Uint8Array, off: number, len: number, types: Int32Array, offsets: Int32Array): number {
  const end = off + len;
  const hdrSize = readSize(b, off, end);
  let p = off + varintLen;
  const hdrEnd = off + hdrSize;
  if (hdrEnd > end || hdrEnd < p) throw new Malformed('record header out of range');
  let body = hdrEnd;
  let n = 0;
  while (p < hdrEnd && n < types.length) {
    let st = b[p]!;
    if (st < 0x80) p++;
    else {
      st = readSize(b, p, hdrEnd);
      p += varintLen;
    }
    const size = st < 12 ? serialSize(st) : (st - 12) >>> 1;
    if (body + size > end) throw new Malformed('record body out of range');
    types[n] = st;
    offsets[n] = body;
    body += size;
    n++;
  }
  return n;
}
