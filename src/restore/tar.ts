/**
 * Streaming tar reader: POSIX ustar, pax extended headers (path, linkpath, size, mtime;
 * global headers are skipped), GNU long names ('L', 'K') and base-256 numbers, and old
 * v7 headers. Parses synchronously from ByteStream's buffer and yields one batch of
 * entries per buffer; file contents are views into that buffer, never copied.
 */
import { FluxError } from '../errors.js';
import { fromUtf8, roundUp } from '../util/bytes.js';
import type { ByteStream } from './byte-stream.js';
import { checkValueSize, EMPTY, MAX_META_BYTES, overLimit, showName, type ReaderOptions, type RestoreEntry } from './entry.js';

export const BLOCK = 512;

// ustar header field offsets and sizes (POSIX.1-1988 / pax)
const NAME = 0;
const NAME_LEN = 100;
const SIZE = 124;
const SIZE_LEN = 12;
const MTIME = 136;
const MTIME_LEN = 12;
const CHKSUM = 148;
const CHKSUM_LEN = 8;
const TYPEFLAG = 156;
const LINKNAME = 157;
const LINKNAME_LEN = 100;
const MAGIC = 257;
const VERSION = 263;
const PREFIX = 345;
const PREFIX_LEN = 155;

/** pax and GNU long-name members are read whole; no real one comes near this. */
const MAX_META_BODY = MAX_META_BYTES;

const CH_SPACE = 0x20;
const CH_SLASH = 0x2f;

/** Does the block carry the POSIX ustar magic (`ustar\0` + `00`)? GNU's is `ustar  \0`. */
function isPosixUstar(h: Uint8Array): boolean {
  return h[MAGIC] === 0x75 && h[MAGIC + 1] === 0x73 && h[MAGIC + 2] === 0x74 && h[MAGIC + 3] === 0x61 && h[MAGIC + 4] === 0x72
    && h[MAGIC + 5] === 0 && h[VERSION] === 0x30 && h[VERSION + 1] === 0x30;
}

function hasUstarMagic(h: Uint8Array): boolean {
  return h[MAGIC] === 0x75 && h[MAGIC + 1] === 0x73 && h[MAGIC + 2] === 0x74 && h[MAGIC + 3] === 0x61 && h[MAGIC + 4] === 0x72;
}

/** Octal field (leading spaces/NULs allowed, ends at space or NUL), or GNU base-256. */
export function parseNumeric(h: Uint8Array, off: number, len: number): number {
  const first = h[off]!;
  if (first & 0x80) {
    // base-256: big-endian two's complement in the remaining bits
    const negative = (first & 0x40) !== 0;
    let v = first & 0x3f;
    if (negative) v = v - 0x40;
    for (let i = 1; i < len; i++) v = v * 256 + h[off + i]!;
    return v;
  }
  let i = off;
  const end = off + len;
  while (i < end && (h[i] === CH_SPACE || h[i] === 0)) i++;
  let v = 0;
  let digits = 0;
  for (; i < end; i++) {
    const c = h[i]!;
    if (c < 0x30 || c > 0x37) break;
    v = v * 8 + (c - 0x30);
    digits++;
  }
  if (digits === 0) return i === end || h[i] === 0 || h[i] === CH_SPACE ? 0 : NaN;
  for (; i < end; i++) if (h[i] !== CH_SPACE && h[i] !== 0) return NaN;
  return v;
}

/** Sum of a header block's 512 bytes; two bytes per 16-bit lane at a time when aligned. */
function sumBytes(h: Uint8Array): number {
  if ((h.byteOffset & 3) !== 0) {
    let s = 0;
    for (let i = 0; i < BLOCK; i++) s += h[i]!;
    return s;
  }
  const w = new Uint32Array(h.buffer, h.byteOffset, BLOCK / 4);
  // 128 words: each 16-bit lane gathers at most 128 * 255 < 65536, so lanes never carry
  let even = 0;
  let odd = 0;
  for (let i = 0; i < BLOCK / 4; i++) {
    const v = w[i]!;
    even += v & 0x00ff00ff;
    odd += (v >>> 8) & 0x00ff00ff;
  }
  return (even & 0xffff) + (even >>> 16) + (odd & 0xffff) + (odd >>> 16);
}

/** Checksum over the block with the checksum field read as spaces; unsigned or signed. */
export function checksumOk(h: Uint8Array): boolean {
  const stored = parseNumeric(h, CHKSUM, CHKSUM_LEN);
  if (!Number.isFinite(stored)) return false;
  let unsigned = sumBytes(h);
  for (let i = CHKSUM; i < CHKSUM + CHKSUM_LEN; i++) unsigned += CH_SPACE - h[i]!;
  if (stored === unsigned) return true;
  // Some old writers summed signed chars: every byte above 127 counts 256 less.
  let high = 0;
  for (let i = 0; i < BLOCK; i++) if (h[i]! > 127 && (i < CHKSUM || i >= CHKSUM + CHKSUM_LEN)) high++;
  return high > 0 && stored === unsigned - 256 * high;
}

function isZeroBlock(h: Uint8Array): boolean {
  for (let i = 0; i < BLOCK; i++) if (h[i] !== 0) return false;
  return true;
}

/** A header block with a valid checksum: tar, in any of its dialects. */
export function looksLikeTar(head: Uint8Array): boolean {
  if (head.length < BLOCK) return false;
  const h = head.subarray(0, BLOCK);
  if (isZeroBlock(h)) return false;
  return checksumOk(h);
}

function cString(h: Uint8Array, off: number, len: number): Uint8Array {
  let end = off;
  const max = off + len;
  while (end < max && h[end] !== 0) end++;
  return h.subarray(off, end);
}

function decodeName(bytes: Uint8Array, what: string, where: string, offset: number): string {
  try {
    return fromUtf8(bytes);
  } catch {
    throw new FluxError(`${where}: ${what} at offset ${offset} is not valid UTF-8`, 'EILSEQ');
  }
}

interface PaxAttrs {
  path?: string;
  linkpath?: string;
  size?: number;
  mtime?: number;
}

/** Parse pax records `LEN KEY=VALUE\n`; keeps the attributes restore uses. */
export function parsePax(data: Uint8Array, where: string, offset: number): PaxAttrs {
  const attrs: PaxAttrs = {};
  let p = 0;
  const bad = (why: string): never => {
    throw new FluxError(`${where}: invalid pax header at offset ${offset}: ${why}`, 'EPROTO');
  };
  while (p < data.length) {
    if (data[p] === 0) break; // NUL padding after the last record
    let len = 0;
    let q = p;
    while (q < data.length && data[q]! >= 0x30 && data[q]! <= 0x39) len = len * 10 + (data[q++]! - 0x30);
    if (q === p || data[q] !== CH_SPACE) bad('record length');
    if (len <= q - p + 1 || p + len > data.length || data[p + len - 1] !== 0x0a) bad('record framing');
    const rec = data.subarray(q + 1, p + len - 1);
    const eq = rec.indexOf(0x3d);
    if (eq <= 0) bad('record without key');
    const key = decodeName(rec.subarray(0, eq), 'pax key', where, offset);
    const value = rec.subarray(eq + 1);
    switch (key) {
      case 'path':
        attrs.path = decodeName(value, 'pax path', where, offset);
        break;
      case 'linkpath':
        attrs.linkpath = decodeName(value, 'pax linkpath', where, offset);
        break;
      case 'size': {
        const s = decodeName(value, 'pax size', where, offset);
        if (!/^[0-9]+$/.test(s)) bad(`size ${s}`);
        attrs.size = Number(s);
        break;
      }
      case 'mtime': {
        const t = Number(decodeName(value, 'pax mtime', where, offset));
        if (!Number.isFinite(t)) bad('mtime');
        attrs.mtime = Math.floor(t);
        break;
      }
      default:
        break; // uid, uname, atime, ctime, charset...: nothing restore keeps
    }
    p += len;
  }
  return attrs;
}

function padded(size: number): number {
  return roundUp(size, BLOCK);
}

/**
 * Read tar members from `src` (positioned at the first header), in batches.
 */
export async function* readTar(src: ByteStream, opts: ReaderOptions): AsyncGenerator<RestoreEntry[]> {
  const where = opts.where;
  let batch: RestoreEntry[] = [];
  let pax: PaxAttrs | undefined;
  let longName: string | undefined;
  let longLink: string | undefined;

  /** Read a whole member body (pax, long name) into memory; they are small. */
  const readBody = async (size: number, offset: number): Promise<Uint8Array> => {
    if (size > MAX_META_BODY) throw new FluxError(`${where}: ${size}-byte extended header at offset ${offset} is too large`, 'EPROTO');
    if (!(await src.fill(padded(size)))) throw new FluxError(`${where}: truncated tar archive at offset ${offset}`, 'EPROTO');
    const body = src.view(size);
    src.advance(padded(size));
    return body;
  };

  for (;;) {
    if (src.available < BLOCK) {
      if (batch.length > 0) {
        yield batch;
        batch = [];
      }
      if (!(await src.fill(BLOCK))) {
        // Every writer ends a tar with zero blocks. libarchive accepts a tar without them,
        // but a dump cut at a member boundary (a full disk, a crash) looks exactly like
        // that, and restoring it would silently lose every key after the cut.
        if (src.available === 0) throw new FluxError(`${where}: truncated tar archive: it ends at offset ${src.offset} without its end-of-archive blocks`, 'EPROTO');
        throw new FluxError(`${where}: truncated tar header at offset ${src.offset}`, 'EPROTO');
      }
    }
    const offset = src.offset;
    const h = src.view(BLOCK);
    if (isZeroBlock(h)) break; // end of archive (a second zero block and padding may follow)
    if (!checksumOk(h)) throw new FluxError(`${where}: damaged tar header at offset ${offset} (checksum mismatch)`, 'EPROTO');
    src.advance(BLOCK);

    const type = h[TYPEFLAG]!;
    let size = parseNumeric(h, SIZE, SIZE_LEN);
    if (!Number.isSafeInteger(size) || size < 0) throw new FluxError(`${where}: invalid size in tar header at offset ${offset}`, 'EPROTO');

    // Metadata members describe the next member.
    if (type === 0x78 /* x */ || type === 0x58 /* X: Solaris */) {
      pax = parsePax(await readBody(size, offset), where, offset);
      continue;
    }
    if (type === 0x67 /* g: global header, ignored */) {
      if (!(await src.skip(padded(size)))) throw new FluxError(`${where}: truncated tar archive at offset ${offset}`, 'EPROTO');
      continue;
    }
    if (type === 0x4c /* L: GNU long name */ || type === 0x4b /* K: GNU long link */) {
      const body = await readBody(size, offset);
      const name = decodeName(cString(body, 0, body.length), 'GNU long name', where, offset);
      if (type === 0x4c) longName = name;
      else longLink = name;
      continue;
    }

    let path: string;
    if (pax?.path !== undefined) path = pax.path;
    else if (longName !== undefined) path = longName;
    else {
      const name = cString(h, NAME, NAME_LEN);
      const prefix = isPosixUstar(h) ? cString(h, PREFIX, PREFIX_LEN) : EMPTY;
      path = prefix.length > 0
        ? decodeName(prefix, 'tar name', where, offset) + '/' + decodeName(name, 'tar name', where, offset)
        : decodeName(name, 'tar name', where, offset);
    }
    if (pax?.size !== undefined) {
      size = pax.size;
      if (!Number.isSafeInteger(size)) throw new FluxError(`${where}: invalid pax size in ${showName(path)} at offset ${offset}`, 'EPROTO');
    }
    let mtime = pax?.mtime ?? parseNumeric(h, MTIME, MTIME_LEN);
    if (!Number.isFinite(mtime)) mtime = 0;
    let linkTarget = '';
    if (type === 0x32 /* 2: symlink */) {
      linkTarget = pax?.linkpath ?? longLink ?? decodeName(cString(h, LINKNAME, LINKNAME_LEN), 'tar link name', where, offset);
    }
    pax = undefined;
    longName = undefined;
    longLink = undefined;

    // '0', NUL (v7) and '7' (contiguous) are regular files; v7 marks directories with a
    // trailing slash. Hard links ('1') carry no data and are not restored.
    const regular = (type === 0x30 || type === 0 || type === 0x37)
      && !(type === 0 && !hasUstarMagic(h) && path.charCodeAt(path.length - 1) === CH_SLASH);
    if (regular) {
      checkValueSize(size, path, opts);
      if (overLimit(size, opts)) {
        batch.push({ path, type: 'file', data: EMPTY, size, linkTarget: '', mtime });
        if (!(await src.skip(padded(size)))) throw new FluxError(`${where}: truncated tar archive in ${showName(path)}`, 'EPROTO');
        continue;
      }
      if (src.available < size) {
        if (batch.length > 0) {
          yield batch;
          batch = [];
        }
        if (!(await src.fill(size))) throw new FluxError(`${where}: truncated tar archive in ${showName(path)}`, 'EPROTO');
      }
      const data = src.view(size);
      src.advance(size);
      const pad = padded(size) - size;
      if (src.available >= pad) src.advance(pad);
      else if (!(await src.skip(pad))) throw new FluxError(`${where}: truncated tar archive in ${showName(path)}`, 'EPROTO');
      batch.push({ path, type: 'file', data, size, linkTarget: '', mtime });
      continue;
    }
    batch.push({ path, type: type === 0x32 ? 'symlink' : 'other', data: EMPTY, size: 0, linkTarget, mtime });
    // POSIX: symlinks, directories, devices and FIFOs have no body whatever the size field
    // says; a pax hard link may carry data, and unknown types (GNU dumpdir, sparse...)
    // do: skip what the header declares.
    const bodiless = type >= 0x32 && type <= 0x36;
    if (!bodiless && size > 0) {
      if (!(await src.skip(padded(size)))) throw new FluxError(`${where}: truncated tar archive in ${showName(path)}`, 'EPROTO');
    }
  }
  if (batch.length > 0) yield batch;
  // Unread end-of-archive blocks and padding are left in the stream, never an error.
}
