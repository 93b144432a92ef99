/**
 * What every archive reader hands the tree builder: one archive member, in archive
 * order, in batches (one batch per buffer of input, so the per-entry cost is a loop
 * iteration, not a promise). Readers report every member, including the ones restore
 * ignores, because the checkpoint timestamp is the largest mtime of them all.
 */
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
}

export type EntryBatches = AsyncIterable<RestoreEntry[]>;

export const EMPTY = new Uint8Array(0);

/** True when the reader should not buffer this file's contents. */
export function overLimit(size: number, opts: ReaderOptions): boolean {
  return opts.sizeLimit > 0 && size > opts.sizeLimit;
}
