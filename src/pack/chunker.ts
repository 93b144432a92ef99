import { takeChunkBuffer } from '../util/chunk-recycler.js';

/**
 * Collects small pieces of archive output into large chunks (1 MiB by default) so the
 * stages downstream see few, big Uint8Arrays; large pieces pass through uncopied. Chunk
 * buffers come from the recycler: the stage that finishes with a chunk gives it back.
 */
export class Chunker {
  #buf: Uint8Array;
  #len = 0;
  #out: Uint8Array[] = [];
  readonly #size: number;

  constructor(size = 1 << 20) {
    this.#size = size;
    this.#buf = takeChunkBuffer(size);
  }

  /** Append bytes; pieces of at least a quarter chunk are passed through without a copy. */
  push(bytes: Uint8Array): void {
    if (bytes.length >= this.#size >> 2) {
      this.#flush();
      this.#out.push(bytes);
      return;
    }
    if (this.#len + bytes.length > this.#size) this.#flush();
    this.#buf.set(bytes, this.#len);
    this.#len += bytes.length;
  }

  /** Append n zero bytes. */
  zeros(n: number): void {
    while (n > 0) {
      if (this.#len === this.#size) this.#flush();
      const k = Math.min(n, this.#size - this.#len);
      this.#buf.fill(0, this.#len, this.#len + k);
      this.#len += k;
      n -= k;
    }
  }

  #flush(): void {
    if (this.#len === 0) return;
    // hand the filled buffer on and start a new one: no copy
    this.#out.push(this.#buf.subarray(0, this.#len));
    this.#buf = takeChunkBuffer(this.#size);
    this.#len = 0;
  }

  /** Chunks completed so far (full ones only unless `all`). */
  take(all = false): Uint8Array[] {
    if (all) this.#flush();
    const out = this.#out;
    this.#out = [];
    return out;
  }
}
