/**
 * A fast path for reading `dir` tree objects in the walk: one pass over the bytes that
 * records where each entry's name and data are, without JSON.parse, without a Map,
 * without sorting, and without a string per blobref.
 *
 * It accepts only the canonical encoding Flux writes (the one encodeTreeObj produces):
 * no whitespace, keys in order, names in strictly increasing byte order, printable ASCII
 * names without escapes, padded base64 `val` data, lowercase-hex blobrefs of one hash
 * type per array, and only `val`, `valref` and `dirref` entries. Anything else (a
 * symlink, an inline dir, an escape, a non-ASCII name, a malformed object) makes it
 * return false, and the caller decodes that object the general way, which also gives
 * every error its wording. So a true result always describes exactly the entries, in
 * exactly the order, that decodeTreeObj would return.
 *
 * Why: decoding directories through JSON.parse + validation + a sorted Map was half of
 * everything the dump's main thread allocated (410,000 directories per 100,000 jobs).
 * Blobrefs are checked and decoded in the same pass, two hex digits per table lookup:
 * checking them digit by digit and decoding them again later was a fifth of the main
 * thread's work in a large dump.
 */

export const SCAN_VAL = 1;
export const SCAN_VALREF = 2;
export const SCAN_DIRREF = 3;

/** Where the entries of one scanned directory are; reused from one scan to the next. */
export class DirScan {
  count = 0;
  kind = new Uint8Array(64);
  /** Name bytes [nameStart, nameEnd) (ASCII, unescaped). */
  nameStart = new Int32Array(64);
  nameEnd = new Int32Array(64);
  /** val: base64 text [dataStart, dataEnd); valref/dirref: first hex digit of the first ref. */
  dataStart = new Int32Array(64);
  dataEnd = new Int32Array(64);
  /** valref/dirref: number of blobrefs and the digest size in bytes (20 or 32). */
  refs = new Int32Array(64);
  digestSize = new Uint8Array(64);
  /** valref/dirref: where the entry's raw digests start in `digests` (refs * digestSize bytes). */
  digestAt = new Int32Array(64);
  /** Raw digests of every ref of the directory, entry after entry. */
  digests = new Uint8Array(64 * 32);
  /** Bytes of `digests` in use. */
  digestBytes = 0;

  /** Make room for entry `i`. */
  grow(i: number): void {
    if (i < this.kind.length) return;
    const n = this.kind.length * 2;
    const widen = <T extends Uint8Array | Int32Array>(a: T): T => {
      const b = new (a.constructor as new (n: number) => T)(n);
      b.set(a);
      return b;
    };
    this.kind = widen(this.kind);
    this.nameStart = widen(this.nameStart);
    this.nameEnd = widen(this.nameEnd);
    this.dataStart = widen(this.dataStart);
    this.dataEnd = widen(this.dataEnd);
    this.refs = widen(this.refs);
    this.digestSize = widen(this.digestSize);
    this.digestAt = widen(this.digestAt);
  }

  /** Room for `n` more digest bytes. */
  reserveDigests(n: number): void {
    if (this.digestBytes + n <= this.digests.length) return;
    const bigger = new Uint8Array(Math.max(2 * this.digests.length, this.digestBytes + n));
    bigger.set(this.digests.subarray(0, this.digestBytes));
    this.digests = bigger;
  }
}

/** Two lowercase hex digits (first << 8 | second) -> their byte, or -1. */
const HEX_PAIR = /* @__PURE__ */ (() => {
  const t = new Int16Array(1 << 16).fill(-1);
  const digits = '0123456789abcdef';
  for (let hi = 0; hi < 16; hi++) {
    for (let lo = 0; lo < 16; lo++) t[(digits.charCodeAt(hi) << 8) | digits.charCodeAt(lo)] = (hi << 4) | lo;
  }
  return t;
})();

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const CLOSE_BRACE = 0x7d;
const CLOSE_BRACKET = 0x5d;

const ascii = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
const DIR_OPEN = ascii('{"data":{');
const DIR_CLOSE = ascii('},"type":"dir","ver":1}');
const ENTRY_OPEN = ascii('{"data":');
const TYPE_VAL = ascii(',"type":"val","ver":1}');
const TYPE_VALREF = ascii(',"type":"valref","ver":1}');
const TYPE_DIRREF = ascii(',"type":"dirref","ver":1}');
const SHA1 = ascii('"sha1-');
const SHA256 = ascii('"sha256-');

/** b[at..] starts with `lit`? */
function hasAt(b: Uint8Array, at: number, lit: Uint8Array): boolean {
  if (at + lit.length > b.length) return false;
  for (let i = 0; i < lit.length; i++) if (b[at + i] !== lit[i]) return false;
  return true;
}

/** Byte value -> base64 sextet, or -1. */
const B64 = /* @__PURE__ */ (() => {
  const t = new Int8Array(256).fill(-1);
  const abc = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
  for (let i = 0; i < 64; i++) t[abc.charCodeAt(i)] = i;
  return t;
})();

const EQUALS = 0x3d;

/** End (the closing quote) of padded base64 text starting at `at`, or -1. */
function base64End(b: Uint8Array, at: number): number {
  let i = at;
  while (i < b.length && B64[b[i]!]! >= 0) i++;
  let pad = 0;
  while (pad < 2 && i < b.length && b[i] === EQUALS) {
    i++;
    pad++;
  }
  if (i >= b.length || b[i] !== QUOTE || (i - at) % 4 !== 0) return -1;
  return i;
}

/** Decoded bytes of padded base64 text b[start, end) that base64End accepted. */
export function decodeBase64Bytes(b: Uint8Array, start: number, end: number): Uint8Array {
  let pad = 0;
  if (end > start && b[end - 1] === EQUALS) pad = b[end - 2] === EQUALS ? 2 : 1;
  const out = new Uint8Array(((end - start) / 4) * 3 - pad);
  let o = 0;
  for (let i = start; i < end; i += 4) {
    const n = (B64[b[i]!]! << 18) | (B64[b[i + 1]!]! << 12) | ((B64[b[i + 2]!]! & 63) << 6) | (B64[b[i + 3]!]! & 63);
    out[o++] = n >>> 16;
    if (o < out.length) out[o++] = (n >>> 8) & 255;
    if (o < out.length) out[o++] = n & 255;
  }
  return out;
}

/** Write the digest whose hex starts at b[at] into out[to..]; false on a bad digit. */
export function hexDigestInto(b: Uint8Array, at: number, size: number, out: Uint8Array, to: number): boolean {
  for (let i = 0; i < size; i++, at += 2) {
    const v = HEX_PAIR[(b[at]! << 8) | b[at + 1]!]!;
    if (v < 0) return false;
    out[to + i] = v;
  }
  return true;
}

/**
 * A `["sha1-..","sha1-.."]` array at b[at] (at the `[`): sets scan.refs/digestSize/
 * dataStart/digestAt for entry i and appends its digests to scan.digests; returns the
 * index after `]`, or -1.
 */
function scanRefs(b: Uint8Array, at: number, scan: DirScan, i: number): number {
  if (b[at] !== 0x5b /* [ */) return -1;
  let p = at + 1;
  let size = 0;
  let refs = 0;
  for (;;) {
    let hexAt: number;
    let s: number;
    if (hasAt(b, p, SHA1)) {
      hexAt = p + SHA1.length;
      s = 20;
    } else if (hasAt(b, p, SHA256)) {
      hexAt = p + SHA256.length;
      s = 32;
    } else return -1;
    if (size !== 0 && s !== size) return -1; // mixed hash types: the general path says so
    size = s;
    const end = hexAt + 2 * s;
    if (end >= b.length || b[end] !== QUOTE) return -1;
    if (refs === 0) {
      scan.dataStart[i] = hexAt;
      scan.digestAt[i] = scan.digestBytes;
    }
    scan.reserveDigests(s);
    if (!hexDigestInto(b, hexAt, s, scan.digests, scan.digestBytes)) return -1;
    scan.digestBytes += s;
    refs++;
    p = end + 1;
    if (b[p] === COMMA) {
      p++;
      continue;
    }
    if (b[p] !== CLOSE_BRACKET) return -1;
    scan.refs[i] = refs;
    scan.digestSize[i] = size;
    return p + 1;
  }
}

/** -1, 0 or 1 as b[a0,a1) compares to b[c0,c1) bytewise. */
function compareRanges(b: Uint8Array, a0: number, a1: number, c0: number, c1: number): number {
  const n = Math.min(a1 - a0, c1 - c0);
  for (let i = 0; i < n; i++) {
    const d = b[a0 + i]! - b[c0 + i]!;
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return a1 - a0 === c1 - c0 ? 0 : a1 - a0 < c1 - c0 ? -1 : 1;
}

/**
 * Scan a canonical `dir` object; true when every entry is a val, valref or dirref in the
 * canonical form (positions in `scan`), false to fall back to decodeTreeObj.
 */
export function scanDir(b: Uint8Array, scan: DirScan): boolean {
  scan.count = 0;
  scan.digestBytes = 0;
  if (!hasAt(b, 0, DIR_OPEN)) return false;
  let p = DIR_OPEN.length;
  if (b[p] === CLOSE_BRACE) return p + DIR_CLOSE.length === b.length && hasAt(b, p, DIR_CLOSE);
  for (let i = 0; ; i++) {
    scan.grow(i);
    // "name":
    if (b[p] !== QUOTE) return false;
    const nameStart = p + 1;
    let q = nameStart;
    while (q < b.length) {
      const c = b[q]!;
      if (c === QUOTE) break;
      if (c === BACKSLASH || c < 0x20 || c >= 0x80) return false;
      q++;
    }
    if (q >= b.length || q === nameStart || b[q + 1] !== 0x3a /* : */) return false;
    if (i > 0 && compareRanges(b, scan.nameStart[i - 1]!, scan.nameEnd[i - 1]!, nameStart, q) >= 0) return false;
    scan.nameStart[i] = nameStart;
    scan.nameEnd[i] = q;
    p = q + 2;
    // {"data":X,"type":"T","ver":1}
    if (!hasAt(b, p, ENTRY_OPEN)) return false;
    p += ENTRY_OPEN.length;
    if (b[p] === QUOTE) {
      const end = base64End(b, p + 1);
      if (end < 0 || !hasAt(b, end + 1, TYPE_VAL)) return false;
      scan.kind[i] = SCAN_VAL;
      scan.dataStart[i] = p + 1;
      scan.dataEnd[i] = end;
      p = end + 1 + TYPE_VAL.length;
    } else {
      p = scanRefs(b, p, scan, i);
      if (p < 0) return false;
      if (hasAt(b, p, TYPE_VALREF)) {
        scan.kind[i] = SCAN_VALREF;
        p += TYPE_VALREF.length;
      } else if (hasAt(b, p, TYPE_DIRREF) && scan.refs[i] === 1) {
        scan.kind[i] = SCAN_DIRREF;
        p += TYPE_DIRREF.length;
      } else return false;
    }
    scan.count = i + 1;
    if (b[p] === COMMA) {
      p++;
      continue;
    }
    return p + DIR_CLOSE.length === b.length && hasAt(b, p, DIR_CLOSE);
  }
}
