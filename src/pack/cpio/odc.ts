/**
 * POSIX.1 "odc" cpio header packer (magic `070707`), laid out as libarchive writes it:
 * a 76-byte ASCII header of fixed-width octal fields, then the name with its NUL, then
 * the data, with no alignment padding anywhere. Pure: plain fields in, bytes out, and
 * every field that does not fit its width is reported rather than clamped.
 */
import { utf8Encoder } from '../../util/bytes.js';

/** Field offsets and widths (in octal digits) of the 76-byte header. */
export const MAGIC_OFFSET = 0;
export const MAGIC_SIZE = 6;
export const DEV_OFFSET = 6;
export const DEV_SIZE = 6;
export const INO_OFFSET = 12;
export const INO_SIZE = 6;
export const MODE_OFFSET = 18;
export const MODE_SIZE = 6;
export const UID_OFFSET = 24;
export const UID_SIZE = 6;
export const GID_OFFSET = 30;
export const GID_SIZE = 6;
export const NLINK_OFFSET = 36;
export const NLINK_SIZE = 6;
export const RDEV_OFFSET = 42;
export const RDEV_SIZE = 6;
export const MTIME_OFFSET = 48;
export const MTIME_SIZE = 11;
export const NAMESIZE_OFFSET = 59;
export const NAMESIZE_SIZE = 6;
export const FILESIZE_OFFSET = 65;
export const FILESIZE_SIZE = 11;
export const HEADER_SIZE = 76;

export const MAGIC = '070707';
export const TRAILER_NAME = 'TRAILER!!!';

/** File-type bits of st_mode, as cpio stores them. */
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;
export const S_IFDIR = 0o040000;

/** Largest value each width can hold: 6 digits -> 0o777777, 11 digits -> 8 GiB - 1. */
export const MAX6 = 0o777777;
export const MAX11 = 0o77777777777;

export interface OdcFields {
  dev: number;
  ino: number;
  /** Full st_mode: file-type bits | permission bits. */
  mode: number;
  uid: number;
  gid: number;
  nlink: number;
  rdev: number;
  mtime: number;
  /** Bytes of data that follow the name (the link target for symlinks). */
  filesize: number;
}

export type OdcField = keyof OdcFields | 'namesize';

export interface OdcHeader {
  /** Header + name + NUL, ready to be followed by `filesize` data bytes. */
  bytes: Uint8Array;
  /** Fields whose value does not fit (negative, fractional or too large); empty if none. */
  overflow: OdcField[];
}

const DIGIT_0 = 0x30;

/**
 * Write `value` as `width` zero-padded octal digits at `off`; false when it does not fit.
 * Arithmetic rather than bit operations: the 11-digit fields exceed 32 bits.
 */
export function formatOctal(out: Uint8Array, off: number, width: number, value: number): boolean {
  const fits = Number.isSafeInteger(value) && value >= 0 && value < 8 ** width;
  let v = fits ? value : 0;
  for (let i = off + width - 1; i >= off; i--) {
    out[i] = DIGIT_0 + (v % 8);
    v = Math.floor(v / 8);
  }
  return fits;
}

/** Pack one header; `name` is the UTF-8 path (no NUL; one is appended). */
export function encodeOdcHeader(fields: OdcFields, name: Uint8Array): OdcHeader {
  const namesize = name.length + 1;
  const bytes = new Uint8Array(HEADER_SIZE + namesize);
  const overflow: OdcField[] = [];
  const put = (field: OdcField, off: number, width: number, value: number): void => {
    if (!formatOctal(bytes, off, width, value)) overflow.push(field);
  };
  for (let i = 0; i < MAGIC_SIZE; i++) bytes[MAGIC_OFFSET + i] = MAGIC.charCodeAt(i);
  put('dev', DEV_OFFSET, DEV_SIZE, fields.dev);
  put('ino', INO_OFFSET, INO_SIZE, fields.ino);
  put('mode', MODE_OFFSET, MODE_SIZE, fields.mode);
  put('uid', UID_OFFSET, UID_SIZE, fields.uid);
  put('gid', GID_OFFSET, GID_SIZE, fields.gid);
  put('nlink', NLINK_OFFSET, NLINK_SIZE, fields.nlink);
  put('rdev', RDEV_OFFSET, RDEV_SIZE, fields.rdev);
  put('mtime', MTIME_OFFSET, MTIME_SIZE, fields.mtime);
  put('namesize', NAMESIZE_OFFSET, NAMESIZE_SIZE, namesize);
  put('filesize', FILESIZE_OFFSET, FILESIZE_SIZE, fields.filesize);
  bytes.set(name, HEADER_SIZE);
  // The final byte stays 0: the name's NUL terminator, counted in namesize.
  return { bytes, overflow };
}

/**
 * The end-of-archive marker: an empty entry named `TRAILER!!!` whose fields are all zero
 * except nlink = 1, byte for byte what libarchive and GNU cpio write.
 */
export function encodeOdcTrailer(): Uint8Array {
  const fields: OdcFields = { dev: 0, ino: 0, mode: 0, uid: 0, gid: 0, nlink: 1, rdev: 0, mtime: 0, filesize: 0 };
  return encodeOdcHeader(fields, utf8Encoder.encode(TRAILER_NAME)).bytes;
}
