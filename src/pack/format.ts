/**
 * A format writer lays entries out as archive bytes. It never sees compression or the
 * output: it returns chunks and the pipeline passes them on (libarchive's chain).
 * Writers that need totals before emitting (ISO, zip's central directory) buffer in
 * write() and emit in end().
 */
import type { ArchiveEntry } from '../walk/entry.js';

export type Chunks = Uint8Array[];

export interface FormatWriter {
  /** Lay out a batch of entries, in order; returns the bytes ready so far. */
  write(batch: readonly ArchiveEntry[]): Chunks | Promise<Chunks>;
  /** Finish the archive (trailer, directories); returns the remaining bytes. */
  end(): Chunks | Promise<Chunks>;
}

export interface FormatOptions {
  /** Writing to stdout: tar pads the last record to 10240 bytes, as libarchive does. */
  stdout: boolean;
  /** Worker threads a format may use for its own compression (zip members); default: one per core. */
  threads?: number;
  /** zip: use the worker pool for members at all (default true; FLUXDUMP_ZIP_POOL=0 turns it off). */
  zipPool?: boolean;
}

export type FormatFactory = (opts: FormatOptions) => FormatWriter;
