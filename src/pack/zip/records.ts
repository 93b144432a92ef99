/**
 * ZIP record packers (PKWARE APPNOTE 6.3): local file header, central directory header,
 * end of central directory, and the zip64 end record + locator. Pure: each function
 * writes one record of plain fields into `out` at `off` and returns the offset after it,
 * so a writer can lay thousands of small records into one buffer without allocating.
 * `*Size()` functions give the exact length first. Which fields need zip64 is decided
 * here, from the values, and reported (`needsZip64*`); nothing is clamped.
 */

export const LOCAL_SIG = 0x04034b50;
export const CENTRAL_SIG = 0x02014b50;
export const EOCD_SIG = 0x06054b50;
export const ZIP64_EOCD_SIG = 0x06064b50;
export const ZIP64_LOCATOR_SIG = 0x07064b50;

export const LOCAL_HEADER_SIZE = 30;
export const CENTRAL_HEADER_SIZE = 46;
export const EOCD_SIZE = 22;
export const ZIP64_EOCD_SIZE = 56;
export const ZIP64_LOCATOR_SIZE = 20;

export const METHOD_STORED = 0;
export const METHOD_DEFLATE = 8;

/** General-purpose flag bit 11: name (and comment) are UTF-8. */
export const FLAG_UTF8 = 1 << 11;

/** "Version needed to extract": 1.0 stored, 2.0 deflate, 4.5 zip64 extensions. */
export const VERSION_STORED = 10;
export const VERSION_DEFLATE = 20;
export const VERSION_ZIP64 = 45;
/** "Version made by": host 3 (Unix: external attributes hold st_mode << 16), spec 6.3. */
export const VERSION_MADE_BY = (3 << 8) | 63;

/** Extra field ids and sizes (header of 4 bytes + data). */
export const EXTRA_ZIP64 = 0x0001;
export const EXTRA_TIMESTAMP = 0x5455; // "UT": extended timestamp, UTC seconds
export const EXTRA_UNIX_IDS = 0x7875; // "ux": Info-ZIP Unix uid/gid, any size
const TIMESTAMP_EXTRA_SIZE = 4 + 5; // flags byte (bit 0: mtime present) + u32 mtime
const UNIX_IDS_EXTRA_SIZE = 4 + 11; // version 1, 4-byte uid, 4-byte gid

/** Sentinels meaning "the real value is in the zip64 extra field". */
export const MAX16 = 0xffff;
export const MAX32 = 0xffffffff;

/** One member as both headers describe it. */
export interface ZipMember {
  /** UTF-8 name bytes. */
  name: Uint8Array;
  /** Sets FLAG_UTF8; pass true when the name is not plain ASCII. */
  utf8: boolean;
  method: typeof METHOD_STORED | typeof METHOD_DEFLATE;
  crc32: number;
  compressedSize: number;
  size: number;
  /** Unix seconds, 0 to 2^32 - 1: the UT extra holds it as an unsigned 32-bit value. */
  mtime: number;
  uid: number;
  gid: number;
  /** st_mode (type | permission bits); the central header stores it << 16. */
  unixMode: number;
  /** Offset of the local header from the start of the archive (central header only). */
  localHeaderOffset: number;
}

export interface ZipEnd {
  entries: number;
  centralDirectorySize: number;
  centralDirectoryOffset: number;
}

/** Local header needs zip64: either size does not fit 32 bits (both then go in the extra). */
export function needsZip64Local(m: ZipMember): boolean {
  return m.size >= MAX32 || m.compressedSize >= MAX32;
}

/** The end of the archive needs the zip64 end record and locator. */
export function needsZip64End(end: ZipEnd): boolean {
  return end.entries >= MAX16 || end.centralDirectorySize >= MAX32 || end.centralDirectoryOffset >= MAX32;
}

/** Fields the central header moves to its zip64 extra, in APPNOTE order. */
function centralZip64Fields(m: ZipMember): number[] {
  const fields: number[] = [];
  if (m.size >= MAX32) fields.push(m.size);
  if (m.compressedSize >= MAX32) fields.push(m.compressedSize);
  if (m.localHeaderOffset >= MAX32) fields.push(m.localHeaderOffset);
  return fields;
}

function versionNeeded(m: ZipMember, zip64: boolean): number {
  if (zip64) return VERSION_ZIP64;
  return m.method === METHOD_DEFLATE ? VERSION_DEFLATE : VERSION_STORED;
}

export function localHeaderSize(m: ZipMember): number {
  const zip64 = needsZip64Local(m) ? 4 + 16 : 0;
  return LOCAL_HEADER_SIZE + m.name.length + TIMESTAMP_EXTRA_SIZE + UNIX_IDS_EXTRA_SIZE + zip64;
}

export function centralHeaderSize(m: ZipMember): number {
  const n = centralZip64Fields(m).length;
  const zip64 = n > 0 ? 4 + 8 * n : 0;
  return CENTRAL_HEADER_SIZE + m.name.length + TIMESTAMP_EXTRA_SIZE + UNIX_IDS_EXTRA_SIZE + zip64;
}

function u16(out: Uint8Array, off: number, v: number): number {
  out[off] = v & 0xff;
  out[off + 1] = (v >>> 8) & 0xff;
  return off + 2;
}

function u32(out: Uint8Array, off: number, v: number): number {
  out[off] = v & 0xff;
  out[off + 1] = (v >>> 8) & 0xff;
  out[off + 2] = (v >>> 16) & 0xff;
  out[off + 3] = (v >>> 24) & 0xff;
  return off + 4;
}

/** Little-endian 64-bit from a safe integer (archives stay far below 2^53). */
function u64(out: Uint8Array, off: number, v: number): number {
  u32(out, off, v >>> 0);
  return u32(out, off + 4, Math.floor(v / 0x100000000));
}

/**
 * MS-DOS date and time (local time by definition; we write UTC so output does not depend
 * on the machine's zone, and the UT extra carries the exact UTC second anyway). DOS time
 * spans 1980-01-01 to 2107-12-31 with 2-second steps; earlier times become 1980-01-01
 * 00:00:00 as libarchive writes them, later ones 2107-12-31 23:59:58.
 */
export function dosDateTime(mtime: number): Readonly<{ date: number; time: number }> {
  // A dump stamps most entries with one mtime: remember the last conversion.
  if (mtime === lastDos.mtime) return lastDos.value;
  const value = Object.freeze(computeDosDateTime(mtime));
  lastDos = { mtime, value };
  return value;
}

let lastDos: { mtime: number; value: Readonly<{ date: number; time: number }> } = { mtime: NaN, value: { date: 0, time: 0 } };

function computeDosDateTime(mtime: number): { date: number; time: number } {
  const d = new Date(mtime * 1000);
  const year = d.getUTCFullYear();
  if (year < 1980) return { date: (1 << 5) | 1, time: 0 };
  if (year > 2107) return { date: (127 << 9) | (12 << 5) | 31, time: (23 << 11) | (59 << 5) | 29 };
  return {
    date: ((year - 1980) << 9) | ((d.getUTCMonth() + 1) << 5) | d.getUTCDate(),
    time: (d.getUTCHours() << 11) | (d.getUTCMinutes() << 5) | (d.getUTCSeconds() >> 1),
  };
}

function writeCommonExtras(out: Uint8Array, off: number, m: ZipMember): number {
  off = u16(out, off, EXTRA_TIMESTAMP);
  off = u16(out, off, TIMESTAMP_EXTRA_SIZE - 4);
  out[off++] = 1; // bit 0: modification time follows
  off = u32(out, off, m.mtime);
  off = u16(out, off, EXTRA_UNIX_IDS);
  off = u16(out, off, UNIX_IDS_EXTRA_SIZE - 4);
  out[off++] = 1; // version
  out[off++] = 4;
  off = u32(out, off, m.uid);
  out[off++] = 4;
  return u32(out, off, m.gid);
}

/** Local file header + name + extras. Sizes and CRC are final: no data descriptor. */
export function writeLocalHeader(out: Uint8Array, off: number, m: ZipMember): number {
  const zip64 = needsZip64Local(m);
  const { date, time } = dosDateTime(m.mtime);
  off = u32(out, off, LOCAL_SIG);
  off = u16(out, off, versionNeeded(m, zip64));
  off = u16(out, off, m.utf8 ? FLAG_UTF8 : 0);
  off = u16(out, off, m.method);
  off = u16(out, off, time);
  off = u16(out, off, date);
  off = u32(out, off, m.crc32);
  off = u32(out, off, zip64 ? MAX32 : m.compressedSize);
  off = u32(out, off, zip64 ? MAX32 : m.size);
  off = u16(out, off, m.name.length);
  off = u16(out, off, localHeaderSize(m) - LOCAL_HEADER_SIZE - m.name.length);
  out.set(m.name, off);
  off += m.name.length;
  if (zip64) {
    off = u16(out, off, EXTRA_ZIP64);
    off = u16(out, off, 16);
    off = u64(out, off, m.size);
    off = u64(out, off, m.compressedSize);
  }
  return writeCommonExtras(out, off, m);
}

/** Central directory header + name + extras (zip64 extra only for fields that need it). */
export function writeCentralHeader(out: Uint8Array, off: number, m: ZipMember): number {
  const big = centralZip64Fields(m);
  const { date, time } = dosDateTime(m.mtime);
  off = u32(out, off, CENTRAL_SIG);
  off = u16(out, off, VERSION_MADE_BY);
  off = u16(out, off, versionNeeded(m, big.length > 0));
  off = u16(out, off, m.utf8 ? FLAG_UTF8 : 0);
  off = u16(out, off, m.method);
  off = u16(out, off, time);
  off = u16(out, off, date);
  off = u32(out, off, m.crc32);
  off = u32(out, off, m.compressedSize >= MAX32 ? MAX32 : m.compressedSize);
  off = u32(out, off, m.size >= MAX32 ? MAX32 : m.size);
  off = u16(out, off, m.name.length);
  off = u16(out, off, centralHeaderSize(m) - CENTRAL_HEADER_SIZE - m.name.length);
  off = u16(out, off, 0); // comment length
  off = u16(out, off, 0); // disk number start
  off = u16(out, off, 0); // internal attributes
  off = u32(out, off, (m.unixMode & 0xffff) * 0x10000); // external attributes: st_mode << 16
  off = u32(out, off, m.localHeaderOffset >= MAX32 ? MAX32 : m.localHeaderOffset);
  out.set(m.name, off);
  off += m.name.length;
  if (big.length > 0) {
    off = u16(out, off, EXTRA_ZIP64);
    off = u16(out, off, 8 * big.length);
    for (const v of big) off = u64(out, off, v);
  }
  return writeCommonExtras(out, off, m);
}

/** Bytes of the end records: the classic EOCD, preceded by zip64 ones when needed. */
export function endRecordsSize(end: ZipEnd): number {
  return EOCD_SIZE + (needsZip64End(end) ? ZIP64_EOCD_SIZE + ZIP64_LOCATOR_SIZE : 0);
}

/**
 * Zip64 end record + locator (when needed) + end of central directory. `off` must be the
 * archive offset where these records start: the locator points at the zip64 record.
 */
export function encodeEndRecords(end: ZipEnd, archiveOffset: number): Uint8Array {
  const out = new Uint8Array(endRecordsSize(end));
  let off = 0;
  const zip64 = needsZip64End(end);
  if (zip64) {
    off = u32(out, off, ZIP64_EOCD_SIG);
    off = u64(out, off, ZIP64_EOCD_SIZE - 12); // size of the rest of this record
    off = u16(out, off, VERSION_MADE_BY);
    off = u16(out, off, VERSION_ZIP64);
    off = u32(out, off, 0); // this disk
    off = u32(out, off, 0); // disk with the central directory
    off = u64(out, off, end.entries);
    off = u64(out, off, end.entries);
    off = u64(out, off, end.centralDirectorySize);
    off = u64(out, off, end.centralDirectoryOffset);
    off = u32(out, off, ZIP64_LOCATOR_SIG);
    off = u32(out, off, 0); // disk with the zip64 end record
    off = u64(out, off, archiveOffset);
    off = u32(out, off, 1); // total disks
  }
  off = u32(out, off, EOCD_SIG);
  off = u16(out, off, 0);
  off = u16(out, off, 0);
  off = u16(out, off, Math.min(end.entries, MAX16));
  off = u16(out, off, Math.min(end.entries, MAX16));
  off = u32(out, off, Math.min(end.centralDirectorySize, MAX32));
  off = u32(out, off, Math.min(end.centralDirectoryOffset, MAX32));
  u16(out, off, 0); // comment length
  return out;
}
