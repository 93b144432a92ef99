/**
 * LZ4 block format (no frame), as content-sqlite stores blobs of >= 256 bytes.
 *
 * decode() trusts nothing: every read is checked against the end of the source block and
 * every write against the declared size, inside this module, so a corrupt blob can only
 * produce an error code, never a read or write outside [src, src+srcLen) and
 * [dst, dst+dstLen). It accepts exactly the blocks src/store/lz4.ts's reference decoder
 * accepts and reports the same first error.
 *
 * encode() is a greedy single-probe hash compressor (liblz4's "fast" strategy: skip faster
 * through incompressible input, extend matches backwards, re-insert the position two bytes
 * before each match end). Its output follows the block rules liblz4's decoder enforces:
 * the last 5 bytes are literals and no match starts within the last 12 bytes.
 */

// decode() results below zero; src/wasm/lz4.ts maps them to messages.
const ERR_TRUNCATED_LITERAL_LENGTH: i32 = -1;
const ERR_LITERALS_PAST_END: i32 = -2;
const ERR_LITERALS_OVERFLOW: i32 = -3;
const ERR_TRUNCATED_OFFSET: i32 = -4;
const ERR_OFFSET_OUT_OF_RANGE: i32 = -5;
const ERR_TRUNCATED_MATCH_LENGTH: i32 = -6;
const ERR_MATCH_OVERFLOW: i32 = -7;
// encode() result when the output buffer is smaller than bound(srcLen).
const ERR_OUTPUT_TOO_SMALL: i32 = -8;

const MIN_MATCH: usize = 4;
/** The last 5 bytes of a block are always literals. */
const LAST_LITERALS: usize = 5;
/** A match must start at least 12 bytes before the end of the block. */
const MF_LIMIT: usize = 12;
const MAX_OFFSET: usize = 65535;
/** Chunk size of the fast copies (one v128), and the slack they need before a buffer end. */
const WILD: usize = 16;

const HASH_LOG_MAX: usize = 12;
/** Hash table: position + 1 of the last 4-byte sequence with each hash (0 = empty). */
const TABLE: usize = memory.data(4 << HASH_LOG_MAX, 16);
/** Misses before the search step grows by one byte (liblz4's skip strength). */
const SKIP_TRIGGER: u32 = 6;

export function heapBase(): usize {
  return __heap_base;
}

/** Worst-case encoded size of n bytes. */
export function bound(n: usize): usize {
  return n + n / 255 + 16;
}

/**
 * Decodes the block at [src, src+srcLen) into [dst, dst+dstLen). Returns the number of
 * bytes produced (the caller checks it equals dstLen) or a negative ERR_ code.
 * Positions are usize (blocks live in a 32-bit memory); lengths accumulate in u64 and are
 * checked in u64 before use, so no run of 255-bytes can wrap them.
 */
export function decode(src: usize, srcLen: usize, dst: usize, dstLen: usize): i32 {
  const iend = srcLen;
  const oend = dstLen;
  let ip: usize = 0;
  let op: usize = 0;
  while (ip < iend) {
    const token = <u32>load<u8>(src + ip);
    ip++;
    let litLen64 = <u64>(token >> 4);
    if (litLen64 == 15) {
      let b: u32;
      do {
        if (ip >= iend) return ERR_TRUNCATED_LITERAL_LENGTH;
        b = load<u8>(src + ip);
        ip++;
        litLen64 += b;
      } while (b == 255);
    }
    if (<u64>ip + litLen64 > <u64>iend) return ERR_LITERALS_PAST_END;
    if (<u64>op + litLen64 > <u64>oend) return ERR_LITERALS_OVERFLOW;
    const litLen = <usize>litLen64;
    copyLiterals(dst + op, src + ip, litLen, dst + oend, src + iend);
    ip += litLen;
    op += litLen;
    if (ip == iend) break; // the last sequence has literals only

    if (ip + 2 > iend) return ERR_TRUNCATED_OFFSET;
    const offset = <usize>load<u16>(src + ip); // little-endian, like wasm memory
    ip += 2;
    if (offset == 0 || offset > op) return ERR_OFFSET_OUT_OF_RANGE;
    let matchLen64 = <u64>(token & 15) + MIN_MATCH;
    if ((token & 15) == 15) {
      let b: u32;
      do {
        if (ip >= iend) return ERR_TRUNCATED_MATCH_LENGTH;
        b = load<u8>(src + ip);
        ip++;
        matchLen64 += b;
      } while (b == 255);
    }
    if (<u64>op + matchLen64 > <u64>oend) return ERR_MATCH_OVERFLOW;
    const matchLen = <usize>matchLen64;
    copyMatch(dst + op, offset, matchLen, dst + oend);
    op += matchLen;
  }
  return <i32>op;
}

/**
 * Copies `len` bytes to `d` from `offset` bytes back; the ranges overlap when
 * offset < len, which repeats the last `offset` bytes (run-length encoding). Away from the
 * end of the output, whole 8- or 16-byte chunks are copied (possibly past `d + len`, but
 * never past `end`; later sequences overwrite the excess). memory.copy is a call into the
 * engine, too slow for the short matches JSON is made of, so it serves only long copies.
 */
// @ts-ignore: decorator
@inline function copyMatch(d: usize, offset: usize, len: usize, end: usize): void {
  const m = d - offset;
  if (d + len + WILD <= end) {
    if (offset >= WILD) {
      // Each chunk reads bytes at least 16 back: all written before this chunk.
      for (let i: usize = 0; i < len; i += WILD) v128.store(d + i, v128.load(m + i));
      return;
    }
    if (offset >= 8) {
      for (let i: usize = 0; i < len; i += 8) store<u64>(d + i, load<u64>(m + i));
      return;
    }
  }
  if (len <= 32) {
    for (let i: usize = 0; i < len; i++) store<u8>(d + i, load<u8>(m + i));
  } else if (offset >= len) {
    memory.copy(d, m, len);
  } else {
    // Long overlapping run: copy the pattern in chunks that double and never overlap.
    let done: usize = 0;
    while (done < len) {
      const n = min(offset + done, len - done);
      memory.copy(d + done, m, n);
      done += n;
    }
  }
}

/** Copies `len` literal bytes, in 16-byte chunks while both buffers have room for them. */
// @ts-ignore: decorator
@inline function copyLiterals(d: usize, s: usize, len: usize, dEnd: usize, sEnd: usize): void {
  if (d + len + WILD <= dEnd && s + len + WILD <= sEnd) {
    for (let i: usize = 0; i < len; i += WILD) v128.store(d + i, v128.load(s + i));
  } else if (len <= 32) {
    for (let i: usize = 0; i < len; i++) store<u8>(d + i, load<u8>(s + i));
  } else {
    memory.copy(d, s, len);
  }
}

// @ts-ignore: decorator
@inline function hash4(seq: u32, hashLog: usize): usize {
  return <usize>((seq * 2654435761) >> <u32>(32 - hashLog));
}

/** Bytes from p and r that agree, comparing 8 at a time, with p stopping at pLimit. */
// @ts-ignore: decorator
@inline function countMatch(p: usize, r: usize, pLimit: usize): usize {
  const start = p;
  while (p + 8 <= pLimit) {
    const diff = load<u64>(p) ^ load<u64>(r);
    if (diff != 0) return p - start + <usize>(ctz<u64>(diff) >> 3);
    p += 8;
    r += 8;
  }
  while (p < pLimit && load<u8>(p) == load<u8>(r)) {
    p++;
    r++;
  }
  return p - start;
}

/** Writes the 255-run continuation of a length field; returns the new output position. */
// @ts-ignore: decorator
@inline function writeLength(op: usize, len: usize): usize {
  while (len >= 255) {
    store<u8>(op++, 255);
    len -= 255;
  }
  store<u8>(op++, <u8>len);
  return op;
}

/** One sequence: literals [lit, lit+litLen), then a match (or none if matchLen == 0). */
function emit(op: usize, lit: usize, litLen: usize, offset: usize, matchLen: usize): usize {
  const tokenAt = op++;
  let token: u32 = <u32>min(litLen, 15) << 4;
  if (litLen >= 15) op = writeLength(op, litLen - 15);
  memory.copy(op, lit, litLen);
  op += litLen;
  if (matchLen != 0) {
    store<u16>(op, <u16>offset);
    op += 2;
    const ml = matchLen - MIN_MATCH;
    token |= <u32>min(ml, 15);
    if (ml >= 15) op = writeLength(op, ml - 15);
  }
  store<u8>(tokenAt, <u8>token);
  return op;
}

/**
 * Encodes [src, src+n) as one block at dst (capacity cap >= bound(n)). Returns the block
 * length or ERR_OUTPUT_TOO_SMALL.
 */
export function encode(src: usize, n: usize, dst: usize, cap: usize): i32 {
  if (cap < bound(n)) return ERR_OUTPUT_TOO_SMALL;
  let op = dst;
  let anchor: usize = 0;
  if (n > MF_LIMIT) {
    // A table sized to the input: clearing it is part of every call.
    let hashLog: usize = 32 - <usize>clz<u32>(<u32>n);
    hashLog = hashLog < 8 ? 8 : hashLog > HASH_LOG_MAX ? HASH_LOG_MAX : hashLog;
    memory.fill(TABLE, 0, 4 << hashLog);
    const limit = n - MF_LIMIT; // matches start before this
    const matchEnd = src + n - LAST_LITERALS; // and end at or before this
    let ip: usize = 0;
    let misses: u32 = 1 << SKIP_TRIGGER;
    while (ip < limit) {
      const seq = load<u32>(src + ip);
      const slot = TABLE + (hash4(seq, hashLog) << 2);
      const ref1 = <usize>load<u32>(slot); // candidate position + 1
      store<u32>(slot, <u32>(ip + 1));
      if (ref1 == 0 || ip - (ref1 - 1) > MAX_OFFSET || load<u32>(src + ref1 - 1) != seq) {
        ip += <usize>(misses++ >> SKIP_TRIGGER);
        continue;
      }
      let ref = ref1 - 1;
      // Extend backwards over bytes the literals would otherwise carry.
      while (ip > anchor && ref > 0 && load<u8>(src + ip - 1) == load<u8>(src + ref - 1)) {
        ip--;
        ref--;
      }
      const len = MIN_MATCH + countMatch(src + ip + MIN_MATCH, src + ref + MIN_MATCH, matchEnd);
      op = emit(op, src + anchor, ip - anchor, ip - ref, len);
      ip += len;
      anchor = ip;
      misses = 1 << SKIP_TRIGGER;
      // Remember the position just before the match end: repeats often start there.
      if (ip < limit) {
        const back = ip - 2;
        store<u32>(TABLE + (hash4(load<u32>(src + back), hashLog) << 2), <u32>(back + 1));
      }
    }
  }
  op = emit(op, src + anchor, n - anchor, 0, 0);
  return <i32>(op - dst);
}
