/**
 * The walk's fast path for `dir` objects (src/walk/dirscan.ts) against the general
 * decoder: whenever the scanner accepts bytes, it must describe exactly the entries, in
 * exactly the order, with exactly the data, that decodeTreeObj returns; and it must hand
 * everything unusual to the general path (return false).
 */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DIGEST_SIZE, formatBlobref, type HashType } from '../src/blobref.js';
import { decodeBase64Bytes, DirScan, hexDigestInto, scanDir, SCAN_DIRREF, SCAN_VAL, SCAN_VALREF } from '../src/walk/dirscan.js';
import { decodeTreeObj, encodeTreeObj, makeDir, makeSymlink, makeVal, valBytes, type TreeObj } from '../src/walk/treeobj.js';

const utf8 = (s: string) => new TextEncoder().encode(s);
const latin1 = (b: Uint8Array) => String.fromCharCode(...b);

function ref(hash: HashType, seed: string): string {
  return formatBlobref(hash, createHash(hash).update(seed).digest().subarray(0, DIGEST_SIZE[hash]));
}

/** What the scanner says, in the shape of a decoded dir's entries. */
function scanned(bytes: Uint8Array): [string, TreeObj][] | null {
  const scan = new DirScan();
  if (!scanDir(bytes, scan)) return null;
  const out: [string, TreeObj][] = [];
  for (let i = 0; i < scan.count; i++) {
    const name = latin1(bytes.subarray(scan.nameStart[i]!, scan.nameEnd[i]!));
    if (scan.kind[i] === SCAN_VAL) {
      out.push([name, makeVal(decodeBase64Bytes(bytes, scan.dataStart[i]!, scan.dataEnd[i]!))]);
      continue;
    }
    const size = scan.digestSize[i]!;
    const hash: HashType = size === 32 ? 'sha256' : 'sha1';
    const refs: string[] = [];
    const stride = 2 * size + (size === 20 ? 8 : 10);
    for (let r = 0; r < scan.refs[i]!; r++) {
      const d = new Uint8Array(size);
      expect(hexDigestInto(bytes, scan.dataStart[i]! + r * stride, size, d, 0)).toBe(true);
      // The scan decoded the same digests already, entry after entry.
      const at = scan.digestAt[i]! + r * size;
      expect(scan.digests.subarray(at, at + size)).toEqual(d);
      refs.push(formatBlobref(hash, d));
    }
    expect([SCAN_VALREF, SCAN_DIRREF]).toContain(scan.kind[i]);
    out.push([name, { type: scan.kind[i] === SCAN_DIRREF ? 'dirref' : 'valref', data: refs }]);
  }
  return out;
}

function decoded(bytes: Uint8Array): [string, TreeObj][] {
  const obj = decodeTreeObj(bytes);
  if (obj.type !== 'dir') throw new Error('not a dir');
  return [...obj.data].map(([k, v]) => [k, v.type === 'val' ? makeVal(valBytes(v)) : v]);
}

const hashArb = fc.constantFrom<HashType>('sha1', 'sha256');
const nameArb = fc.stringMatching(/^[ -~]{1,12}$/); // printable ASCII, incl. quotes and backslashes
const leafArb = (hash: HashType): fc.Arbitrary<TreeObj> =>
  fc.oneof(
    fc.uint8Array({ maxLength: 80 }).map((b) => makeVal(b)),
    fc.array(fc.string(), { minLength: 1, maxLength: 4 }).map((seeds) => ({ type: 'valref' as const, data: seeds.map((s) => ref(hash, s)) })),
    fc.string().map((s) => ({ type: 'dirref' as const, data: [ref(hash, s)] })),
  );
const dirArb = hashArb.chain((hash) =>
  fc.dictionary(nameArb, leafArb(hash), { maxKeys: 12 }).map((o) => makeDir(new Map(Object.entries(o)))),
);

describe('dir fast path', () => {
  it('describes canonical dirs exactly as decodeTreeObj does', () => {
    fc.assert(
      fc.property(dirArb, (dir) => {
        const bytes = encodeTreeObj(dir);
        const fast = scanned(bytes);
        const names = [...dir.data.keys()];
        // Escaped names (quote, backslash) go the general way; everything else is taken.
        if (names.some((n) => n.includes('"') || n.includes('\\'))) expect(fast).toBeNull();
        else expect(fast).toEqual(decoded(bytes));
      }),
      { numRuns: 400, seed: 11 },
    );
  });

  it('never accepts bytes the general decoder reads differently (mutations)', () => {
    fc.assert(
      fc.property(dirArb, fc.nat(), fc.integer({ min: 0, max: 255 }), fc.boolean(), (dir, at, byte, remove) => {
        const good = encodeTreeObj(dir);
        if (good.length === 0) return;
        const i = at % good.length;
        const bad = remove ? new Uint8Array([...good.subarray(0, i), ...good.subarray(i + 1)]) : good.slice();
        if (!remove) bad[i] = byte;
        const fast = scanned(bad);
        if (fast === null) return; // handed to the general path: always allowed
        expect(fast).toEqual(decoded(bad));
      }),
      { numRuns: 3000, seed: 12 },
    );
  });

  it('hands over symlinks, inline dirs, non-ASCII and escaped names, whitespace, disorder', () => {
    const v = makeVal(utf8('x'));
    const cases: Uint8Array[] = [
      encodeTreeObj(makeDir(new Map<string, TreeObj>([['a', makeSymlink('t')]]))),
      encodeTreeObj(makeDir(new Map<string, TreeObj>([['a', makeDir(new Map([['b', v]]))]]))),
      encodeTreeObj(makeDir(new Map([['é', v]]))),
      encodeTreeObj(makeDir(new Map([['a\nb', v]]))),
      utf8('{"data": {"a":{"data":"eA==","type":"val","ver":1}},"type":"dir","ver":1}'),
      utf8('{"data":{"b":{"data":"eA==","type":"val","ver":1},"a":{"data":"eA==","type":"val","ver":1}},"type":"dir","ver":1}'),
      utf8('{"data":{"a":{"data":"eA==","type":"val","ver":1},"a":{"data":"eQ==","type":"val","ver":1}},"type":"dir","ver":1}'),
      utf8(`{"data":{"a":{"data":["${ref('sha1', '1')}","${ref('sha256', '2')}"],"type":"valref","ver":1}},"type":"dir","ver":1}`),
      utf8(`{"data":{"a":{"data":["${ref('sha1', '1')}","${ref('sha1', '2')}"],"type":"dirref","ver":1}},"type":"dir","ver":1}`),
      utf8(`{"data":{"a":{"data":["${ref('sha1', '1').toUpperCase()}"],"type":"dirref","ver":1}},"type":"dir","ver":1}`),
      utf8('{"data":{"a":{"data":"eA=","type":"val","ver":1}},"type":"dir","ver":1}'),
      utf8('{"data":{"a":{"data":"eA==","type":"val","ver":2}},"type":"dir","ver":1}'),
      utf8('{"data":{"a":{"data":"eA==","type":"hdir","ver":1}},"type":"dir","ver":1}'),
      utf8('{"data":{},"type":"dir","ver":1} '),
      utf8('{"data":{},"type":"val","ver":1}'),
    ];
    for (const bytes of cases) expect(scanned(bytes)).toBeNull();
  });

  it('reads an empty directory and empty values', () => {
    expect(scanned(encodeTreeObj(makeDir()))).toEqual([]);
    const dir = makeDir(new Map([['e', makeVal(new Uint8Array(0))], ['f', makeVal(utf8('ab'))]]));
    expect(scanned(encodeTreeObj(dir))).toEqual(decoded(encodeTreeObj(dir)));
  });
});
