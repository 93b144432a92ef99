/**
 * A streaming bzip2 decoder in TypeScript, for restore. Reads one or more concatenated
 * bzip2 streams (bzip2, pbzip2, our bzip2Filter) block by block, with memory bounded by
 * one block (at most 900 kB of BWT data, the compressed block, and its output), and checks
 * every block CRC and every stream CRC.
 *
 * Why not a library: unbzip2-stream (the streaming reader on npm) decodes at ~5 MB/s,
 * pushing every output byte through a callback into a JS array; @foxglove/wasm-bz2 and
 * bzip2-wasm decode whole buffers only and need the output size up front. This decoder
 * keeps its state in typed arrays; unbzip2-stream stays as the independent test oracle.
 *
 * Format facts (bzip2 1.0.x, as written by libbz2): a stream is "BZh" + level '1'..'9',
 * then blocks, each a 48-bit magic 0x314159265359, 32-bit block CRC, a randomised bit,
 * a 24-bit BWT origin pointer, the symbol map, Huffman selectors and tables, then the
 * MTF/RLE2-coded BWT of up to level * 100,000 bytes of RLE1 data; the stream ends with the
 * 48-bit magic 0x177245385090 and the 32-bit combined CRC, padded to a byte.
 */
import { FluxError } from '../errors.js';

const BLOCK_MAGIC_HI = 0x314159; // 48-bit magics, read as two 24-bit halves
const BLOCK_MAGIC_LO = 0x265359;
const EOS_MAGIC_HI = 0x177245;
const EOS_MAGIC_LO = 0x385090;
const LEVEL_UNIT = 100_000;
const MAX_GROUPS = 6;
const MIN_GROUPS = 2;
const GROUP_SIZE = 50; // symbols coded with one selector
/** libbz2 1.0.8 reads at most this many selectors and ignores the rest (CVE-2019-12900). */
const MAX_SELECTORS = 18002;
const MAX_CODE_LEN = 20;
const MAX_ALPHA = 258; // 256 byte values + RUNA/RUNB - 1 + EOB
const RUNA = 0;
const RUNB = 1;
/** Huffman codes up to this length decode with one table lookup; longer ones walk lengths. */
const LUT_BITS = 10;
/**
 * A block is decoded once this many compressed bytes are buffered past its start (or the
 * input ended): more than any 900 kB block needs unless it is barely compressible, in
 * which case the decode stops short and is retried with more input.
 */
const BLOCK_LOOKAHEAD = 25_000 + 9 * LEVEL_UNIT;

/** bzip2's CRC-32: polynomial 0x04c11db7, MSB first (not the zlib/gzip bit order). */
const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i << 24;
    for (let k = 0; k < 8; k++) c = c & 0x80000000 ? (c << 1) ^ 0x04c11db7 : c << 1;
    t[i] = c >>> 0;
  }
  return t;
})();

/** Thrown inside a block decode when the buffered input runs out before the input ends. */
const NEED_MORE = Symbol('need more input');

class Bzip2DataError extends Error {}

/**
 * Bits MSB-first over a growing byte buffer. `acc` holds `count` (< 32) pending bits in
 * its low bits. Past the end of input it yields zero bits and remembers that it did, so a
 * decode that reads them is reported as truncated rather than corrupt.
 */
class BitReader {
  /** Input bytes; [pos, end) are not yet in the accumulator. */
  buf: Uint8Array = new Uint8Array(0);
  pos = 0;
  end = 0;
  acc = 0;
  count = 0;
  eof = false;
  overrun = false;

  /**
   * Add input. Only called between decode attempts (no saved position is live), so the
   * unconsumed bytes may move to the front; capacity grows geometrically.
   */
  append(chunk: Uint8Array): void {
    const rest = this.end - this.pos;
    if (rest + chunk.length > this.buf.length) {
      const grown = new Uint8Array(Math.max(rest + chunk.length, this.buf.length * 2));
      grown.set(this.buf.subarray(this.pos, this.end), 0);
      this.buf = grown;
    } else if (this.end + chunk.length > this.buf.length) {
      this.buf.copyWithin(0, this.pos, this.end);
    } else {
      this.buf.set(chunk, this.end);
      this.end += chunk.length;
      return;
    }
    this.buf.set(chunk, rest);
    this.pos = 0;
    this.end = rest + chunk.length;
  }

  /** Bytes not yet moved into the bit accumulator. */
  get buffered(): number {
    return this.end - this.pos;
  }

  save(): [number, number, number] {
    return [this.pos, this.acc, this.count];
  }

  restore(s: [number, number, number]): void {
    [this.pos, this.acc, this.count] = s;
  }

  /** Make at least n (<= 24) bits pending. */
  fill(n: number): void {
    while (this.count < n) {
      if (this.pos < this.end) this.acc = ((this.acc << 8) | this.buf[this.pos++]!) >>> 0;
      else if (!this.eof) throw NEED_MORE;
      else {
        this.acc = (this.acc << 8) >>> 0;
        this.overrun = true;
      }
      this.count += 8;
    }
  }

  bits(n: number): number {
    if (this.count < n) this.fill(n);
    this.count -= n;
    return (this.acc >>> this.count) & ((1 << n) - 1);
  }

  bit(): number {
    if (this.count < 1) this.fill(1);
    this.count -= 1;
    return (this.acc >>> this.count) & 1;
  }

  /** Drop the bits up to the next byte boundary (end of a stream). */
  alignToByte(): void {
    this.count -= this.count % 8;
  }

  /** Whole bytes not yet consumed, pending ones included. */
  get bytesLeft(): number {
    return this.buffered + (this.count >> 3);
  }
}

/** One Huffman table: a LUT for short codes and canonical ranges for long ones. */
interface HuffmanTable {
  /** (symbol << 5) | length for codes of length <= LUT_BITS; 0 = longer code or invalid. */
  lut: Uint16Array;
  maxLen: number;
  firstCode: Int32Array; // by length
  count: Int32Array; // by length
  permStart: Int32Array; // by length: index into perm
  perm: Uint16Array; // symbols sorted by (length, symbol)
}

function buildTable(lengths: Uint8Array, alphaSize: number): HuffmanTable {
  let minLen = MAX_CODE_LEN;
  let maxLen = 0;
  for (let i = 0; i < alphaSize; i++) {
    const l = lengths[i]!;
    if (l > maxLen) maxLen = l;
    if (l < minLen) minLen = l;
  }
  const count = new Int32Array(MAX_CODE_LEN + 2);
  for (let i = 0; i < alphaSize; i++) count[lengths[i]!]!++;
  const firstCode = new Int32Array(MAX_CODE_LEN + 2);
  const permStart = new Int32Array(MAX_CODE_LEN + 2);
  const perm = new Uint16Array(alphaSize);
  // Canonical codes as libbz2 assigns them: by length, then by symbol, consecutive.
  let code = 0;
  let p = 0;
  for (let len = minLen; len <= maxLen; len++) {
    firstCode[len] = code;
    permStart[len] = p;
    for (let s = 0; s < alphaSize; s++) if (lengths[s] === len) perm[p++] = s;
    code = (code + count[len]!) << 1;
  }
  const lut = new Uint16Array(1 << LUT_BITS);
  for (let len = minLen; len <= Math.min(maxLen, LUT_BITS); len++) {
    for (let k = 0; k < count[len]!; k++) {
      const sym = perm[permStart[len]! + k]!;
      const c = firstCode[len]! + k;
      const from = c << (LUT_BITS - len);
      const to = (c + 1) << (LUT_BITS - len);
      if (to > lut.length) throw new Bzip2DataError('oversubscribed Huffman code');
      lut.fill((sym << 5) | len, from, to);
    }
  }
  return { lut, maxLen, firstCode, count, permStart, perm };
}

function decodeSymbol(br: BitReader, t: HuffmanTable): number {
  // Peek LUT_BITS bits (zero bits past the end of input are fine: checked later).
  if (br.count < LUT_BITS) br.fill(LUT_BITS);
  const e = t.lut[(br.acc >>> (br.count - LUT_BITS)) & ((1 << LUT_BITS) - 1)]!;
  if (e !== 0) {
    br.count -= e & 31;
    return e >>> 5;
  }
  if (t.maxLen > LUT_BITS) {
    if (br.count < t.maxLen) br.fill(t.maxLen);
    const v = (br.acc >>> (br.count - t.maxLen)) & ((1 << t.maxLen) - 1);
    for (let len = LUT_BITS + 1; len <= t.maxLen; len++) {
      const c = (v >>> (t.maxLen - len)) - t.firstCode[len]!;
      if (c >= 0 && c < t.count[len]!) {
        br.count -= len;
        return t.perm[t.permStart[len]! + c]!;
      }
    }
  }
  throw new Bzip2DataError('invalid Huffman code');
}

/** Decoder state that lives across blocks and streams. */
class Bunzip2 {
  readonly br = new BitReader();
  /** Level of the current stream (1..9), 0 between streams. */
  level = 0;
  streamCrc = 0;
  streamsDone = 0;
  tt = new Uint32Array(0);
  out = new Uint8Array(0);

  /** Read a stream header ("BZh" + level). Returns false at a clean end of input. */
  streamHeader(): boolean {
    const br = this.br;
    if (br.bytesLeft === 0 && br.eof) return false;
    if (br.bytesLeft < 4 && !br.eof) throw NEED_MORE;
    // Trailing zero bytes after a complete stream are padding, as gzip and xz allow.
    if (this.streamsDone > 0 && this.onlyZerosLeft()) {
      if (!br.eof) throw NEED_MORE;
      br.pos = br.end;
      br.count = 0;
      return false;
    }
    if (br.bits(8) !== 0x42 || br.bits(8) !== 0x5a || br.bits(8) !== 0x68) {
      throw new Bzip2DataError(this.streamsDone > 0 ? 'garbage after the end of a stream' : 'not bzip2 data');
    }
    const level = br.bits(8) - 0x30;
    if (level < 1 || level > 9) throw new Bzip2DataError(`bad block size '${String.fromCharCode(level + 0x30)}'`);
    this.level = level;
    this.streamCrc = 0;
    if (this.tt.length < level * LEVEL_UNIT) this.tt = new Uint32Array(level * LEVEL_UNIT);
    return true;
  }

  private onlyZerosLeft(): boolean {
    const br = this.br;
    if ((br.acc & ((1 << br.count) - 1)) !== 0) return false;
    for (let i = br.pos; i < br.end; i++) if (br.buf[i] !== 0) return false;
    return true;
  }

  /**
   * Decode the next block of the current stream into this.out. Returns the number of
   * output bytes, or -1 at the end of the stream (after checking the stream CRC).
   */
  block(): number {
    const br = this.br;
    const hi = br.bits(24);
    const lo = br.bits(24);
    if (hi === EOS_MAGIC_HI && lo === EOS_MAGIC_LO) {
      const crc = ((br.bits(16) << 16) | br.bits(16)) >>> 0;
      if (br.overrun) throw NEED_MORE;
      if (crc !== this.streamCrc) throw new Bzip2DataError('stream CRC mismatch');
      br.alignToByte();
      this.level = 0;
      this.streamsDone++;
      return -1;
    }
    if (hi !== BLOCK_MAGIC_HI || lo !== BLOCK_MAGIC_LO) throw new Bzip2DataError('bad block header');
    const blockCrc = ((br.bits(16) << 16) | br.bits(16)) >>> 0;
    if (br.bit()) throw new Bzip2DataError('randomised blocks (bzip2 0.9.0) are not supported');
    const origPtr = br.bits(24);

    // Symbol map: which byte values occur, as 16 ranges of 16.
    const seqToUnseq = new Uint8Array(256);
    let nInUse = 0;
    const inUse16 = br.bits(16);
    for (let i = 0; i < 16; i++) {
      if (inUse16 & (0x8000 >>> i)) {
        const bitsInRange = br.bits(16);
        for (let j = 0; j < 16; j++) if (bitsInRange & (0x8000 >>> j)) seqToUnseq[nInUse++] = i * 16 + j;
      }
    }
    if (nInUse === 0) throw new Bzip2DataError('empty symbol map');
    const alphaSize = nInUse + 2;
    const eob = nInUse + 1;

    const nGroups = br.bits(3);
    if (nGroups < MIN_GROUPS || nGroups > MAX_GROUPS) throw new Bzip2DataError('bad number of Huffman groups');
    const nSelectors = br.bits(15);
    if (nSelectors < 1) throw new Bzip2DataError('no selectors');
    const selectorMtf = new Uint8Array(Math.min(nSelectors, MAX_SELECTORS));
    for (let i = 0; i < nSelectors; i++) {
      let j = 0;
      while (br.bit()) if (++j >= nGroups) throw new Bzip2DataError('bad selector');
      if (i < MAX_SELECTORS) selectorMtf[i] = j;
    }
    // Undo the MTF coding of the selectors.
    const groupOrder = new Uint8Array(MAX_GROUPS);
    for (let g = 0; g < nGroups; g++) groupOrder[g] = g;
    const selectors = new Uint8Array(selectorMtf.length);
    for (let i = 0; i < selectorMtf.length; i++) {
      let v = selectorMtf[i]!;
      const tmp = groupOrder[v]!;
      for (; v > 0; v--) groupOrder[v] = groupOrder[v - 1]!;
      groupOrder[0] = tmp;
      selectors[i] = tmp;
    }

    // Code lengths, delta-coded per group.
    const tables: HuffmanTable[] = [];
    const lengths = new Uint8Array(MAX_ALPHA);
    for (let g = 0; g < nGroups; g++) {
      let len = br.bits(5);
      for (let s = 0; s < alphaSize; s++) {
        for (;;) {
          if (len < 1 || len > MAX_CODE_LEN) throw new Bzip2DataError('bad code length');
          if (!br.bit()) break;
          len += br.bit() ? -1 : 1;
        }
        lengths[s] = len;
      }
      tables.push(buildTable(lengths, alphaSize));
    }

    // MTF + RLE2 decode into tt (low byte = symbol), counting each byte value.
    const tt = this.tt;
    const limit = this.level * LEVEL_UNIT;
    const counts = new Int32Array(256);
    const mtf = new Uint8Array(256);
    for (let i = 0; i < 256; i++) mtf[i] = i;
    let n = 0;
    let selector = 0;
    let groupLeft = 0;
    let table = tables[0]!;
    let run = 0;
    let runWeight = 1;
    for (;;) {
      if (groupLeft === 0) {
        if (selector >= selectors.length) throw new Bzip2DataError('ran out of selectors');
        table = tables[selectors[selector++]!]!;
        groupLeft = GROUP_SIZE;
      }
      groupLeft--;
      const sym = decodeSymbol(br, table);
      if (sym <= RUNB) {
        // RUNA/RUNB: bijective base-2 digits of a run length of the front symbol.
        run += (sym === RUNA ? 1 : 2) * runWeight;
        runWeight <<= 1;
        if (run > limit) throw new Bzip2DataError('run exceeds block size');
        continue;
      }
      if (run > 0) {
        if (n + run > limit) throw new Bzip2DataError('block exceeds its declared size');
        const b = seqToUnseq[mtf[0]!]!;
        counts[b]! += run;
        tt.fill(b, n, n + run);
        n += run;
        run = 0;
        runWeight = 1;
      }
      if (sym === eob) break;
      // Symbol k (2..nInUse) = MTF position k - 1.
      const pos = sym - 1;
      const v = mtf[pos]!;
      mtf.copyWithin(1, 0, pos);
      mtf[0] = v;
      const b = seqToUnseq[v]!;
      if (n >= limit) throw new Bzip2DataError('block exceeds its declared size');
      counts[b]!++;
      tt[n++] = b;
    }
    if (br.overrun) throw NEED_MORE;
    if (origPtr >= n) throw new Bzip2DataError('bad BWT origin pointer');

    // Inverse BWT: link every position to its successor in the high 24 bits of tt.
    const start = new Int32Array(256);
    for (let i = 0, sum = 0; i < 256; i++) {
      start[i] = sum;
      sum += counts[i]!;
    }
    for (let i = 0; i < n; i++) {
      const b = tt[i]! & 0xff;
      tt[start[b]!++] |= i << 8;
    }
    return this.emit(n, origPtr, blockCrc);
  }

  /** Walk the BWT links, undo RLE1 (4 equal bytes + a repeat count), check the CRC. */
  private emit(n: number, origPtr: number, blockCrc: number): number {
    const tt = this.tt;
    let out = this.out;
    if (out.length < n + 256) out = this.out = new Uint8Array(Math.max(n + 256, out.length * 2));
    let o = 0;
    let crc = 0xffffffff;
    let pos = tt[origPtr]! >>> 8;
    let last = -1;
    let same = 0;
    for (let i = 0; i < n; i++) {
      const t = tt[pos]!;
      const b = t & 0xff;
      pos = t >>> 8;
      if (same === 4) {
        // b is a repeat count for the byte just written four times.
        if (o + b > out.length - 256) {
          const grown = new Uint8Array(Math.max(out.length * 2, o + b + 256));
          grown.set(out.subarray(0, o));
          out = this.out = grown;
        }
        for (let k = 0; k < b; k++) {
          out[o++] = last;
          crc = ((crc << 8) ^ CRC_TABLE[((crc >>> 24) ^ last) & 0xff]!) >>> 0;
        }
        same = 0;
        last = -1;
        continue;
      }
      if (o >= out.length - 256) {
        const grown = new Uint8Array(out.length * 2);
        grown.set(out.subarray(0, o));
        out = this.out = grown;
      }
      out[o++] = b;
      crc = ((crc << 8) ^ CRC_TABLE[((crc >>> 24) ^ b) & 0xff]!) >>> 0;
      if (b === last) same++;
      else {
        last = b;
        same = 1;
      }
    }
    crc = ~crc >>> 0;
    if (crc !== blockCrc) throw new Bzip2DataError('block CRC mismatch');
    this.streamCrc = (((this.streamCrc << 1) | (this.streamCrc >>> 31)) ^ crc) >>> 0;
    return o;
  }
}

/**
 * Decompress concatenated bzip2 streams. Output comes one block at a time (about
 * level x 100 kB, more where RLE1 runs expand), in fresh buffers the caller may keep.
 */
export async function* bunzip2(input: AsyncIterable<Uint8Array>, where = 'archive'): AsyncGenerator<Uint8Array> {
  const d = new Bunzip2();
  const br = d.br;
  const it = input[Symbol.asyncIterator]();
  const more = async (): Promise<boolean> => {
    for (;;) {
      const r = await it.next();
      if (r.done) {
        br.eof = true;
        return false;
      }
      if (r.value.length > 0) {
        br.append(r.value);
        return true;
      }
    }
  };
  try {
    for (;;) {
      // Get enough input for the next step, then try it; too little: restore and read on.
      while (!br.eof && br.bytesLeft < (d.level ? BLOCK_LOOKAHEAD : 4)) if (!(await more())) break;
      const saved = br.save();
      let produced: number;
      try {
        if (d.level === 0) {
          if (!d.streamHeader()) return;
          continue;
        }
        produced = d.block();
      } catch (err) {
        // Out of input: read more and retry the step from its start. Garbage decoded from
        // the zero bits past the end of the input also means the input was cut short.
        if (err !== NEED_MORE && !(err instanceof Bzip2DataError && br.overrun)) throw err;
        if (br.eof) throw new FluxError(`${where}: bzip2 data is truncated`, 'EPROTO');
        br.restore(saved);
        br.overrun = false;
        await more();
        continue;
      }
      if (produced > 0) yield d.out.slice(0, produced);
    }
  } catch (err) {
    if (err instanceof Bzip2DataError) {
      throw new FluxError(`${where}: bzip2 data is corrupt (${err.message})`, 'EPROTO');
    }
    throw err;
  } finally {
    await it.return?.();
  }
}
