/**
 * Bump allocation of many small byte arrays from large slabs: one ArrayBuffer per
 * SLAB_BYTES instead of one per value (measured: TextEncoder.encode of a 500-byte job
 * value costs ~5 us, Buffer#write into a slab ~0.2 us). A slab is never reused:
 * the views handed out keep it alive until the rows that hold them are written.
 */
const SLAB_BYTES = 4 << 20;
/** Requests above this get their own buffer (they would waste most of a slab). */
const OWN_BUFFER_BYTES = SLAB_BYTES >> 3;

export class Slab {
  #buf = Buffer.allocUnsafe(SLAB_BYTES);
  #at = 0;

  #room(n: number): void {
    if (this.#at + n > this.#buf.length) {
      this.#buf = Buffer.allocUnsafe(SLAB_BYTES);
      this.#at = 0;
    }
  }

  /** `n` bytes (not zeroed). */
  alloc(n: number): Uint8Array {
    if (n > OWN_BUFFER_BYTES) return new Uint8Array(n);
    this.#room(n);
    const view = this.#buf.subarray(this.#at, (this.#at += n));
    return view;
  }

  /** The UTF-8 bytes of `s`. */
  utf8(s: string): Uint8Array {
    const max = s.length * 3; // UTF-16 code unit -> at most 3 bytes
    if (max > OWN_BUFFER_BYTES) return Buffer.from(s, 'utf8');
    this.#room(max);
    const n = this.#buf.write(s, this.#at, 'utf8');
    const view = this.#buf.subarray(this.#at, (this.#at += n));
    return view;
  }
}
