/**
 * B-tree walks over a Pager: rowid lookups, ordered scans (both directions) of table
 * b-trees, and first-match lookups in index b-trees. Depth is bounded, so a corrupt file
 * whose child pointers form a cycle fails instead of looping.
 */
import {
  BtreePage,
  Key,
  Malformed,
  PAGE_INTERIOR_INDEX,
  PAGE_INTERIOR_TABLE,
  PAGE_LEAF_INDEX,
  PAGE_LEAF_TABLE,
  cellOffset,
  compareFirstColumn,
  compareNumeric,
  parseBtreePage,
  localPayloadSize,
  readSize,
  readVarint,
  recordColumnCount,
  recordLastInt,
  u32,
  varintLen,
  CLASS_NULL,
} from './format.js';
import type { Pager } from './pager.js';

/** SQLite itself gives up at depth 20; a little slack costs nothing. */
export const MAX_DEPTH = 40;
const CHILD_PTR_SIZE = 4;
const OVERFLOW_PTR_SIZE = 4;
/** Most index leaves read at once by forEachIndexRecord (256 KiB at 4 KiB pages). */
const LEAF_RUN_PAGES = 64;

/** Where a cell's record lives: a cached page (must not leak) or a private buffer. */
export interface Payload {
  buf: Uint8Array;
  off: number;
  len: number;
  owned: boolean;
  /** The table row's rowid (0 for index records): one object shape for every payload. */
  rowid: number | bigint;
}

export type TableCell = Payload;

function cmpRowid(a: number | bigint, b: number | bigint): number {
  if (typeof a === 'number' && typeof b === 'number') return a < b ? -1 : a > b ? 1 : 0;
  return compareNumeric(a, b);
}

export class Btree {
  /** findRowid's answer, reused from call to call (it is on every load's path). */
  private readonly found: Payload = { buf: new Uint8Array(0), off: 0, len: 0, owned: false, rowid: 0 };
  /**
   * The leaf findRowid ended in last, its tree and its first and last rowids. Batches
   * look rows up in rowid order, so the next rowid is mostly in the same leaf: it is
   * searched there, without descending from the root again.
   */
  private leaf: BtreePage | null = null;
  private leafRoot = 0;
  private leafFirst: number | bigint = 0;
  private leafLast: number | bigint = 0;

  /** Depth of the leaves of each table b-tree seen by leafPageOf (by root page). */
  private readonly leafDepths = new Map<number, number>();

  constructor(private readonly pager: Pager) {}

  private tablePage(pgno: number, depth: number): BtreePage {
    if (depth > MAX_DEPTH) throw new Malformed(`b-tree deeper than ${MAX_DEPTH} levels (cycle?)`, pgno);
    const p = this.pager.btreePage(pgno);
    if (p.type !== PAGE_LEAF_TABLE && p.type !== PAGE_INTERIOR_TABLE) {
      throw new Malformed(`expected a table b-tree page, found type ${p.type}`, pgno);
    }
    return p;
  }

  private indexPage(pgno: number, depth: number): BtreePage {
    if (depth > MAX_DEPTH) throw new Malformed(`b-tree deeper than ${MAX_DEPTH} levels (cycle?)`, pgno);
    const p = this.pager.btreePage(pgno);
    if (p.type !== PAGE_LEAF_INDEX && p.type !== PAGE_INTERIOR_INDEX) {
      throw new Malformed(`expected an index b-tree page, found type ${p.type}`, pgno);
    }
    return p;
  }

  /** Payload of the cell whose payload-size varint is at `off`; assembles overflow when it spills. */
  private payloadAt(p: BtreePage, start: number, size: number, tableLeaf: boolean, into?: Payload): Payload {
    const local = localPayloadSize(size, this.pager.usableSize, tableLeaf);
    if (local === size) {
      if (start + size > p.end) throw new Malformed('cell payload runs past the page', p.pgno);
      if (!into) return { buf: p.buf, off: start, len: size, owned: false, rowid: 0 };
      into.buf = p.buf;
      into.off = start;
      into.len = size;
      into.owned = false;
      return into;
    }
    if (start + local + OVERFLOW_PTR_SIZE > p.end) throw new Malformed('cell payload runs past the page', p.pgno);
    // A corrupt size must not make us allocate more than the whole database could hold.
    if (size - local > this.pager.dbSize * (this.pager.usableSize - OVERFLOW_PTR_SIZE)) {
      throw new Malformed(`payload size ${size} exceeds the database`, p.pgno);
    }
    const out = new Uint8Array(size);
    out.set(p.buf.subarray(start, start + local), 0);
    this.pager.readOverflow(u32(p.buf, start + local), out, local, size - local);
    return { buf: out, off: 0, len: size, owned: true, rowid: 0 };
  }

  private leafRowid(p: BtreePage, i: number): number | bigint {
    const off = cellOffset(p, i);
    readSize(p.buf, off, p.end);
    return readVarint(p.buf, off + varintLen, p.end);
  }

  private tableLeafCell(p: BtreePage, i: number, into?: Payload): TableCell {
    const off = cellOffset(p, i);
    const size = readSize(p.buf, off, p.end);
    let o = off + varintLen;
    const rowid = readVarint(p.buf, o, p.end);
    o += varintLen;
    const pl = this.payloadAt(p, o, size, true, into);
    pl.rowid = rowid;
    return pl;
  }

  private interiorKey(p: BtreePage, i: number): number | bigint {
    return readVarint(p.buf, cellOffset(p, i) + CHILD_PTR_SIZE, p.end);
  }

  private childAt(p: BtreePage, i: number): number {
    return i < p.nCells ? u32(p.buf, cellOffset(p, i)) : p.right;
  }

  /**
   * The leaf page that holds (or would hold) `rowid`, found through interior pages only:
   * SQLite's b-trees keep every leaf at one depth, learnt once per tree down its left
   * edge, so the leaf itself is not read.
   */
  leafPageOf(root: number, rowid: number): number {
    let depth = this.leafDepths.get(root);
    if (depth === undefined) {
      depth = 0;
      for (let p = this.tablePage(root, 0); !p.leaf; p = this.tablePage(this.childAt(p, 0), depth)) depth++;
      this.leafDepths.set(root, depth);
    }
    let pgno = root;
    for (let d = 0; d < depth; d++) {
      const p = this.tablePage(pgno, d);
      if (p.leaf) throw new Malformed('table b-tree leaves at different depths', pgno);
      pgno = this.childFor(p, rowid);
    }
    return pgno;
  }

  /** The cell with this rowid, or undefined. The same object is reused by the next call. */
  findRowid(root: number, rowid: number | bigint): TableCell | undefined {
    const last = this.leaf;
    // Rowids between a leaf's first and last can only be in that leaf.
    if (last !== null && last.live && this.leafRoot === root && cmpRowid(rowid, this.leafFirst) >= 0 && cmpRowid(rowid, this.leafLast) <= 0) {
      this.pager.lastPage = last.pgno; // a malformed cell is blamed on this page
      return this.searchLeaf(last, rowid);
    }
    let pgno = root;
    for (let depth = 0; ; depth++) {
      const p = this.tablePage(pgno, depth);
      if (p.leaf) {
        if (p.nCells > 0) {
          this.leaf = p;
          this.leafRoot = root;
          this.leafFirst = this.leafRowid(p, 0);
          this.leafLast = this.leafRowid(p, p.nCells - 1);
        }
        return this.searchLeaf(p, rowid);
      }
      pgno = this.childFor(p, rowid);
    }
  }

  /** The child of interior table page `p` whose subtree holds `rowid`. */
  private childFor(p: BtreePage, rowid: number | bigint): number {
    // First cell whose key >= rowid: its left child holds every rowid <= key.
    let lo = 0;
    let hi = p.nCells;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (cmpRowid(this.interiorKey(p, mid), rowid) < 0) lo = mid + 1;
      else hi = mid;
    }
    return this.childAt(p, lo);
  }

  private searchLeaf(p: BtreePage, rowid: number | bigint): TableCell | undefined {
    let lo = 0;
    let hi = p.nCells;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const c = cmpRowid(this.leafRowid(p, mid), rowid);
      if (c === 0) return this.tableLeafCell(p, mid, this.found);
      if (c < 0) lo = mid + 1;
      else hi = mid;
    }
    return undefined;
  }

  /** Every leaf cell in rowid order (or reverse); rowids must strictly increase. */
  *cells(root: number, reverse: boolean): Generator<TableCell> {
    const pages: BtreePage[] = [this.tablePage(root, 0)];
    const next: number[] = [reverse ? pages[0]!.nCells : 0];
    let last: number | bigint | undefined;
    while (pages.length > 0) {
      const top = pages.length - 1;
      // Between yields the caller may have run other lookups that recycled this page's slot.
      let p = this.revive(pages, top);
      if (p.leaf) {
        for (let k = 0; k < p.nCells; k++) {
          if (!p.live) p = this.revive(pages, top);
          const cell = this.tableLeafCell(p, reverse ? p.nCells - 1 - k : k);
          if (last !== undefined) {
            const c = cmpRowid(cell.rowid, last);
            if (reverse ? c >= 0 : c <= 0) throw new Malformed('rowids out of order', p.pgno);
          }
          last = cell.rowid;
          yield cell;
        }
        pages.pop();
        next.pop();
        continue;
      }
      // Interior: children 0..nCells (nCells is the right-most pointer).
      const j = next[top]!;
      if (reverse ? j < 0 : j > p.nCells) {
        pages.pop();
        next.pop();
        continue;
      }
      next[top] = reverse ? j - 1 : j + 1;
      const child = this.tablePage(this.childAt(p, j), pages.length);
      pages.push(child);
      next.push(reverse ? child.nCells : 0);
    }
  }

  private revive(pages: BtreePage[], i: number): BtreePage {
    const p = pages[i]!;
    if (p.live) return p;
    const fresh = this.tablePage(p.pgno, i);
    pages[i] = fresh;
    return fresh;
  }

  /**
   * Rowid of the first index entry whose first column equals `key`, or undefined.
   * `sign` is -1 for a DESC first column. `unique` allows stopping at an equal interior
   * entry when the index has one column plus the rowid.
   */
  indexFind(root: number, key: Key, sign: number, unique: boolean): number | bigint | undefined {
    return this.indexFindIn(root, key, sign, unique && key.cls !== CLASS_NULL, 0);
  }

  private indexFindIn(
    pgno: number,
    key: Key,
    sign: number,
    unique: boolean,
    depth: number,
  ): number | bigint | undefined {
    let p = this.indexPage(pgno, depth);
    let lo = 0;
    let hi = p.nCells;
    let eq = false;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const c = sign * this.compareIndexCell(p, mid, key);
      if (c < 0) lo = mid + 1;
      else {
        hi = mid;
        eq = c === 0;
      }
    }
    // lo: first cell >= key; eq tells whether it is equal (hi only ever moves onto such cells).
    eq = eq && lo < p.nCells;
    if (p.leaf) return eq ? this.indexRowid(p, lo) : undefined;
    if (eq && unique) {
      const pl = this.indexPayload(p, lo);
      if (recordColumnCount(pl.buf, pl.off, pl.len) === 2) return recordLastInt(pl.buf, pl.off, pl.len);
    }
    const below = this.indexFindIn(this.childAt(p, lo), key, sign, unique, depth + 1);
    if (below !== undefined || !eq) return below;
    // The descent may have recycled this page's cache slot.
    if (!p.live) p = this.indexPage(pgno, depth);
    return this.indexRowid(p, lo);
  }

  /**
   * Every record of an index, in no particular order. Interior pages come through the
   * cache. Leaves, nearly all of a big index and scattered through the file, are read
   * in page order, a run of consecutive pages per read, into a buffer of their own: a
   * whole-index pass then neither evicts the cache nor pays one read per page.
   */
  forEachIndexRecord(root: number, visit: (buf: Uint8Array, off: number, len: number) => void): void {
    const leaves = this.indexLeaves(root, visit);
    leaves.sort();
    const pageSize = this.pager.pageSize;
    const buf = new Uint8Array(Math.min(leaves.length, LEAF_RUN_PAGES) * pageSize);
    for (let i = 0; i < leaves.length; ) {
      let want = 1;
      while (i + want < leaves.length && want < LEAF_RUN_PAGES && leaves[i + want] === leaves[i]! + want) want++;
      const got = this.pager.readPages(leaves[i]!, want, buf);
      for (let k = 0; k < got; k++) {
        const pgno = leaves[i + k]!;
        const p = parseBtreePage(pgno, buf.subarray(k * pageSize, (k + 1) * pageSize), this.pager.usableSize);
        if (p.type !== PAGE_LEAF_INDEX) throw new Malformed(`expected an index leaf page, found type ${p.type}`, pgno);
        this.visitIndexCells(p, visit);
      }
      i += got;
    }
  }

  /**
   * Visits the records of an index's interior pages and returns its leaves' page
   * numbers. A b-tree's leaves all sit at one depth, found down the leftmost path, so
   * leaves are known from their parents without being read.
   */
  private indexLeaves(root: number, visit: (buf: Uint8Array, off: number, len: number) => void): Int32Array {
    let leafDepth = 0;
    for (let p = this.indexPage(root, 0); !p.leaf; ) p = this.indexPage(this.childAt(p, 0), ++leafDepth);
    // A corrupt tree could share a subtree between parents: each page is read once.
    const seen = new Uint8Array(this.pager.dbSize + 1);
    const leaves: number[] = [];
    const stack: { pgno: number; depth: number }[] = [{ pgno: root, depth: 0 }];
    while (stack.length > 0) {
      const { pgno, depth } = stack.pop()!;
      if (pgno < 1 || pgno > this.pager.dbSize) throw new Malformed(`page number ${pgno} out of range 1..${this.pager.dbSize}`);
      if (seen[pgno] === 1) throw new Malformed(`page ${pgno} is referenced twice in one b-tree`, pgno);
      seen[pgno] = 1;
      if (depth === leafDepth) {
        leaves.push(pgno);
        continue;
      }
      const p = this.indexPage(pgno, depth);
      if (p.leaf) throw new Malformed('index b-tree leaves at different depths', pgno);
      this.visitIndexCells(p, visit);
      for (let i = 0; i <= p.nCells; i++) stack.push({ pgno: this.childAt(p, i), depth: depth + 1 });
    }
    return Int32Array.from(leaves);
  }

  private visitIndexCells(p: BtreePage, visit: (buf: Uint8Array, off: number, len: number) => void): void {
    const usable = this.pager.usableSize;
    for (let i = 0; i < p.nCells; i++) {
      let off = cellOffset(p, i);
      if (!p.leaf) off += CHILD_PTR_SIZE;
      const size = readSize(p.buf, off, p.end);
      const start = off + varintLen;
      // Hot path (every record of a digest index): the whole record is on the page.
      if (localPayloadSize(size, usable, false) === size && start + size <= p.end) visit(p.buf, start, size);
      else {
        const pl = this.payloadAt(p, start, size, false);
        visit(pl.buf, pl.off, pl.len);
      }
    }
  }

  private indexPayload(p: BtreePage, i: number): Payload {
    let off = cellOffset(p, i);
    if (!p.leaf) off += CHILD_PTR_SIZE;
    const size = readSize(p.buf, off, p.end);
    return this.payloadAt(p, off + varintLen, size, false);
  }

  private compareIndexCell(p: BtreePage, i: number, key: Key): number {
    let off = cellOffset(p, i);
    if (!p.leaf) off += CHILD_PTR_SIZE;
    const size = readSize(p.buf, off, p.end);
    const start = off + varintLen;
    // Hot path: the whole record is on the page.
    if (localPayloadSize(size, this.pager.usableSize, false) === size) {
      if (start + size > p.end) throw new Malformed('cell payload runs past the page', p.pgno);
      return compareFirstColumn(p.buf, start, size, key);
    }
    const pl = this.payloadAt(p, start, size, false);
    return compareFirstColumn(pl.buf, pl.off, pl.len, key);
  }

  private indexRowid(p: BtreePage, i: number): number | bigint {
    const pl = this.indexPayload(p, i);
    return recordLastInt(pl.buf, pl.off, pl.len);
  }
}
