/**
 * The KVS tree a restore builds, kept compact for millions of keys. A directory is a
 * Map from child name to either a subdirectory (a Map) or a leaf. Leaves are numbers
 * (no heap objects for the garbage collector to trace): an id into a byte arena holding
 * an inline value's bytes (< 72 of them) or a blob digest (valref, or dirref once a
 * directory is stored). Symlinks, rare, are kept as their finished JSON text. Repeated
 * short names (`eventlog`, `0000`, ...) are interned, so a million keys do not mean a
 * million copies of the same few strings. Value blobs are stored as they stream by.
 *
 * Once the archive is read, directories are encoded and stored bottom-up, one height at
 * a time (every directory whose subdirectories are all stored, in batches), each
 * replaced in its parent by a dirref. The encoding is canonical (UTF-8 byte order of
 * names, jansson's escapes), so the root blobref depends only on the archive.
 */
import { DIGEST_SIZE, formatBlobref, toHex, type HashType } from '../blobref.js';
import { FluxError } from '../errors.js';
import { base64Encode } from '../util/base64.js';
import { compareUtf8, encodeText, jsonString, makeSymlink } from '../walk/treeobj.js';

type Dir = Map<string, Child>;
type Child = Dir | number | string;

// leaf id = arena offset * KINDS + kind
const KINDS = 4;
const KIND_VAL = 1;
const KIND_VALREF = 2;
const KIND_DIRREF = 3;

/** Names up to this long are interned; the table stops growing at INTERN_MAX entries. */
const INTERN_MAX_LENGTH = 32;
const INTERN_MAX = 1 << 17;

/** `NS::target` names a target in namespace NS (the first `::` splits), as dump writes it. */
export function symlinkText(target: string): string {
  const sep = target.indexOf('::');
  return encodeText(sep < 0 ? makeSymlink(target) : makeSymlink(target.slice(sep + 2), target.slice(0, sep)));
}

/** Encodes and stores a batch of directories; returns their digests, concatenated. */
export type StoreDirs = (blobs: Uint8Array[]) => Uint8Array | Promise<Uint8Array>;

export class KvsTree {
  readonly #hash: HashType;
  readonly #ds: number;
  #root: Dir = new Map();
  #arena = new Uint8Array(1 << 20);
  #used = 0;
  readonly #names = new Map<string, string>();
  readonly #encoder = new TextEncoder();

  constructor(hash: HashType) {
    this.#hash = hash;
    this.#ds = DIGEST_SIZE[hash];
  }

  #reserve(n: number): number {
    if (this.#used + n > this.#arena.length) {
      const bigger = new Uint8Array(Math.max(this.#arena.length * 2, this.#used + n));
      bigger.set(this.#arena.subarray(0, this.#used));
      this.#arena = bigger;
    }
    const at = this.#used;
    this.#used += n;
    return at;
  }

  /** A leaf for an inline value (fewer than 256 bytes: its length fits the first byte). */
  valLeaf(bytes: Uint8Array): number {
    const at = this.#reserve(1 + bytes.length);
    this.#arena[at] = bytes.length;
    this.#arena.set(bytes, at + 1);
    return at * KINDS + KIND_VAL;
  }

  /** A leaf for a one-blob valref; `digest` is copied. */
  valrefLeaf(digest: Uint8Array): number {
    const at = this.#reserve(this.#ds);
    this.#arena.set(digest, at);
    return at * KINDS + KIND_VALREF;
  }

  #dirrefLeaf(digest: Uint8Array): number {
    const at = this.#reserve(this.#ds);
    this.#arena.set(digest, at);
    return at * KINDS + KIND_DIRREF;
  }

  #intern(name: string): string {
    if (name.length > INTERN_MAX_LENGTH) return name;
    const known = this.#names.get(name);
    if (known !== undefined) return known;
    if (this.#names.size < INTERN_MAX) this.#names.set(name, name);
    return name;
  }

  /**
   * Set the key made of `parts` to a leaf (a number from valLeaf/valrefLeaf) or a
   * symlink text; a later entry for the same key replaces the earlier one, as extracting
   * the archive would. `key` is the joined key, for the error when a component on the
   * way is a value.
   */
  put(parts: readonly string[], leaf: number | string, key: string): void {
    let dir = this.#root;
    const last = parts.length - 1;
    for (let i = 0; i < last; i++) {
      const name = parts[i]!;
      const child = dir.get(name);
      if (child === undefined) {
        const sub: Dir = new Map();
        dir.set(this.#intern(name), sub);
        dir = sub;
      } else if (typeof child !== 'object') {
        throw new FluxError(`${name} in ${key} is not a directory`, 'ENOTDIR');
      } else dir = child;
    }
    const name = parts[last]!;
    dir.set(dir.has(name) ? name : this.#intern(name), leaf);
  }

  #digestHex(at: number): string {
    return toHex(this.#arena.subarray(at, at + this.#ds));
  }

  #leafText(leaf: number): string {
    const kind = leaf % KINDS;
    const at = (leaf - kind) / KINDS;
    switch (kind) {
      case KIND_VAL:
        return `{"data":"${base64Encode(this.#arena.subarray(at + 1, at + 1 + this.#arena[at]!))}","type":"val","ver":1}`;
      case KIND_VALREF:
        return `{"data":["${this.#hash}-${this.#digestHex(at)}"],"type":"valref","ver":1}`;
      default:
        return `{"data":["${this.#hash}-${this.#digestHex(at)}"],"type":"dirref","ver":1}`;
    }
  }

  /** Canonical encoding of a directory whose subdirectories are all stored by now. */
  #encodeDir(dir: Dir): Uint8Array {
    const names = [...dir.keys()].sort(compareUtf8);
    let s = '{"data":{';
    for (let i = 0; i < names.length; i++) {
      const child = dir.get(names[i]!)!;
      if (typeof child === 'object') throw new Error('restore: subdirectory stored out of order'); // a bug, not input
      s += (i > 0 ? ',' : '') + jsonString(names[i]!) + ':' + (typeof child === 'number' ? this.#leafText(child) : child);
    }
    return this.#encoder.encode(s + '},"type":"dir","ver":1}');
  }

  /**
   * Encode and store every directory bottom-up, at most `batchSize` per store call;
   * returns the root's blobref. The tree is consumed.
   */
  async storeDirectories(store: StoreDirs, batchSize: number): Promise<string> {
    // Pre-order list with parent links; reversed, every child precedes its parent.
    const nodes: Dir[] = [this.#root];
    const parent: number[] = [-1];
    const names: string[] = [''];
    for (let i = 0; i < nodes.length; i++) {
      for (const [name, child] of nodes[i]!) {
        if (typeof child === 'object') {
          nodes.push(child);
          parent.push(i);
          names.push(name);
        }
      }
    }
    // height = longest chain of subdirectories below; same-height directories are independent
    const height = new Int32Array(nodes.length);
    for (let i = nodes.length - 1; i > 0; i--) {
      const p = parent[i]!;
      if (height[i]! + 1 > height[p]!) height[p] = height[i]! + 1;
    }
    const byHeight: number[][] = Array.from({ length: height[0]! + 1 }, () => []);
    for (let i = nodes.length - 1; i >= 0; i--) byHeight[height[i]!]!.push(i);

    const ds = this.#ds;
    let rootref = '';
    for (const level of byHeight) {
      for (let start = 0; start < level.length; start += batchSize) {
        const ids = level.slice(start, start + batchSize);
        const digests = await store(ids.map((i) => this.#encodeDir(nodes[i]!)));
        for (let k = 0; k < ids.length; k++) {
          const i = ids[k]!;
          const digest = digests.subarray(k * ds, (k + 1) * ds);
          if (i === 0) rootref = formatBlobref(this.#hash, digest);
          else nodes[parent[i]!]!.set(names[i]!, this.#dirrefLeaf(digest));
          nodes[i] = EMPTY_DIR; // let the subtree go
        }
      }
    }
    this.#root = new Map();
    return rootref;
  }
}

const EMPTY_DIR: Dir = new Map();
