/**
 * Walk a KVS tree from its root dirref and produce archive entries in the order
 * flux-core's dump produces them: one FIFO queue of blob loads (dirref and valref blobs
 * alike) with at most `maxreqs` in flight; inline values and symlinks are emitted as soon
 * as their directory is read; a valref is emitted once all of its blobs are in.
 *
 * Results are consumed in queue order, so the archive never depends on completion order
 * or on --maxreqs. Every loaded blob is checked against its blobref before use.
 */
import { CorruptBlobError, FluxError, MissingBlobError } from '../errors.js';
import type { ContentStore } from '../store/source.js';
import { concatBytes } from '../util/bytes.js';
import type { ArchiveEntry, EntryMeta } from './entry.js';
import { decodeTreeObj, TreeObjError, valBytes, type DirObj, type TreeObj } from './treeobj.js';

/** Checks loaded blobs against the blobrefs they were loaded by. */
export interface BlobChecker {
  /** ok[i] = 1 when blobs[i] hashes to refs[i]. One call per batch (WASM batch hashing). */
  check(refs: readonly string[], blobs: readonly Uint8Array[]): Uint8Array;
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
}

interface DirJob {
  kind: 'dir';
  path: string;
}

interface ValJob {
  kind: 'val';
  path: string;
  blobs: (Uint8Array | undefined)[];
  remaining: number;
  failed: boolean;
}

interface LoadReq {
  job: DirJob | ValJob;
  index: number;
  ref: string;
  blob?: Uint8Array;
  error?: unknown;
  settled: boolean;
  promise?: Promise<void>;
}

const BATCH_ENTRIES = 512;
const BATCH_BYTES = 4 << 20;
const VERIFY_BATCH = 256;

function display(path: string): string {
  return path === '' ? '.' : path;
}

function join(dir: string, name: string): string {
  return dir === '' ? name : `${dir}/${name}`;
}

/** Requests still to issue, FIFO, compacted now and then so memory follows the queue. */
class LoadQueue {
  #items: LoadReq[] = [];
  #head = 0;

  push(r: LoadReq): void {
    this.#items.push(r);
  }

  shift(): LoadReq | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const r = this.#items[this.#head]!;
    this.#items[this.#head++] = undefined as unknown as LoadReq;
    if (this.#head > 65536 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return r;
  }

  get length(): number {
    return this.#items.length - this.#head;
  }
}

export class Walker {
  readonly #store: ContentStore;
  readonly #opts: WalkOptions;
  readonly #queue = new LoadQueue();
  #out: ArchiveEntry[] = [];
  #outBytes = 0;
  /** Keys emitted so far. */
  count = 0;

  constructor(store: ContentStore, opts: WalkOptions) {
    if (!(opts.maxreqs >= 1)) throw new FluxError(`invalid maxreqs ${opts.maxreqs}`);
    this.#store = store;
    this.#opts = opts;
  }

  /** Entries in archive order, in batches. */
  async *walk(rootref: string): AsyncGenerator<ArchiveEntry[]> {
    this.#enqueue({ kind: 'dir', path: '' }, 0, rootref);
    const loadSync = this.#store.loadSync?.bind(this.#store);
    const done: LoadReq[] = [];
    const window: LoadReq[] = [];
    while (this.#queue.length > 0 || window.length > 0) {
      if (loadSync) {
        while (done.length < VERIFY_BATCH && this.#queue.length > 0) {
          const r = this.#queue.shift()!;
          try {
            r.blob = loadSync(r.ref);
          } catch (err) {
            r.error = err;
          }
          done.push(r);
        }
      } else {
        while (window.length < this.#opts.maxreqs && this.#queue.length > 0) window.push(this.#issue(this.#queue.shift()!));
        await window[0]!.promise;
        while (window.length > 0 && window[0]!.settled && done.length < VERIFY_BATCH) done.push(window.shift()!);
      }
      this.#verify(done);
      for (const r of done) this.#complete(r);
      done.length = 0;
      if (this.#out.length >= BATCH_ENTRIES || this.#outBytes >= BATCH_BYTES) yield this.#take();
    }
    if (this.#out.length > 0) yield this.#take();
  }

  #take(): ArchiveEntry[] {
    const out = this.#out;
    this.#out = [];
    this.#outBytes = 0;
    return out;
  }

  #issue(r: LoadReq): LoadReq {
    r.promise = this.#store.load(r.ref).then(
      (blob) => {
        r.blob = blob;
        r.settled = true;
      },
      (err: unknown) => {
        r.error = err;
        r.settled = true;
      },
    );
    return r;
  }

  #enqueue(job: DirJob | ValJob, index: number, ref: string): void {
    this.#queue.push({ job, index, ref, settled: false });
  }

  /** Hash the batch; a mismatch becomes that request's error. */
  #verify(done: LoadReq[]): void {
    const checker = this.#opts.checker;
    if (!checker) return;
    const loaded = done.filter((r) => r.blob !== undefined);
    if (loaded.length === 0) return;
    const ok = checker.check(
      loaded.map((r) => r.ref),
      loaded.map((r) => r.blob!),
    );
    for (let i = 0; i < loaded.length; i++) {
      if (ok[i]) continue;
      const r = loaded[i]!;
      r.error = new CorruptBlobError(`content does not match, it hashes to ${checker.blobrefOf(r.blob!)}`);
      r.blob = undefined;
    }
  }

  #complete(r: LoadReq): void {
    const job = r.job;
    if (job.kind === 'dir') {
      if (r.error !== undefined) return this.#fail(r.error, display(job.path), `could not load content (${r.ref})`, `dirref ${r.ref}`);
      this.#readDir(job.path, r.blob!);
      return;
    }
    if (job.failed) return;
    if (r.error !== undefined) {
      job.failed = true;
      return this.#fail(r.error, job.path, `missing blobref ${r.index}`, `blobref ${r.index} (${r.ref})`);
    }
    job.blobs[r.index] = r.blob!;
    if (--job.remaining === 0) this.#emitFile(job.path, concatBytes(job.blobs as Uint8Array[]));
  }

  /**
   * A blob that is missing or does not match its blobref: skipped (and reported) under
   * --ignore-failed-read, fatal otherwise. Any other error is always fatal.
   * Missing values are worded as flux-core words them (`KEY: missing blobref N: ...`).
   */
  #fail(err: unknown, key: string, missing: string, corrupt: string): void {
    let message: string;
    if (err instanceof MissingBlobError) message = `${key}: ${missing}: No such file or directory`;
    else if (err instanceof CorruptBlobError) message = `${key}: ${corrupt}: ${err.message}`;
    else if (err instanceof FluxError) throw new FluxError(`${key}: ${err.message}`, err.code);
    else throw err;
    if (!this.#opts.ignoreFailedRead) throw new FluxError(message, err.code);
    this.#opts.onSkip?.(message);
  }

  #readDir(path: string, blob: Uint8Array): void {
    let obj: TreeObj;
    try {
      obj = decodeTreeObj(blob);
    } catch (err) {
      if (err instanceof TreeObjError) throw new FluxError(`${display(path)}: ${err.message}`, 'EPROTO');
      throw err;
    }
    if (obj.type !== 'dir') throw new FluxError(`${display(path)}: dirref references non-directory`, 'ENOTDIR');
    this.#visitDir(path, obj);
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
        case 'valref': {
          const job: ValJob = { kind: 'val', path: key, blobs: new Array(child.data.length), remaining: child.data.length, failed: false };
          child.data.forEach((ref, i) => this.#enqueue(job, i, ref));
          break;
        }
        case 'dirref':
          if (child.data.length !== 1) throw new FluxError(`${key}: dirref blobref count is not 1`, 'EPROTO');
          this.#enqueue({ kind: 'dir', path: key }, 0, child.data[0]!);
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
