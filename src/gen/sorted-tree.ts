/**
 * Build a KVS tree bottom-up from keys that arrive in sorted order (component-wise, by
 * UTF-8 bytes): only the directories on the current path are open, so memory stays
 * flat however many keys there are. Each closed directory is stored as a blob and
 * becomes a dirref in its parent, exactly as Flux stores committed directories.
 */
import { compareUtf8, encodeTreeObj, makeDir, makeDirref, type DirObj, type TreeObj } from '../walk/treeobj.js';

/** Stores a blob, returns its blobref. */
export type PutBlob = (blob: Uint8Array) => string;

export class SortedTreeBuilder {
  readonly #put: PutBlob;
  /** open[i] is the directory at depth i; names[i] its name in open[i-1]. */
  readonly #open: DirObj[] = [makeDir()];
  readonly #names: string[] = [''];
  #last: string[] = [];

  constructor(put: PutBlob) {
    this.#put = put;
  }

  /** Add a value or symlink at `path` (components); paths must come in sorted order. */
  add(path: readonly string[], obj: TreeObj): void {
    let common = 0;
    while (common < path.length - 1 && common < this.#open.length - 1 && this.#names[common + 1] === path[common]) common++;
    if (compareKeys(path, this.#last) <= 0) throw new Error(`keys out of order: ${path.join('/')} after ${this.#last.join('/')}`);
    this.#closeTo(common + 1);
    for (let d = common; d < path.length - 1; d++) {
      this.#open.push(makeDir());
      this.#names.push(path[d]!);
    }
    this.#open[this.#open.length - 1]!.data.set(path[path.length - 1]!, obj);
    this.#last = [...path];
  }

  /** Close directories until only `depth` remain open. */
  #closeTo(depth: number): void {
    while (this.#open.length > depth) {
      const dir = this.#open.pop()!;
      const name = this.#names.pop()!;
      this.#open[this.#open.length - 1]!.data.set(name, makeDirref(this.#put(encodeTreeObj(dir))));
    }
  }

  /** Close everything; returns the root directory's blobref. */
  finish(): string {
    this.#closeTo(1);
    return this.#put(encodeTreeObj(this.#open[0]!));
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
