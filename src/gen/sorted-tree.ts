/**
 * Build a KVS tree bottom-up from keys that arrive in sorted order (component-wise, by
 * UTF-8 bytes): only the directories on the current path are open, so memory stays
 * flat however many keys there are. Each closed directory is stored as a blob and
 * becomes a dirref in its parent, exactly as Flux stores committed directories.
 *
 * Entries arrive in name order, which is the canonical order, so an open directory is
 * kept as its encoded entries (`"name":{...}`) and closing it is one copy: no Map, no
 * sort, no second pass over the children (the same bytes as encodeTreeObj). The entries
 * are kept as UTF-8 bytes, not strings: a string built by concatenation holds its pieces
 * (a blobref alone is ~20 of them), ~1 KiB per entry, which a directory of a million
 * keys cannot afford; as bytes it is the entry's length.
 */
import { compareUtf8, encodeText, jsonString, type TreeObj } from '../walk/treeobj.js';
import { Slab } from './slab.js';

/** Stores a blob, returns its blobref. */
export type PutBlob = (blob: Uint8Array) => string;

const DIR_HEAD = '{"data":{';
const DIR_TAIL = '},"type":"dir","ver":1}';
/** First buffer of an open directory; it doubles as entries come. */
const DIR_BUFFER = 1024;

/** An open directory: its name in the parent, its encoded entries so far. */
class OpenDir {
  readonly name: string;
  /** Name of the last entry (the order check), or null when empty. */
  last: string | null = null;
  #buf = Buffer.allocUnsafe(DIR_BUFFER);
  #len = 0;

  constructor(name: string) {
    this.name = name;
  }

  /** Append `"name":encoded` (with the separating comma). */
  add(name: string, encoded: string): void {
    const text = (this.#len === 0 ? '' : ',') + jsonString(name) + ':' + encoded;
    const max = 3 * text.length; // UTF-16 unit -> at most 3 UTF-8 bytes
    if (this.#len + max > this.#buf.length) {
      const next = Buffer.allocUnsafe(Math.max(2 * this.#buf.length, this.#len + max));
      this.#buf.copy(next, 0, 0, this.#len);
      this.#buf = next;
    }
    this.#len += this.#buf.write(text, this.#len, 'utf8');
    this.last = name;
  }

  /** The directory object's canonical bytes, in `slab` memory. */
  encode(slab: Slab): Uint8Array {
    const out = slab.alloc(DIR_HEAD.length + this.#len + DIR_TAIL.length);
    let at = 0;
    for (let i = 0; i < DIR_HEAD.length; i++) out[at++] = DIR_HEAD.charCodeAt(i);
    out.set(this.#buf.subarray(0, this.#len), at);
    at += this.#len;
    for (let i = 0; i < DIR_TAIL.length; i++) out[at++] = DIR_TAIL.charCodeAt(i);
    return out;
  }
}

export class SortedTreeBuilder {
  readonly #put: PutBlob;
  /** Encoded directories are written into slabs. */
  readonly #slab = new Slab();
  /** open[i] is the directory at depth i (the root first). */
  readonly #open: OpenDir[] = [new OpenDir('')];

  constructor(put: PutBlob) {
    this.#put = put;
  }

  /** Add a value or symlink at `path` (components); paths must come in sorted order. */
  add(path: readonly string[], obj: TreeObj): void {
    this.addEncoded(path, encodeText(obj));
  }

  /** Like add(), with the object already encoded (encodeText's canonical text). */
  addEncoded(path: readonly string[], encoded: string): void {
    const open = this.#open;
    const leaf = path.length - 1;
    if (leaf < 0) throw new Error('empty key');
    let common = 0;
    while (common < leaf && common < open.length - 1 && open[common + 1]!.name === path[common]) common++;
    const name = path[common]!;
    // The first new component must sort after the last entry of the directory it goes in
    // (equal: a value or a still-open directory would be written twice).
    const last = open[common]!.last;
    if (last !== null && compareUtf8(name, last) <= 0) {
      throw new Error(`keys out of order: ${path.join('/')} after .../${last} (${last === name ? 'duplicate component' : 'smaller'})`);
    }
    this.#closeTo(common + 1);
    for (let d = common; d < leaf; d++) {
      open[d]!.last = path[d]!; // its entry is written when it closes
      open.push(new OpenDir(path[d]!));
    }
    open[open.length - 1]!.add(path[leaf]!, encoded);
  }

  /** Close directories until only `depth` remain open. */
  #closeTo(depth: number): void {
    const open = this.#open;
    while (open.length > depth) {
      const dir = open.pop()!;
      const ref = this.#put(dir.encode(this.#slab));
      open[open.length - 1]!.add(dir.name, `{"data":["${ref}"],"type":"dirref","ver":1}`);
    }
  }

  /** Close everything; returns the root directory's blobref. */
  finish(): string {
    this.#closeTo(1);
    return this.#put(this.#open[0]!.encode(this.#slab));
  }
}

export function compareKeys(a: readonly string[], b: readonly string[]): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const c = compareUtf8(a[i]!, b[i]!);
    if (c !== 0) return c;
  }
  return a.length - b.length;
}
