/**
 * Streaming cpio reader: POSIX "odc" (magic 070707, octal fields, no padding) and SVR4
 * "newc" (070701, and 070702 whose file checksums are verified; hex fields, 4-byte
 * alignment). Symlink targets are the member's data. Ends at the `TRAILER!!!` member.
 */
import { FluxError } from '../errors.js';
import { fromUtf8, roundUp } from '../util/bytes.js';
import type { ByteStream } from './byte-stream.js';
import { checkValueSize, EMPTY, MAX_META_BYTES, overLimit, showName, type ReaderOptions, type RestoreEntry } from './entry.js';

export type CpioKind = 'odc' | 'newc';

// odc: magic(6) dev(6) ino(6) mode(6) uid(6) gid(6) nlink(6) rdev(6) mtime(11) namesize(6) filesize(11)
const ODC_HEADER = 76;
const ODC_MODE = 18;
const ODC_MTIME = 48;
const ODC_NAMESIZE = 59;
const ODC_FILESIZE = 65;

// newc: magic(6) then 13 fields of 8 hex digits: ino mode uid gid nlink mtime filesize
// devmajor devminor rdevmajor rdevminor namesize check
const NEWC_HEADER = 110;
const NEWC_MODE = 14;
const NEWC_MTIME = 46;
const NEWC_FILESIZE = 54;
const NEWC_NAMESIZE = 94;
/** 070702 ("crc") only: the sum of the file's data bytes, modulo 2^32. */
const NEWC_CHECK = 102;
const MAGIC_CRC_DIGIT = 0x32; // '2'

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;

const TRAILER = 'TRAILER!!!';

const MAGIC_ODC = [0x30, 0x37, 0x30, 0x37, 0x30, 0x37]; // "070707"
const MAGIC_NEWC = [0x30, 0x37, 0x30, 0x37, 0x30]; // "07070" + '1' or '2'

export function cpioKind(head: Uint8Array): CpioKind | undefined {
  if (head.length < 6) return undefined;
  if (MAGIC_ODC.every((b, i) => head[i] === b)) return 'odc';
  if (MAGIC_NEWC.every((b, i) => head[i] === b) && (head[5] === 0x31 || head[5] === 0x32)) return 'newc';
  return undefined;
}

function parseDigits(h: Uint8Array, off: number, len: number, radix: 8 | 16): number {
  let v = 0;
  for (let i = off; i < off + len; i++) {
    const c = h[i]!;
    let d: number;
    if (c >= 0x30 && c <= 0x39) d = c - 0x30;
    else if (radix === 16 && c >= 0x61 && c <= 0x66) d = c - 0x57;
    else if (radix === 16 && c >= 0x41 && c <= 0x46) d = c - 0x37;
    else return NaN;
    if (d >= radix) return NaN;
    v = v * radix + d;
  }
  return v;
}

/** The 070702 checksum: every data byte added up, modulo 2^32. */
function byteSum(data: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < data.length; i++) sum = (sum + data[i]!) >>> 0;
  return sum;
}

function align4(n: number): number {
  return roundUp(n, 4);
}

export async function* readCpio(src: ByteStream, kind: CpioKind, opts: ReaderOptions): AsyncGenerator<RestoreEntry[]> {
  const where = opts.where;
  const headerLen = kind === 'odc' ? ODC_HEADER : NEWC_HEADER;
  const radix = kind === 'odc' ? 8 : 16;
  let batch: RestoreEntry[] = [];
  let previous: string | undefined;

  // Views into earlier buffers stay valid when the stream joins chunks, so a batch may
  // span several buffers; it is handed on whenever the buffer runs dry.
  const need = async (n: number, what: string): Promise<void> => {
    if (src.available >= n) return;
    if (!(await src.fill(n))) throw new FluxError(`${where}: truncated cpio archive (${what}) at offset ${src.offset}`, 'EPROTO');
  };

  for (;;) {
    if (src.available < headerLen && batch.length > 0) {
      yield batch;
      batch = [];
    }
    await need(headerLen, 'header');
    const offset = src.offset;
    const h = src.view(headerLen);
    if (cpioKind(h) !== kind) {
      // A filesize that lies shows up here, as the next header out of place.
      const after = previous === undefined ? '' : ` (after ${showName(previous)})`;
      throw new FluxError(`${where}: bad cpio header magic at offset ${offset}${after}`, 'EPROTO');
    }
    const field = (off: number, len: number, name: string): number => {
      const v = parseDigits(h, off, len, radix);
      if (!Number.isSafeInteger(v)) throw new FluxError(`${where}: bad cpio ${name} field at offset ${offset}`, 'EPROTO');
      return v;
    };
    const mode = kind === 'odc' ? field(ODC_MODE, 6, 'mode') : field(NEWC_MODE, 8, 'mode');
    const mtime = kind === 'odc' ? field(ODC_MTIME, 11, 'mtime') : field(NEWC_MTIME, 8, 'mtime');
    const namesize = kind === 'odc' ? field(ODC_NAMESIZE, 6, 'namesize') : field(NEWC_NAMESIZE, 8, 'namesize');
    const filesize = kind === 'odc' ? field(ODC_FILESIZE, 11, 'filesize') : field(NEWC_FILESIZE, 8, 'filesize');
    const check = kind === 'newc' && h[5] === MAGIC_CRC_DIGIT ? field(NEWC_CHECK, 8, 'check') : -1;
    if (namesize === 0) throw new FluxError(`${where}: cpio member without a name at offset ${offset}`, 'EPROTO');
    if (namesize > MAX_META_BYTES) throw new FluxError(`${where}: cpio member name of ${namesize} bytes at offset ${offset} is too long`, 'EPROTO');
    src.advance(headerLen);

    const nameSpan = kind === 'odc' ? namesize : align4(headerLen + namesize) - headerLen;
    await need(nameSpan, 'name');
    const rawName = src.view(namesize);
    const nameBytes = rawName[namesize - 1] === 0 ? rawName.subarray(0, namesize - 1) : rawName;
    let path: string;
    try {
      path = fromUtf8(nameBytes);
    } catch {
      throw new FluxError(`${where}: cpio member name at offset ${offset} is not valid UTF-8`, 'EILSEQ');
    }
    src.advance(nameSpan);
    if (path === TRAILER) break;
    previous = path;

    const dataSpan = kind === 'odc' ? filesize : align4(filesize);
    const fmt = mode & S_IFMT;
    if (fmt === S_IFREG) checkValueSize(filesize, path, opts);
    else if (fmt === S_IFLNK && filesize > MAX_META_BYTES) {
      throw new FluxError(`${where}: symlink target of ${showName(path)} (${filesize} bytes) is too long`, 'EPROTO');
    }
    if (fmt === S_IFREG && overLimit(filesize, opts)) {
      batch.push({ path, type: 'file', data: EMPTY, size: filesize, linkTarget: '', mtime });
      if (!(await src.skip(dataSpan))) throw new FluxError(`${where}: truncated cpio archive in ${showName(path)}`, 'EPROTO');
      continue;
    }
    if (fmt === S_IFREG || fmt === S_IFLNK) {
      await need(dataSpan, showName(path));
      const data = src.view(filesize);
      src.advance(dataSpan);
      if (fmt === S_IFREG) {
        if (check >= 0 && byteSum(data) !== check) throw new FluxError(`${where}: ${showName(path)}: cpio checksum mismatch`, 'EPROTO');
        batch.push({ path, type: 'file', data, size: filesize, linkTarget: '', mtime });
      } else {
        let target: string;
        try {
          target = fromUtf8(data);
        } catch {
          throw new FluxError(`${where}: symlink target of ${showName(path)} is not valid UTF-8`, 'EILSEQ');
        }
        batch.push({ path, type: 'symlink', data: EMPTY, size: 0, linkTarget: target, mtime });
      }
      continue;
    }
    batch.push({ path, type: 'other', data: EMPTY, size: 0, linkTarget: '', mtime });
    if (!(await src.skip(dataSpan))) throw new FluxError(`${where}: truncated cpio archive in ${showName(path)}`, 'EPROTO');
  }
  if (batch.length > 0) yield batch;
}
