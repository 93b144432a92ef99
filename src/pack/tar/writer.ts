/**
 * pax-restricted tar writer: header(s), data, padding to 512 per entry; two zero blocks
 * at the end; on stdout the archive is padded to a whole 10240-byte record as
 * libarchive does (files are not).
 */
import type { ArchiveEntry } from '../../walk/entry.js';
import { Chunker } from '../chunker.js';
import type { FormatFactory, FormatOptions, FormatWriter } from '../format.js';
import { BLOCK, entryHeaderTS, padded } from './header.js';

export const RECORD = 10240;

/** Header packer for a batch: one Uint8Array of headers per entry (WASM swaps in here). */
export type HeaderBatchPacker = (batch: readonly ArchiveEntry[]) => Uint8Array[];

export const tsHeaderPacker: HeaderBatchPacker = (batch) =>
  batch.map((e) => entryHeaderTS({ ...e, size: e.data.length }));

export const headerPacking: { packer: HeaderBatchPacker } = { packer: tsHeaderPacker };

export class TarWriter implements FormatWriter {
  readonly #out = new Chunker();
  readonly #stdout: boolean;
  #written = 0;

  constructor(opts: FormatOptions) {
    this.#stdout = opts.stdout;
  }

  write(batch: readonly ArchiveEntry[]): Uint8Array[] {
    const headers = headerPacking.packer(batch);
    for (let i = 0; i < batch.length; i++) {
      const e = batch[i]!;
      const h = headers[i]!;
      this.#out.push(h);
      this.#written += h.length;
      if (e.type === 'file' && e.data.length > 0) {
        this.#out.push(e.data);
        const pad = padded(e.data.length) - e.data.length;
        this.#out.zeros(pad);
        this.#written += e.data.length + pad;
      }
    }
    return this.#out.take();
  }

  end(): Uint8Array[] {
    let trailer = 2 * BLOCK;
    if (this.#stdout) {
      const total = this.#written + trailer;
      trailer += (RECORD - (total % RECORD)) % RECORD;
    }
    this.#out.zeros(trailer);
    this.#written += trailer;
    return this.#out.take(true);
  }
}

export const tarWriter: FormatFactory = (opts) => new TarWriter(opts);
