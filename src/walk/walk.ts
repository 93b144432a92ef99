/**
 * Walk a KVS tree from its root dirref and produce archive entries in the order
 * flux-core's dump produces them: one FIFO queue of blob loads (dirref and valref blobs
 * alike); inline values and symlinks are emitted as soon as their directory is read; a
 * valref is emitted once all of its blobs are in.
 *
 * Loads go to the store's one batch loader, in queue order, inside the window the store
 * asks for (content.sqlite: 4,096 digests per call, answered at once; its load thread:
 * 1,024 per call, two in flight; a broker: one per call, --maxreqs in flight). Results
 * are consumed in queue order, so the archive never depends on completion order, batch
 * sizes or --maxreqs. Every loaded blob is checked against its digest before use.
 */
import { DIGEST_SIZE, formatBlobref, type HashType } from '../blobref.js';
import { CorruptBlobError, FluxError, MissingBlobError } from '../errors.js';
import type { BlobLoader, LoadResult } from '../store/source.js';
import { concatBytes, encodeUtf8Into, latin1String } from '../util/bytes.js';
import { markCorrupt, type BlobVerifier } from '../verify/verify.js';
import type { ArchiveEntry, EntryMeta } from './entry.js';
import { decodeBase64Bytes, DirScan, scanDir, SCAN_DIRREF, SCAN_VAL } from './dirscan.js';
import type { FifoOptions } from './fifo.js';
import { displayKey as display, JobQueue, KIND_DIR, KIND_VAL } from './job-queue.js';
import { decodeTreeObj, TreeObjError, valBytes, type DirObj, type TreeObj } from './treeobj.js';

export type { BlobVerifier as BlobChecker } from '../verify/verify.js';

export interface WalkOptions {
  maxreqs: number;
  ignoreFailedRead: boolean;
  meta: EntryMeta;
  /** Omit to skip verification (benchmarks measure its cost). */
  checker?: BlobVerifier;
  /** Called with a one-line message for each key or subtree skipped under --ignore-failed-read. */
  onSkip?: (message: string) => void;
  /** Queue tuning: where it spills when it outgrows memory (default: the OS temp directory). */
  queue?: FifoOptions;
}

/** One queue record taken for loading: a directory to read or a value to assemble. */
interface Job {
  kind: number;
  path: string;
  /**
   * Raw digests, `count` of `size` bytes each, from offset `at`: a job that fits in one
   * load batch points into the batch's packed digests (one buffer per batch, not one per
   * job: the young generation has to copy whatever is still alive when it fills); a job
   * split across batches, or of another hash than the store's, has its own copy.
   */
  digests: Uint8Array;
  at: number;
  size: number;
  count: number;
}

/** One loadBatch call: its digests, then its answer. */
interface Request {
  digests: Uint8Array;
  count: number;
  results: LoadResult[] | null;
  /** The store failed this call (not one blob): thrown when the walk reaches it. */
  error: unknown;
  promise: Promise<void> | null;
}

/**
 * The largest value archived: a valref's blobs are joined in memory, and Node holds at
 * most 4 GiB in one array; 4 GiB - 1 also fits every format's size field (ISO 9660 and
 * zip without zip64 stop there). A larger value is refused by name, never truncated.
 */
export const MAX_VALUE_BYTES = 0xffffffff;

const BATCH_ENTRIES = 512;
const BATCH_BYTES = 4 << 20;
/** Answered loads verified and completed together (a broker's answers are one blob each). */
const HANDLE_BLOBS = 256;

function join(dir: string, name: string): string {
  return dir === '' ? name : `${dir}/${name}`;
}

function hashOfSize(size: number): HashType {
  return size === DIGEST_SIZE.sha256 ? 'sha256' : 'sha1';
}

/** blobref i of a job, for messages. */
function refOf(job: Job, i: number): string {
  const from = job.at + i * job.size;
  return formatBlobref(hashOfSize(job.size), job.digests.subarray(from, from + job.size));
}

export class Walker {
  readonly #store: BlobLoader;
  readonly #opts: WalkOptions;
  readonly #queue: JobQueue;
  readonly #digestSize: number;
  #out: ArchiveEntry[] = [];
  #outBytes = 0;
  /** Jobs taken for loading and not completed yet, in queue order, from #jobHead. */
  #jobs: Job[] = [];
  #jobHead = 0;
  /** Results gathered so far for the job at #jobHead (when its blobs span requests). */
  #partial: LoadResult[] = [];
  /** A job whose digests are being taken across requests, and its next digest. */
  #taking: Job | null = null;
  #takeNext = 0;
  /** Entry positions of the directory being read by the fast path (reused). */
  readonly #scan = new DirScan();
  /** The UTF-8 key of the directory being read by the fast path. */
  #dirKey = new Uint8Array(1024);
  /** Keys emitted so far. */
  count = 0;

  constructor(store: BlobLoader, opts: WalkOptions) {
    if (!(opts.maxreqs >= 1)) throw new FluxError(`invalid maxreqs ${opts.maxreqs}`);
    this.#store = store;
    this.#opts = opts;
    this.#digestSize = DIGEST_SIZE[store.hashType];
    this.#queue = new JobQueue(opts.queue);
  }

  /** Entries in archive order, in batches. */
  async *walk(rootref: string): AsyncGenerator<ArchiveEntry[]> {
    try {
      this.#queue.push(KIND_DIR, '', [rootref]);
      for await (const _ of this.#loads()) {
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

  // ---- loading -----------------------------------------------------------------------

  /**
   * The one load loop: requests taken off the queue in order and kept inside the store's
   * window; answered requests handled in order (verified, then their jobs completed),
   * which queues more jobs behind them.
   *
   * An answer that comes in while the walk is busy or suspended (the archive being
   * written) issues the next request straight from its callback, so a broker always has
   * its --maxreqs loads in flight. Taking requests early changes no order: jobs that
   * handling queues go behind them either way. The window also counts requests being
   * handled, so blobs held in memory stay bounded by it when the archive side is slow.
   */
  async *#loads(): AsyncGenerator<void> {
    const loader = this.#store;
    const { batch, inflight: maxInflight, window } = loader.loadWindow(this.#opts.maxreqs);
    /** Requests issued and not handled yet, in queue order, from `head`. */
    const pending: Request[] = [];
    let head = 0;
    let inflight = 0;
    let stopped = false;
    /** What fill() threw inside an answer's callback (a queue read failing), for the walk to throw. */
    let fillError: unknown;
    const answered = (): void => {
      inflight--;
      if (stopped || fillError !== undefined) return;
      try {
        fill();
      } catch (err) {
        fillError = err ?? new Error('queue read failed');
      }
    };
    const fill = (): void => {
      while (inflight < maxInflight && pending.length - head < window && this.#hasLoads()) {
        const req = this.#takeRequest(batch);
        pending.push(req);
        const r = req.count === 0 ? [] : loader.loadBatch(req.digests, req.count);
        if (Array.isArray(r)) {
          req.results = r;
          continue;
        }
        inflight++;
        req.promise = r.then(
          (results) => {
            req.results = results;
            answered();
          },
          (err: unknown) => {
            req.error = err ?? new Error('load failed');
            req.results = [];
            answered();
          },
        );
      }
    };
    try {
      fill();
      while (head < pending.length) {
        const first = pending[head]!;
        if (first.results === null) {
          await first.promise;
          // Room freed in the window: send before handling (a broker client writes once
          // per turn, so give it that turn now), and the latency runs while we work.
          fill();
          await null;
        }
        if (fillError !== undefined) throw fillError;
        // The answered requests at the head, up to HANDLE_BLOBS blobs, handled together.
        let end = head;
        let blobs = 0;
        while (end < pending.length && blobs < HANDLE_BLOBS && pending[end]!.results !== null) {
          const req = pending[end++]!;
          if (req.error !== undefined) {
            if (end - 1 === head) throw req.error;
            end--;
            break;
          }
          blobs += req.count;
        }
        this.#handle(pending, head, end);
        for (let i = head; i < end; i++) pending[i] = undefined as unknown as Request; // let their blobs go
        head = end;
        if (head > 1024 && 2 * head > pending.length) {
          pending.splice(0, head);
          head = 0;
        }
        // Jobs the handled directories queued.
        fill();
        // A generator round trip per answer would cost more than the answer: hand
        // entries on only when a batch of them is ready.
        if (this.#batchReady()) yield;
      }
      if (fillError !== undefined) throw fillError;
    } finally {
      stopped = true;
    }
  }

  /** Whether the queue has anything left to take (a job, or the rest of a split one). */
  #hasLoads(): boolean {
    return this.#taking !== null || this.#queue.length > 0;
  }

  /**
   * The next `max` loads off the queue (fewer at its end), their digests copied straight
   * from the queue into one packed buffer. Jobs are taken whole when they fit; a job
   * that does not is split across requests. Jobs without blobs are taken too (they
   * complete in their turn). A digest of another hash than the store's is looked up as
   * all zeros (missing either way); its job keeps the real digests for messages.
   */
  #takeRequest(max: number): Request {
    const size = this.#digestSize;
    const q = this.#queue;
    const digests = new Uint8Array(max * size);
    let n = 0;
    while (n < max) {
      let job = this.#taking;
      if (job === null) {
        if (q.length === 0) break;
        q.peek();
        const count = q.count;
        const from = q.digestsAt;
        const buf = q.buf;
        if (q.size === size && count <= max - n) {
          job = { kind: q.kind, path: q.path, digests, at: n * size, size, count };
          for (let k = 0, len = count * size; k < len; k++) digests[job.at + k] = buf[from + k]!; // no view per job
          q.shift();
          this.#jobs.push(job);
          n += count;
          continue;
        }
        job = { kind: q.kind, path: q.path, digests: buf.slice(from, from + count * q.size), at: 0, size: q.size, count };
        q.shift();
        this.#jobs.push(job);
        this.#taking = job;
        this.#takeNext = 0;
      }
      const take = Math.min(job.count - this.#takeNext, max - n);
      if (job.size === size) digests.set(job.digests.subarray(this.#takeNext * size, (this.#takeNext + take) * size), n * size);
      n += take;
      this.#takeNext += take;
      if (this.#takeNext === job.count) this.#taking = null;
    }
    return { digests: digests.subarray(0, n * size), count: n, results: null, error: undefined, promise: null };
  }

  /** Requests pending[from, to), answered: verified together, then their jobs completed in order. */
  #handle(pending: readonly Request[], from: number, to: number): void {
    let digests = pending[from]!.digests;
    let results = pending[from]!.results!;
    if (to - from > 1) {
      const size = this.#digestSize;
      let total = 0;
      for (let i = from; i < to; i++) total += pending[i]!.count;
      digests = new Uint8Array(total * size);
      results = [];
      for (let i = from, at = 0; i < to; i++) {
        const req = pending[i]!;
        digests.set(req.digests, at);
        at += req.digests.length;
        for (const r of req.results!) results.push(r);
      }
    }
    const checker = this.#opts.checker;
    if (checker) markCorrupt(checker, digests, this.#digestSize, results);
    this.#deliver(results);
  }

  /** Hands answers, in queue order, to the jobs taken for them; completes each job once all its blobs are in. */
  #deliver(results: readonly LoadResult[]): void {
    const jobs = this.#jobs;
    let k = 0;
    for (;;) {
      const job = jobs[this.#jobHead];
      if (job === undefined) break;
      if (job.count === 0) this.#complete(job, results, 0);
      else if (this.#partial.length === 0 && results.length - k >= job.count) {
        this.#complete(job, results, k);
        k += job.count;
      } else {
        if (k === results.length) break;
        // A job whose blobs span requests: gather them.
        while (k < results.length && this.#partial.length < job.count) this.#partial.push(results[k++]!);
        if (this.#partial.length < job.count) break;
        this.#complete(job, this.#partial, 0);
        this.#partial = [];
      }
      jobs[this.#jobHead++] = undefined as unknown as Job;
    }
    if (this.#jobHead > 1024 && 2 * this.#jobHead > jobs.length) {
      jobs.splice(0, this.#jobHead);
      this.#jobHead = 0;
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
    if (total > MAX_VALUE_BYTES) {
      throw new FluxError(`${job.path}: value of ${total} bytes is too large to archive (at most ${MAX_VALUE_BYTES})`, 'EFBIG');
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

  /** Queue entry i of the scanned directory: its key and digests straight from bytes. */
  #enqueueScanned(kind: number, dirLen: number, blob: Uint8Array, i: number): void {
    const scan = this.#scan;
    const nameStart = scan.nameStart[i]!;
    const nameLen = scan.nameEnd[i]! - nameStart;
    this.#queue.pushBytes(kind, this.#dirKey, dirLen, blob, nameStart, nameLen, scan.digests, scan.digestAt[i]!, scan.refs[i]!, scan.digestSize[i]!);
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
          this.#queue.push(KIND_VAL, key, child.data);
          break;
        case 'dirref':
          if (child.data.length !== 1) throw new FluxError(`${key}: dirref blobref count is not 1`, 'EPROTO');
          this.#queue.push(KIND_DIR, key, child.data);
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

export function walk(store: BlobLoader, rootref: string, opts: WalkOptions): AsyncGenerator<ArchiveEntry[]> {
  return new Walker(store, opts).walk(rootref);
}
