/**
 * What every archive reader hands the tree builder: one archive member, in archive
 * order, in batches (one batch per buffer of input, so the per-entry cost is a loop
 * iteration, not a promise). Readers report every member, including the ones restore
 * ignores, because the checkpoint timestamp is the largest mtime of them all.
 */
import { FluxError } from '../errors.js';

export type RestoreEntryType = 'file' | 'symlink' | 'other';

export interface RestoreEntry {
  /** Member name as the archive holds it (UTF-8), before key validation. */
  path: string;
  type: RestoreEntryType;
  /**
   * File contents, often a view into the reader's buffer: valid until the builder has
   * consumed the batch. Empty for symlinks, others, and files over the size limit.
   */
  data: Uint8Array;
  /** File size in the archive; equals data.length unless the file was skipped. */
  size: number;
  /** Symlink target; '' otherwise. */
  linkTarget: string;
  /** Modification time, whole seconds since the epoch. */
  mtime: number;
}

export interface ReaderOptions {
  /** Files larger than this many bytes are skipped without being buffered; 0 = no limit. */
  sizeLimit: number;
  /** The input's name, for messages. */
  where: string;
  /** Without sizeLimit, a value larger than this is refused (default DEFAULT_VALUE_CEILING). */
  valueCeiling?: number;
}

export type EntryBatches = AsyncIterable<RestoreEntry[]>;

export const EMPTY = new Uint8Array(0);

/** True when the reader should not buffer this file's contents. */
export function overLimit(size: number, opts: ReaderOptions): boolean {
  return opts.sizeLimit > 0 && size > opts.sizeLimit;
}

/**
 * The largest value a restore buffers when no --size-limit is given: 1 GiB, flux-core's
 * default content blob size limit, beyond SQLite's 1e9-byte limit for one row, and far
 * above any real KVS value (eventlogs, jobspecs and R objects are kilobytes to a few
 * megabytes). Values are hashed whole, so each is held in memory once: a size field that
 * lies, or a decompression bomb, is refused here instead of being buffered.
 */
export const DEFAULT_VALUE_CEILING = 1 << 30;

/**
 * Member names, symlink targets and other metadata read whole (pax records, GNU long
 * names, cpio names): no real one comes near this.
 */
export const MAX_META_BYTES = 1 << 20;

/** A member name fit for a one-line message: as is, or JSON-quoted when it holds controls. */
export function showName(path: string): string {
  // eslint-disable-next-line no-control-regex
  return /[\u0000-\u001f\u007f]/.test(path) ? JSON.stringify(path) : path;
}

/**
 * Refuse a file the reader would have to buffer whole when its declared size is past the
 * ceiling (only without --size-limit: with one, bigger files are skipped unread).
 */
export function checkValueSize(size: number, path: string, opts: ReaderOptions): void {
  if (opts.sizeLimit > 0) return;
  const ceiling = opts.valueCeiling ?? DEFAULT_VALUE_CEILING;
  if (size > ceiling) {
    throw new FluxError(
      `${opts.where}: ${showName(path)}: value of ${size} bytes is over the ${ceiling}-byte limit for one value (--size-limit skips large values)`,
      'EFBIG',
    );
  }
}
