/**
 * The KVS tree a restore builds, in typed arrays: a million keys make no heap objects
 * for the garbage collector to trace. A 1M-key job archive (1.57M entries with their
 * directories) takes about 75 MiB here, digests included; with a Map per directory it
 * took about 200 MiB, the biggest part of that restore's peak memory.
 *
 * Every directory is a number (the root is 0). Every entry, a name in a directory, is a
 * row of parallel arrays: its directory, its name (UTF-16 code units in a name arena),
 * and its value; an open-addressing hash table on (directory, name) finds the row. A
 * value is `id * KINDS + kind`: a subdirectory's number, a leaf in a byte arena (an
 * inline value's bytes, fewer than 72 of them, or a valref's blob digest), a symlink's
 * finished JSON text (rare) in a list, or, once the directory is stored, a dirref (the
 * directory's digest, in a table by directory number). Entries
 * are never removed: a key that replaces a directory with a value leaves the old rows
 * unreachable, and only what the root reaches is stored. Value blobs are stored as they
 * stream by; archives come in any order (ours lists a level at a time, flux-core's
 * depth first), so directories wait for the end.
 *
 * Then directories are encoded and stored bottom-up, one height at a time (every
 * directory whose subdirectories are all stored, in batches), each replaced in its
 * parent by a dirref. The encoding is canonical (UTF-8 byte order of names, jansson's
 * escapes), so the root blobref depends only on the archive.
 */
import { DIGEST_SIZE, formatBlobref, toHex, type HashType } from '../blobref.js';
import { FluxError } from '../errors.js';
import { base64Encode } from '../util/base64.js';
import { compareUtf8, encodeText, jsonString, makeSymlink } from '../walk/treeobj.js';

// value = id * KINDS + kind
const KINDS = 8;
const KIND_DIR = 0;
const KIND_VAL = 1;
const KIND_VALREF = 2;
const KIND_DIRREF = 3;
const KIND_TEXT = 4;

/**
 * Everything grows a page at a time, never by copying into an array twice the size: no
 * moment with old and new copies both resident, no half-empty array. Entry e is row
 * e & ROW_MASK of page e >>> ROW_SHIFT; names and leaf bytes are addressed as
 * page * PAGE_UNITS + offset, a record never crossing a page (a longer name gets a
 * page of its own).
 */
const ROW_SHIFT = 16;
const ROWS = 1 << ROW_SHIFT;
const ROW_MASK = ROWS - 1;
const PAGE_UNITS = 1 << 20;
/**
 * Names are stored a byte per UTF-16 unit when every unit is below 256 (nearly all KVS
 * names: ASCII), else two (aligned, native order); this bit of the length tells which.
 */
const WIDE = 0x80000000;
const LENGTH_MASK = 0x7fffffff;
/** Name addresses are 32-bit. */
const MAX_NAME_PAGES = 2 ** 32 / PAGE_UNITS;
const INITIAL_SLOTS = 1 << 12;
/** Hash slots per entry at most 1/MAX_LOAD: short probe runs. */
const MAX_LOAD = 0.5;
/** Names decoded with one fromCharCode call up to this length (argument count limits). */
const NAME_CHUNK = 4096;

/** `NS::target` names a target in namespace NS (the first `::` splits), as dump writes it. */
export function symlinkText(target: string): string {
  const sep = target.indexOf('::');
  return encodeText(sep < 0 ? makeSymlink(target) : makeSymlink(target.slice(sep + 2), target.slice(0, sep)));
}

/** Encodes and stores a batch of directories; returns their digests, concatenated. */
export type StoreDirs = (blobs: Uint8Array[]) => Uint8Array | Promise<Uint8Array>;

/** Hash of a name in a directory (FNV-1a over the directory number and UTF-16 units). */
function hashEntry(dir: number, name: string): number {
  let h = Math.imul(0x811c9dc5 ^ dir, 0x01000193);
  for (let i = 0; i < name.length; i++) h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
  return (h ^ (h >>> 15)) >>> 0;
}

export class KvsTree {
  readonly #hash: HashType;
  readonly #ds: number;
  // entries: rows of pages
  #entries = 0;
  readonly #dirOf: Uint32Array[] = [];
  readonly #nameAt: Uint32Array[] = [];
  readonly #nameLen: Uint32Array[] = [];
  readonly #value: Float64Array[] = [];
  /** Open addressing on (directory, name): entry index + 1, 0 = free. */
  #slots = new Uint32Array(INITIAL_SLOTS);
  readonly #chars: Uint8Array[] = [];
  #charsUsed = PAGE_UNITS; // in the last page: full, so the first name opens one
  readonly #arena: Uint8Array[] = [];
  #arenaUsed = PAGE_UNITS;
  #dirs = 1; // the root is 0
  readonly #texts: string[] = [];
  /** Stored directories' digests, by directory number (filled at the end). */
  #dirDigests = new Uint8Array(0);
  /** The previous key's directories: component i led to directory #lastDirs[i]. */
  readonly #lastNames: string[] = [];
  readonly #lastDirs: number[] = [];
  #lastDepth = 0;
  readonly #encoder = new TextEncoder();

  constructor(hash: HashType) {
    this.#hash = hash;
    this.#ds = DIGEST_SIZE[hash];
  }

  /** Room for n leaf bytes; their address. */
  #reserve(n: number): number {
    if (this.#arenaUsed + n > PAGE_UNITS) {
      this.#arena.push(new Uint8Array(PAGE_UNITS));
      this.#arenaUsed = 0;
    }
    const at = this.#arenaUsed;
    this.#arenaUsed += n;
    return (this.#arena.length - 1) * PAGE_UNITS + at;
  }

  #arenaBytes(addr: number, n: number): Uint8Array {
    const page = Math.floor(addr / PAGE_UNITS);
    const at = addr - page * PAGE_UNITS;
    return this.#arena[page]!.subarray(at, at + n);
  }

  /** A leaf for an inline value (fewer than 256 bytes: its length fits the first byte). */
  valLeaf(bytes: Uint8Array): number {
    const addr = this.#reserve(1 + bytes.length);
    const out = this.#arenaBytes(addr, 1 + bytes.length);
    out[0] = bytes.length;
    out.set(bytes, 1);
    return addr * KINDS + KIND_VAL;
  }

  /** A leaf for a one-blob valref; `digest` is copied. */
  valrefLeaf(digest: Uint8Array): number {
    const addr = this.#reserve(this.#ds);
    this.#arenaBytes(addr, this.#ds).set(digest);
    return addr * KINDS + KIND_VALREF;
  }

  /** The UTF-16 units of entry e's name (a view into its page). */
  #units(e: number): Uint8Array | Uint16Array {
    const row = e & ROW_MASK;
    const page = e >>> ROW_SHIFT;
    const addr = this.#nameAt[page]![row]!;
    const len = this.#nameLen[page]![row]!;
    const chars = this.#chars[Math.floor(addr / PAGE_UNITS)]!;
    const at = addr % PAGE_UNITS;
    const n = len & LENGTH_MASK;
    return len & WIDE ? new Uint16Array(chars.buffer, chars.byteOffset + at, n) : chars.subarray(at, at + n);
  }

  #sameName(e: number, name: string): boolean {
    const row = e & ROW_MASK;
    const page = e >>> ROW_SHIFT;
    const len = this.#nameLen[page]![row]!;
    if ((len & LENGTH_MASK) !== name.length) return false;
    if (len & WIDE) {
      const units = this.#units(e);
      for (let i = 0; i < name.length; i++) if (units[i] !== name.charCodeAt(i)) return false;
      return true;
    }
    const at = this.#nameAt[page]![row]!;
    const chars = this.#chars[Math.floor(at / PAGE_UNITS)]!;
    const off = at % PAGE_UNITS;
    for (let i = 0; i < name.length; i++) if (chars[off + i] !== name.charCodeAt(i)) return false;
    return true;
  }

  /** The entry for `name` in `dir`, or -1 - (its free slot). */
  #find(dir: number, name: string): number {
    const slots = this.#slots;
    const mask = slots.length - 1;
    for (let s = hashEntry(dir, name) & mask; ; s = (s + 1) & mask) {
      const v = slots[s]!;
      if (v === 0) return -1 - s;
      const e = v - 1;
      if (this.#dirOf[e >>> ROW_SHIFT]![e & ROW_MASK] === dir && this.#sameName(e, name)) return e;
    }
  }

  /** Copy a name into the name pages; its address. `wide`: some unit is above 255. */
  #storeName(name: string, wide: boolean): number {
    const n = name.length;
    const bytes = wide ? 2 * n : n;
    let at = this.#charsUsed + (wide ? this.#charsUsed & 1 : 0);
    if (at + bytes > PAGE_UNITS) {
      // addresses are 32-bit: 4 GiB of names (no archive holds that many) ends here
      if (this.#chars.length >= MAX_NAME_PAGES) throw new FluxError(`restore: more than ${MAX_NAME_PAGES} MiB of key names`, 'E2BIG');
      this.#chars.push(new Uint8Array(Math.max(PAGE_UNITS, bytes)));
      at = 0;
    }
    const chars = this.#chars[this.#chars.length - 1]!;
    const out = wide ? new Uint16Array(chars.buffer, chars.byteOffset + at, n) : chars;
    const base = wide ? 0 : at;
    for (let i = 0; i < n; i++) out[base + i] = name.charCodeAt(i);
    // a name longer than a page fills its own page: the next one starts a new page
    this.#charsUsed = bytes > PAGE_UNITS ? PAGE_UNITS : at + bytes;
    return (this.#chars.length - 1) * PAGE_UNITS + at;
  }

  /** Add an entry at the free slot #find returned (as -1 - slot). */
  #add(free: number, dir: number, name: string, value: number): void {
    const e = this.#entries++;
    const row = e & ROW_MASK;
    if (row === 0) {
      this.#dirOf.push(new Uint32Array(ROWS));
      this.#nameAt.push(new Uint32Array(ROWS));
      this.#nameLen.push(new Uint32Array(ROWS));
      this.#value.push(new Float64Array(ROWS));
    }
    const page = e >>> ROW_SHIFT;
    this.#dirOf[page]![row] = dir;
    let wide = false;
    for (let i = 0; i < name.length && !wide; i++) wide = name.charCodeAt(i) > 0xff;
    this.#nameAt[page]![row] = this.#storeName(name, wide);
    this.#nameLen[page]![row] = wide ? name.length | WIDE : name.length;
    this.#value[page]![row] = value;
    this.#slots[-1 - free] = e + 1;
    if (this.#entries > this.#slots.length * MAX_LOAD) this.#rehash();
  }

  #rehash(): void {
    const slots = new Uint32Array(this.#slots.length * 2);
    const mask = slots.length - 1;
    for (let e = 0; e < this.#entries; e++) {
      const units = this.#units(e);
      let h = Math.imul(0x811c9dc5 ^ this.#dirOf[e >>> ROW_SHIFT]![e & ROW_MASK]!, 0x01000193);
      for (let i = 0; i < units.length; i++) h = Math.imul(h ^ units[i]!, 0x01000193);
      let s = ((h ^ (h >>> 15)) >>> 0) & mask;
      while (slots[s] !== 0) s = (s + 1) & mask;
      slots[s] = e + 1;
    }
    this.#slots = slots;
  }

  #getValue(e: number): number {
    return this.#value[e >>> ROW_SHIFT]![e & ROW_MASK]!;
  }

  #setValue(e: number, v: number): void {
    this.#value[e >>> ROW_SHIFT]![e & ROW_MASK] = v;
  }

  #dirOfEntry(e: number): number {
    return this.#dirOf[e >>> ROW_SHIFT]![e & ROW_MASK]!;
  }

  /**
   * Set the key made of `parts` to a leaf (a number from valLeaf/valrefLeaf) or a
   * symlink text; a later entry for the same key replaces the earlier one, as extracting
   * the archive would. `key` is the joined key, for the error when a component on the
   * way is a value.
   */
  put(parts: readonly string[], leaf: number | string, key: string): void {
    const last = parts.length - 1;
    // consecutive keys mostly share their directory: start where the previous key's path parts
    const lastNames = this.#lastNames;
    let k = 0;
    while (k < last && k < this.#lastDepth && lastNames[k] === parts[k]) k++;
    let dir = k > 0 ? this.#lastDirs[k - 1]! : 0;
    this.#lastDepth = k; // grows below as the path is confirmed (a throw leaves it consistent)
    for (let i = k; i < last; i++) {
      const name = parts[i]!;
      const e = this.#find(dir, name);
      if (e < 0) {
        const sub = this.#dirs++;
        this.#add(e, dir, name, sub * KINDS + KIND_DIR);
        dir = sub;
      } else {
        const v = this.#getValue(e);
        if (v % KINDS !== KIND_DIR) throw new FluxError(`${name} in ${key} is not a directory`, 'ENOTDIR');
        dir = v / KINDS;
      }
      lastNames[i] = name;
      this.#lastDirs[i] = dir;
      this.#lastDepth = i + 1;
    }
    // the leaf below replaces nothing on this path
    const value = typeof leaf === 'number' ? leaf : this.#texts.push(leaf) * KINDS - KINDS + KIND_TEXT;
    const name = parts[last]!;
    const e = this.#find(dir, name);
    if (e < 0) this.#add(e, dir, name, value);
    else this.#setValue(e, value);
  }

  #name(e: number): string {
    const units = this.#units(e);
    const n = units.length;
    if (n <= NAME_CHUNK) return String.fromCharCode.apply(null, units as unknown as number[]);
    let s = '';
    for (let i = 0; i < n; i += NAME_CHUNK) s += String.fromCharCode.apply(null, units.subarray(i, Math.min(n, i + NAME_CHUNK)) as unknown as number[]);
    return s;
  }


  #leafText(value: number): string {
    const kind = value % KINDS;
    const at = (value - kind) / KINDS;
    switch (kind) {
      case KIND_VAL: {
        const bytes = this.#arenaBytes(at, PAGE_UNITS); // to the page's end: the length comes first
        return `{"data":"${base64Encode(bytes.subarray(1, 1 + bytes[0]!))}","type":"val","ver":1}`;
      }
      case KIND_VALREF:
        return `{"data":["${this.#hash}-${toHex(this.#arenaBytes(at, this.#ds))}"],"type":"valref","ver":1}`;
      case KIND_DIRREF:
        return `{"data":["${this.#hash}-${toHex(this.#dirDigests.subarray(at * this.#ds, (at + 1) * this.#ds))}"],"type":"dirref","ver":1}`;
      case KIND_TEXT:
        return this.#texts[at]!;
      default:
        throw new Error('restore: subdirectory stored out of order'); // a bug, not input
    }
  }

  /** Canonical encoding of a directory (its entries `order[from..to)`), subdirectories all stored. */
  #encodeDir(order: Uint32Array, from: number, to: number): Uint8Array {
    const items: { name: string; e: number }[] = [];
    for (let i = from; i < to; i++) items.push({ name: this.#name(order[i]!), e: order[i]! });
    items.sort((a, b) => compareUtf8(a.name, b.name));
    let s = '{"data":{';
    for (let i = 0; i < items.length; i++) {
      s += (i > 0 ? ',' : '') + jsonString(items[i]!.name) + ':' + this.#leafText(this.#getValue(items[i]!.e));
    }
    return this.#encoder.encode(s + '},"type":"dir","ver":1}');
  }

  /**
   * Encode and store every directory the root reaches, bottom-up, at most `batchSize`
   * per store call; returns the root's blobref. The tree is consumed.
   */
  async storeDirectories(store: StoreDirs, batchSize: number): Promise<string> {
    const nEntries = this.#entries;
    const nDirs = this.#dirs;
    // No more lookups: the hash table's memory (at least two words per entry) holds the
    // working arrays below instead of new ones on top of it.
    const pool = this.#slots;
    this.#slots = new Uint32Array(0);
    let pooled = 0;
    const words = (n: number): Uint32Array => {
      if (pooled + n > pool.length) return new Uint32Array(n);
      pooled += n;
      return pool.subarray(pooled - n, pooled).fill(0);
    };
    // entries grouped by directory (counting sort): dir d's are order[start[d]..start[d+1])
    const start = words(nDirs + 1);
    for (let e = 0; e < nEntries; e++) start[this.#dirOfEntry(e) + 1]!++;
    for (let d = 0; d < nDirs; d++) start[d + 1]! += start[d]!;
    const order = words(nEntries);
    const fill = words(nDirs);
    fill.set(start.subarray(0, nDirs));
    for (let e = 0; e < nEntries; e++) order[fill[this.#dirOfEntry(e)]!++] = e;

    // directories the root reaches, parents first, each with the entry naming it
    const reached = words(nDirs);
    const entryOf = words(nDirs);
    let n = 1; // reached[0] = the root
    for (let i = 0; i < n; i++) {
      const d = reached[i]!;
      for (let j = start[d]!; j < start[d + 1]!; j++) {
        const e = order[j]!;
        const v = this.#getValue(e);
        if (v % KINDS === KIND_DIR) {
          const sub = v / KINDS;
          reached[n++] = sub;
          entryOf[sub] = e;
        }
      }
    }
    // height = longest chain of subdirectories below; same-height directories are independent
    const height = fill.fill(0); // reused: the grouping is done
    let maxHeight = 0;
    for (let i = n - 1; i > 0; i--) {
      const d = reached[i]!;
      const p = this.#dirOfEntry(entryOf[d]!);
      if (height[d]! + 1 > height[p]!) height[p] = height[d]! + 1;
    }
    for (let i = 0; i < n; i++) if (height[reached[i]!]! > maxHeight) maxHeight = height[reached[i]!]!;
    const levelStart = new Uint32Array(maxHeight + 2);
    for (let i = 0; i < n; i++) levelStart[height[reached[i]!]! + 1]!++;
    for (let h = 0; h <= maxHeight; h++) levelStart[h + 1]! += levelStart[h]!;
    const byHeight = words(n);
    const next = levelStart.slice(0, maxHeight + 1);
    for (let i = n - 1; i >= 0; i--) byHeight[next[height[reached[i]!]!]!++] = reached[i]!;

    const ds = this.#ds;
    this.#dirDigests = new Uint8Array(nDirs * ds);
    let rootref = '';
    for (let h = 0; h <= maxHeight; h++) {
      for (let from = levelStart[h]!; from < levelStart[h + 1]!; from += batchSize) {
        const ids = byHeight.subarray(from, Math.min(from + batchSize, levelStart[h + 1]!));
        const blobs: Uint8Array[] = new Array(ids.length);
        for (let k = 0; k < ids.length; k++) blobs[k] = this.#encodeDir(order, start[ids[k]!]!, start[ids[k]! + 1]!);
        const digests = await store(blobs);
        for (let k = 0; k < ids.length; k++) {
          const d = ids[k]!;
          const digest = digests.subarray(k * ds, (k + 1) * ds);
          if (d === 0) rootref = formatBlobref(this.#hash, digest);
          else {
            this.#dirDigests.set(digest, d * ds);
            this.#setValue(entryOf[d]!, d * KINDS + KIND_DIRREF);
          }
        }
      }
    }
    return rootref;
  }
}
