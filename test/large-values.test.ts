/**
 * Sizes past 2 GiB in the archive writers and readers: a valref may list many blobs, so
 * one value can outgrow 32-bit arithmetic. The whole-archive checks (a 2 GiB value read
 * back by the system's tar and cpio, a 4 GiB value refused by name) need ~4 GiB of
 * memory and minutes: `npm run test:large` (test/large/values.test.ts).
 */
import { describe, expect, test } from 'vitest';
import { entryHeaderTS, padded } from '../src/pack/tar/header.js';
import { roundUp } from '../src/util/bytes.js';
import { MAX_VALUE_BYTES } from '../src/walk/walk.js';

describe('padding arithmetic', () => {
  test('roundUp stays exact past 2 GiB and 4 GiB, where 32-bit masks go wrong', () => {
    expect(roundUp(2 ** 31 + 1, 512)).toBe(2 ** 31 + 512);
    expect(roundUp(2 ** 32 - 1, 512)).toBe(2 ** 32);
    expect(roundUp(2 ** 32 + 3, 4)).toBe(2 ** 32 + 4);
    expect(roundUp(2 ** 33, 512)).toBe(2 ** 33);
    expect(roundUp(0, 512)).toBe(0);
    expect((2 ** 31 + 1 + 511) & ~511).not.toBe(2 ** 31 + 512); // the old way, for the record
  });
});

describe('tar header of a value past 2 GiB', () => {
  test('size field and padding are exact', () => {
    const size = 2 ** 31 + 1;
    const h = entryHeaderTS({ path: 'big', linkTarget: '', type: 'file', size, mode: 0o644, mtime: 1, uid: 0, gid: 0 });
    expect(h.length).toBe(512);
    expect(Buffer.from(h.subarray(124, 135)).toString('latin1')).toBe(size.toString(8).padStart(11, '0'));
    expect(padded(size)).toBe(2 ** 31 + 512);
    expect(padded(size) % 512).toBe(0);
  });
  test('the largest value archived fits every size field', () => {
    expect(MAX_VALUE_BYTES).toBe(2 ** 32 - 1);
    expect(padded(MAX_VALUE_BYTES)).toBe(2 ** 32);
  });
});
