/**
 * SHA-1 (FIPS 180-4, 6.1) over linear memory: Flux's default content hash. Same ABI as
 * sha256.ts (batch, one, init/update/final). Used only to address content, as Flux does,
 * not for security.
 */
import { Compress, mdBatch, mdFinal, mdInit, mdOne, mdUpdate, STATE_SIZE } from './shared/md';

const WORDS: usize = 5;

const IV: usize = memory.data<u32>([0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0]);

const K0: u32 = 0x5a827999; // rounds 0-19
const K1: u32 = 0x6ed9eba1; // rounds 20-39
const K2: u32 = 0x8f1bbcdc; // rounds 40-59
const K3: u32 = 0xca62c1d6; // rounds 60-79

// @ts-ignore: decorator
@inline function choose(x: u32, y: u32, z: u32): u32 { return z ^ (x & (y ^ z)); }
// @ts-ignore: decorator
@inline function parity(x: u32, y: u32, z: u32): u32 { return x ^ y ^ z; }
// @ts-ignore: decorator
@inline function majority(x: u32, y: u32, z: u32): u32 { return (x & y) | (z & (x | y)); }

/**
 * Folds `count` blocks at `p` into the chaining words at `state`. Fully unrolled: the
 * 16-word message schedule window lives in locals (w[t mod 16], updated in place from round
 * 16 on) and each round renames the variables' roles instead of shifting them, so nothing
 * but the 64 input bytes per block touches memory. Each round adds rotl(a, 5), the value
 * the previous round produced, last: a short dependency chain between rounds. (The rolled
 * loop with the schedule in memory ran at ~0.5x hash-wasm's speed, unrolled ~0.8x,
 * unrolled and reassociated ~1.0x.)
 */
function compress(state: usize, p: usize, count: usize): void {
  let a = load<u32>(state, 0);
  let b = load<u32>(state, 4);
  let c = load<u32>(state, 8);
  let d = load<u32>(state, 12);
  let e = load<u32>(state, 16);
  for (; count != 0; count--, p += 64) {
    const a0 = a, b0 = b, c0 = c, d0 = d, e0 = e;
    let w0 = bswap<u32>(load<u32>(p, 0));
    let w1 = bswap<u32>(load<u32>(p, 4));
    let w2 = bswap<u32>(load<u32>(p, 8));
    let w3 = bswap<u32>(load<u32>(p, 12));
    let w4 = bswap<u32>(load<u32>(p, 16));
    let w5 = bswap<u32>(load<u32>(p, 20));
    let w6 = bswap<u32>(load<u32>(p, 24));
    let w7 = bswap<u32>(load<u32>(p, 28));
    let w8 = bswap<u32>(load<u32>(p, 32));
    let w9 = bswap<u32>(load<u32>(p, 36));
    let w10 = bswap<u32>(load<u32>(p, 40));
    let w11 = bswap<u32>(load<u32>(p, 44));
    let w12 = bswap<u32>(load<u32>(p, 48));
    let w13 = bswap<u32>(load<u32>(p, 52));
    let w14 = bswap<u32>(load<u32>(p, 56));
    let w15 = bswap<u32>(load<u32>(p, 60));
    e = e + w0 + K0 + choose(b, c, d) + rotl<u32>(a, 5); b = rotl<u32>(b, 30);
    d = d + w1 + K0 + choose(a, b, c) + rotl<u32>(e, 5); a = rotl<u32>(a, 30);
    c = c + w2 + K0 + choose(e, a, b) + rotl<u32>(d, 5); e = rotl<u32>(e, 30);
    b = b + w3 + K0 + choose(d, e, a) + rotl<u32>(c, 5); d = rotl<u32>(d, 30);
    a = a + w4 + K0 + choose(c, d, e) + rotl<u32>(b, 5); c = rotl<u32>(c, 30);
    e = e + w5 + K0 + choose(b, c, d) + rotl<u32>(a, 5); b = rotl<u32>(b, 30);
    d = d + w6 + K0 + choose(a, b, c) + rotl<u32>(e, 5); a = rotl<u32>(a, 30);
    c = c + w7 + K0 + choose(e, a, b) + rotl<u32>(d, 5); e = rotl<u32>(e, 30);
    b = b + w8 + K0 + choose(d, e, a) + rotl<u32>(c, 5); d = rotl<u32>(d, 30);
    a = a + w9 + K0 + choose(c, d, e) + rotl<u32>(b, 5); c = rotl<u32>(c, 30);
    e = e + w10 + K0 + choose(b, c, d) + rotl<u32>(a, 5); b = rotl<u32>(b, 30);
    d = d + w11 + K0 + choose(a, b, c) + rotl<u32>(e, 5); a = rotl<u32>(a, 30);
    c = c + w12 + K0 + choose(e, a, b) + rotl<u32>(d, 5); e = rotl<u32>(e, 30);
    b = b + w13 + K0 + choose(d, e, a) + rotl<u32>(c, 5); d = rotl<u32>(d, 30);
    a = a + w14 + K0 + choose(c, d, e) + rotl<u32>(b, 5); c = rotl<u32>(c, 30);
    e = e + w15 + K0 + choose(b, c, d) + rotl<u32>(a, 5); b = rotl<u32>(b, 30);
    w0 = rotl<u32>(w13 ^ w8 ^ w2 ^ w0, 1);
    d = d + w0 + K0 + choose(a, b, c) + rotl<u32>(e, 5); a = rotl<u32>(a, 30);
    w1 = rotl<u32>(w14 ^ w9 ^ w3 ^ w1, 1);
    c = c + w1 + K0 + choose(e, a, b) + rotl<u32>(d, 5); e = rotl<u32>(e, 30);
    w2 = rotl<u32>(w15 ^ w10 ^ w4 ^ w2, 1);
    b = b + w2 + K0 + choose(d, e, a) + rotl<u32>(c, 5); d = rotl<u32>(d, 30);
    w3 = rotl<u32>(w0 ^ w11 ^ w5 ^ w3, 1);
    a = a + w3 + K0 + choose(c, d, e) + rotl<u32>(b, 5); c = rotl<u32>(c, 30);
    w4 = rotl<u32>(w1 ^ w12 ^ w6 ^ w4, 1);
    e = e + w4 + K1 + parity(b, c, d) + rotl<u32>(a, 5); b = rotl<u32>(b, 30);
    w5 = rotl<u32>(w2 ^ w13 ^ w7 ^ w5, 1);
    d = d + w5 + K1 + parity(a, b, c) + rotl<u32>(e, 5); a = rotl<u32>(a, 30);
    w6 = rotl<u32>(w3 ^ w14 ^ w8 ^ w6, 1);
    c = c + w6 + K1 + parity(e, a, b) + rotl<u32>(d, 5); e = rotl<u32>(e, 30);
    w7 = rotl<u32>(w4 ^ w15 ^ w9 ^ w7, 1);
    b = b + w7 + K1 + parity(d, e, a) + rotl<u32>(c, 5); d = rotl<u32>(d, 30);
    w8 = rotl<u32>(w5 ^ w0 ^ w10 ^ w8, 1);
    a = a + w8 + K1 + parity(c, d, e) + rotl<u32>(b, 5); c = rotl<u32>(c, 30);
    w9 = rotl<u32>(w6 ^ w1 ^ w11 ^ w9, 1);
    e = e + w9 + K1 + parity(b, c, d) + rotl<u32>(a, 5); b = rotl<u32>(b, 30);
    w10 = rotl<u32>(w7 ^ w2 ^ w12 ^ w10, 1);
    d = d + w10 + K1 + parity(a, b, c) + rotl<u32>(e, 5); a = rotl<u32>(a, 30);
    w11 = rotl<u32>(w8 ^ w3 ^ w13 ^ w11, 1);
    c = c + w11 + K1 + parity(e, a, b) + rotl<u32>(d, 5); e = rotl<u32>(e, 30);
    w12 = rotl<u32>(w9 ^ w4 ^ w14 ^ w12, 1);
    b = b + w12 + K1 + parity(d, e, a) + rotl<u32>(c, 5); d = rotl<u32>(d, 30);
    w13 = rotl<u32>(w10 ^ w5 ^ w15 ^ w13, 1);
    a = a + w13 + K1 + parity(c, d, e) + rotl<u32>(b, 5); c = rotl<u32>(c, 30);
    w14 = rotl<u32>(w11 ^ w6 ^ w0 ^ w14, 1);
    e = e + w14 + K1 + parity(b, c, d) + rotl<u32>(a, 5); b = rotl<u32>(b, 30);
    w15 = rotl<u32>(w12 ^ w7 ^ w1 ^ w15, 1);
    d = d + w15 + K1 + parity(a, b, c) + rotl<u32>(e, 5); a = rotl<u32>(a, 30);
    w0 = rotl<u32>(w13 ^ w8 ^ w2 ^ w0, 1);
    c = c + w0 + K1 + parity(e, a, b) + rotl<u32>(d, 5); e = rotl<u32>(e, 30);
    w1 = rotl<u32>(w14 ^ w9 ^ w3 ^ w1, 1);
    b = b + w1 + K1 + parity(d, e, a) + rotl<u32>(c, 5); d = rotl<u32>(d, 30);
    w2 = rotl<u32>(w15 ^ w10 ^ w4 ^ w2, 1);
    a = a + w2 + K1 + parity(c, d, e) + rotl<u32>(b, 5); c = rotl<u32>(c, 30);
    w3 = rotl<u32>(w0 ^ w11 ^ w5 ^ w3, 1);
    e = e + w3 + K1 + parity(b, c, d) + rotl<u32>(a, 5); b = rotl<u32>(b, 30);
    w4 = rotl<u32>(w1 ^ w12 ^ w6 ^ w4, 1);
    d = d + w4 + K1 + parity(a, b, c) + rotl<u32>(e, 5); a = rotl<u32>(a, 30);
    w5 = rotl<u32>(w2 ^ w13 ^ w7 ^ w5, 1);
    c = c + w5 + K1 + parity(e, a, b) + rotl<u32>(d, 5); e = rotl<u32>(e, 30);
    w6 = rotl<u32>(w3 ^ w14 ^ w8 ^ w6, 1);
    b = b + w6 + K1 + parity(d, e, a) + rotl<u32>(c, 5); d = rotl<u32>(d, 30);
    w7 = rotl<u32>(w4 ^ w15 ^ w9 ^ w7, 1);
    a = a + w7 + K1 + parity(c, d, e) + rotl<u32>(b, 5); c = rotl<u32>(c, 30);
    w8 = rotl<u32>(w5 ^ w0 ^ w10 ^ w8, 1);
    e = e + w8 + K2 + majority(b, c, d) + rotl<u32>(a, 5); b = rotl<u32>(b, 30);
    w9 = rotl<u32>(w6 ^ w1 ^ w11 ^ w9, 1);
    d = d + w9 + K2 + majority(a, b, c) + rotl<u32>(e, 5); a = rotl<u32>(a, 30);
    w10 = rotl<u32>(w7 ^ w2 ^ w12 ^ w10, 1);
    c = c + w10 + K2 + majority(e, a, b) + rotl<u32>(d, 5); e = rotl<u32>(e, 30);
    w11 = rotl<u32>(w8 ^ w3 ^ w13 ^ w11, 1);
    b = b + w11 + K2 + majority(d, e, a) + rotl<u32>(c, 5); d = rotl<u32>(d, 30);
    w12 = rotl<u32>(w9 ^ w4 ^ w14 ^ w12, 1);
    a = a + w12 + K2 + majority(c, d, e) + rotl<u32>(b, 5); c = rotl<u32>(c, 30);
    w13 = rotl<u32>(w10 ^ w5 ^ w15 ^ w13, 1);
    e = e + w13 + K2 + majority(b, c, d) + rotl<u32>(a, 5); b = rotl<u32>(b, 30);
    w14 = rotl<u32>(w11 ^ w6 ^ w0 ^ w14, 1);
    d = d + w14 + K2 + majority(a, b, c) + rotl<u32>(e, 5); a = rotl<u32>(a, 30);
    w15 = rotl<u32>(w12 ^ w7 ^ w1 ^ w15, 1);
    c = c + w15 + K2 + majority(e, a, b) + rotl<u32>(d, 5); e = rotl<u32>(e, 30);
    w0 = rotl<u32>(w13 ^ w8 ^ w2 ^ w0, 1);
    b = b + w0 + K2 + majority(d, e, a) + rotl<u32>(c, 5); d = rotl<u32>(d, 30);
    w1 = rotl<u32>(w14 ^ w9 ^ w3 ^ w1, 1);
    a = a + w1 + K2 + majority(c, d, e) + rotl<u32>(b, 5); c = rotl<u32>(c, 30);
    w2 = rotl<u32>(w15 ^ w10 ^ w4 ^ w2, 1);
    e = e + w2 + K2 + majority(b, c, d) + rotl<u32>(a, 5); b = rotl<u32>(b, 30);
    w3 = rotl<u32>(w0 ^ w11 ^ w5 ^ w3, 1);
    d = d + w3 + K2 + majority(a, b, c) + rotl<u32>(e, 5); a = rotl<u32>(a, 30);
    w4 = rotl<u32>(w1 ^ w12 ^ w6 ^ w4, 1);
    c = c + w4 + K2 + majority(e, a, b) + rotl<u32>(d, 5); e = rotl<u32>(e, 30);
    w5 = rotl<u32>(w2 ^ w13 ^ w7 ^ w5, 1);
    b = b + w5 + K2 + majority(d, e, a) + rotl<u32>(c, 5); d = rotl<u32>(d, 30);
    w6 = rotl<u32>(w3 ^ w14 ^ w8 ^ w6, 1);
    a = a + w6 + K2 + majority(c, d, e) + rotl<u32>(b, 5); c = rotl<u32>(c, 30);
    w7 = rotl<u32>(w4 ^ w15 ^ w9 ^ w7, 1);
    e = e + w7 + K2 + majority(b, c, d) + rotl<u32>(a, 5); b = rotl<u32>(b, 30);
    w8 = rotl<u32>(w5 ^ w0 ^ w10 ^ w8, 1);
    d = d + w8 + K2 + majority(a, b, c) + rotl<u32>(e, 5); a = rotl<u32>(a, 30);
    w9 = rotl<u32>(w6 ^ w1 ^ w11 ^ w9, 1);
    c = c + w9 + K2 + majority(e, a, b) + rotl<u32>(d, 5); e = rotl<u32>(e, 30);
    w10 = rotl<u32>(w7 ^ w2 ^ w12 ^ w10, 1);
    b = b + w10 + K2 + majority(d, e, a) + rotl<u32>(c, 5); d = rotl<u32>(d, 30);
    w11 = rotl<u32>(w8 ^ w3 ^ w13 ^ w11, 1);
    a = a + w11 + K2 + majority(c, d, e) + rotl<u32>(b, 5); c = rotl<u32>(c, 30);
    w12 = rotl<u32>(w9 ^ w4 ^ w14 ^ w12, 1);
    e = e + w12 + K3 + parity(b, c, d) + rotl<u32>(a, 5); b = rotl<u32>(b, 30);
    w13 = rotl<u32>(w10 ^ w5 ^ w15 ^ w13, 1);
    d = d + w13 + K3 + parity(a, b, c) + rotl<u32>(e, 5); a = rotl<u32>(a, 30);
    w14 = rotl<u32>(w11 ^ w6 ^ w0 ^ w14, 1);
    c = c + w14 + K3 + parity(e, a, b) + rotl<u32>(d, 5); e = rotl<u32>(e, 30);
    w15 = rotl<u32>(w12 ^ w7 ^ w1 ^ w15, 1);
    b = b + w15 + K3 + parity(d, e, a) + rotl<u32>(c, 5); d = rotl<u32>(d, 30);
    w0 = rotl<u32>(w13 ^ w8 ^ w2 ^ w0, 1);
    a = a + w0 + K3 + parity(c, d, e) + rotl<u32>(b, 5); c = rotl<u32>(c, 30);
    w1 = rotl<u32>(w14 ^ w9 ^ w3 ^ w1, 1);
    e = e + w1 + K3 + parity(b, c, d) + rotl<u32>(a, 5); b = rotl<u32>(b, 30);
    w2 = rotl<u32>(w15 ^ w10 ^ w4 ^ w2, 1);
    d = d + w2 + K3 + parity(a, b, c) + rotl<u32>(e, 5); a = rotl<u32>(a, 30);
    w3 = rotl<u32>(w0 ^ w11 ^ w5 ^ w3, 1);
    c = c + w3 + K3 + parity(e, a, b) + rotl<u32>(d, 5); e = rotl<u32>(e, 30);
    w4 = rotl<u32>(w1 ^ w12 ^ w6 ^ w4, 1);
    b = b + w4 + K3 + parity(d, e, a) + rotl<u32>(c, 5); d = rotl<u32>(d, 30);
    w5 = rotl<u32>(w2 ^ w13 ^ w7 ^ w5, 1);
    a = a + w5 + K3 + parity(c, d, e) + rotl<u32>(b, 5); c = rotl<u32>(c, 30);
    w6 = rotl<u32>(w3 ^ w14 ^ w8 ^ w6, 1);
    e = e + w6 + K3 + parity(b, c, d) + rotl<u32>(a, 5); b = rotl<u32>(b, 30);
    w7 = rotl<u32>(w4 ^ w15 ^ w9 ^ w7, 1);
    d = d + w7 + K3 + parity(a, b, c) + rotl<u32>(e, 5); a = rotl<u32>(a, 30);
    w8 = rotl<u32>(w5 ^ w0 ^ w10 ^ w8, 1);
    c = c + w8 + K3 + parity(e, a, b) + rotl<u32>(d, 5); e = rotl<u32>(e, 30);
    w9 = rotl<u32>(w6 ^ w1 ^ w11 ^ w9, 1);
    b = b + w9 + K3 + parity(d, e, a) + rotl<u32>(c, 5); d = rotl<u32>(d, 30);
    w10 = rotl<u32>(w7 ^ w2 ^ w12 ^ w10, 1);
    a = a + w10 + K3 + parity(c, d, e) + rotl<u32>(b, 5); c = rotl<u32>(c, 30);
    w11 = rotl<u32>(w8 ^ w3 ^ w13 ^ w11, 1);
    e = e + w11 + K3 + parity(b, c, d) + rotl<u32>(a, 5); b = rotl<u32>(b, 30);
    w12 = rotl<u32>(w9 ^ w4 ^ w14 ^ w12, 1);
    d = d + w12 + K3 + parity(a, b, c) + rotl<u32>(e, 5); a = rotl<u32>(a, 30);
    w13 = rotl<u32>(w10 ^ w5 ^ w15 ^ w13, 1);
    c = c + w13 + K3 + parity(e, a, b) + rotl<u32>(d, 5); e = rotl<u32>(e, 30);
    w14 = rotl<u32>(w11 ^ w6 ^ w0 ^ w14, 1);
    b = b + w14 + K3 + parity(d, e, a) + rotl<u32>(c, 5); d = rotl<u32>(d, 30);
    w15 = rotl<u32>(w12 ^ w7 ^ w1 ^ w15, 1);
    a = a + w15 + K3 + parity(c, d, e) + rotl<u32>(b, 5); c = rotl<u32>(c, 30);
    a += a0; b += b0; c += c0; d += d0; e += e0;
  }
  store<u32>(state, a, 0);
  store<u32>(state, b, 4);
  store<u32>(state, c, 8);
  store<u32>(state, d, 12);
  store<u32>(state, e, 16);
}

const COMPRESS: Compress = compress;

/** First free byte of linear memory: the JS side lays out its buffers from here. */
export function heapBase(): usize { return __heap_base; }
export function digestSize(): u32 { return <u32>(WORDS << 2); }
export function stateSize(): u32 { return <u32>STATE_SIZE; }

export function batch(table: usize, count: usize, out: usize): void { mdBatch(table, count, out, IV, WORDS, COMPRESS); }
export function one(p: usize, len: usize, out: usize): void { mdOne(p, len, out, IV, WORDS, COMPRESS); }
export function init(st: usize): void { mdInit(st, IV, WORDS); }
export function update(st: usize, p: usize, len: usize): void { mdUpdate(st, p, len, COMPRESS); }
export function final(st: usize, out: usize): void { mdFinal(st, out, WORDS, COMPRESS); }
