/**
 * Pax-restricted tar headers, byte-compatible with libarchive (what `flux dump` writes).
 *
 * One pure function per block: an entry's header bytes are an optional pax 'x' header
 * (named `<dir>/PaxHeader/<file>`) plus its padded records, then the ustar header. A pax
 * header appears only where ustar cannot hold a field: a non-ASCII or unsplittable path,
 * a non-ASCII or > 100-byte link target, a size >= 8 GiB, ids >= 2^18, or an mtime
 * outside [0, 2^31 - 1). This is the TS reference packer; the WASM batch packer must
 * produce the same bytes.
 */
import { isAscii, roundUp, utf8 } from '../../util/bytes.js';

export const BLOCK = 512;

// ustar field offsets and sizes (POSIX.1-1988)
const NAME = 0, NAME_SIZE = 100;
const MODE = 100;
const UID = 108;
const GID = 116;
const SIZE = 124;
const MTIME = 136;
const CHECKSUM = 148;
const TYPEFLAG = 156;
const LINKNAME = 157, LINKNAME_SIZE = 100;
const MAGIC = 257;
const DEVMAJOR = 329;
const DEVMINOR = 337;
const PREFIX = 345, PREFIX_SIZE = 155;

export const TYPE_FILE = 0x30; // '0'
export const TYPE_SYMLINK = 0x32; // '2'
export const TYPE_PAX = 0x78; // 'x'

/** The libarchive template every header starts from: zero-filled fields, terminators set. */
const TEMPLATE: Uint8Array = (() => {
  const h = new Uint8Array(BLOCK);
  const put = (off: number, s: string) => {
    for (let i = 0; i < s.length; i++) h[off + i] = s.charCodeAt(i);
  };
  put(MODE, '000000 \0');
  put(UID, '000000 \0');
  put(GID, '000000 \0');
  put(SIZE, '00000000000 ');
  put(MTIME, '00000000000 ');
  put(CHECKSUM, '        ');
  h[TYPEFLAG] = TYPE_FILE;
  put(MAGIC, 'ustar\0' + '00');
  put(DEVMAJOR, '000000 \0');
  put(DEVMINOR, '000000 \0');
  return h;
})();

export interface HeaderInput {
  path: string;
  linkTarget: string;
  type: 'file' | 'symlink';
  size: number;
  mode: number;
  mtime: number;
  uid: number;
  gid: number;
}

// ---------------------------------------------------------------- numeric fields

/** Write v as `digits` zero-padded octal digits; false (field set to 7s) if it does not fit. */
function writeOctal(h: Uint8Array, off: number, digits: number, v: number): boolean {
  if (v < 0 || v >= 8 ** digits) {
    h.fill(0x37, off, off + digits);
    return false;
  }
  for (let i = digits - 1; i >= 0; i--) {
    h[off + i] = 0x30 + (v % 8);
    v = Math.floor(v / 8);
  }
  return true;
}

/** Base-256 (GNU): high bit set, big-endian two's complement over the whole field. */
function writeBase256(h: Uint8Array, off: number, width: number, v: number): void {
  let big = BigInt(v);
  if (big < 0n) big += 1n << BigInt(width * 8);
  for (let i = width - 1; i >= 0; i--) {
    h[off + i] = Number(big & 0xffn);
    big >>= 8n;
  }
  h[off] = (h[off]! & 0x7f) | 0x80;
}

/**
 * Non-strict number: octal in `digits`, growing over the terminator bytes up to
 * `maxWidth` digits, then base-256 over `maxWidth` bytes (libarchive's behaviour for the
 * entry header proper).
 */
function writeNumber(h: Uint8Array, off: number, digits: number, maxWidth: number, v: number): void {
  if (v >= 0) {
    for (let d = digits; d <= maxWidth; d++) if (v < 8 ** d) return void writeOctal(h, off, d, v);
  }
  writeBase256(h, off, maxWidth, v);
}

// ---------------------------------------------------------------- names

/**
 * Shorten a path to something ustar can hold, as libarchive does for the header that
 * follows a pax 'path' record: keep as much of the leading directories as fits the
 * 155-byte prefix, then as much of the remaining directories as fits beside the file
 * name in 99 bytes, optionally insert a directory (`PaxHeader`) before the file name,
 * and truncate the file name to fit.
 */
export function shortUstarName(path: Uint8Array, insert?: Uint8Array): Uint8Array {
  const len = path.length;
  if (len < NAME_SIZE && insert === undefined) return path;
  let end = len;
  let trailingSlash = false;
  for (;;) {
    if (end > 0 && path[end - 1] === 0x2f) {
      end--;
      trailingSlash = true;
    } else if (end > 1 && path[end - 1] === 0x2e && path[end - 2] === 0x2f) {
      end -= 2;
      trailingSlash = true;
    } else break;
  }
  let room = NAME_SIZE - 1 - (trailingSlash ? 1 : 0) - (insert ? insert.length + 2 : 0);
  // file name: after the last '/' before `end`
  let file = end - 1;
  while (file > 0 && path[file] !== 0x2f) file--;
  if (path[file] === 0x2f && file < end - 1) file++;
  const fileEnd = Math.min(end, file + room);
  room -= fileEnd - file;
  // prefix: leading directories up to a '/' within 155 bytes
  let prefixEnd = Math.min(PREFIX_SIZE, file);
  while (prefixEnd > 0 && path[prefixEnd] !== 0x2f) prefixEnd--;
  if (prefixEnd < file && path[prefixEnd] === 0x2f) prefixEnd++;
  // middle directories: what fits in the remaining room, ending at a '/'
  let midEnd = Math.max(prefixEnd, Math.min(prefixEnd + room, file));
  while (midEnd > prefixEnd && path[midEnd] !== 0x2f) midEnd--;
  if (midEnd < file && path[midEnd] === 0x2f) midEnd++;
  const parts: Uint8Array[] = [path.subarray(0, prefixEnd), path.subarray(prefixEnd, midEnd)];
  if (insert) parts.push(insert, SLASH);
  parts.push(path.subarray(file, fileEnd));
  if (trailingSlash) parts.push(SLASH);
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

const SLASH = new Uint8Array([0x2f]);
const PAX_DIR = utf8('PaxHeader');

/** Where ustar splits a name longer than 100 bytes: index of the '/', or -1 if it cannot. */
function ustarSplit(name: Uint8Array): number {
  if (name.length <= NAME_SIZE) return -2; // no split needed
  let p = name.indexOf(0x2f, name.length - NAME_SIZE - 1);
  if (p === 0) p = name.indexOf(0x2f, 1);
  if (p < 0 || p === name.length - 1 || p > PREFIX_SIZE) return -1;
  return p;
}

function writeName(h: Uint8Array, name: Uint8Array): void {
  const split = ustarSplit(name);
  if (split === -2) h.set(name, NAME);
  else if (split >= 0) {
    h.set(name.subarray(0, split), PREFIX);
    h.set(name.subarray(split + 1), NAME);
  }
  // unsplittable: leave empty; callers only pass shortened names here
}

function writeChecksum(h: Uint8Array): void {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += h[i]!;
  writeOctal(h, CHECKSUM, 6, sum);
  h[CHECKSUM + 6] = 0;
  h[CHECKSUM + 7] = 0x20;
}

// ---------------------------------------------------------------- pax records

/** One pax record: `<len> <key>=<value>\n`, where len counts the whole record. */
export function paxRecord(key: string, value: Uint8Array): Uint8Array {
  const kv = key.length + value.length + 3; // ' ', '=', '\n'
  let len = kv + String(kv).length;
  if (String(len).length !== String(kv).length) len = kv + String(len).length;
  const head = utf8(`${len} ${key}=`);
  const rec = new Uint8Array(len);
  rec.set(head, 0);
  rec.set(value, head.length);
  rec[len - 1] = 0x0a;
  return rec;
}

const ID_LIMIT = 1 << 18;
const SIZE_LIMIT = 2 ** 33;
const MTIME_LIMIT = 0x7fffffff;

interface Plan {
  name: Uint8Array; // what goes in the ustar name/prefix
  link: Uint8Array; // what goes in the ustar linkname
  records: Uint8Array[]; // pax records, in libarchive's order
}

function plan(e: HeaderInput, path: Uint8Array, link: Uint8Array): Plan {
  const records: Uint8Array[] = [];
  let name = path;
  const asciiPath = isAscii(e.path);
  if (!asciiPath || ustarSplit(path) === -1) {
    records.push(paxRecord('path', path));
    name = shortUstarName(path);
  }
  let ustarLink = link;
  if (e.type === 'symlink' && (link.length > LINKNAME_SIZE || !isAscii(e.linkTarget))) {
    records.push(paxRecord('linkpath', link));
    if (link.length > LINKNAME_SIZE) ustarLink = utf8('././@LongSymLink');
  }
  const size = e.type === 'file' ? e.size : 0;
  if (size >= SIZE_LIMIT) records.push(paxRecord('size', utf8(String(size))));
  if (e.gid >= ID_LIMIT) records.push(paxRecord('gid', utf8(String(e.gid))));
  if (e.uid >= ID_LIMIT) records.push(paxRecord('uid', utf8(String(e.uid))));
  const oddTime = e.mtime < 0 || e.mtime >= MTIME_LIMIT;
  if (oddTime) records.push(paxRecord('mtime', utf8(String(e.mtime))));
  return { name, link: ustarLink, records };
}

/** The ustar header block of the entry proper (non-strict numbers). */
function ustarBlock(e: HeaderInput, name: Uint8Array, link: Uint8Array, out: Uint8Array, off: number): void {
  const h = out.subarray(off, off + BLOCK);
  h.set(TEMPLATE);
  writeName(h, name);
  writeNumber(h, MODE, 6, 8, e.mode & 0o7777);
  writeNumber(h, UID, 6, 8, e.uid);
  writeNumber(h, GID, 6, 8, e.gid);
  writeNumber(h, SIZE, 11, 12, e.type === 'file' ? e.size : 0);
  writeNumber(h, MTIME, 11, 12, e.mtime);
  if (e.type === 'symlink') {
    h[TYPEFLAG] = TYPE_SYMLINK;
    h.set(link.subarray(0, LINKNAME_SIZE), LINKNAME);
  }
  writeChecksum(h);
}

/** The 'x' header announcing `dataLen` bytes of pax records (strict octal, clipped ids/time). */
function paxBlock(e: HeaderInput, name: Uint8Array, dataLen: number, out: Uint8Array, off: number): void {
  const h = out.subarray(off, off + BLOCK);
  h.set(TEMPLATE);
  writeName(h, shortUstarName(name, PAX_DIR));
  writeOctal(h, MODE, 6, e.mode & 0o7777);
  writeOctal(h, UID, 6, Math.min(e.uid, ID_LIMIT - 1));
  writeOctal(h, GID, 6, Math.min(e.gid, ID_LIMIT - 1));
  writeOctal(h, SIZE, 11, dataLen);
  writeOctal(h, MTIME, 11, Math.max(0, Math.min(e.mtime, MTIME_LIMIT)));
  h[TYPEFLAG] = TYPE_PAX;
  writeChecksum(h);
}

/** `n` bytes padded to whole 512-byte blocks (any size a value can have, past 2 GiB too). */
export function padded(n: number): number {
  return roundUp(n, BLOCK);
}

/**
 * All header bytes for one entry (pax header + records when needed, then the ustar
 * header); a multiple of 512 bytes. The entry's data follows, padded to 512.
 */
export function entryHeaderTS(e: HeaderInput): Uint8Array {
  const path = utf8(e.path);
  const link = e.type === 'symlink' ? utf8(e.linkTarget) : new Uint8Array(0);
  const p = plan(e, path, link);
  let recLen = 0;
  for (const r of p.records) recLen += r.length;
  const paxLen = p.records.length ? BLOCK + padded(recLen) : 0;
  const out = new Uint8Array(paxLen + BLOCK);
  if (paxLen) {
    // the pax header is named after the shortened ustar name, as libarchive does
    paxBlock(e, p.name, recLen, out, 0);
    let o = BLOCK;
    for (const r of p.records) {
      out.set(r, o);
      o += r.length;
    }
  }
  ustarBlock(e, p.name, p.link, out, paxLen);
  return out;
}
