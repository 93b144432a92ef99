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

/**
 * Worker threads a format may run its own compression on (zip members): export `name`
 * of worker module `filename` with `task`; `transfer` buffers are moved, not copied. The
 * pipeline hands formats its compression pool this way, so pack never loads compress.
 */
export interface TaskRunner {
  run(filename: string, name: string, task: unknown, transfer?: ArrayBuffer[]): Promise<unknown>;
  /** Start the workers and run `task` (an empty one) on each, ahead of real work; `key` names what it loads. */
  prewarm(filename: string, name: string, task: unknown, key: string): void;
}

export interface FormatOptions {
  /** Writing to stdout: tar pads the last record to 10240 bytes, as libarchive does. */
  stdout: boolean;
  /** Where a format may compress its members off the main thread; absent: all inline. */
  tasks?: TaskRunner;
}

export type FormatFactory = (opts: FormatOptions) => FormatWriter;
