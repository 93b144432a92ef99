/**
 * An in-memory map from blob digest to objects rowid for a whole content.sqlite, built in
 * one sequential pass over the objects index.
 *
 * Looking each blob up through the index b-tree costs a descent of binary searches over
 * variable-length records per load, and its pages compete with the table's leaves for the
 * page cache: that was most of an offline dump's time. Digests are uniformly random, so
 * their first four bytes are already a good hash: the table keeps only that prefix and
 * the rowid (8 bytes per object, open addressing). A prefix can collide, so callers
 * confirm each candidate row's full digest and ask for the next candidate if it differs.
 */
import { u32 } from './sqlite-file/format.js';

const EMPTY = 0;
const MIN_CAPACITY = 1 << 12;
/**
 * Grow past this load factor. Lookups here nearly always succeed, and a successful
 * linear probe averages (1 + 1/(1-a))/2 slots: 5.5 at 0.9, still far cheaper than the
 * page read that follows. A high bound keeps a store of 7M objects at 64 MiB.
 */
const MAX_LOAD = 0.9;
/** Rowids are kept as u32; a store with larger ones keeps using the index b-tree. */
export const MAX_ROWID = 0xffffffff;

export class DigestTable {
  #keys: Int32Array;
  #rows: Uint32Array;
  #mask: number;
  #count = 0;

  /** `expected`: objects about to be added (sizes the table once instead of growing it). */
  constructor(expected = 0) {
    let cap = MIN_CAPACITY;
    while (cap * MAX_LOAD < expected) cap *= 2;
    this.#keys = new Int32Array(cap);
    this.#rows = new Uint32Array(cap);
    this.#mask = cap - 1;
  }

  get size(): number {
    return this.#count;
  }

  /** Bytes held by the table (for memory accounting in benchmarks). */
  get byteLength(): number {
    return this.#keys.byteLength + this.#rows.byteLength;
  }

  /** The 4-byte prefix of digest[at..] the table is keyed by. */
  static prefix(digest: Uint8Array, at = 0): number {
    return u32(digest, at) | 0;
  }

  /** Adds one object; rowid must be 1..MAX_ROWID. */
  add(prefix: number, rowid: number): void {
    if ((this.#count + 1) > this.#rows.length * MAX_LOAD) this.#grow();
    this.#insert(prefix, rowid);
    this.#count++;
  }

  /** First slot holding `prefix`, or -1. Pass the slot to next() for further candidates. */
  first(prefix: number): number {
    return this.#scan(prefix, prefix & this.#mask);
  }

  /** The candidate after `slot` with the same prefix, or -1. */
  next(prefix: number, slot: number): number {
    return this.#scan(prefix, (slot + 1) & this.#mask);
  }

  rowidAt(slot: number): number {
    return this.#rows[slot]!;
  }

  #scan(prefix: number, from: number): number {
    const keys = this.#keys;
    const rows = this.#rows;
    const mask = this.#mask;
    for (let i = from; ; i = (i + 1) & mask) {
      if (rows[i] === EMPTY) return -1;
      if (keys[i] === prefix) return i;
    }
  }

  #insert(prefix: number, rowid: number): void {
    const rows = this.#rows;
    const mask = this.#mask;
    let i = prefix & mask;
    while (rows[i] !== EMPTY) i = (i + 1) & mask;
    this.#keys[i] = prefix;
    rows[i] = rowid;
  }

  #grow(): void {
    const keys = this.#keys;
    const rows = this.#rows;
    this.#keys = new Int32Array(keys.length * 2);
    this.#rows = new Uint32Array(rows.length * 2);
    this.#mask = this.#rows.length - 1;
    for (let i = 0; i < rows.length; i++) if (rows[i] !== EMPTY) this.#insert(keys[i]!, rows[i]!);
  }
}
