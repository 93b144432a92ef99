/**
 * Pax-restricted tar headers in batches, byte-identical to the TS reference packer
 * (src/pack/tar/header.ts, itself byte-compatible with libarchive).
 *
 * One call turns a table of entries into all their header bytes: per entry an optional
 * pax 'x' header (named `<dirs>/PaxHeader/<file>`) with its records padded to 512 bytes,
 * then the ustar header with its checksum. A pax header appears only where ustar cannot
 * hold a field: a non-ASCII or unsplittable path, a non-ASCII or > 100-byte link target,
 * a size >= 8 GiB, ids >= 2^18, an mtime outside [0, 2^31 - 1).
 *
 * Numbers arrive as f64 (exact for the safe integers the JS side admits) and are handled
 * as i64. Index arithmetic in the name shortener is signed and mirrors the reference,
 * including JavaScript's subarray() treatment of negative indices.
 */

// ---------------------------------------------------------------- entry table (from JS)
const E_PATH: usize = 0; //      u32 address of the UTF-8 path
const E_PATH_LEN: usize = 4; //  u32
const E_LINK: usize = 8; //      u32 address of the UTF-8 link target (symlinks)
const E_LINK_LEN: usize = 12; // u32
const E_TYPE: usize = 16; //     u32: 0 file, 1 symlink
const E_MODE: usize = 20; //     u32 permission bits
const E_SIZE: usize = 24; //     f64
const E_MTIME: usize = 32; //    f64
const E_UID: usize = 40; //      f64
const E_GID: usize = 48; //      f64
const ENTRY_SIZE: usize = 56;

const TYPE_SYMLINK_IN: u32 = 1;

/** pack() result when `outCap` is too small (the JS side sizes it with entryBound). */
const ERR_OUTPUT_TOO_SMALL: i32 = -1;

// ---------------------------------------------------------------- ustar layout
const BLOCK: usize = 512;
const NAME: usize = 0;
const NAME_SIZE: i32 = 100;
const MODE: usize = 100;
const UID: usize = 108;
const GID: usize = 116;
const SIZE: usize = 124;
const MTIME: usize = 136;
const CHECKSUM: usize = 148;
const TYPEFLAG: usize = 156;
const LINKNAME: usize = 157;
const LINKNAME_SIZE: usize = 100;
const MAGIC: usize = 257;
const DEVMAJOR: usize = 329;
const DEVMINOR: usize = 337;
const PREFIX: usize = 345;
const PREFIX_SIZE: i32 = 155;

const TYPE_FILE: u8 = 0x30; // '0'
const TYPE_SYMLINK: u8 = 0x32; // '2'
const TYPE_PAX: u8 = 0x78; // 'x'
const SLASH: i32 = 0x2f;
const DOT: i32 = 0x2e;

const ID_LIMIT: i64 = 1 << 18;
const SIZE_LIMIT: i64 = 1 << 33;
const MTIME_LIMIT: i64 = 0x7fffffff;

// ---------------------------------------------------------------- static data
/** libarchive's header template: zero-filled numbers with terminators, magic, version. */
const TEMPLATE: usize = memory.data(BLOCK, 16);
const PAX_DIR: usize = memory.data<u8>([0x50, 0x61, 0x78, 0x48, 0x65, 0x61, 0x64, 0x65, 0x72]); // "PaxHeader"
const PAX_DIR_LEN: i32 = 9;
const LONG_SYMLINK: usize = memory.data<u8>([
  0x2e, 0x2f, 0x2e, 0x2f, 0x40, 0x4c, 0x6f, 0x6e, 0x67, 0x53, 0x79, 0x6d, 0x4c, 0x69, 0x6e, 0x6b,
]); // "././@LongSymLink"
const LONG_SYMLINK_LEN: usize = 16;
// Pax keys followed by '='.
const KEY_PATH: usize = memory.data<u8>([0x70, 0x61, 0x74, 0x68, 0x3d]); // "path="
const KEY_LINKPATH: usize = memory.data<u8>([0x6c, 0x69, 0x6e, 0x6b, 0x70, 0x61, 0x74, 0x68, 0x3d]); // "linkpath="
const KEY_SIZE: usize = memory.data<u8>([0x73, 0x69, 0x7a, 0x65, 0x3d]); // "size="
const KEY_UID: usize = memory.data<u8>([0x75, 0x69, 0x64, 0x3d]); // "uid="
const KEY_GID: usize = memory.data<u8>([0x67, 0x69, 0x64, 0x3d]); // "gid="
const KEY_MTIME: usize = memory.data<u8>([0x6d, 0x74, 0x69, 0x6d, 0x65, 0x3d]); // "mtime="

// Scratch: the shortened ustar name, the pax header's name, decimal digits.
const SHORT_NAME: usize = memory.data(512, 16);
const PAX_NAME: usize = memory.data(512, 16);
const DIGITS: usize = memory.data(32, 16);
/** A numeric record's value digits, kept apart from DIGITS (which the length reuses). */
const VALUE_DIGITS: usize = memory.data(32, 16);

function putZeros(p: usize, n: usize, terminators: i32): void {
  memory.fill(p, 0x30, n);
  if (terminators >= 1) store<u8>(p + n, 0x20);
  // a second terminator is the NUL already there
}

function fillTemplate(): void {
  memory.fill(TEMPLATE, 0, BLOCK);
  putZeros(TEMPLATE + MODE, 6, 2);
  putZeros(TEMPLATE + UID, 6, 2);
  putZeros(TEMPLATE + GID, 6, 2);
  putZeros(TEMPLATE + SIZE, 11, 1);
  putZeros(TEMPLATE + MTIME, 11, 1);
  memory.fill(TEMPLATE + CHECKSUM, 0x20, 8);
  store<u8>(TEMPLATE + TYPEFLAG, TYPE_FILE);
  // "ustar\0" then version "00"
  store<u8>(TEMPLATE + MAGIC, 0x75);
  store<u8>(TEMPLATE + MAGIC + 1, 0x73);
  store<u8>(TEMPLATE + MAGIC + 2, 0x74);
  store<u8>(TEMPLATE + MAGIC + 3, 0x61);
  store<u8>(TEMPLATE + MAGIC + 4, 0x72);
  store<u8>(TEMPLATE + MAGIC + 6, 0x30);
  store<u8>(TEMPLATE + MAGIC + 7, 0x30);
  putZeros(TEMPLATE + DEVMAJOR, 6, 2);
  putZeros(TEMPLATE + DEVMINOR, 6, 2);
}
fillTemplate(); // runs once, at instantiation

export function heapBase(): usize {
  return __heap_base;
}

export function entrySize(): u32 {
  return <u32>ENTRY_SIZE;
}

// ---------------------------------------------------------------- byte helpers

/** Byte i of [p, p+len), or -1 outside it (JavaScript's `undefined`, never equal to '/'). */
// @ts-ignore: decorator
@inline function byteAt(p: usize, len: i32, i: i32): i32 {
  return i >= 0 && i < len ? <i32>load<u8>(p + <usize>i) : -1;
}

/** Appends JavaScript's `bytes.subarray(start, end)` of [p, p+len) at `out`; returns its length. */
function appendSub(out: usize, p: usize, len: i32, start: i32, end: i32): i32 {
  if (start < 0) start = max(len + start, 0);
  else start = min(start, len);
  if (end < 0) end = max(len + end, 0);
  else end = min(end, len);
  if (end <= start) return 0;
  memory.copy(out, p + <usize>start, <usize>(end - start));
  return end - start;
}

function isAscii(p: usize, len: usize): bool {
  for (let i: usize = 0; i < len; i++) if (load<u8>(p + i) >= 0x80) return false;
  return true;
}

/** Index of the first `c` at or after `from` in [p, p+len), or -1 (Uint8Array.indexOf). */
function indexOf(p: usize, len: i32, c: i32, from: i32): i32 {
  for (let i = max(from, 0); i < len; i++) if (<i32>load<u8>(p + <usize>i) == c) return i;
  return -1;
}

// ---------------------------------------------------------------- names

/**
 * Shortens a path the way libarchive does for the header after a pax 'path' record (and
 * for the pax header's own name, with `PaxHeader` inserted before the file name). Writes
 * the result at `out`, returns its length.
 */
function shortUstarName(path: usize, len: i32, insert: bool, out: usize): i32 {
  if (len < NAME_SIZE && !insert) {
    memory.copy(out, path, <usize>len);
    return len;
  }
  let end = len;
  let trailingSlash = false;
  for (;;) {
    if (end > 0 && byteAt(path, len, end - 1) == SLASH) {
      end--;
      trailingSlash = true;
    } else if (end > 1 && byteAt(path, len, end - 1) == DOT && byteAt(path, len, end - 2) == SLASH) {
      end -= 2;
      trailingSlash = true;
    } else break;
  }
  let room = NAME_SIZE - 1 - (trailingSlash ? 1 : 0) - (insert ? PAX_DIR_LEN + 2 : 0);
  // The file name: after the last '/' before `end`.
  let file = end - 1;
  while (file > 0 && byteAt(path, len, file) != SLASH) file--;
  if (byteAt(path, len, file) == SLASH && file < end - 1) file++;
  const fileEnd = min(end, file + room);
  room -= fileEnd - file;
  // The prefix: leading directories up to a '/' within 155 bytes.
  let prefixEnd = min(PREFIX_SIZE, file);
  while (prefixEnd > 0 && byteAt(path, len, prefixEnd) != SLASH) prefixEnd--;
  if (prefixEnd < file && byteAt(path, len, prefixEnd) == SLASH) prefixEnd++;
  // Middle directories: what fits in the remaining room, ending at a '/'.
  let midEnd = max(prefixEnd, min(prefixEnd + room, file));
  while (midEnd > prefixEnd && byteAt(path, len, midEnd) != SLASH) midEnd--;
  if (midEnd < file && byteAt(path, len, midEnd) == SLASH) midEnd++;
  let n = appendSub(out, path, len, 0, prefixEnd);
  n += appendSub(out + <usize>n, path, len, prefixEnd, midEnd);
  if (insert) {
    memory.copy(out + <usize>n, PAX_DIR, <usize>PAX_DIR_LEN);
    n += PAX_DIR_LEN;
    store<u8>(out + <usize>n, <u8>SLASH);
    n++;
  }
  n += appendSub(out + <usize>n, path, len, file, fileEnd);
  if (trailingSlash) {
    store<u8>(out + <usize>n, <u8>SLASH);
    n++;
  }
  return n;
}

const NO_SPLIT_NEEDED: i32 = -2;
const UNSPLITTABLE: i32 = -1;

/** Where ustar splits a name longer than 100 bytes: index of the '/', or UNSPLITTABLE. */
function ustarSplit(name: usize, len: i32): i32 {
  if (len <= NAME_SIZE) return NO_SPLIT_NEEDED;
  let p = indexOf(name, len, SLASH, len - NAME_SIZE - 1);
  if (p == 0) p = indexOf(name, len, SLASH, 1);
  if (p < 0 || p == len - 1 || p > PREFIX_SIZE) return UNSPLITTABLE;
  return p;
}

function writeName(h: usize, name: usize, len: i32): void {
  const split = ustarSplit(name, len);
  if (split == NO_SPLIT_NEEDED) {
    memory.copy(h + NAME, name, <usize>len);
  } else if (split >= 0) {
    memory.copy(h + PREFIX, name, <usize>split);
    memory.copy(h + NAME, name + <usize>(split + 1), <usize>(len - split - 1));
  }
  // Unsplittable: left empty; only shortened names reach this point.
}

// ---------------------------------------------------------------- numbers

/** v as `digits` zero-padded octal digits; the field becomes 7s if v does not fit. */
function writeOctal(p: usize, digits: i32, v: i64): void {
  if (v < 0 || (digits < 21 && v >= (<i64>1 << (3 * <i64>digits)))) {
    memory.fill(p, 0x37, <usize>digits);
    return;
  }
  for (let i = digits - 1; i >= 0; i--) {
    store<u8>(p + <usize>i, <u8>(0x30 + (v & 7)));
    v >>= 3;
  }
}

/** Base-256 (GNU): high bit set, big-endian two's complement over `width` bytes (8 or 12). */
function writeBase256(p: usize, width: i32, v: i64): void {
  const fill: u8 = v < 0 ? 0xff : 0;
  for (let i = 0; i < width - 8; i++) store<u8>(p + <usize>i, fill);
  store<u64>(p + <usize>(width - 8), bswap<u64>(<u64>v));
  store<u8>(p, (load<u8>(p) & 0x7f) | 0x80);
}

/** Octal in `digits`, growing over the terminators up to `maxWidth` digits, else base-256. */
function writeNumber(p: usize, digits: i32, maxWidth: i32, v: i64): void {
  if (v >= 0) {
    for (let d = digits; d <= maxWidth; d++) {
      if (v < (<i64>1 << (3 * <i64>d))) {
        writeOctal(p, d, v);
        return;
      }
    }
  }
  writeBase256(p, maxWidth, v);
}

/** Decimal digits of v (with '-' if negative) at DIGITS; returns their count. */
function decimal(v: i64): i32 {
  let u: u64 = v < 0 ? <u64>(-v) : <u64>v;
  let n = 0;
  do {
    store<u8>(DIGITS + 31 - <usize>n, <u8>(0x30 + <i32>(u % 10)));
    u /= 10;
    n++;
  } while (u != 0);
  if (v < 0) {
    store<u8>(DIGITS + 31 - <usize>n, 0x2d);
    n++;
  }
  memory.copy(DIGITS, DIGITS + 32 - <usize>n, <usize>n);
  return n;
}

function decimalLength(v: i32): i32 {
  let n = 1;
  while (v >= 10) {
    v /= 10;
    n++;
  }
  return n;
}

/**
 * Appends the pax record `<len> <key>=<value>\n` at `out` (len counts the whole record,
 * its own digits included); returns its length. `key` includes the '='.
 */
function paxRecord(out: usize, key: usize, keyLen: i32, value: usize, valueLen: i32): i32 {
  const kv = keyLen + valueLen + 2; // ' ' and '\n' (the '=' is in the key)
  let len = kv + decimalLength(kv);
  if (decimalLength(len) != decimalLength(kv)) len = kv + decimalLength(len);
  const digits = decimal(<i64>len);
  memory.copy(out, DIGITS, <usize>digits);
  let o = out + <usize>digits;
  store<u8>(o++, 0x20);
  memory.copy(o, key, <usize>keyLen);
  o += <usize>keyLen;
  memory.copy(o, value, <usize>valueLen);
  o += <usize>valueLen;
  store<u8>(o, 0x0a);
  return len;
}

/** A numeric pax record (size, uid, gid, mtime). */
function paxNumber(out: usize, key: usize, keyLen: i32, v: i64): i32 {
  const n = decimal(v);
  memory.copy(VALUE_DIGITS, DIGITS, <usize>n);
  return paxRecord(out, key, keyLen, VALUE_DIGITS, n);
}

function writeChecksum(h: usize): void {
  let sum: i64 = 0;
  for (let i: usize = 0; i < BLOCK; i += 8) {
    const w = load<u64>(h + i);
    // Sum the eight bytes of w.
    let x = (w & 0x00ff00ff00ff00ff) + ((w >> 8) & 0x00ff00ff00ff00ff);
    x = (x & 0x0000ffff0000ffff) + ((x >> 16) & 0x0000ffff0000ffff);
    x = (x & 0x00000000ffffffff) + (x >> 32);
    sum += <i64>x;
  }
  writeOctal(h + CHECKSUM, 6, sum);
  store<u8>(h + CHECKSUM + 6, 0);
  store<u8>(h + CHECKSUM + 7, 0x20);
}

function maxI64(a: i64, b: i64): i64 {
  return a > b ? a : b;
}

function minI64(a: i64, b: i64): i64 {
  return a < b ? a : b;
}

// ---------------------------------------------------------------- entries

/**
 * Writes all header bytes of one entry at `out`; returns their length (a multiple of 512)
 * or ERR_OUTPUT_TOO_SMALL if they would pass `outEnd`.
 */
function packEntry(e: usize, out: usize, outEnd: usize): i32 {
  const path = <usize>load<u32>(e + E_PATH);
  const pathLen = <i32>load<u32>(e + E_PATH_LEN);
  const symlink = load<u32>(e + E_TYPE) == TYPE_SYMLINK_IN;
  const link = <usize>load<u32>(e + E_LINK);
  const linkLen = symlink ? <usize>load<u32>(e + E_LINK_LEN) : 0;
  const mode = <i64>(load<u32>(e + E_MODE) & 0o7777);
  const size: i64 = symlink ? 0 : <i64>load<f64>(e + E_SIZE);
  const mtime = <i64>load<f64>(e + E_MTIME);
  const uid = <i64>load<f64>(e + E_UID);
  const gid = <i64>load<f64>(e + E_GID);

  // Worst case: pax header + records + ustar header.
  const recordsMax = <usize>pathLen + linkLen + 200;
  if (out + 2 * BLOCK + recordsMax + BLOCK > outEnd) return ERR_OUTPUT_TOO_SMALL;

  // Plan: pax records (written straight after a pax header's block), ustar name and link.
  const records = out + BLOCK;
  let recLen: i32 = 0;
  let name = path;
  let nameLen = pathLen;
  if (!isAscii(path, <usize>pathLen) || ustarSplit(path, pathLen) == UNSPLITTABLE) {
    recLen += paxRecord(records, KEY_PATH, 5, path, pathLen);
    nameLen = shortUstarName(path, pathLen, false, SHORT_NAME);
    name = SHORT_NAME;
  }
  let ustarLink = link;
  let ustarLinkLen = linkLen;
  if (symlink && (linkLen > LINKNAME_SIZE || !isAscii(link, linkLen))) {
    recLen += paxRecord(records + <usize>recLen, KEY_LINKPATH, 9, link, <i32>linkLen);
    if (linkLen > LINKNAME_SIZE) {
      ustarLink = LONG_SYMLINK;
      ustarLinkLen = LONG_SYMLINK_LEN;
    }
  }
  if (size >= SIZE_LIMIT) recLen += paxNumber(records + <usize>recLen, KEY_SIZE, 5, size);
  if (gid >= ID_LIMIT) recLen += paxNumber(records + <usize>recLen, KEY_GID, 4, gid);
  if (uid >= ID_LIMIT) recLen += paxNumber(records + <usize>recLen, KEY_UID, 4, uid);
  if (mtime < 0 || mtime >= MTIME_LIMIT) recLen += paxNumber(records + <usize>recLen, KEY_MTIME, 6, mtime);

  let h = out;
  if (recLen > 0) {
    // The 'x' header: named after the shortened ustar name, strict octal, clipped ids/time.
    memory.copy(h, TEMPLATE, BLOCK);
    const paxNameLen = shortUstarName(name, nameLen, true, PAX_NAME);
    writeName(h, PAX_NAME, paxNameLen);
    writeOctal(h + MODE, 6, mode);
    writeOctal(h + UID, 6, minI64(uid, ID_LIMIT - 1));
    writeOctal(h + GID, 6, minI64(gid, ID_LIMIT - 1));
    writeOctal(h + SIZE, 11, <i64>recLen);
    writeOctal(h + MTIME, 11, maxI64(0, minI64(mtime, MTIME_LIMIT)));
    store<u8>(h + TYPEFLAG, TYPE_PAX);
    writeChecksum(h);
    const padded = (<usize>recLen + BLOCK - 1) & ~(BLOCK - 1);
    memory.fill(records + <usize>recLen, 0, padded - <usize>recLen);
    h = records + padded;
  }

  memory.copy(h, TEMPLATE, BLOCK);
  writeName(h, name, nameLen);
  writeNumber(h + MODE, 6, 8, mode);
  writeNumber(h + UID, 6, 8, uid);
  writeNumber(h + GID, 6, 8, gid);
  writeNumber(h + SIZE, 11, 12, size);
  writeNumber(h + MTIME, 11, 12, mtime);
  if (symlink) {
    store<u8>(h + TYPEFLAG, TYPE_SYMLINK);
    memory.copy(h + LINKNAME, ustarLink, min(ustarLinkLen, LINKNAME_SIZE));
  }
  writeChecksum(h);
  return <i32>(h + BLOCK - out);
}

/**
 * Packs `count` entries from the table at `entries` into [out, out+outCap). offsets[i] is
 * where entry i's bytes start (relative to out); offsets[count] is the total, which is
 * also returned. ERR_OUTPUT_TOO_SMALL if they do not fit.
 */
export function pack(entries: usize, count: u32, out: usize, outCap: usize, offsets: usize): i32 {
  const outEnd = out + outCap;
  let o = out;
  for (let i: u32 = 0; i < count; i++) {
    store<u32>(offsets + (<usize>i << 2), <u32>(o - out));
    const n = packEntry(entries + <usize>i * ENTRY_SIZE, o, outEnd);
    if (n < 0) return n;
    o += <usize>n;
  }
  store<u32>(offsets + (<usize>count << 2), <u32>(o - out));
  return <i32>(o - out);
}
