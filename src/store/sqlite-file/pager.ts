/**
 * Page access for a read-only database: positioned reads (pread) from the main file, or
 * from the WAL for pages it holds newer committed images of, behind a bounded CLOCK cache
 * of parsed b-tree pages. Overflow chains bypass the cache (a multi-MB blob would evict
 * the hot top of every b-tree) and are read in runs of consecutive pages.
 */
import { readFull } from '../../util/fs.js';
import { BtreePage, Malformed, parseBtreePage, u32 } from './format.js';
import type { WalIndex } from './wal.js';

export const DEFAULT_CACHE_PAGES = 2000;
/** Upper bound for one read of consecutive overflow pages. */
const MAX_RUN_BYTES = 1 << 20;
const OVERFLOW_NEXT_SIZE = 4;
/**
 * Cache slots share a few large ArrayBuffers. One ArrayBuffer per page made V8's GC walk
 * tens of thousands of buffers and cost ~50 µs per lookup on a 100 MB database.
 */
const SLOTS_PER_SLAB = 64;
/** Longest read-ahead run (pages) for misses that walk the file forwards. */
const READ_AHEAD_PAGES = 32;
/**
 * Read-ahead runs kept (16 x 128 KiB at 4 KiB pages). A run is read straight into a
 * buffer of this ring and its pages are served from there: copying each page into a
 * cache slot was 2.3 GB of copying per 100,000-job dump, and a run's pages are wanted
 * only while the batch sweeping past them lasts.
 */
const RUN_RING = 16;
/**
 * Pages not asked for that a planned read may span to reach the next page that is: one
 * pread costs about as much as copying ten pages here, so a run that skips a few pages
 * beats two reads (a 4,000-job store's dump made 24,000 reads of 4 KiB before plans).
 */
const PLAN_GAP_PAGES = 8;

/**
 * The page cache is CLOCK (second chance), an LRU approximation whose hits only set a
 * bit: a Map-based LRU re-inserts on every hit, and that churn dominated the hot path.
 * Slots are reused on eviction, so a page object is marked dead first; code that holds a
 * page across other cache calls (scans, index descents) re-fetches it when it died.
 */
export class Pager {
  readonly pageSize: number;
  readonly usableSize: number;
  /** Pages in the database (from the last WAL commit, else the header or file size). */
  readonly dbSize: number;
  private readonly slotOf: PageSlots;
  /** Parsed page of each slot: the CLOCK slots 0..cacheLimit-1, then the read-ahead ring's. */
  private readonly slots: (BtreePage | undefined)[];
  /** CLOCK slots handed out so far (they grow up to cacheLimit, then are evicted). */
  private clockUsed = 0;
  private readonly slabs: Uint8Array[] = [];
  private readonly ref: Uint8Array;
  private readonly cacheLimit: number;
  private hand = 0;
  /** Page held by each slot (0: none); slots[] has the parsed form once used. */
  private readonly slotPg: Int32Array;
  private lastMiss = -1;
  private seqRun = 1;
  private readonly scratch: Uint8Array;
  /** The read-ahead ring: page k of run r is slot cacheLimit + r * READ_AHEAD_PAGES + k. */
  private readonly runBufs: Uint8Array[] = [];
  private runNext = 0;
  /** Last page loaded, so a Malformed without a page number can still name one. */
  lastPage = 0;
  /** Reads of the main file so far (tests and benches). */
  reads = 0;
  /** Pages the caller is about to want, ascending (see plan()); plan[0..planLen). */
  private planPages: Int32Array = new Int32Array(0);
  private planLen = 0;

  constructor(
    private readonly fd: number,
    private readonly fileSize: number,
    pageSize: number,
    usableSize: number,
    dbSize: number,
    private readonly wal: { fd: number; index: WalIndex } | null,
    cachePages: number,
  ) {
    this.pageSize = pageSize;
    this.usableSize = usableSize;
    this.dbSize = dbSize;
    this.slotOf = new PageSlots(dbSize);
    this.cacheLimit = Math.max(1, Math.floor(cachePages));
    this.ref = new Uint8Array(this.cacheLimit);
    const total = this.cacheLimit + RUN_RING * READ_AHEAD_PAGES;
    this.slots = new Array<BtreePage | undefined>(total).fill(undefined);
    this.slotPg = new Int32Array(total);
    this.scratch = new Uint8Array(Math.max(pageSize, Math.floor(MAX_RUN_BYTES / pageSize) * pageSize));
  }

  /** A page that must be missing from both the WAL and the main file to be truncated. */
  firstMissingPage(): number {
    const inFile = Math.floor(this.fileSize / this.pageSize);
    for (let p = inFile + 1; p <= this.dbSize; p++) if (!this.wal?.index.frames.has(p)) return p;
    return 0;
  }

  /** A b-tree page, parsed and validated once, then served from the cache. */
  btreePage(pgno: number): BtreePage {
    const hit = this.slotOf.get(pgno);
    if (hit >= 0) {
      if (hit < this.cacheLimit) this.ref[hit] = 1;
      this.lastPage = pgno;
      return this.slots[hit] ?? this.parseSlot(hit, pgno);
    }
    const run = this.planned(pgno) || this.readAhead(pgno);
    const slot = run > 1 ? this.fillRun(pgno, run) : this.fillSlot(pgno);
    if (slot < this.cacheLimit) this.ref[slot] = 1;
    return this.parseSlot(slot, pgno);
  }

  /**
   * Announces the pages about to be wanted (ascending, no repeats): a miss on one of them
   * reads, in the same pread, the planned pages after it that lie close enough, skipping
   * short gaps. A batch of rows sorted by rowid thus costs one read per cluster of leaves
   * rather than one per leaf. The plan holds until the next plan() (an empty one ends it).
   */
  plan(pages: Int32Array, count: number): void {
    this.planPages = pages;
    this.planLen = count;
  }

  /** The run to read for a miss on a planned page (0: `pgno` is not planned). */
  private planned(pgno: number): number {
    const plan = this.planPages;
    let lo = 0;
    let hi = this.planLen;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (plan[mid]! < pgno) lo = mid + 1;
      else hi = mid;
    }
    if (lo === this.planLen || plan[lo] !== pgno) return 0;
    let j = lo;
    while (j + 1 < this.planLen && plan[j + 1]! - plan[j]! <= PLAN_GAP_PAGES && plan[j + 1]! - pgno < READ_AHEAD_PAGES) j++;
    return Math.min(plan[j]! - pgno + 1, this.dbSize - pgno + 1);
  }

  /**
   * Pages to read at once for a miss on `pgno`: 1, or a growing run while misses walk the
   * file forwards (a batch of rows fetched in rowid order sweeps the table), so a sweep
   * costs one read per run instead of one per page.
   */
  private readAhead(pgno: number): number {
    this.seqRun = pgno === this.lastMiss + 1 ? Math.min(this.seqRun * 2, READ_AHEAD_PAGES) : 1;
    this.lastMiss = pgno;
    return this.seqRun > 1 && pgno >= 1 && pgno <= this.dbSize ? this.seqRun : 1;
  }

  /** Reads one page into a free slot. */
  private fillSlot(pgno: number): number {
    const slot = this.freeSlot();
    this.readPage(pgno, this.slotBytes(slot), 0);
    this.place(slot, pgno);
    return slot;
  }

  /**
   * Reads pages pgno.. in one pread into the oldest buffer of the read-ahead ring, whose
   * previous pages leave the cache; returns pgno's slot. Pages cached elsewhere already
   * keep their slot.
   */
  private fillRun(pgno: number, run: number): number {
    const r = this.runNext;
    this.runNext = (r + 1) % RUN_RING;
    const base = this.cacheLimit + r * READ_AHEAD_PAGES;
    for (let k = 0; k < READ_AHEAD_PAGES; k++) this.drop(base + k);
    const buf = (this.runBufs[r] ??= new Uint8Array(READ_AHEAD_PAGES * this.pageSize));
    const n = this.readPages(pgno, run, buf);
    for (let k = 0; k < n; k++) {
      if (k === 0 || !this.slotOf.has(pgno + k)) this.place(base + k, pgno + k);
    }
    this.lastMiss = pgno + n - 1;
    return base;
  }

  private slotBytes(slot: number): Uint8Array {
    if (slot >= this.cacheLimit) {
      const j = slot - this.cacheLimit;
      const at = (j % READ_AHEAD_PAGES) * this.pageSize;
      return this.runBufs[Math.floor(j / READ_AHEAD_PAGES)]!.subarray(at, at + this.pageSize);
    }
    const slab = this.slabs[Math.floor(slot / SLOTS_PER_SLAB)]!;
    const at = (slot % SLOTS_PER_SLAB) * this.pageSize;
    return slab.subarray(at, at + this.pageSize);
  }

  /** Records that `slot` holds page `pgno`'s bytes, not yet parsed (read-ahead pages may never be used). */
  private place(slot: number, pgno: number): void {
    this.slotOf.set(pgno, slot);
    this.slotPg[slot] = pgno;
    if (slot < this.cacheLimit) this.ref[slot] = 0;
  }

  private parseSlot(slot: number, pgno: number): BtreePage {
    let page: BtreePage;
    try {
      page = parseBtreePage(pgno, this.slotBytes(slot), this.usableSize);
    } catch (e) {
      this.drop(slot);
      throw e;
    }
    this.slots[slot] = page;
    // Only pages that parsed count: a bad child pointer is then blamed on its parent.
    this.lastPage = pgno;
    return page;
  }

  private drop(slot: number): void {
    const old = this.slots[slot];
    if (old !== undefined) old.live = false;
    const pg = this.slotPg[slot]!;
    if (pg !== 0) this.slotOf.delete(pg);
    this.slotPg[slot] = 0;
    this.slots[slot] = undefined;
  }

  /** An unused slot, growing up to the limit, then evicting by CLOCK. */
  private freeSlot(): number {
    if (this.clockUsed < this.cacheLimit) {
      const slot = this.clockUsed++;
      if (slot % SLOTS_PER_SLAB === 0) {
        const n = Math.min(SLOTS_PER_SLAB, this.cacheLimit - slot);
        this.slabs.push(new Uint8Array(n * this.pageSize));
      }
      return slot;
    }
    for (;;) {
      const s = this.hand;
      this.hand = s + 1 === this.cacheLimit ? 0 : s + 1;
      if (this.ref[s] === 1) {
        this.ref[s] = 0;
        continue;
      }
      this.drop(s);
      return s;
    }
  }

  /** Reads page `pgno` into dst[at, at+pageSize). */
  readPage(pgno: number, dst: Uint8Array, at: number): void {
    if (pgno < 1 || pgno > this.dbSize) {
      throw new Malformed(`page number ${pgno} out of range 1..${this.dbSize}`, this.lastPage);
    }
    const walOff = this.wal?.index.frames.get(pgno);
    const [fd, pos] = walOff !== undefined ? [this.wal!.fd, walOff] : [this.fd, (pgno - 1) * this.pageSize];
    const got = readFull(fd, dst, at, this.pageSize, pos);
    if (fd === this.fd) this.reads++;
    if (got < this.pageSize) throw new Malformed(`page ${pgno} is past the end of the file (truncated)`, pgno);
  }

  /**
   * Copies `len` payload bytes that spill into the overflow chain starting at `first`
   * into dst[at, at+len). The chain length is implied by len, so a cyclic chain cannot
   * loop: it only yields wrong bytes or an out-of-range page.
   */
  readOverflow(first: number, dst: Uint8Array, at: number, len: number): void {
    const content = this.usableSize - OVERFLOW_NEXT_SIZE;
    const maxRun = Math.floor(this.scratch.length / this.pageSize);
    let pgno = first;
    let remaining = len;
    // Start small, grow while the chain proves to be laid out sequentially.
    let run = 1;
    while (remaining > 0) {
      if (pgno < 1 || pgno > this.dbSize) throw new Malformed(`overflow page ${pgno} out of range`, this.lastPage);
      this.lastPage = pgno;
      const want = Math.min(run, Math.ceil(remaining / content), maxRun);
      const n = this.readPages(pgno, want, this.scratch);
      let k = 0;
      let next = 0;
      for (; k < n && remaining > 0; k++) {
        const base = k * this.pageSize;
        next = u32(this.scratch, base);
        const take = remaining < content ? remaining : content;
        dst.set(this.scratch.subarray(base + OVERFLOW_NEXT_SIZE, base + OVERFLOW_NEXT_SIZE + take), at);
        at += take;
        remaining -= take;
        if (remaining > 0 && next !== pgno + k + 1) {
          k++;
          break;
        }
      }
      if (remaining > 0 && next === 0) throw new Malformed('overflow chain ends early', pgno + k - 1);
      run = next === pgno + k ? Math.min(run * 4, maxRun) : 1;
      pgno = next;
    }
  }

  /**
   * Reads up to `want` consecutive pages from `pgno` into dst (at least one, at most what
   * dst holds) in one pread, stopping before a page the WAL has a newer image of (that
   * one is read alone); returns how many. Bypasses the cache.
   */
  readPages(pgno: number, want: number, dst: Uint8Array): number {
    if (pgno < 1 || pgno > this.dbSize) {
      throw new Malformed(`page number ${pgno} out of range 1..${this.dbSize}`, this.lastPage);
    }
    const frames = this.wal?.index.frames;
    if (frames?.has(pgno)) {
      this.readPage(pgno, dst, 0);
      return 1;
    }
    const most = Math.max(1, Math.min(want, Math.floor(dst.length / this.pageSize)));
    let n = 1;
    while (n < most && pgno + n <= this.dbSize && !frames?.has(pgno + n)) n++;
    const bytes = n * this.pageSize;
    const got = readFull(this.fd, dst, 0, bytes, (pgno - 1) * this.pageSize);
    this.reads++;
    const whole = Math.floor(got / this.pageSize);
    if (whole === 0) throw new Malformed(`page ${pgno} is past the end of the file (truncated)`, pgno);
    return whole;
  }

  clearCache(): void {
    for (const p of this.slots) if (p !== undefined) p.live = false;
    this.slots.fill(undefined);
    this.clockUsed = 0;
    this.slabs.length = 0;
    this.slotPg.fill(0);
    this.slotOf.clear();
    this.ref.fill(0);
    this.hand = 0;
    this.runBufs.length = 0;
    this.runNext = 0;
  }
}

/** Largest database (in pages) whose page -> slot map is a typed array (32 MiB). */
const DENSE_PAGES = 1 << 23;

/**
 * Which cache slot holds each page (-1: none). A typed array indexed by page number for
 * databases up to DENSE_PAGES, a Map beyond: a sweep caches and evicts every page of
 * the table, and Map inserts and deletes were a tenth of the load thread's time.
 */
class PageSlots {
  readonly #dense: Int32Array | null;
  readonly #sparse = new Map<number, number>();

  constructor(dbSize: number) {
    this.#dense = dbSize <= DENSE_PAGES ? new Int32Array(dbSize + 1).fill(-1) : null;
  }

  get(pgno: number): number {
    const d = this.#dense;
    if (d) return pgno >= 0 && pgno < d.length ? d[pgno]! : -1;
    return this.#sparse.get(pgno) ?? -1;
  }

  has(pgno: number): boolean {
    return this.get(pgno) >= 0;
  }

  set(pgno: number, slot: number): void {
    if (this.#dense) this.#dense[pgno] = slot;
    else this.#sparse.set(pgno, slot);
  }

  delete(pgno: number): void {
    if (this.#dense) this.#dense[pgno] = -1;
    else this.#sparse.delete(pgno);
  }

  clear(): void {
    this.#dense?.fill(-1);
    this.#sparse.clear();
  }
}
