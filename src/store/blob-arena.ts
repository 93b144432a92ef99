/**
 * One growable buffer a batch's blobs are written into back to back (the load thread):
 * no array per blob, so no garbage per blob, and the reply is one copy of `used` bytes.
 */
export class BlobArena {
  buf: Uint8Array;
  used = 0;

  constructor(initial = 1 << 20) {
    this.buf = new Uint8Array(initial);
  }

  /** Room for `n` more bytes: returns where they go (used moves past them). */
  reserve(n: number): number {
    const at = this.used;
    if (at + n > this.buf.length) {
      let size = this.buf.length * 2;
      while (size < at + n) size *= 2;
      const bigger = new Uint8Array(size);
      bigger.set(this.buf.subarray(0, at));
      this.buf = bigger;
    }
    this.used = at + n;
    return at;
  }

  /** Appends a copy of `bytes`. */
  append(bytes: Uint8Array): void {
    const at = this.reserve(bytes.length); // first: it may replace this.buf
    this.buf.set(bytes, at);
  }

  /** Empty again, keeping the buffer (a batch's worth stays allocated between batches). */
  reset(): void {
    this.used = 0;
  }
}
