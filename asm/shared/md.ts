/**
 * Merkle-Damgard framing shared by SHA-1 and SHA-256 (FIPS 180-4, 5.1.1): 64-byte blocks,
 * then a 0x80 byte, zeros, and the message length in bits as a 64-bit big-endian number.
 *
 * Each hash module supplies `compress(h, blocks, count)`, which folds `count` consecutive
 * 64-byte blocks starting at `blocks` into the chaining words at `h` (native order).
 * Everything here works on raw linear-memory addresses laid out by the JS wrapper; the
 * module allocates nothing, so no allocator or GC is linked in (`--runtime stub`).
 */
export type Compress = (h: usize, blocks: usize, count: usize) => void;

export const BLOCK: usize = 64;
/** Bytes of a message that still fit in the last block with the 0x80 byte and the length. */
const LAST_BLOCK_ROOM: usize = 55;

// Incremental state (init/update/final), at an address the caller chooses.
export const ST_H: usize = 0; //      chaining words, up to 8 x u32
export const ST_BYTES: usize = 32; // u64: message bytes absorbed so far
export const ST_FILL: usize = 40; //  u32: bytes waiting in ST_BUF (< 64)
export const ST_BUF: usize = 64; //   two blocks: the partial block, room for padding
export const STATE_SIZE: usize = 192;

// Scratch for one-shot hashing: chaining words and two blocks for the padded tail.
const ONE_H: usize = memory.data(32, 16);
const ONE_TAIL: usize = memory.data(128, 16);

export function mdInit(st: usize, iv: usize, words: usize): void {
  memory.copy(st + ST_H, iv, words << 2);
  store<u64>(st + ST_BYTES, 0);
  store<u32>(st + ST_FILL, 0);
}

export function mdUpdate(st: usize, p: usize, len: usize, compress: Compress): void {
  store<u64>(st + ST_BYTES, load<u64>(st + ST_BYTES) + <u64>len);
  let fill = <usize>load<u32>(st + ST_FILL);
  if (fill != 0) {
    const take = min(BLOCK - fill, len);
    memory.copy(st + ST_BUF + fill, p, take);
    fill += take;
    p += take;
    len -= take;
    if (fill < BLOCK) {
      store<u32>(st + ST_FILL, <u32>fill);
      return;
    }
    compress(st + ST_H, st + ST_BUF, 1);
  }
  const whole = len >> 6;
  if (whole != 0) compress(st + ST_H, p, whole);
  const rest = len & (BLOCK - 1);
  memory.copy(st + ST_BUF, p + (whole << 6), rest);
  store<u32>(st + ST_FILL, <u32>rest);
}

/** Pads the `fill` bytes already at `tail` (which has room for 128) and compresses them. */
function padAndCompress(h: usize, tail: usize, fill: usize, totalBytes: u64, compress: Compress): void {
  store<u8>(tail + fill, 0x80);
  const end: usize = fill <= LAST_BLOCK_ROOM ? BLOCK : 2 * BLOCK;
  memory.fill(tail + fill + 1, 0, end - 8 - fill - 1);
  store<u64>(tail + end - 8, bswap<u64>(totalBytes << 3));
  compress(h, tail, end >> 6);
}

/** Chaining words -> big-endian digest bytes. */
function writeDigest(h: usize, out: usize, words: usize): void {
  for (let i: usize = 0; i < words; i++) store<u32>(out + (i << 2), bswap<u32>(load<u32>(h + (i << 2))));
}

export function mdFinal(st: usize, out: usize, words: usize, compress: Compress): void {
  const fill = <usize>load<u32>(st + ST_FILL);
  padAndCompress(st + ST_H, st + ST_BUF, fill, load<u64>(st + ST_BYTES), compress);
  writeDigest(st + ST_H, out, words);
}

/** Hashes one whole message: full blocks straight from the input, the tail via scratch. */
export function mdOne(p: usize, len: usize, out: usize, iv: usize, words: usize, compress: Compress): void {
  memory.copy(ONE_H, iv, words << 2);
  const whole = len >> 6;
  if (whole != 0) compress(ONE_H, p, whole);
  const rest = len & (BLOCK - 1);
  memory.copy(ONE_TAIL, p + (whole << 6), rest);
  padAndCompress(ONE_H, ONE_TAIL, rest, <u64>len, compress);
  writeDigest(ONE_H, out, words);
}

/**
 * The batch entry point: `table` holds `count` pairs of u32 (address, length); digest i
 * goes to `out + i * digestSize`. One call hashes a whole batch of small blobs.
 */
export function mdBatch(table: usize, count: usize, out: usize, iv: usize, words: usize, compress: Compress): void {
  const digestSize = words << 2;
  for (let i: usize = 0; i < count; i++) {
    const row = table + (i << 3);
    mdOne(<usize>load<u32>(row), <usize>load<u32>(row, 4), out + i * digestSize, iv, words, compress);
  }
}
