/**
 * Zip reader over positioned reads: the end-of-central-directory record (zip64 when the
 * counts or offsets overflow), then the central directory in order, each member's data
 * found through its local header. Stored and deflated members; CRC-32 checked. Member
 * types come from the Unix mode in the external attributes (symlink targets are the
 * member's data), mtimes from the extended-timestamp field, else the DOS time (local
 * time, as zip writers record it).
 */
import { crc32, inflateRawSync } from 'node:zlib';
import { FluxError } from '../errors.js';
import { fromUtf8 } from '../util/bytes.js';
import { checkValueSize, EMPTY, MAX_META_BYTES, overLimit, showName, type ReaderOptions, type RestoreEntry } from './entry.js';
import { WindowedReader, type RandomAccess } from './random-access.js';

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const SIG_ZIP64_EOCD = 0x06064b50;

const EOCD_LEN = 22;
const EOCD_MAX_COMMENT = 0xffff;
const ZIP64_LOCATOR_LEN = 20;
const ZIP64_EOCD_LEN = 56;
const CENTRAL_LEN = 46;
const LOCAL_LEN = 30;

// central directory header fields
const C_MADE_BY = 4;
const C_FLAGS = 8;
const C_METHOD = 10;
const C_TIME = 12;
const C_DATE = 14;
const C_CRC = 16;
const C_COMP_SIZE = 20;
const C_SIZE = 24;
const C_NAME_LEN = 28;
const C_EXTRA_LEN = 30;
const C_COMMENT_LEN = 32;
const C_EXT_ATTR = 38;
const C_LOCAL_OFFSET = 42;

const L_NAME_LEN = 26;
const L_EXTRA_LEN = 28;

const EXTRA_ZIP64 = 0x0001;
const EXTRA_TIMESTAMP = 0x5455;
const EXTRA_UNICODE_PATH = 0x7075;

const FLAG_ENCRYPTED = 0x0001;
const METHOD_STORED = 0;
const METHOD_DEFLATE = 8;
const HOST_UNIX = 3;
const HOST_OSX = 19;
const DOS_DIR_ATTR = 0x10;

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;

const U32_MAX = 0xffffffff;
const U16_MAX = 0xffff;
/** Yield a batch when it holds this many bytes of data, or this many entries. */
const BATCH_BYTES = 8 << 20;
const BATCH_ENTRIES = 4096;

export function looksLikeZip(head: Uint8Array): boolean {
  if (head.length < 4 || head[0] !== 0x50 || head[1] !== 0x4b) return false;
  const sig = dv(head).getUint32(0, true);
  return sig === SIG_LOCAL || sig === SIG_EOCD || sig === 0x08074b50 /* spanned marker */;
}

function dv(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

function u64(v: DataView, off: number, what: string, where: string): number {
  const n = v.getBigUint64(off, true);
  if (n > BigInt(Number.MAX_SAFE_INTEGER)) throw new FluxError(`${where}: zip64 ${what} too large`, 'EPROTO');
  return Number(n);
}

interface Directory {
  entries: number;
  offset: number;
  size: number;
}

async function findDirectory(ra: RandomAccess, where: string): Promise<Directory> {
  const tailLen = Math.min(ra.size, EOCD_LEN + EOCD_MAX_COMMENT);
  const tailStart = ra.size - tailLen;
  const tail = await ra.read(tailStart, tailLen);
  const tv = dv(tail);
  let eocd = -1;
  for (let i = tail.length - EOCD_LEN; i >= 0; i--) {
    if (tail[i] === 0x50 && tv.getUint32(i, true) === SIG_EOCD && i + EOCD_LEN + tv.getUint16(i + 20, true) <= tail.length) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new FluxError(`${where}: zip end of central directory not found`, 'EPROTO');
  let entries = tv.getUint16(eocd + 10, true);
  let size = tv.getUint32(eocd + 12, true);
  let offset = tv.getUint32(eocd + 16, true);
  const locAt = eocd - ZIP64_LOCATOR_LEN;
  if (locAt >= 0 && tv.getUint32(locAt, true) === SIG_ZIP64_LOCATOR) {
    const z64Offset = u64(tv, locAt + 8, 'directory offset', where);
    const rec = dv(await ra.read(z64Offset, ZIP64_EOCD_LEN));
    if (rec.getUint32(0, true) !== SIG_ZIP64_EOCD) throw new FluxError(`${where}: bad zip64 end of central directory`, 'EPROTO');
    entries = u64(rec, 32, 'entry count', where);
    size = u64(rec, 40, 'directory size', where);
    offset = u64(rec, 48, 'directory offset', where);
  } else if (entries === U16_MAX || size === U32_MAX || offset === U32_MAX) {
    throw new FluxError(`${where}: zip64 archive without its zip64 locator`, 'EPROTO');
  }
  if (offset + size > ra.size) throw new FluxError(`${where}: zip central directory lies past the end of the file`, 'EPROTO');
  return { entries, offset, size };
}

/** DOS date/time fields, read as local time (as zip writers record them). */
function dosTime(date: number, time: number): number {
  const d = new Date(1980 + (date >> 9), ((date >> 5) & 15) - 1, date & 31, time >> 11, (time >> 5) & 63, (time & 31) * 2);
  return Math.floor(d.getTime() / 1000);
}

interface Member {
  name: string;
  flags: number;
  method: number;
  crc: number;
  compSize: number;
  size: number;
  localOffset: number;
  kind: 'file' | 'symlink' | 'other';
  mtime: number;
}

function parseMember(cd: Uint8Array, where: string, index: number): Member {
  const v = dv(cd);
  const nameLen = v.getUint16(C_NAME_LEN, true);
  const extraLen = v.getUint16(C_EXTRA_LEN, true);
  const rawName = cd.subarray(CENTRAL_LEN, CENTRAL_LEN + nameLen);
  let name: string;
  try {
    name = fromUtf8(rawName);
  } catch {
    throw new FluxError(`${where}: zip member ${index} has a name that is not valid UTF-8`, 'EILSEQ');
  }
  let size = v.getUint32(C_SIZE, true);
  let compSize = v.getUint32(C_COMP_SIZE, true);
  let localOffset = v.getUint32(C_LOCAL_OFFSET, true);
  let mtime = dosTime(v.getUint16(C_DATE, true), v.getUint16(C_TIME, true));

  const extra = cd.subarray(CENTRAL_LEN + nameLen, CENTRAL_LEN + nameLen + extraLen);
  const ev = dv(extra);
  for (let p = 0; p + 4 <= extra.length; ) {
    const id = ev.getUint16(p, true);
    const len = ev.getUint16(p + 2, true);
    const body = p + 4;
    if (body + len > extra.length) break;
    if (id === EXTRA_ZIP64) {
      // only the fields whose 32-bit slot overflowed, in this order
      let q = body;
      const next = (what: string): number => {
        if (q + 8 > body + len) throw new FluxError(`${where}: zip member ${index}: short zip64 extra field`, 'EPROTO');
        const n = u64(ev, q, what, where);
        q += 8;
        return n;
      };
      if (size === U32_MAX) size = next('size');
      if (compSize === U32_MAX) compSize = next('compressed size');
      if (localOffset === U32_MAX) localOffset = next('offset');
    } else if (id === EXTRA_TIMESTAMP && len >= 5 && (extra[body]! & 1) !== 0) {
      mtime = ev.getUint32(body + 1, true); // unsigned, as libarchive reads it (mtimes past 2038)
    } else if (id === EXTRA_UNICODE_PATH && len > 5 && extra[body] === 1) {
      try {
        name = fromUtf8(extra.subarray(body + 5, body + len));
      } catch {
        /* keep the header name */
      }
    }
    p = body + len;
  }

  const madeBy = v.getUint16(C_MADE_BY, true) >> 8;
  const extAttr = v.getUint32(C_EXT_ATTR, true);
  const unixMode = extAttr >>> 16;
  let kind: Member['kind'];
  if (name.endsWith('/')) kind = 'other';
  else if ((madeBy === HOST_UNIX || madeBy === HOST_OSX) && unixMode !== 0) {
    const fmt = unixMode & S_IFMT;
    kind = fmt === S_IFLNK ? 'symlink' : fmt === S_IFREG || fmt === 0 ? 'file' : 'other';
  } else kind = extAttr & DOS_DIR_ATTR ? 'other' : 'file';

  return {
    name,
    flags: v.getUint16(C_FLAGS, true),
    method: v.getUint16(C_METHOD, true),
    crc: v.getUint32(C_CRC, true),
    compSize,
    size,
    localOffset,
    kind,
    mtime,
  };
}

/**
 * Most compressed bytes a deflate stream of `size` bytes needs: stored blocks cost 5
 * bytes per 65,535; anything beyond (with slack for odd encoders) does not describe
 * `size` bytes and is not read.
 */
function deflateBound(size: number): number {
  return size + 5 * Math.ceil(size / 65535) + (size >> 8) + 1024;
}

async function memberData(r: WindowedReader, m: Member, where: string): Promise<Uint8Array> {
  const name = showName(m.name);
  const fail: (why: string, code?: string) => never = (why, code = 'EPROTO') => {
    throw new FluxError(`${where}: ${name}: ${why}`, code);
  };
  if (m.flags & FLAG_ENCRYPTED) fail('encrypted zip members are not supported', 'ENOTSUP');
  if (m.method !== METHOD_STORED && m.method !== METHOD_DEFLATE) fail(`unsupported zip compression method ${m.method}`, 'ENOTSUP');
  // Sizes are checked before anything is read: an entry claims no more than it can hold.
  if (m.method === METHOD_STORED && m.compSize !== m.size) fail(`stored member of ${m.size} bytes claims ${m.compSize} bytes of data`);
  if (m.method === METHOD_DEFLATE && m.compSize > deflateBound(m.size)) fail(`${m.compSize} bytes of deflate data cannot hold ${m.size} bytes`);
  let raw: Uint8Array;
  try {
    const lh = await r.read(m.localOffset, LOCAL_LEN);
    const lv = dv(lh);
    if (lv.getUint32(0, true) !== SIG_LOCAL) fail('bad zip local header');
    if (m.size === 0 && m.method === METHOD_STORED) return EMPTY;
    const dataOffset = m.localOffset + LOCAL_LEN + lv.getUint16(L_NAME_LEN, true) + lv.getUint16(L_EXTRA_LEN, true);
    raw = await r.read(dataOffset, m.compSize);
  } catch (err) {
    // a truncated archive: say which member ran past the end
    const prefix = `${where}: `;
    if (err instanceof FluxError && err.message.startsWith(prefix) && !err.message.startsWith(`${prefix}${name}: `)) {
      fail(err.message.slice(prefix.length));
    }
    throw err;
  }
  let data: Uint8Array;
  if (m.method === METHOD_STORED) data = raw;
  else {
    try {
      const out = inflateRawSync(raw, { maxOutputLength: Math.max(m.size, 1) });
      data = new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if (e.code === 'ERR_BUFFER_TOO_LARGE') fail(`deflate data inflates to more than the directory's ${m.size} bytes`);
      fail(`corrupt deflate data: ${e.message}`);
    }
  }
  if (data.length !== m.size) fail(`size ${data.length} differs from the directory's ${m.size}`);
  if ((crc32(data) >>> 0) !== m.crc) fail('CRC-32 mismatch');
  return data;
}

export async function* readZip(ra: RandomAccess, opts: ReaderOptions): AsyncGenerator<RestoreEntry[]> {
  const where = opts.where;
  const dir = await findDirectory(ra, where);
  const cdReader = new WindowedReader(ra);
  const dataReader = new WindowedReader(ra);
  let batch: RestoreEntry[] = [];
  let batchBytes = 0;
  let p = dir.offset;
  const end = dir.offset + dir.size;
  for (let i = 0; i < dir.entries; i++) {
    if (p + CENTRAL_LEN > end) throw new FluxError(`${where}: zip central directory is shorter than its ${dir.entries} entries`, 'EPROTO');
    const fixed = await cdReader.read(p, CENTRAL_LEN);
    const fv = dv(fixed);
    if (fv.getUint32(0, true) !== SIG_CENTRAL) throw new FluxError(`${where}: bad zip central directory entry ${i} at offset ${p}`, 'EPROTO');
    const len = CENTRAL_LEN + fv.getUint16(C_NAME_LEN, true) + fv.getUint16(C_EXTRA_LEN, true) + fv.getUint16(C_COMMENT_LEN, true);
    const m = parseMember(await cdReader.read(p, len), where, i);
    p += len;

    if (m.kind === 'other') {
      batch.push({ path: m.name, type: 'other', data: EMPTY, size: 0, linkTarget: '', mtime: m.mtime });
    } else if (m.kind === 'file' && overLimit(m.size, opts)) {
      batch.push({ path: m.name, type: 'file', data: EMPTY, size: m.size, linkTarget: '', mtime: m.mtime });
    } else {
      if (m.kind === 'file') checkValueSize(m.size, m.name, opts);
      else if (m.size > MAX_META_BYTES) throw new FluxError(`${where}: symlink target of ${showName(m.name)} (${m.size} bytes) is too long`, 'EPROTO');
      const data = await memberData(dataReader, m, where);
      if (m.kind === 'symlink') {
        let target: string;
        try {
          target = fromUtf8(data);
        } catch {
          throw new FluxError(`${where}: symlink target of ${showName(m.name)} is not valid UTF-8`, 'EILSEQ');
        }
        batch.push({ path: m.name, type: 'symlink', data: EMPTY, size: 0, linkTarget: target, mtime: m.mtime });
      } else {
        batch.push({ path: m.name, type: 'file', data, size: data.length, linkTarget: '', mtime: m.mtime });
        batchBytes += data.length;
      }
    }
    if (batchBytes >= BATCH_BYTES || batch.length >= BATCH_ENTRIES) {
      yield batch;
      batch = [];
      batchBytes = 0;
    }
  }
  if (batch.length > 0) yield batch;
}
