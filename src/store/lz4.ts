/**
 * LZ4 *block* format (no frame), as content-sqlite stores blobs of >= 256 bytes.
 * Pure-TS reference implementation: the decoder bounds-checks every read and write and
 * rejects malformed blocks; the encoder is a simple greedy hash-chain-free compressor
 * whose output any LZ4 block decoder accepts.
 */
import { FluxError } from '../errors.js';

function malformed(why: string): never {
  throw new FluxError(`corrupt LZ4 block: ${why}`, 'EPROTO');
}

/**
 * Largest output an LZ4 block of `n` bytes can describe: a match length grows by 255
 * per input byte at most. A declared size beyond it is corrupt (and must not make us
 * allocate gigabytes).
 */
export function maxDecodedSize(n: number): number {
  return n * 255 + 15;
}

/** Decode a block that must expand to exactly `size` bytes. */
export function lz4DecodeBlockTS(src: Uint8Array, size: number): Uint8Array {
  // the declared size comes from the store (content.sqlite's size column): check it
  // before allocating the output
  if (!Number.isSafeInteger(size) || size < 0) malformed(`invalid declared size ${size}`);
  if (size > maxDecodedSize(src.length)) malformed(`declared size ${size} is impossible for a ${src.length}-byte block`);
  const dst = new Uint8Array(size);
  let ip = 0;
  let op = 0;
  const iend = src.length;
  while (ip < iend) {
    const token = src[ip++]!;
    let litLen = token >>> 4;
    if (litLen === 15) {
      let b: number;
      do {
        if (ip >= iend) malformed('truncated literal length');
        b = src[ip++]!;
        litLen += b;
      } while (b === 255);
    }
    if (ip + litLen > iend) malformed('literals run past the end of the block');
    if (op + litLen > size) malformed('literals overflow the declared size');
    if (litLen < 32) {
      for (let i = 0; i < litLen; i++) dst[op + i] = src[ip + i]!; // no subarray garbage for short runs
    } else dst.set(src.subarray(ip, ip + litLen), op);
    ip += litLen;
    op += litLen;
    if (ip === iend) break; // last sequence has literals only
    if (ip + 2 > iend) malformed('truncated match offset');
    const offset = src[ip]! | (src[ip + 1]! << 8);
    ip += 2;
    if (offset === 0 || offset > op) malformed('match offset out of range');
    let matchLen = (token & 15) + 4;
    if ((token & 15) === 15) {
      let b: number;
      do {
        if (ip >= iend) malformed('truncated match length');
        b = src[ip++]!;
        matchLen += b;
      } while (b === 255);
    }
    if (op + matchLen > size) malformed('match overflows the declared size');
    let m = op - offset;
    if (offset >= matchLen && matchLen >= 32) {
      dst.copyWithin(op, m, m + matchLen);
      op += matchLen;
    } else {
      for (let i = 0; i < matchLen; i++) dst[op++] = dst[m++]!;
    }
  }
  if (op !== size) malformed(`decoded ${op} bytes, expected ${size}`);
  return dst;
}

const MIN_MATCH = 4;
const LAST_LITERALS = 5;
const MF_LIMIT = 12;
/** Hash table bits: small inputs use a small table, so encoding a 1 KiB blob stays cheap. */
function hashLogFor(n: number): number {
  return n < 1 << 12 ? 10 : n < 1 << 16 ? 13 : 16;
}
const TABLES = new Map<number, Int32Array>();
function table(log: number): Int32Array {
  let t = TABLES.get(log);
  if (!t) TABLES.set(log, (t = new Int32Array(1 << log)));
  return t.fill(-1);
}

function writeLength(dst: Uint8Array, op: number, len: number): number {
  while (len >= 255) {
    dst[op++] = 255;
    len -= 255;
  }
  dst[op++] = len;
  return op;
}

/** Worst-case compressed size of n input bytes. */
export function lz4Bound(n: number): number {
  return n + Math.floor(n / 255) + 16;
}

/** Compress into one LZ4 block (greedy, a reused hash table of 4-byte sequences). */
export function lz4EncodeBlockTS(src: Uint8Array): Uint8Array {
  const n = src.length;
  const dst = new Uint8Array(lz4Bound(n));
  const hashLog = hashLogFor(n);
  const seen = table(hashLog);
  let op = 0;
  let anchor = 0;
  let ip = 0;
  const matchLimit = n - LAST_LITERALS;
  const read32 = (p: number) => (src[p]! | (src[p + 1]! << 8) | (src[p + 2]! << 16) | (src[p + 3]! << 24)) >>> 0;
  const hash = (v: number) => Math.imul(v, 2654435761) >>> (32 - hashLog);
  if (n >= MF_LIMIT) {
    while (ip < n - MF_LIMIT) {
      const seq = read32(ip);
      const h = hash(seq);
      const ref = seen[h]!;
      seen[h] = ip;
      if (ref < 0 || ip - ref > 65535 || read32(ref) !== seq) {
        ip++;
        continue;
      }
      let len = MIN_MATCH;
      while (ip + len < matchLimit && src[ref + len] === src[ip + len]) len++;
      const litLen = ip - anchor;
      const tokenPos = op++;
      op = litLen >= 15 ? writeLength(dst, op, litLen - 15) : op;
      dst.set(src.subarray(anchor, ip), op);
      op += litLen;
      const off = ip - ref;
      dst[op++] = off & 255;
      dst[op++] = off >>> 8;
      const ml = len - MIN_MATCH;
      op = ml >= 15 ? writeLength(dst, op, ml - 15) : op;
      dst[tokenPos] = (Math.min(litLen, 15) << 4) | Math.min(ml, 15);
      ip += len;
      anchor = ip;
    }
  }
  const litLen = n - anchor;
  const tokenPos = op++;
  op = litLen >= 15 ? writeLength(dst, op, litLen - 15) : op;
  dst[tokenPos] = Math.min(litLen, 15) << 4;
  dst.set(src.subarray(anchor), op);
  op += litLen;
  return dst.slice(0, op);
}

/** lz4DecodeBlockTS written into dst[at..at+size] (the load thread's batch buffer). */
export function lz4DecodeBlockIntoTS(src: Uint8Array, size: number, dst: Uint8Array, at: number): void {
  dst.set(lz4DecodeBlockTS(src, size), at);
}

/** Active implementations; the WASM core swaps these in when it loads. */
export const lz4 = {
  decode: lz4DecodeBlockTS,
  decodeInto: lz4DecodeBlockIntoTS,
  encode: lz4EncodeBlockTS,
};
