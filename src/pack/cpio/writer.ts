/**
 * POSIX odc cpio writer (`.cpio`): per entry an odc header, the name, then the data (the
 * link target for symlinks, which flux-core 0.88 could not write: "Size required").
 * No directory entries (the tar has none either). No padding after the trailer when
 * writing a file; on stdout the archive is padded with zeros to a whole 10240-byte
 * block, as libarchive pads every format on a non-regular output.
 *
 * Field conventions, matched against `bsdtar --format odc`: dev 0, rdev 0, nlink 1,
 * inode numbers synthesized 1, 2, 3, ... (the entries have no inodes of their own).
 */
import { FluxError } from '../../errors.js';
import { utf8Encoder } from '../../util/bytes.js';
import type { ArchiveEntry } from '../../walk/entry.js';
import { Chunker } from '../chunker.js';
import type { FormatFactory, FormatOptions, FormatWriter } from '../format.js';
import {
  encodeOdcHeader,
  encodeOdcTrailer,
  MAX11,
  MAX6,
  S_IFLNK,
  S_IFREG,
  type OdcField,
  type OdcFields,
} from './odc.js';

const PERMISSION_BITS = 0o7777;
/** libarchive's default block size: output to a pipe or tty is padded to a multiple. */
export const STDOUT_BLOCK = 10240;

/**
 * Synthetic inode number of the n-th entry (0-based). libarchive stops with "Too many
 * files for this cpio format" past 0o777777 entries; we wrap instead, which is safe
 * because every entry has nlink 1 and readers (GNU cpio, libarchive) only pair entries
 * by (dev, ino) when nlink > 1.
 */
export function syntheticIno(index: number): number {
  return (index % MAX6) + 1;
}

const LIMITS: Record<OdcField, string> = {
  dev: 'dev',
  ino: 'inode',
  mode: 'mode',
  uid: `uid (max ${MAX6})`,
  gid: `gid (max ${MAX6})`,
  nlink: 'nlink',
  rdev: 'rdev',
  mtime: `mtime (0 to ${MAX11})`,
  namesize: `path length (max ${MAX6 - 1} bytes)`,
  filesize: `size (max ${MAX11} bytes)`,
};

/** Header bytes for one entry; throws a FluxError naming it when odc cannot hold it. */
export function odcEntryHeader(entry: ArchiveEntry, ino: number, body: Uint8Array): Uint8Array {
  if (entry.path.length === 0) throw new FluxError('cpio: entry with an empty path');
  if (entry.path.includes('\0')) throw new FluxError(`${entry.path}: cpio names cannot contain NUL`);
  const fields: OdcFields = {
    dev: 0,
    ino,
    mode: (entry.type === 'symlink' ? S_IFLNK : S_IFREG) | (entry.mode & PERMISSION_BITS),
    uid: entry.uid,
    gid: entry.gid,
    nlink: 1,
    rdev: 0,
    mtime: entry.mtime,
    filesize: body.length,
  };
  const header = encodeOdcHeader(fields, utf8Encoder.encode(entry.path));
  if (header.overflow.length > 0) {
    const what = header.overflow.map((f) => LIMITS[f]).join(', ');
    throw new FluxError(`${entry.path}: does not fit a cpio odc header: ${what}`, 'ERANGE');
  }
  return header.bytes;
}

export class CpioWriter implements FormatWriter {
  readonly #out = new Chunker();
  readonly #stdout: boolean;
  #count = 0;
  #written = 0;

  constructor(opts: FormatOptions) {
    this.#stdout = opts.stdout;
  }

  write(batch: readonly ArchiveEntry[]): Uint8Array[] {
    for (const entry of batch) {
      const body = entry.type === 'symlink' ? utf8Encoder.encode(entry.linkTarget) : entry.data;
      const header = odcEntryHeader(entry, syntheticIno(this.#count), body);
      this.#out.push(header);
      if (body.length > 0) this.#out.push(body);
      this.#written += header.length + body.length;
      this.#count++;
    }
    return this.#out.take();
  }

  end(): Uint8Array[] {
    const trailer = encodeOdcTrailer();
    this.#out.push(trailer);
    this.#written += trailer.length;
    if (this.#stdout) this.#out.zeros((STDOUT_BLOCK - (this.#written % STDOUT_BLOCK)) % STDOUT_BLOCK);
    return this.#out.take(true);
  }
}

export const cpioWriter: FormatFactory = (opts) => new CpioWriter(opts);
