/**
 * SHA-256 (FIPS 180-4, 6.2) over linear memory, with a batch entry point for many small
 * blobs per call and init/update/final for blobs streamed through a window.
 */
import { Compress, mdBatch, mdFinal, mdInit, mdOne, mdUpdate, STATE_SIZE } from './shared/md';

const WORDS: usize = 8;

const IV: usize = memory.data<u32>([
  0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
]);

// @ts-ignore: decorator
@inline function bigSigma0(x: u32): u32 { return rotr<u32>(x, 2) ^ rotr<u32>(x, 13) ^ rotr<u32>(x, 22); }
// @ts-ignore: decorator
@inline function bigSigma1(x: u32): u32 { return rotr<u32>(x, 6) ^ rotr<u32>(x, 11) ^ rotr<u32>(x, 25); }
// @ts-ignore: decorator
@inline function smallSigma0(x: u32): u32 { return rotr<u32>(x, 7) ^ rotr<u32>(x, 18) ^ (x >>> 3); }
// @ts-ignore: decorator
@inline function smallSigma1(x: u32): u32 { return rotr<u32>(x, 17) ^ rotr<u32>(x, 19) ^ (x >>> 10); }
// @ts-ignore: decorator
@inline function ch(x: u32, y: u32, z: u32): u32 { return z ^ (x & (y ^ z)); }
// @ts-ignore: decorator
@inline function maj(x: u32, y: u32, z: u32): u32 { return (x & y) | (z & (x | y)); }

/**
 * Folds `count` blocks at `p` into the chaining words at `state`. Fully unrolled, like the
 * C implementations compiled with clang -O3: the round constants become immediates and the
 * 16-word message schedule window lives in locals (w[t mod 16], updated in place from round
 * 16 on), so the only memory traffic is the 64 input bytes per block. Each T1 adds the
 * newest value, Sigma1(e), last and T2 is summed on its own, which keeps the dependency
 * chain from one round to the next short. (The rolled loop with the schedule in memory ran
 * at ~0.7x hash-wasm's speed; unrolled and reassociated it runs at ~1.1x.)
 */
function compress(state: usize, p: usize, count: usize): void {
  let a = load<u32>(state, 0);
  let b = load<u32>(state, 4);
  let c = load<u32>(state, 8);
  let d = load<u32>(state, 12);
  let e = load<u32>(state, 16);
  let f = load<u32>(state, 20);
  let g = load<u32>(state, 24);
  let h = load<u32>(state, 28);
  for (; count != 0; count--, p += 64) {
    const a0 = a, b0 = b, c0 = c, d0 = d, e0 = e, f0 = f, g0 = g, h0 = h;
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
    let x: u32; // T1 of the round
    x = h + 0x428a2f98 + w0 + ch(e, f, g) + bigSigma1(e); d += x; h = x + (bigSigma0(a) + maj(a, b, c));
    x = g + 0x71374491 + w1 + ch(d, e, f) + bigSigma1(d); c += x; g = x + (bigSigma0(h) + maj(h, a, b));
    x = f + 0xb5c0fbcf + w2 + ch(c, d, e) + bigSigma1(c); b += x; f = x + (bigSigma0(g) + maj(g, h, a));
    x = e + 0xe9b5dba5 + w3 + ch(b, c, d) + bigSigma1(b); a += x; e = x + (bigSigma0(f) + maj(f, g, h));
    x = d + 0x3956c25b + w4 + ch(a, b, c) + bigSigma1(a); h += x; d = x + (bigSigma0(e) + maj(e, f, g));
    x = c + 0x59f111f1 + w5 + ch(h, a, b) + bigSigma1(h); g += x; c = x + (bigSigma0(d) + maj(d, e, f));
    x = b + 0x923f82a4 + w6 + ch(g, h, a) + bigSigma1(g); f += x; b = x + (bigSigma0(c) + maj(c, d, e));
    x = a + 0xab1c5ed5 + w7 + ch(f, g, h) + bigSigma1(f); e += x; a = x + (bigSigma0(b) + maj(b, c, d));
    x = h + 0xd807aa98 + w8 + ch(e, f, g) + bigSigma1(e); d += x; h = x + (bigSigma0(a) + maj(a, b, c));
    x = g + 0x12835b01 + w9 + ch(d, e, f) + bigSigma1(d); c += x; g = x + (bigSigma0(h) + maj(h, a, b));
    x = f + 0x243185be + w10 + ch(c, d, e) + bigSigma1(c); b += x; f = x + (bigSigma0(g) + maj(g, h, a));
    x = e + 0x550c7dc3 + w11 + ch(b, c, d) + bigSigma1(b); a += x; e = x + (bigSigma0(f) + maj(f, g, h));
    x = d + 0x72be5d74 + w12 + ch(a, b, c) + bigSigma1(a); h += x; d = x + (bigSigma0(e) + maj(e, f, g));
    x = c + 0x80deb1fe + w13 + ch(h, a, b) + bigSigma1(h); g += x; c = x + (bigSigma0(d) + maj(d, e, f));
    x = b + 0x9bdc06a7 + w14 + ch(g, h, a) + bigSigma1(g); f += x; b = x + (bigSigma0(c) + maj(c, d, e));
    x = a + 0xc19bf174 + w15 + ch(f, g, h) + bigSigma1(f); e += x; a = x + (bigSigma0(b) + maj(b, c, d));
    w0 += smallSigma1(w14) + w9 + smallSigma0(w1);
    x = h + 0xe49b69c1 + w0 + ch(e, f, g) + bigSigma1(e); d += x; h = x + (bigSigma0(a) + maj(a, b, c));
    w1 += smallSigma1(w15) + w10 + smallSigma0(w2);
    x = g + 0xefbe4786 + w1 + ch(d, e, f) + bigSigma1(d); c += x; g = x + (bigSigma0(h) + maj(h, a, b));
    w2 += smallSigma1(w0) + w11 + smallSigma0(w3);
    x = f + 0x0fc19dc6 + w2 + ch(c, d, e) + bigSigma1(c); b += x; f = x + (bigSigma0(g) + maj(g, h, a));
    w3 += smallSigma1(w1) + w12 + smallSigma0(w4);
    x = e + 0x240ca1cc + w3 + ch(b, c, d) + bigSigma1(b); a += x; e = x + (bigSigma0(f) + maj(f, g, h));
    w4 += smallSigma1(w2) + w13 + smallSigma0(w5);
    x = d + 0x2de92c6f + w4 + ch(a, b, c) + bigSigma1(a); h += x; d = x + (bigSigma0(e) + maj(e, f, g));
    w5 += smallSigma1(w3) + w14 + smallSigma0(w6);
    x = c + 0x4a7484aa + w5 + ch(h, a, b) + bigSigma1(h); g += x; c = x + (bigSigma0(d) + maj(d, e, f));
    w6 += smallSigma1(w4) + w15 + smallSigma0(w7);
    x = b + 0x5cb0a9dc + w6 + ch(g, h, a) + bigSigma1(g); f += x; b = x + (bigSigma0(c) + maj(c, d, e));
    w7 += smallSigma1(w5) + w0 + smallSigma0(w8);
    x = a + 0x76f988da + w7 + ch(f, g, h) + bigSigma1(f); e += x; a = x + (bigSigma0(b) + maj(b, c, d));
    w8 += smallSigma1(w6) + w1 + smallSigma0(w9);
    x = h + 0x983e5152 + w8 + ch(e, f, g) + bigSigma1(e); d += x; h = x + (bigSigma0(a) + maj(a, b, c));
    w9 += smallSigma1(w7) + w2 + smallSigma0(w10);
    x = g + 0xa831c66d + w9 + ch(d, e, f) + bigSigma1(d); c += x; g = x + (bigSigma0(h) + maj(h, a, b));
    w10 += smallSigma1(w8) + w3 + smallSigma0(w11);
    x = f + 0xb00327c8 + w10 + ch(c, d, e) + bigSigma1(c); b += x; f = x + (bigSigma0(g) + maj(g, h, a));
    w11 += smallSigma1(w9) + w4 + smallSigma0(w12);
    x = e + 0xbf597fc7 + w11 + ch(b, c, d) + bigSigma1(b); a += x; e = x + (bigSigma0(f) + maj(f, g, h));
    w12 += smallSigma1(w10) + w5 + smallSigma0(w13);
    x = d + 0xc6e00bf3 + w12 + ch(a, b, c) + bigSigma1(a); h += x; d = x + (bigSigma0(e) + maj(e, f, g));
    w13 += smallSigma1(w11) + w6 + smallSigma0(w14);
    x = c + 0xd5a79147 + w13 + ch(h, a, b) + bigSigma1(h); g += x; c = x + (bigSigma0(d) + maj(d, e, f));
    w14 += smallSigma1(w12) + w7 + smallSigma0(w15);
    x = b + 0x06ca6351 + w14 + ch(g, h, a) + bigSigma1(g); f += x; b = x + (bigSigma0(c) + maj(c, d, e));
    w15 += smallSigma1(w13) + w8 + smallSigma0(w0);
    x = a + 0x14292967 + w15 + ch(f, g, h) + bigSigma1(f); e += x; a = x + (bigSigma0(b) + maj(b, c, d));
    w0 += smallSigma1(w14) + w9 + smallSigma0(w1);
    x = h + 0x27b70a85 + w0 + ch(e, f, g) + bigSigma1(e); d += x; h = x + (bigSigma0(a) + maj(a, b, c));
    w1 += smallSigma1(w15) + w10 + smallSigma0(w2);
    x = g + 0x2e1b2138 + w1 + ch(d, e, f) + bigSigma1(d); c += x; g = x + (bigSigma0(h) + maj(h, a, b));
    w2 += smallSigma1(w0) + w11 + smallSigma0(w3);
    x = f + 0x4d2c6dfc + w2 + ch(c, d, e) + bigSigma1(c); b += x; f = x + (bigSigma0(g) + maj(g, h, a));
    w3 += smallSigma1(w1) + w12 + smallSigma0(w4);
    x = e + 0x53380d13 + w3 + ch(b, c, d) + bigSigma1(b); a += x; e = x + (bigSigma0(f) + maj(f, g, h));
    w4 += smallSigma1(w2) + w13 + smallSigma0(w5);
    x = d + 0x650a7354 + w4 + ch(a, b, c) + bigSigma1(a); h += x; d = x + (bigSigma0(e) + maj(e, f, g));
    w5 += smallSigma1(w3) + w14 + smallSigma0(w6);
    x = c + 0x766a0abb + w5 + ch(h, a, b) + bigSigma1(h); g += x; c = x + (bigSigma0(d) + maj(d, e, f));
    w6 += smallSigma1(w4) + w15 + smallSigma0(w7);
    x = b + 0x81c2c92e + w6 + ch(g, h, a) + bigSigma1(g); f += x; b = x + (bigSigma0(c) + maj(c, d, e));
    w7 += smallSigma1(w5) + w0 + smallSigma0(w8);
    x = a + 0x92722c85 + w7 + ch(f, g, h) + bigSigma1(f); e += x; a = x + (bigSigma0(b) + maj(b, c, d));
    w8 += smallSigma1(w6) + w1 + smallSigma0(w9);
    x = h + 0xa2bfe8a1 + w8 + ch(e, f, g) + bigSigma1(e); d += x; h = x + (bigSigma0(a) + maj(a, b, c));
    w9 += smallSigma1(w7) + w2 + smallSigma0(w10);
    x = g + 0xa81a664b + w9 + ch(d, e, f) + bigSigma1(d); c += x; g = x + (bigSigma0(h) + maj(h, a, b));
    w10 += smallSigma1(w8) + w3 + smallSigma0(w11);
    x = f + 0xc24b8b70 + w10 + ch(c, d, e) + bigSigma1(c); b += x; f = x + (bigSigma0(g) + maj(g, h, a));
    w11 += smallSigma1(w9) + w4 + smallSigma0(w12);
    x = e + 0xc76c51a3 + w11 + ch(b, c, d) + bigSigma1(b); a += x; e = x + (bigSigma0(f) + maj(f, g, h));
    w12 += smallSigma1(w10) + w5 + smallSigma0(w13);
    x = d + 0xd192e819 + w12 + ch(a, b, c) + bigSigma1(a); h += x; d = x + (bigSigma0(e) + maj(e, f, g));
    w13 += smallSigma1(w11) + w6 + smallSigma0(w14);
    x = c + 0xd6990624 + w13 + ch(h, a, b) + bigSigma1(h); g += x; c = x + (bigSigma0(d) + maj(d, e, f));
    w14 += smallSigma1(w12) + w7 + smallSigma0(w15);
    x = b + 0xf40e3585 + w14 + ch(g, h, a) + bigSigma1(g); f += x; b = x + (bigSigma0(c) + maj(c, d, e));
    w15 += smallSigma1(w13) + w8 + smallSigma0(w0);
    x = a + 0x106aa070 + w15 + ch(f, g, h) + bigSigma1(f); e += x; a = x + (bigSigma0(b) + maj(b, c, d));
    w0 += smallSigma1(w14) + w9 + smallSigma0(w1);
    x = h + 0x19a4c116 + w0 + ch(e, f, g) + bigSigma1(e); d += x; h = x + (bigSigma0(a) + maj(a, b, c));
    w1 += smallSigma1(w15) + w10 + smallSigma0(w2);
    x = g + 0x1e376c08 + w1 + ch(d, e, f) + bigSigma1(d); c += x; g = x + (bigSigma0(h) + maj(h, a, b));
    w2 += smallSigma1(w0) + w11 + smallSigma0(w3);
    x = f + 0x2748774c + w2 + ch(c, d, e) + bigSigma1(c); b += x; f = x + (bigSigma0(g) + maj(g, h, a));
    w3 += smallSigma1(w1) + w12 + smallSigma0(w4);
    x = e + 0x34b0bcb5 + w3 + ch(b, c, d) + bigSigma1(b); a += x; e = x + (bigSigma0(f) + maj(f, g, h));
    w4 += smallSigma1(w2) + w13 + smallSigma0(w5);
    x = d + 0x391c0cb3 + w4 + ch(a, b, c) + bigSigma1(a); h += x; d = x + (bigSigma0(e) + maj(e, f, g));
    w5 += smallSigma1(w3) + w14 + smallSigma0(w6);
    x = c + 0x4ed8aa4a + w5 + ch(h, a, b) + bigSigma1(h); g += x; c = x + (bigSigma0(d) + maj(d, e, f));
    w6 += smallSigma1(w4) + w15 + smallSigma0(w7);
    x = b + 0x5b9cca4f + w6 + ch(g, h, a) + bigSigma1(g); f += x; b = x + (bigSigma0(c) + maj(c, d, e));
    w7 += smallSigma1(w5) + w0 + smallSigma0(w8);
    x = a + 0x682e6ff3 + w7 + ch(f, g, h) + bigSigma1(f); e += x; a = x + (bigSigma0(b) + maj(b, c, d));
    w8 += smallSigma1(w6) + w1 + smallSigma0(w9);
    x = h + 0x748f82ee + w8 + ch(e, f, g) + bigSigma1(e); d += x; h = x + (bigSigma0(a) + maj(a, b, c));
    w9 += smallSigma1(w7) + w2 + smallSigma0(w10);
    x = g + 0x78a5636f + w9 + ch(d, e, f) + bigSigma1(d); c += x; g = x + (bigSigma0(h) + maj(h, a, b));
    w10 += smallSigma1(w8) + w3 + smallSigma0(w11);
    x = f + 0x84c87814 + w10 + ch(c, d, e) + bigSigma1(c); b += x; f = x + (bigSigma0(g) + maj(g, h, a));
    w11 += smallSigma1(w9) + w4 + smallSigma0(w12);
    x = e + 0x8cc70208 + w11 + ch(b, c, d) + bigSigma1(b); a += x; e = x + (bigSigma0(f) + maj(f, g, h));
    w12 += smallSigma1(w10) + w5 + smallSigma0(w13);
    x = d + 0x90befffa + w12 + ch(a, b, c) + bigSigma1(a); h += x; d = x + (bigSigma0(e) + maj(e, f, g));
    w13 += smallSigma1(w11) + w6 + smallSigma0(w14);
    x = c + 0xa4506ceb + w13 + ch(h, a, b) + bigSigma1(h); g += x; c = x + (bigSigma0(d) + maj(d, e, f));
    w14 += smallSigma1(w12) + w7 + smallSigma0(w15);
    x = b + 0xbef9a3f7 + w14 + ch(g, h, a) + bigSigma1(g); f += x; b = x + (bigSigma0(c) + maj(c, d, e));
    w15 += smallSigma1(w13) + w8 + smallSigma0(w0);
    x = a + 0xc67178f2 + w15 + ch(f, g, h) + bigSigma1(f); e += x; a = x + (bigSigma0(b) + maj(b, c, d));
    a += a0; b += b0; c += c0; d += d0; e += e0; f += f0; g += g0; h += h0;
  }
  store<u32>(state, a, 0);
  store<u32>(state, b, 4);
  store<u32>(state, c, 8);
  store<u32>(state, d, 12);
  store<u32>(state, e, 16);
  store<u32>(state, f, 20);
  store<u32>(state, g, 24);
  store<u32>(state, h, 28);
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
