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
 *
 * Packed form (stores of fewer than 2^24 rows, i.e. up to ~12M keys): one u32 per slot
 * holds the rowid in its low bits and the prefix's low bits above it as a fingerprint
 * (8 bits or more), so the table is 4 bytes per slot instead of 8: 32 MiB instead of
 * 64 at 5M keys, where it was the largest single allocation of a dump. The slot a prefix
 * starts at comes from its high bits, so the fingerprint adds independent bits; a
 * fingerprint match with another prefix (1 in 128 or rarer per probe) is just one more
 * candidate for the caller's digest check.
 *
 * High bits pick the slot because the index hands digests over in runs sorted by
 * digest (one leaf page each): a run then fills neighbouring slots instead of one cache
 * line per object scattered over the table, which made the build twice as slow.
 */
import { u32 } from './sqlite-file/format.js';

const EMPTY = 0;
const MIN_CAPACITY = 1 << 12;
/**
 * Grow past this load factor. Lookups here nearly always succeed, and a successful
 * linear probe averages (1 + 1/(1-a))/2 slots: 5.5 at 0.9, still far cheaper than the
 * page read that follows.
 */
const MAX_LOAD = 0.9;
/** Rowids are kept as u32; a store with larger ones keeps using the index b-tree. */
export const MAX_ROWID = 0xffffffff;
/** Packed slots need at least this many fingerprint bits beside the rowid. */
const MIN_FINGERPRINT_BITS = 8;

export class DigestTable {
  /** Wide form: the prefix of each slot (null when packed). */
  #keys: Int32Array | null;
  /** Wide: the rowid of each slot. Packed: fingerprint << rowBits | rowid. */
  #slots: Uint32Array;
  #mask: number;
  /** A prefix's home slot is prefix >>> #shift (its top log2(capacity) bits). */
  #shift: number;
  #count = 0;
  /** Packed form only: bits of a slot that hold the rowid, and the largest rowid. */
  readonly #rowBits: number;
  readonly #maxRowid: number;

  /**
   * `maxRowid`: the largest rowid that will be added, when known (the table is then
   * sized once, and packed if the rowids leave room for a fingerprint).
   */
  constructor(maxRowid = 0) {
    let cap = MIN_CAPACITY;
    while (cap * MAX_LOAD < maxRowid) cap *= 2;
    const rowBits = maxRowid > 0 ? 32 - Math.clz32(maxRowid) : 32;
    const packed = 32 - rowBits >= MIN_FINGERPRINT_BITS;
    this.#rowBits = packed ? rowBits : 32;
    this.#maxRowid = packed ? maxRowid : MAX_ROWID;
    this.#keys = packed ? null : new Int32Array(cap);
    this.#slots = new Uint32Array(cap);
    this.#mask = cap - 1;
    this.#shift = 32 - Math.log2(cap);
  }

  get size(): number {
    return this.#count;
  }

  /** Bytes held by the table (for memory accounting in benchmarks). */
  get byteLength(): number {
    return (this.#keys?.byteLength ?? 0) + this.#slots.byteLength;
  }

  /** Whether slots are packed (fingerprint and rowid in one u32). */
  get packed(): boolean {
    return this.#keys === null;
  }

  /** The 4-byte prefix of digest[at..] the table is keyed by. */
  static prefix(digest: Uint8Array, at = 0): number {
    return u32(digest, at) | 0;
  }

  /** Whether add() takes this rowid: in range, and room left in a packed table. */
  accepts(rowid: number): boolean {
    if (!(rowid >= 1 && rowid <= this.#maxRowid)) return false;
    return this.#keys !== null || this.#count + 1 <= this.#slots.length * MAX_LOAD;
  }

  /** Adds one object if accepts(rowid); returns whether it did. */
  tryAdd(prefix: number, rowid: number): boolean {
    if (!this.accepts(rowid)) return false;
    if (this.#count + 1 > this.#slots.length * MAX_LOAD) this.#grow();
    this.#insert(prefix, rowid);
    this.#count++;
    return true;
  }

  /** Adds one object; RangeError if the table cannot take its rowid. */
  add(prefix: number, rowid: number): void {
    if (!this.tryAdd(prefix, rowid)) throw new RangeError(`rowid ${rowid} does not fit this digest table`);
  }

  /** First slot that may hold `prefix`, or -1. Pass the slot to next() for further candidates. */
  first(prefix: number): number {
    return this.#scan(prefix, prefix >>> this.#shift);
  }

  /** The candidate after `slot` for the same prefix, or -1. */
  next(prefix: number, slot: number): number {
    return this.#scan(prefix, (slot + 1) & this.#mask);
  }

  rowidAt(slot: number): number {
    const v = this.#slots[slot]!;
    return this.#keys ? v : v & ((1 << this.#rowBits) - 1);
  }

  #scan(prefix: number, from: number): number {
    const slots = this.#slots;
    const mask = this.#mask;
    const keys = this.#keys;
    if (keys) {
      for (let i = from; ; i = (i + 1) & mask) {
        if (slots[i] === EMPTY) return -1;
        if (keys[i] === prefix) return i;
      }
    }
    const shift = this.#rowBits;
    const fp = this.#fingerprint(prefix);
    for (let i = from; ; i = (i + 1) & mask) {
      const v = slots[i]!;
      if (v === EMPTY) return -1;
      if (v >>> shift === fp) return i;
    }
  }

  #insert(prefix: number, rowid: number): void {
    const slots = this.#slots;
    const mask = this.#mask;
    let i = prefix >>> this.#shift;
    while (slots[i] !== EMPTY) i = (i + 1) & mask;
    if (this.#keys) {
      this.#keys[i] = prefix;
      slots[i] = rowid;
    } else slots[i] = ((this.#fingerprint(prefix) << this.#rowBits) | rowid) >>> 0;
  }

  /** Packed form: the prefix's low bits that fit above the rowid. */
  #fingerprint(prefix: number): number {
    return (prefix & (0xffffffff >>> this.#rowBits)) >>> 0;
  }

  /** Wide form only: a packed table is sized for maxRowid entries and never fills. */
  #grow(): void {
    const keys = this.#keys!;
    const slots = this.#slots;
    this.#keys = new Int32Array(keys.length * 2);
    this.#slots = new Uint32Array(slots.length * 2);
    this.#mask = this.#slots.length - 1;
    this.#shift--;
    for (let i = 0; i < slots.length; i++) if (slots[i] !== EMPTY) this.#insert(keys[i]!, slots[i]!);
  }
}
