/** Small byte helpers shared by every stage; runtime-neutral (Node, Deno). */

export const utf8Encoder = new TextEncoder();
export const utf8Decoder = new TextDecoder('utf-8', { fatal: true });
const lossyDecoder = new TextDecoder('utf-8');

export function utf8(s: string): Uint8Array {
  return utf8Encoder.encode(s);
}

/** Strict UTF-8 decode; throws TypeError on invalid input. */
export function fromUtf8(b: Uint8Array): string {
  return utf8Decoder.decode(b);
}

export function fromUtf8Lossy(b: Uint8Array): string {
  return lossyDecoder.decode(b);
}

/**
 * `n` rounded up to a multiple of `unit` (a power of two). Plain arithmetic, not
 * `(n + unit - 1) & ~(unit - 1)`: bitwise operators work on 32-bit integers, and archive
 * sizes (a value assembled from many blobs) can pass 2 GiB.
 */
export function roundUp(n: number, unit: number): number {
  const rem = n % unit;
  return rem === 0 ? n : n + (unit - rem);
}

/**
 * Exactly `out`'s bytes in an ArrayBuffer of their own, for a worker's result: structured
 * clone copies a view's WHOLE buffer, and node:zlib can return a slice of Buffer's
 * shared pool. `out`'s own buffer when it already is exactly that.
 */
export function exactBuffer(out: Uint8Array): ArrayBuffer {
  const buf = out.buffer;
  if (buf instanceof ArrayBuffer && out.byteOffset === 0 && out.byteLength === buf.byteLength) return buf;
  return out.slice().buffer as ArrayBuffer;
}

export function concatBytes(parts: readonly Uint8Array[], total?: number): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  let n = total ?? 0;
  if (total === undefined) for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** True when the string holds only code points below U+0080. */
export function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}

/** Byte length of a string in UTF-8 without encoding it. */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

type Latin1Slice = (this: Uint8Array, start: number, end: number) => string;
/** Node's (and Deno's node:buffer) native latin1 decoder, when the runtime has one. */
const latin1Slice: Latin1Slice | undefined = (globalThis as { Buffer?: { prototype: { latin1Slice?: Latin1Slice } } }).Buffer?.prototype.latin1Slice;

/**
 * b[start, end) as a string of one character per byte; for ASCII, its text. The native
 * slice makes one flat string and no view; the fallback one fromCharCode call.
 */
export function latin1String(b: Uint8Array, start: number, end: number): string {
  if (latin1Slice) return latin1Slice.call(b, start, end);
  return String.fromCharCode.apply(null, b.subarray(start, end) as unknown as number[]);
}

/**
 * UTF-8 of `s` into b[at..] (the caller leaves room for 3 bytes per UTF-16 unit);
 * returns its length. Keys are nearly always ASCII: a plain loop beats encodeInto's call,
 * view and result object for them.
 */
export function encodeUtf8Into(s: string, b: Uint8Array, at: number): number {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80) return utf8Encoder.encodeInto(s, b.subarray(at, at + 3 * s.length)).written;
    b[at + i] = c;
  }
  return s.length;
}
