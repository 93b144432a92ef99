/**
 * A pull reader over a stream of byte chunks, for the streaming archive readers (tar,
 * cpio). Readers parse synchronously from the buffered bytes and await only when the
 * buffer runs dry. Views handed out stay valid: the reader never writes into a chunk,
 * it allocates a new buffer when it has to join chunks.
 */
import { concatBytes } from '../util/bytes.js';
import { EMPTY } from './entry.js';

/** fill() beyond this many missing bytes copies chunks straight into the result. */
const DIRECT_FILL = 1 << 20;

export class ByteStream {
  readonly #it: AsyncIterator<Uint8Array>;
  #buf: Uint8Array = EMPTY;
  #pos = 0;
  /** Absolute input offset of #buf[0]. */
  #base = 0;
  /** The unread tail of a chunk whose head was stitched onto the previous buffer. */
  #pending: Uint8Array | undefined;
  #eof = false;

  constructor(source: AsyncIterable<Uint8Array>) {
    this.#it = source[Symbol.asyncIterator]();
  }

  /** Bytes buffered and not yet consumed. */
  get available(): number {
    return this.#buf.length - this.#pos;
  }

  /** Absolute offset of the next unconsumed byte (for messages). */
  get offset(): number {
    return this.#base + this.#pos;
  }

  /** The next chunk: a pending tail first, then the source; undefined at the end. */
  async #next(): Promise<Uint8Array | undefined> {
    const p = this.#pending;
    if (p !== undefined) {
      this.#pending = undefined;
      return p;
    }
    while (!this.#eof) {
      const r = await this.#it.next();
      if (r.done) this.#eof = true;
      else if (r.value.length > 0) return r.value;
    }
    return undefined;
  }

  /**
   * Make at least n bytes available. Returns false when the input ends first; whatever
   * was there stays available. When bytes left over from one chunk must be joined with
   * the next, only the bytes needed are copied: the rest of the next chunk is used in
   * place afterwards.
   */
  async fill(n: number): Promise<boolean> {
    let total = this.available;
    if (total >= n) return true;
    if (n - total > DIRECT_FILL) return this.#fillDirect(n);
    const parts: Uint8Array[] = total > 0 ? [this.#buf.subarray(this.#pos)] : [];
    while (total < n) {
      const chunk = await this.#next();
      if (chunk === undefined) break;
      const need = n - total;
      if (parts.length > 0 && chunk.length > need) {
        parts.push(chunk.subarray(0, need));
        this.#pending = chunk.subarray(need);
        total += need;
        break;
      }
      parts.push(chunk);
      total += chunk.length;
    }
    this.#base += this.#pos;
    this.#buf = parts.length === 0 ? EMPTY : concatBytes(parts, total);
    this.#pos = 0;
    return total >= n;
  }

  /**
   * fill() for a big n (a large value): chunks are gathered until half of n has arrived,
   * then copied into one buffer of n bytes, and later chunks straight into it. The value
   * is held about 1.5 times at the peak rather than twice, and a size field that lies
   * costs only what really arrives (n is never allocated on a claim alone). A chunk
   * holding all that is missing is still used in place.
   */
  async #fillDirect(n: number): Promise<boolean> {
    const have = this.available;
    const parts: Uint8Array[] = have > 0 ? [this.#buf.subarray(this.#pos)] : [];
    let total = have;
    let out: Uint8Array | undefined;
    while (total < n) {
      const chunk = await this.#next();
      if (chunk === undefined) break;
      if (total === 0 && chunk.length >= n) {
        parts.push(chunk); // in place, as fill() does
        total = chunk.length;
        break;
      }
      const take = Math.min(chunk.length, n - total);
      const piece = take === chunk.length ? chunk : chunk.subarray(0, take);
      if (take < chunk.length) this.#pending = chunk.subarray(take);
      if (out !== undefined) out.set(piece, total);
      else parts.push(piece);
      total += take;
      if (out === undefined && total * 2 >= n && total < n) {
        out = new Uint8Array(n);
        let off = 0;
        for (const p of parts) {
          out.set(p, off);
          off += p.length;
        }
        parts.length = 0;
      }
    }
    this.#base += this.#pos;
    this.#buf = out === undefined ? (parts.length === 0 ? EMPTY : concatBytes(parts, total)) : total === n ? out : out.subarray(0, total);
    this.#pos = 0;
    return total >= n;
  }

  /** The next n buffered bytes, without copying; n must be <= available. */
  view(n: number): Uint8Array {
    return this.#buf.subarray(this.#pos, this.#pos + n);
  }

  advance(n: number): void {
    this.#pos += n;
  }

  /** Discard n bytes, streaming through chunks without joining them; false on early end. */
  async skip(n: number): Promise<boolean> {
    for (;;) {
      const a = this.available;
      if (a >= n) {
        this.#pos += n;
        return true;
      }
      n -= a;
      this.#base += this.#buf.length;
      this.#buf = EMPTY;
      this.#pos = 0;
      const chunk = await this.#next();
      if (chunk === undefined) return false;
      this.#buf = chunk;
    }
  }

  /** Up to n bytes from the current position (fewer at end of input), without consuming. */
  async peek(n: number): Promise<Uint8Array> {
    await this.fill(n);
    return this.view(Math.min(n, this.available));
  }

  /** Everything not consumed yet, buffered bytes first, as chunks. */
  async *rest(): AsyncGenerator<Uint8Array> {
    if (this.available > 0) {
      const head = this.#buf.subarray(this.#pos);
      this.#base += this.#buf.length;
      this.#buf = EMPTY;
      this.#pos = 0;
      yield head;
    }
    for (;;) {
      const chunk = await this.#next();
      if (chunk === undefined) return;
      this.#base += chunk.length;
      yield chunk;
    }
  }

  /** Stop reading the source (closes a file, cancels a stream). */
  async cancel(): Promise<void> {
    this.#eof = true;
    this.#pending = undefined;
    await this.#it.return?.();
  }
}
