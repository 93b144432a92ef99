// KvsTree (src/restore/tree.ts) against a plain model: nested Maps of tree objects,
// encoded with walk/treeobj's canonical encoder and hashed with node:crypto. Same keys in
// the same order must give the same root blobref, whatever the names (wide, astral,
// escaped, long, across pages), replacements and order.
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatBlobref } from '../src/blobref.js';
import { FluxError } from '../src/errors.js';
import { KvsTree, symlinkText } from '../src/restore/tree.js';
import { encodeTreeObj, makeDir, makeDirref, makeVal, makeValref, type TreeObj } from '../src/walk/treeobj.js';

type Leaf = { kind: 'val'; bytes: Uint8Array } | { kind: 'valref'; digest: Uint8Array } | { kind: 'symlink'; target: string };
type ModelDir = Map<string, ModelDir | TreeObj>;

const sha1 = (b: Uint8Array) => new Uint8Array(createHash('sha1').update(b).digest());

function leafObj(l: Leaf): TreeObj | string {
  if (l.kind === 'val') return makeVal(l.bytes);
  if (l.kind === 'valref') return makeValref([formatBlobref('sha1', l.digest)]);
  return symlinkText(l.target);
}

/** The model: put as extracting would (a later key replaces), ENOTDIR through a value. */
function modelPut(root: ModelDir, parts: string[], l: Leaf): void {
  let dir = root;
  for (const name of parts.slice(0, -1)) {
    const child = dir.get(name);
    if (child === undefined) {
      const sub: ModelDir = new Map();
      dir.set(name, sub);
      dir = sub;
    } else if (child instanceof Map) dir = child;
    else throw new FluxError(`${name} is not a directory`, 'ENOTDIR');
  }
  const obj = leafObj(l);
  dir.set(parts[parts.length - 1]!, typeof obj === 'string' ? (JSON.parse(obj) as TreeObj) : obj);
}

function modelRoot(dir: ModelDir): string {
  const entries = new Map<string, TreeObj>();
  for (const [name, child] of dir) entries.set(name, child instanceof Map ? makeDirref(modelRoot(child)) : child);
  return formatBlobref('sha1', sha1(encodeTreeObj(makeDir(entries))));
}

async function treeRoot(keys: [string[], Leaf][]): Promise<{ root?: string; error?: string; dirs: number }> {
  const tree = new KvsTree('sha1');
  let dirs = 0;
  try {
    for (const [parts, l] of keys) {
      const leaf = l.kind === 'val' ? tree.valLeaf(l.bytes) : l.kind === 'valref' ? tree.valrefLeaf(l.digest) : symlinkText(l.target);
      tree.put(parts, leaf, parts.join('/'));
    }
  } catch (err) {
    return { error: (err as FluxError).code, dirs };
  }
  const root = await tree.storeDirectories((blobs) => {
    dirs += blobs.length;
    const out = new Uint8Array(blobs.length * 20);
    blobs.forEach((b, i) => out.set(sha1(b), i * 20));
    return out;
  }, 3);
  return { root, dirs };
}

function modelOf(keys: [string[], Leaf][]): { root?: string; error?: string; dirs: number } {
  const root: ModelDir = new Map();
  try {
    for (const [parts, l] of keys) modelPut(root, parts, l);
  } catch (err) {
    return { error: (err as FluxError).code, dirs: 0 };
  }
  const count = (d: ModelDir): number => 1 + [...d.values()].reduce((n, c) => n + (c instanceof Map ? count(c) : 0), 0);
  return { root: modelRoot(root), dirs: count(root) };
}

// Latin-1 above ASCII, Cyrillic (wide), an astral character (surrogate pair), escapes
const NAMES = ['a', 'b', 'job', 'é', 'ключ', '😀', 'x"y', 'back\\slash', 'tab\there', 'ÿ', 'a😀b'];
const nameArb = fc.constantFrom(...NAMES);
const leafArb: fc.Arbitrary<Leaf> = fc.oneof(
  fc.uint8Array({ minLength: 0, maxLength: 71 }).map((bytes): Leaf => ({ kind: 'val', bytes })),
  fc.uint8Array({ minLength: 20, maxLength: 20 }).map((digest): Leaf => ({ kind: 'valref', digest })),
  fc.constantFrom('a/b', 'ns::x', 'é').map((target): Leaf => ({ kind: 'symlink', target })),
);
const keysArb = fc.array(fc.tuple(fc.array(nameArb, { minLength: 1, maxLength: 4 }), leafArb), { minLength: 1, maxLength: 40 });

describe('KvsTree', () => {
  it('gives the model root for any keys, in any order, with replacements', async () => {
    await fc.assert(
      fc.asyncProperty(keysArb, async (keys) => {
        const got = await treeRoot(keys);
        const want = modelOf(keys);
        expect(got.error).toBe(want.error);
        if (want.error === undefined) {
          expect(got.root).toBe(want.root);
          expect(got.dirs).toBe(want.dirs); // only directories the root reaches are stored
        }
      }),
      { numRuns: 300, seed: 7 },
    );
  });

  it('a value replacing a directory drops the directory; a key under a value is ENOTDIR', async () => {
    const v = (s: string): Leaf => ({ kind: 'val', bytes: new TextEncoder().encode(s) });
    const replaced: [string[], Leaf][] = [[['a', 'b', 'c'], v('1')], [['a', 'd'], v('2')], [['a', 'b'], v('3')]];
    const got = await treeRoot(replaced);
    expect(got).toEqual(modelOf(replaced));
    expect(got.dirs).toBe(2); // root and a; b is gone
    expect((await treeRoot([[['a'], v('1')], [['a', 'b'], v('2')]])).error).toBe('ENOTDIR');
  });

  it('keeps names across pages: 70,000 entries, long wide names, names over a page', async () => {
    const keys: [string[], Leaf][] = [];
    for (let i = 0; i < 70_000; i++) keys.push([['d' + (i % 97), 'k' + i], { kind: 'valref', digest: sha1(new Uint8Array([i & 255, i >> 8, i >> 16])) }]);
    keys.push([['long', 'ж'.repeat(5000)], { kind: 'val', bytes: new Uint8Array([1]) }]);
    keys.push([['long', 'z'.repeat(600_000)], { kind: 'val', bytes: new Uint8Array([2]) }]);
    keys.push([['long', 'y'.repeat(1_100_000)], { kind: 'val', bytes: new Uint8Array([3]) }]); // a page of its own
    keys.push([['long', 'ж'.repeat(600_000)], { kind: 'val', bytes: new Uint8Array([4]) }]); // wide, over a page
    keys.push([['d5', 'k5'], { kind: 'val', bytes: new Uint8Array([5]) }]); // replaces, after all that
    const got = await treeRoot(keys);
    expect(got.error).toBeUndefined();
    expect(got.root).toBe(modelOf(keys).root);
  });
});
