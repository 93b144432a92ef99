import { createHash } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { toHex, type HashType } from '../src/blobref.js';
import { blobref, CRYPTO_MIN_BYTES, getDigester, initWasm } from '../src/verify/digest.js';
import { BATCH_MAX_BLOBS, WasmSha, WINDOW_BYTES } from '../src/wasm/sha.js';

const HASHES: HashType[] = ['sha1', 'sha256'];
const ascii = (s: string) => new TextEncoder().encode(s);
const nodeHex = (hash: HashType, b: Uint8Array) => createHash(hash).update(b).digest('hex');

/** Deterministic pseudo-random bytes (xorshift32), so failures reproduce. */
function randomBytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed | 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 255;
  }
  return out;
}

function rng(seed: number): () => number {
  let x = seed | 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

// FIPS 180-2 / NIST CSRC example vectors, plus the empty message.
const M448 = 'abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq';
const M896 =
  'abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu';
const VECTORS: { name: string; msg: () => Uint8Array; sha1: string; sha256: string }[] = [
  {
    name: 'empty',
    msg: () => new Uint8Array(0),
    sha1: 'da39a3ee5e6b4b0d3255bfef95601890afd80709',
    sha256: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
  },
  {
    name: '"abc"',
    msg: () => ascii('abc'),
    sha1: 'a9993e364706816aba3e25717850c26c9cd0d89d',
    sha256: 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
  },
  {
    name: '448-bit message',
    msg: () => ascii(M448),
    sha1: '84983e441c3bd26ebaae4aa1f95129e5e54670f1',
    sha256: '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1',
  },
  {
    name: '896-bit message',
    msg: () => ascii(M896),
    sha1: 'a49b2446a02c645bf419f995b67091253a04a259',
    sha256: 'cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1',
  },
  {
    name: 'one million "a"',
    msg: () => new Uint8Array(1_000_000).fill(0x61),
    sha1: '34aa973cd4c4daa4f61eeb2bdbad27316534016f',
    sha256: 'cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0',
  },
];

const engines: Record<HashType, WasmSha> = {} as Record<HashType, WasmSha>;
beforeAll(async () => {
  for (const h of HASHES) engines[h] = await WasmSha.load(h);
  await initWasm();
});

describe.each(HASHES)('%s WASM core', (hash) => {
  it.each(VECTORS)('NIST vector: $name (one, batch, incremental)', (v) => {
    const sha = engines[hash];
    const msg = v.msg();
    expect(v[hash]).toBe(nodeHex(hash, msg)); // the table itself is right
    expect(toHex(sha.digest(msg))).toBe(v[hash]);
    expect(toHex(sha.digestMany([msg, msg]))).toBe(v[hash] + v[hash]);
    expect(toHex(sha.hasher().update(msg).digest())).toBe(v[hash]);
  });

  it('every size 0..300 and the block-boundary sizes, one blob at a time and batched', () => {
    const sha = engines[hash];
    const data = randomBytes(2048, 7);
    const sizes = [...Array.from({ length: 301 }, (_, i) => i), 511, 512, 513, 1023, 1024, 1025, 2047, 2048];
    for (const n of [0, 1, 55, 56, 63, 64, 65, 119, 120, 127, 128, 129]) expect(sizes).toContain(n);
    const blobs = sizes.map((n, i) => data.subarray(i % 13, (i % 13) + Math.min(n, 2048 - 13)));
    const many = sha.digestMany(blobs);
    blobs.forEach((b, i) => {
      const want = nodeHex(hash, b);
      expect(toHex(sha.digest(b)), `size ${b.length}`).toBe(want);
      expect(toHex(many.subarray(i * sha.digestSize, (i + 1) * sha.digestSize)), `batch row ${i}`).toBe(want);
    });
  });

  it('100,000 random blobs through digestMany match node:crypto', () => {
    const sha = engines[hash];
    const pool = randomBytes(1 << 20, 99);
    const next = rng(1234);
    const blobs: Uint8Array[] = [];
    for (let i = 0; i < 100_000; i++) {
      // Mostly KVS-sized values, some empty, some a few KiB.
      const r = next();
      const n = r < 0.05 ? 0 : r < 0.9 ? Math.floor(next() * 1500) : Math.floor(next() * 20_000);
      const start = Math.floor(next() * (pool.length - n));
      blobs.push(pool.subarray(start, start + n));
    }
    const out = sha.digestMany(blobs);
    expect(out.length).toBe(blobs.length * sha.digestSize);
    let bad = 0;
    const ds = sha.digestSize;
    for (let i = 0; i < blobs.length; i++) {
      const want = createHash(hash).update(blobs[i]!).digest();
      if (!want.equals(out.subarray(i * ds, (i + 1) * ds))) bad++;
    }
    expect(bad).toBe(0);
  });

  it('batches split at the blob-count and window limits keep input order', () => {
    const sha = engines[hash];
    const tiny = Array.from({ length: BATCH_MAX_BLOBS * 2 + 3 }, (_, i) => randomBytes(i % 70, i + 1));
    const fat = [WINDOW_BYTES - 5, 700_000, 600_000, WINDOW_BYTES, WINDOW_BYTES + 1, 3].map((n, i) => randomBytes(n, i + 50));
    for (const blobs of [tiny, fat]) {
      const out = sha.digestMany(blobs);
      blobs.forEach((b, i) => expect(toHex(out.subarray(i * sha.digestSize, (i + 1) * sha.digestSize))).toBe(nodeHex(hash, b)));
    }
  });

  it('incremental hashing across block and window boundaries', () => {
    const sha = engines[hash];
    const msg = randomBytes(2 * WINDOW_BYTES + 4099, 5);
    const want = nodeHex(hash, msg);
    const splits: number[][] = [
      [1, 63, 64, 65, 55, 56, 9],
      [WINDOW_BYTES - 1, 2, WINDOW_BYTES + 5],
      [3 * WINDOW_BYTES], // whole message in one update, larger than the window
    ];
    for (const pattern of splits) {
      const h = sha.hasher();
      let off = 0;
      for (let k = 0; off < msg.length; k++) {
        const n = pattern[k % pattern.length]!;
        h.update(msg.subarray(off, off + n));
        off += n;
      }
      expect(toHex(h.digest()), `split ${pattern.join(',')}`).toBe(want);
    }
    // Random chunking, including empty chunks.
    const next = rng(77);
    const h = sha.hasher();
    for (let off = 0; off < msg.length; ) {
      const n = Math.floor(next() * 300);
      h.update(msg.subarray(off, off + n));
      off += n;
    }
    expect(toHex(h.digest())).toBe(want);
  });

  it('interleaved hashers and batches do not disturb each other', () => {
    const sha = engines[hash];
    const a = randomBytes(1000, 1);
    const b = randomBytes(777, 2);
    const ha = sha.hasher();
    const hb = sha.hasher();
    ha.update(a.subarray(0, 100));
    hb.update(b.subarray(0, 500));
    sha.digestMany([a, b]); // uses the same scratch memory in between
    ha.update(a.subarray(100));
    hb.update(b.subarray(500));
    expect(toHex(hb.digest())).toBe(nodeHex(hash, b));
    expect(toHex(ha.digest())).toBe(nodeHex(hash, a));
    expect(() => ha.digest()).toThrow();
  });
});

describe.each(HASHES)('%s digester (WASM + node:crypto routing)', (hash) => {
  it('routes around the crossover and matches node:crypto on both sides', () => {
    const d = getDigester(hash);
    expect(d.hashType).toBe(hash);
    expect(d.digestSize).toBe(hash === 'sha1' ? 20 : 32);
    const c = CRYPTO_MIN_BYTES[hash];
    const sizes = [0, 1, c - 1, c, c + 1, 5, 2 * WINDOW_BYTES, 300, c - 1];
    const blobs = sizes.map((n, i) => randomBytes(n, i + 3));
    const many = d.digestMany(blobs);
    blobs.forEach((b, i) => {
      const want = nodeHex(hash, b);
      expect(toHex(d.digest(b)), `size ${b.length}`).toBe(want);
      expect(toHex(many.subarray(i * d.digestSize, (i + 1) * d.digestSize)), `row ${i}`).toBe(want);
    });
    expect(d.digestMany([]).length).toBe(0);
  });

  it('hasher() and blobref()', () => {
    const msg = randomBytes(70_000, 11);
    expect(toHex(getDigester(hash).hasher().update(msg.subarray(0, 33)).update(msg.subarray(33)).digest())).toBe(
      nodeHex(hash, msg),
    );
    expect(blobref(hash, ascii('abc'))).toBe(`${hash}-${VECTORS[1]![hash]}`);
  });

  it('digests are fresh copies that later calls do not overwrite', () => {
    const d = getDigester(hash);
    const first = d.digest(ascii('first'));
    const copy = first.slice();
    d.digest(ascii('second'));
    d.digestMany([ascii('third')]);
    expect(first).toEqual(copy);
  });
});
