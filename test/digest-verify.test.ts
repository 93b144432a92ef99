import { createHash } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { fromHex, type HashType } from '../src/blobref.js';
import { concatBytes } from '../src/util/bytes.js';
import { getDigester, initWasm } from '../src/verify/digest.js';
import { blobrefMatches, createBlobVerifier, findMismatches, verifyBlob, verifyBlobs } from '../src/verify/verify.js';

const HASHES: HashType[] = ['sha1', 'sha256'];
const enc = (s: string) => new TextEncoder().encode(s);
const ref = (hash: HashType, b: Uint8Array) => `${hash}-${createHash(hash).update(b).digest('hex')}`;

beforeAll(() => initWasm());

describe.each(HASHES)('%s verification', (hash) => {
  const other: HashType = hash === 'sha1' ? 'sha256' : 'sha1';

  it('accepts the right blobref and rejects every kind of wrong one', () => {
    const d = getDigester(hash);
    const blob = enc('{"data":"aGVsbG8=","type":"val","ver":1}');
    const good = ref(hash, blob);
    expect(verifyBlob(d, good, blob)).toBe(true);
    // One flipped hex digit anywhere, including the first and last.
    for (const pos of [hash.length + 1, hash.length + 10, good.length - 1]) {
      const c = good[pos] === '0' ? '1' : '0';
      expect(verifyBlob(d, good.slice(0, pos) + c + good.slice(pos + 1), blob), `digit ${pos}`).toBe(false);
    }
    expect(verifyBlob(d, good.toUpperCase().replace(hash.toUpperCase(), hash), blob)).toBe(false); // hex must be lowercase
    expect(verifyBlob(d, good.slice(0, -2), blob)).toBe(false); // short
    expect(verifyBlob(d, good + '00', blob)).toBe(false); // long
    expect(verifyBlob(d, good.replace('-', '_'), blob)).toBe(false);
    expect(verifyBlob(d, ref(other, blob), blob)).toBe(false); // right bytes, other hash
    expect(verifyBlob(d, 'x' + good.slice(1), blob)).toBe(false);
    expect(verifyBlob(d, '', blob)).toBe(false);
    expect(verifyBlob(d, ref(hash, enc('other')), blob)).toBe(false);
  });

  it('a corrupted directory object that is still valid JSON fails verification', () => {
    const d = getDigester(hash);
    const dir = enc('{"data":{"a":{"data":"MQ==","type":"val","ver":1}},"type":"dir","ver":1}');
    const loadedBy = ref(hash, dir);
    const tampered = enc('{"data":{"a":{"data":"Mg==","type":"val","ver":1}},"type":"dir","ver":1}');
    expect(verifyBlob(d, loadedBy, dir)).toBe(true);
    expect(verifyBlob(d, loadedBy, tampered)).toBe(false);
  });

  it('verifyBlobs flags exactly the corrupted blobs in a large batch', () => {
    const d = getDigester(hash);
    const blobs: Uint8Array[] = [];
    const refs: string[] = [];
    for (let i = 0; i < 5000; i++) {
      // Sizes on both sides of the WASM/node:crypto crossover.
      const b = new Uint8Array(i % 7 === 0 ? 5000 + i : i % 400).fill(i & 255);
      blobs.push(b);
      refs.push(ref(hash, b));
    }
    const corrupt = [0, 7, 13, 4999, 2500];
    for (const i of corrupt) {
      if (blobs[i]!.length === 0) refs[i] = ref(hash, enc('not empty'));
      else blobs[i] = blobs[i]!.map((x, j) => (j === 0 ? x ^ 1 : x));
    }
    const ok = verifyBlobs(d, refs, blobs);
    const bad = [...ok].flatMap((v, i) => (v === 1 ? [] : [i]));
    expect(bad).toEqual([...corrupt].sort((a, b) => a - b));
    const mismatches = findMismatches(d, refs, blobs);
    expect(mismatches.map((m) => m.index)).toEqual(bad);
    for (const m of mismatches) {
      expect(m.expected).toBe(refs[m.index]);
      expect(m.actual).toBe(ref(hash, blobs[m.index]!));
      expect(m.actual).not.toBe(m.expected);
    }
    expect(() => verifyBlobs(d, refs.slice(1), blobs)).toThrow(RangeError);
  });

  it('createBlobVerifier has the walk checker shape', async () => {
    const v = await createBlobVerifier(hash);
    const a = enc('a');
    const b = enc('b');
    const expected = concatBytes([fromHex(ref(hash, a).split('-')[1]!), fromHex(ref(hash, a).split('-')[1]!)]);
    expect([...v.check(expected, [a, b])]).toEqual([1, 0]);
    expect(v.blobrefOf(b)).toBe(ref(hash, b));
  });

  it('blobrefMatches reads the digest at an offset', () => {
    const digests = new Uint8Array(3 * 32).fill(0xab);
    const size = hash === 'sha1' ? 20 : 32;
    expect(blobrefMatches(`${hash}-${'ab'.repeat(size)}`, hash, digests, size, size)).toBe(true);
    digests[size + size - 1] = 0xac;
    expect(blobrefMatches(`${hash}-${'ab'.repeat(size)}`, hash, digests, size, size)).toBe(false);
  });
});
