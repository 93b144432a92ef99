/**
 * Walk a KVS tree from its root dirref and produce archive entries in the order
 * flux-core's dump produces them: one FIFO queue of blob loads (dirref and valref blobs
 * alike) with at most `maxreqs` in flight; inline values and symlinks are emitted as soon
 * as their directory is read; a valref is emitted once all of its blobs are in.
 *
 * Results are consumed in queue order, so the archive never depends on completion order
 * or on --maxreqs. Every loaded blob is checked against its blobref before use.
 *
 * The queue is a ByteFifo of records (kind, key, raw digests), not JS objects: a
 * breadth-first walk of millions of keys holds a whole tree level at once, and that must
 * neither fill the heap nor keep the garbage collector busy. Offline stores that can load
 * many blobs at once (content.sqlite) get the queue in batches, so they may read in their
 * own physical order; live stores get single loads with --maxreqs in flight.
 */
import { DIGEST_SIZE, digestInto, formatBlobref, type HashType } from '../blobref.js';
import { CorruptBlobError, FluxError, MissingBlobError } from '../errors.js';
import type { ContentStore } from '../store/source.js';
import { concatBytes, encodeUtf8Into, latin1String } from '../util/bytes.js';
import type { ArchiveEntry, EntryMeta } from './entry.js';
import { decodeBase64Bytes, DirScan, scanDir, SCAN_DIRREF, SCAN_VAL } from './dirscan.js';
import { ByteFifo, type FifoOptions } from './fifo.js';
import { decodeTreeObj, TreeObjError, valBytes, type DirObj, type TreeObj } from './treeobj.js';

/** Checks loaded blobs against the digests they were loaded by. */
export interface BlobChecker {
  /**
   * ok[i] = 1 when blobs[i] hashes to digests[i*size, (i+1)*size) (size: the store's
   * digest size). One call per batch (WASM batch hashing).
   */
  check(digests: Uint8Array, blobs: readonly Uint8Array[]): Uint8Array;
  /** The blobref a blob really has (for error messages). */
  blobrefOf(blob: Uint8Array): string;
}

export interface WalkOptions {
  maxreqs: number;
  ignoreFailedRead: boolean;
  meta: EntryMeta;
  /** Omit to skip verification (benchmarks measure its cost). */
  checker?: BlobChecker;
  /** Called with a one-line message for each key or subtree skipped under --ignore-failed-read. */
  onSkip?: (message: string) => void;
  /** Queue tuning: where it spills when it outgrows memory (default: the OS temp directory). */
  queue?: FifoOptions;
}

type LoadDigests = (digests: Uint8Array, count: number) => (Uint8Array | Error)[];

const KIND_DIR = 1;
const KIND_VAL = 2;
/** kind u8, digest size u8, blob count u32, key length u32. */
const RECORD_HEADER = 10;

/** One queue record, decoded: a directory to read or a value to assemble. */
interface Job {
  kind: number;
  path: string;
  /**
   * Raw digests, `count` of `size` bytes each, from offset `at`: a batch's jobs share
   * the batch's packed digests (one buffer per batch, not one per job: the young
   * generation has to copy whatever is still alive when it fills).
   */
  digests: Uint8Array;
  at: number;
  size: number;
  count: number;
}

const BATCH_ENTRIES = 512;
const BATCH_BYTES = 4 << 20;
/**
 * Blobs per batch for stores that load in batches (offline content.sqlite): big enough
 * that sorting a batch by row turns random page reads into a sweep, small enough that its
 * blobs stay a few MiB.
 */
const SYNC_BATCH = 4096;
/**
 * Smaller batches when a load thread sorts and reads them: two are in flight, and their
 * blobs are what the main thread's young generation has to keep alive (measured: 15%
 * less peak RSS than 4,096, same CPU).
 */
const THREAD_BATCH = 1024;
/** Settled live loads verified together. */
const VERIFY_BATCH = 256;

function putU32(b: Uint8Array, at: number, v: number): void {
  b[at] = v >>> 24;
  b[at + 1] = v >>> 16;
  b[at + 2] = v >>> 8;
  b[at + 3] = v;
}

function getU32(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

/**
 * ASCII keys decode faster as latin1 than through TextDecoder and a view.
 * (Not `s += char`: that builds a chain of cons strings, ~32 bytes of heap per
 * character, and it was 40% of everything the walk allocated.)
 */
function readUtf8(b: Uint8Array, at: number, len: number): string {
  if (len > 256) return utf8Decoder.decode(b.subarray(at, at + len));
  for (let i = at; i < at + len; i++) if (b[i]! >= 0x80) return utf8Decoder.decode(b.subarray(at, at + len));
  return latin1String(b, at, at + len);
}

const utf8Decoder = new TextDecoder();

function display(path: string): string {
  return path === '' ? '.' : path;
}

function join(dir: string, name: string): string {
  return dir === '' ? name : `${dir}/${name}`;
}

function hashOfSize(size: number): HashType {
  return size === DIGEST_SIZE.sha256 ? 'sha256' : 'sha1';
}

/** blobref i of a job, for messages and live loads. */
function refOf(job: Job, i: number): string {
  const from = job.at + i * job.size;
  return formatBlobref(hashOfSize(job.size), job.digests.subarray(from, from + job.size));
}

export class Walker {
  readonly #store: ContentStore;
  readonly #opts: WalkOptions;
  readonly #queue: ByteFifo;
  readonly #digestSize: number;
  #out: ArchiveEntry[] = [];
  #outBytes = 0;
  /** Entry positions of the directory being read by the fast path (reused). */
  readonly #scan = new DirScan();
  /** The UTF-8 key of the directory being read by the fast path. */
  #dirKey = new Uint8Array(1024);
  /** Keys emitted so far. */
  count = 0;

  constructor(store: ContentStore, opts: WalkOptions) {
    if (!(opts.maxreqs >= 1)) throw new FluxError(`invalid maxreqs ${opts.maxreqs}`);
    this.#store = store;
    this.#opts = opts;
    this.#digestSize = DIGEST_SIZE[store.hashType];
    this.#queue = new ByteFifo(opts.queue);
  }

  /** Entries in archive order, in batches. */
  async *walk(rootref: string): AsyncGenerator<ArchiveEntry[]> {
    try {
      this.#enqueue(KIND_DIR, '', [rootref]);
      const threaded = this.#store.loadDigests?.bind(this.#store);
      const loadDigests = threaded ? undefined : this.#syncLoader();
      const batches = threaded ? this.#pipelinedLoads(threaded) : loadDigests ? this.#batchedLoads(loadDigests) : this.#liveLoads();
      for await (const _ of batches) {
        if (this.#batchReady()) yield this.#take();
      }
      if (this.#out.length > 0) yield this.#take();
    } finally {
      this.#queue.close();
    }
  }

  #batchReady(): boolean {
    return this.#out.length >= BATCH_ENTRIES || this.#outBytes >= BATCH_BYTES;
  }

  #take(): ArchiveEntry[] {
    const out = this.#out;
    this.#out = [];
    this.#outBytes = 0;
    return out;
  }

  // ---- the queue ---------------------------------------------------------------------

  /** Queues a job; refs that are not blobrefs of a known hash are refused by the decoder before. */
  #enqueue(kind: number, path: string, refs: readonly string[]): void {
    const hash: HashType = refs.length > 0 && refs[0]!.charCodeAt(3) === 50 /* "sha2..." */ ? 'sha256' : 'sha1';
    const size = DIGEST_SIZE[hash];
    // Room for the worst case (3 UTF-8 bytes per UTF-16 unit), trimmed once the key is written.
    const max = RECORD_HEADER + 3 * path.length + refs.length * size;
    const at = this.#queue.reserve(max);
    const buf = this.#queue.tail;
    const keyLen = encodeUtf8Into(path, buf, at + RECORD_HEADER);
    let p = at + RECORD_HEADER + keyLen;
    for (let r = 0; r < refs.length; r++) {
      const ref = refs[r]!;
      if (!digestInto(ref, hash, buf, p)) {
        throw new FluxError(`${display(path)}: invalid blobref ${ref} (a tree mixes hash types)`, 'EPROTO');
      }
      p += size;
    }
    buf[at] = kind;
    buf[at + 1] = size;
    putU32(buf, at + 2, refs.length);
    putU32(buf, at + 6, keyLen);
    this.#queue.trim(max - (p - at));
  }

  /** The next job, its digests copied out of the queue. */
  #dequeue(): Job {
    const at = this.#queue.peek();
    const buf = this.#queue.head;
    const kind = buf[at]!;
    const size = buf[at + 1]!;
    const count = getU32(buf, at + 2);
    const keyLen = getU32(buf, at + 6);
    const keyAt = at + RECORD_HEADER;
    const path = readUtf8(buf, keyAt, keyLen);
    const digests = buf.slice(keyAt + keyLen, keyAt + keyLen + count * size);
    this.#queue.shift(RECORD_HEADER + keyLen + count * size);
    return { kind, path, digests, at: 0, size, count };
  }

  // ---- loading -----------------------------------------------------------------------

  /**
   * The next jobs off the queue, up to `max` loads (more if the last job has many
   * blobs), their digests copied straight from the queue into one packed buffer that
   * the jobs then point into.
   */
  #takeBatch(max = SYNC_BATCH): { jobs: Job[]; digests: Uint8Array; loads: number } {
    const size = this.#digestSize;
    const jobs: Job[] = [];
    let digests = new Uint8Array(max * size);
    let loads = 0;
    while (this.#queue.length > 0 && loads < max) {
      const at = this.#queue.peek();
      const buf = this.#queue.head;
      const jobSize = buf[at + 1]!;
      const count = getU32(buf, at + 2);
      const keyLen = getU32(buf, at + 6);
      const keyAt = at + RECORD_HEADER;
      const from = keyAt + keyLen;
      if ((loads + count) * size > digests.length) {
        const bigger = new Uint8Array(Math.max(2 * digests.length, (loads + count) * size));
        bigger.set(digests);
        digests = bigger;
      }
      const path = readUtf8(buf, keyAt, keyLen);
      let job: Job;
      if (jobSize === size) {
        job = { kind: buf[at]!, path, digests, at: loads * size, size, count };
        for (let k = 0, n = count * size; k < n; k++) digests[job.at + k] = buf[from + k]!; // no view per job
      } else {
        // A blobref of another hash is looked up as all zeros (missing either way); the
        // job keeps its own digests for messages.
        job = { kind: buf[at]!, path, digests: buf.slice(from, from + count * jobSize), at: 0, size: jobSize, count };
      }
      this.#queue.shift(RECORD_HEADER + keyLen + count * jobSize);
      jobs.push(job);
      loads += count;
    }
    for (const job of jobs) if (job.size === size) job.digests = digests;
    return { jobs, digests: digests.subarray(0, loads * size), loads };
  }

  #completeBatch(jobs: readonly Job[], results: readonly (Uint8Array | Error)[]): void {
    let k = 0;
    for (const job of jobs) {
      this.#complete(job, results, k);
      k += job.count;
    }
  }

  /**
   * Offline: jobs taken from the queue a batch at a time, their blobs loaded with one
   * store call and verified with one checker call, then completed in queue order.
   */
  async *#batchedLoads(loadDigests: LoadDigests): AsyncGenerator<void> {
    while (this.#queue.length > 0) {
      const { jobs, digests, loads } = this.#takeBatch();
      const results = loadDigests(digests, loads);
      this.#verify(digests, results);
      this.#completeBatch(jobs, results);
      yield;
    }
  }

  /**
   * Offline on a load thread: the next batch is already loading there while this one is
   * verified and completed. Taking it early changes no order: jobs that this
   * batch queues go behind it either way.
   */
  async *#pipelinedLoads(load: NonNullable<ContentStore['loadDigests']>): AsyncGenerator<void> {
    const start = () => {
      const batch = this.#takeBatch(THREAD_BATCH);
      // Verified here, not on the load thread: reading and LZ4 keep that thread busier
      // than the walk keeps this one (profiled: 7.3 s vs 4.0 s per 100,000 jobs).
      const results = load(batch.digests, batch.loads, false);
      results.catch(() => {}); // awaited in turn; never an unhandled rejection meanwhile
      return { jobs: batch.jobs, digests: batch.digests, results };
    };
    let current = this.#queue.length > 0 ? start() : null;
    while (current) {
      const next = this.#queue.length > 0 ? start() : null;
      const results = await current.results;
      this.#verify(current.digests, results);
      this.#completeBatch(current.jobs, results);
      yield;
      current = next ?? (this.#queue.length > 0 ? start() : null);
    }
  }

  /** A store's batch loader; stores that only load one blob synchronously get a loop. */
  #syncLoader(): LoadDigests | undefined {
    const store = this.#store;
    if (store.loadDigestsSync) return store.loadDigestsSync.bind(store);
    const loadSync = store.loadSync?.bind(store);
    if (!loadSync) return undefined;
    const size = this.#digestSize;
    return (digests, count) => {
      const out: (Uint8Array | Error)[] = [];
      for (let i = 0; i < count; i++) {
        try {
          out.push(loadSync(formatBlobref(store.hashType, digests.subarray(i * size, (i + 1) * size))));
        } catch (err) {
          out.push(err instanceof Error ? err : new Error(String(err)));
        }
      }
      return out;
    };
  }

  /**
   * Live: single loads, at most maxreqs in flight, FIFO across jobs (a valref's blobs are
   * consecutive loads); jobs complete in queue order as their loads settle.
   *
   * Each settled load issues the next queued one straight from its callback, so requests
   * go out as soon as answers come in, whether or not the walk is running right now (it
   * may be handling a batch, or suspended while the archive is written). The requests
   * leave in the same FIFO order either way; only jobs that handling queues wait for it.
   * Settled loads the walk has not handled yet are capped (see `window`) so memory stays
   * bounded by --maxreqs when the archive side is the slow one.
   */
  async *#liveLoads(): AsyncGenerator<void> {
    interface Load {
      job: Job;
      index: number;
      settled: boolean;
      result?: Uint8Array | Error;
      promise: Promise<void>;
    }
    const maxreqs = this.#opts.maxreqs;
    const size = this.#digestSize;
    /** Loads issued and not yet handled, in queue order, from `head`: in flight or settled. */
    const window: Load[] = [];
    let head = 0;
    /** At most this many issued and not yet handled: one window in flight, one settled. */
    const windowMax = 2 * maxreqs;
    let inflight = 0;
    let stopped = false;
    /** What fill() threw inside a settle callback (a queue read failing), for the walk to throw. */
    let fillError: unknown;
    let job: Job | undefined;
    let next = 0;
    const SETTLED = Promise.resolve();
    const settle = (load: Load, result: Uint8Array | Error): void => {
      load.result = result;
      load.settled = true;
      inflight--;
      if (stopped || fillError !== undefined) return;
      try {
        fill();
      } catch (err) {
        fillError = err ?? new Error('queue read failed');
      }
    };
    const issue = (j: Job, index: number): Load => {
      const load: Load = { job: j, index, settled: false, promise: SETTLED };
      inflight++;
      load.promise = this.#store.load(refOf(j, index)).then(
        (blob) => settle(load, blob),
        (err: unknown) => settle(load, err instanceof Error ? err : new Error(String(err))),
      );
      return load;
    };
    /** Issue loads off the queue while fewer than maxreqs are in flight and the window has room. */
    const fill = (): void => {
      while (inflight < maxreqs && window.length - head < windowMax) {
        if (job === undefined || next === job.count) {
          if (this.#queue.length === 0) return;
          job = this.#dequeue();
          next = 0;
          if (job.count === 0) {
            // Nothing to load, but it completes in its turn: a settled placeholder.
            window.push({ job, index: 0, settled: true, promise: SETTLED });
            job = undefined;
            continue;
          }
        }
        window.push(issue(job, next++));
      }
    };
    // Jobs whose loads all settled but that wait for earlier jobs, and their results.
    let pendingJob: Job | undefined;
    let pendingResults: (Uint8Array | Error)[] = [];
    const done: Load[] = [];
    try {
      fill();
      while (head < window.length) {
        await window[head]!.promise;
        if (fillError !== undefined) throw fillError;
        while (head < window.length && window[head]!.settled && done.length < VERIFY_BATCH) done.push(window[head++]!);
        if (head > 1024 && 2 * head > window.length) {
          window.splice(0, head);
          head = 0;
        }
        // Room freed in the window: send before handling (a broker client writes once
        // per turn, so give it that turn now), and the latency runs while we work.
        fill();
        await null;
        const loads = done.filter((l) => l.job.count > 0);
        const results = loads.map((l) => l.result!);
        const digests = new Uint8Array(loads.length * size);
        for (let i = 0; i < loads.length; i++) {
          const l = loads[i]!;
          const from = l.job.at + l.index * l.job.size;
          if (l.job.size === size) digests.set(l.job.digests.subarray(from, from + size), i * size);
        }
        this.#verify(digests, results);
        let k = 0;
        for (const l of done) {
          if (l.job.count === 0) {
            this.#complete(l.job, [], 0);
            continue;
          }
          if (pendingJob !== l.job) {
            pendingJob = l.job;
            pendingResults = [];
          }
          pendingResults.push(results[k++]!);
          if (pendingResults.length === l.job.count) {
            this.#complete(l.job, pendingResults, 0);
            pendingJob = undefined;
          }
        }
        done.length = 0;
        // Jobs the handled directories queued.
        fill();
        // A generator round trip per settled response would cost more than the response:
        // hand entries on only when a batch of them is ready.
        if (this.#batchReady()) yield;
      }
      if (fillError !== undefined) throw fillError;
    } finally {
      stopped = true;
    }
  }

  /** Hash a batch; a blob that does not match its digest becomes a CorruptBlobError. */
  #verify(digests: Uint8Array, results: (Uint8Array | Error)[]): void {
    const checker = this.#opts.checker;
    if (!checker) return;
    const size = this.#digestSize;
    const loaded: Uint8Array[] = [];
    const at: number[] = [];
    let allLoaded = true;
    for (let i = 0; i < results.length; i++) {
      const r = results[i]!;
      if (r instanceof Uint8Array) {
        loaded.push(r);
        at.push(i);
      } else allLoaded = false;
    }
    if (loaded.length === 0) return;
    let expected = digests.subarray(0, results.length * size);
    if (!allLoaded) {
      expected = new Uint8Array(loaded.length * size);
      at.forEach((i, j) => expected.set(digests.subarray(i * size, (i + 1) * size), j * size));
    }
    const ok = checker.check(expected, loaded);
    for (let j = 0; j < loaded.length; j++) {
      if (ok[j]) continue;
      results[at[j]!] = new CorruptBlobError(`content does not match, it hashes to ${checker.blobrefOf(loaded[j]!)}`);
    }
  }

  // ---- completing jobs ---------------------------------------------------------------

  /** A job whose blobs are results[from, from+job.count). */
  #complete(job: Job, results: readonly (Uint8Array | Error)[], from: number): void {
    if (job.kind === KIND_DIR) {
      const r = results[from]!;
      if (r instanceof Uint8Array) return this.#readDir(job.path, r);
      const ref = refOf(job, 0);
      return this.#fail(r, display(job.path), `could not load content (${ref})`, `dirref ${ref}`);
    }
    const blobs: Uint8Array[] = [];
    let total = 0;
    for (let i = 0; i < job.count; i++) {
      const r = results[from + i]!;
      if (!(r instanceof Uint8Array)) {
        return this.#fail(r, job.path, `missing blobref ${i}`, `blobref ${i} (${refOf(job, i)})`);
      }
      blobs.push(r);
      total += r.length;
    }
    this.#emitFile(job.path, blobs.length === 0 ? new Uint8Array(0) : concatBytes(blobs, total));
  }

  /**
   * A blob that is missing or does not match its blobref: skipped (and reported) under
   * --ignore-failed-read, fatal otherwise. Any other error is always fatal.
   * Missing values are worded as flux-core words them (`KEY: missing blobref N: ...`).
   */
  #fail(err: Error, key: string, missing: string, corrupt: string): void {
    let message: string;
    if (err instanceof MissingBlobError) message = `${key}: ${missing}: No such file or directory`;
    else if (err instanceof CorruptBlobError) message = `${key}: ${corrupt}: ${err.message}`;
    else if (err instanceof FluxError) throw new FluxError(`${key}: ${err.message}`, err.code);
    else throw err;
    if (!this.#opts.ignoreFailedRead) throw new FluxError(message, err.code);
    this.#opts.onSkip?.(message);
  }

  #readDir(path: string, blob: Uint8Array): void {
    if (scanDir(blob, this.#scan)) return this.#visitScanned(path, blob);
    let obj: TreeObj;
    try {
      obj = decodeTreeObj(blob);
    } catch (err) {
      if (err instanceof TreeObjError) throw new FluxError(`${display(err.entry === '' ? path : join(path, err.entry))}: ${err.message}`, 'EPROTO');
      throw err;
    }
    if (obj.type !== 'dir') throw new FluxError(`${display(path)}: dirref references non-directory`, 'ENOTDIR');
    this.#visitDir(path, obj);
  }

  /**
   * A directory the fast path scanned (canonical, only val/valref/dirref entries): the
   * same entries in the same order as #visitDir, queued straight from the blob's bytes.
   */
  #visitScanned(path: string, blob: Uint8Array): void {
    const scan = this.#scan;
    if (this.#dirKey.length < 3 * path.length + 1) this.#dirKey = new Uint8Array(3 * path.length + 1024);
    let dirLen = encodeUtf8Into(path, this.#dirKey, 0);
    if (dirLen > 0) this.#dirKey[dirLen++] = 0x2f; // '/'
    for (let i = 0; i < scan.count; i++) {
      const nameStart = scan.nameStart[i]!;
      const nameEnd = scan.nameEnd[i]!;
      const kind = scan.kind[i]!;
      if (kind === SCAN_VAL) {
        const name = latin1String(blob, nameStart, nameEnd);
        this.#emitFile(join(path, name), decodeBase64Bytes(blob, scan.dataStart[i]!, scan.dataEnd[i]!));
        continue;
      }
      this.#enqueueScanned(kind === SCAN_DIRREF ? KIND_DIR : KIND_VAL, dirLen, blob, i);
    }
  }

  /** Queue entry i of the scanned directory: the record #enqueue writes, from bytes. */
  #enqueueScanned(kind: number, dirLen: number, blob: Uint8Array, i: number): void {
    const scan = this.#scan;
    const nameStart = scan.nameStart[i]!;
    const nameLen = scan.nameEnd[i]! - nameStart;
    const count = scan.refs[i]!;
    const size = scan.digestSize[i]!;
    const keyLen = dirLen + nameLen;
    const at = this.#queue.reserve(RECORD_HEADER + keyLen + count * size);
    const buf = this.#queue.tail;
    buf[at] = kind;
    buf[at + 1] = size;
    putU32(buf, at + 2, count);
    putU32(buf, at + 6, keyLen);
    let p = at + RECORD_HEADER;
    const dirKey = this.#dirKey;
    for (let k = 0; k < dirLen; k++) buf[p + k] = dirKey[k]!; // no view per record
    p += dirLen;
    for (let k = 0; k < nameLen; k++) buf[p + k] = blob[nameStart + k]!;
    p += nameLen;
    const digests = scan.digests;
    for (let k = 0, from = scan.digestAt[i]!, n = count * size; k < n; k++) buf[p + k] = digests[from + k]!;
  }

  #visitDir(path: string, dir: DirObj): void {
    for (const [name, child] of dir.data) {
      const key = join(path, name);
      switch (child.type) {
        case 'val':
          this.#emitFile(key, valBytes(child));
          break;
        case 'symlink': {
          const t = child.data;
          this.#emit(key, 'symlink', new Uint8Array(0), t.namespace === undefined ? t.target : `${t.namespace}::${t.target}`);
          break;
        }
        case 'valref':
          this.#enqueue(KIND_VAL, key, child.data);
          break;
        case 'dirref':
          if (child.data.length !== 1) throw new FluxError(`${key}: dirref blobref count is not 1`, 'EPROTO');
          this.#enqueue(KIND_DIR, key, child.data);
          break;
        case 'dir':
          this.#visitDir(key, child);
          break;
      }
    }
  }

  #emitFile(path: string, data: Uint8Array): void {
    this.#emit(path, 'file', data, '');
  }

  #emit(path: string, type: ArchiveEntry['type'], data: Uint8Array, linkTarget: string): void {
    const m = this.#opts.meta;
    this.#out.push({ path, type, data, linkTarget, mode: m.mode, mtime: m.mtime, uid: m.uid, gid: m.gid });
    this.#outBytes += data.length + 512;
    this.count++;
  }
}

export function walk(store: ContentStore, rootref: string, opts: WalkOptions): AsyncGenerator<ArchiveEntry[]> {
  return new Walker(store, opts).walk(rootref);
}
