/**
 * The dump pipeline, the only module that knows the stage order:
 * store -> walk (+verify) -> pack (format) -> compress (filter) -> caller's sink.
 * Time and identity come in as options; no stage reads a clock.
 */
import { FluxError } from './errors.js';
import type { FilterName, FormatName } from './registry.js';
import type { ContentStore } from './store/source.js';
import type { ArchiveEntry } from './walk/entry.js';
import { Walker, type BlobChecker } from './walk/walk.js';
import type { Chunks, FormatFactory, FormatWriter, TaskRunner } from './pack/format.js';
import type { XzEngine } from './compress/codecs.js';
import type { FilterFactory } from './compress/filter.js';
import { createBlobVerifier } from './verify/verify.js';
import { initCore } from './wasm/init.js';
import { isThenable, tracked, type Tracked } from './util/promise.js';
import { loopTurner } from './util/turn.js';

export interface DumpOptions {
  store: ContentStore;
  /** Archive the newest checkpoint instead of the live root. */
  checkpoint: boolean;
  maxreqs: number;
  ignoreFailedRead: boolean;
  format: FormatName;
  filter: FilterName;
  /** Writing to stdout (tar pads to a 10240-byte record). */
  stdout: boolean;
  /** Dump start time, seconds: the mtime of every entry unless --checkpoint. */
  now: number;
  uid: number;
  gid: number;
  /** Verify every blob against its blobref (default true). */
  verify?: boolean;
  /** Worker threads for compression (the filters, and zip's member deflate). */
  threads?: number;
  /** The xz encoder for the xz filter (default: native where it loads, else WASM). */
  xzEngine?: XzEngine;
  onEntries?: (batch: readonly ArchiveEntry[]) => void;
  onSkip?: (message: string) => void;
  /** zip: deflate members on the compression pool once the archive is big enough (default true; FLUXDUMP_ZIP_POOL=0: false). */
  zipPool?: boolean;
  /** Where zip deflates its members off the main thread (default: the compression pool, at `threads`). */
  tasks?: TaskRunner;
}

export interface DumpRoot {
  rootref: string;
  /** mtime for every entry. */
  mtime: number;
}

/** The root to archive: the newest checkpoint (its timestamp, truncated) or the live root. */
export async function chooseRoot(store: ContentStore, checkpoint: boolean, now: number): Promise<DumpRoot> {
  if (!checkpoint) return { rootref: await store.currentRoot(), mtime: now };
  const cks = await store.checkpoints();
  const newest = cks[0];
  if (!newest) throw new FluxError('error fetching checkpoints: No such file or directory', 'ENOENT');
  return { rootref: newest.rootref, mtime: newest.timestamp > 0 ? Math.trunc(newest.timestamp) : now };
}

/** Format writers by name; loaded on demand so a plain tar dump loads no zip/ISO code. */
const FORMATS: Record<FormatName, () => Promise<FormatFactory>> = {
  pax: async () => (await import('./pack/tar/writer.js')).tarWriter,
  zip: async () => (await import('./pack/zip/writer.js')).zipWriter,
  cpio: async () => (await import('./pack/cpio/writer.js')).cpioWriter,
  iso9660: async () => (await import('./pack/iso/writer.js')).isoWriter,
};

/** Compression filters by name (parallel, on the worker pool). */
const FILTERS: Record<Exclude<FilterName, 'none'>, () => Promise<FilterFactory>> = {
  gzip: async () => (await import('./compress/gzip.js')).gzipFilter,
  bzip2: async () => (await import('./compress/bzip2.js')).bzip2Filter,
  xz: async () => (await import('./compress/xz.js')).xzFilter,
};

/**
 * The compression pool as a format sees it (zip deflates its members there): loaded on
 * the first task, so a dump that never needs it never loads it.
 */
export function poolTasks(threads = 0): TaskRunner {
  const pool = () => import('./compress/pool.js');
  return {
    run: async (filename, name, task, transfer) => (await pool()).runTask(filename, name, task, threads, transfer),
    prewarm: (filename, name, task, key) => void pool().then((m) => m.prewarmTask(filename, name, task, threads, key), () => undefined),
  };
}

async function compressionFilter(name: FilterName, threads?: number, xzEngine?: XzEngine): Promise<TransformStream<Uint8Array, Uint8Array> | null> {
  if (name === 'none') return null;
  // A forced native xz encoder that does not load fails here, before any work: one line,
  // not an error from a worker mid-dump.
  if (name === 'xz' && xzEngine === 'native') await (await import('./compress/codecs.js')).getCompressor('xz', undefined, 'native');
  return (await FILTERS[name]())({ ...(threads === undefined ? {} : { threads }), ...(xzEngine === undefined ? {} : { xzEngine }) });
}

/**
 * write() calls a dump keeps outstanding at most. A writer that returns promises (zip
 * deflating on the worker pool) works on several batches while the walk produces the
 * next; its chunks still go out strictly in call order. Bounded: each pending write
 * holds one walk batch (at most ~4 MiB of values) plus its compressed result; 8 keep
 * 2 x 4 workers busy, more than the main thread's walk can feed.
 */
const MAX_PENDING_WRITES = 8;

interface PendingWrite {
  /** Finished writes at the head go out without waiting. */
  chunks: Tracked<Chunks>;
  batch: readonly ArchiveEntry[];
}

/** Archive bytes of a dump, as a WHATWG stream. Errors surface as stream errors. */
export function dump(opts: DumpOptions): ReadableStream<Uint8Array> {
  let entries: AsyncGenerator<ArchiveEntry[]> | undefined;
  let writer: FormatWriter | undefined;
  /** write() results not emitted yet, in call order (writers that return promises). */
  const pending: PendingWrite[] = [];
  const turn = loopTurner();
  const archive = new ReadableStream<Uint8Array>(
    {
      async start() {
        await initCore();
        const root = await chooseRoot(opts.store, opts.checkpoint, opts.now);
        const checker: BlobChecker | undefined = opts.verify === false ? undefined : await createBlobVerifier(opts.store.hashType);
        const walker = new Walker(opts.store, {
          maxreqs: opts.maxreqs,
          ignoreFailedRead: opts.ignoreFailedRead,
          meta: { mtime: root.mtime, uid: opts.uid, gid: opts.gid, mode: 0o644 },
          checker,
          onSkip: opts.onSkip,
        });
        entries = walker.walk(root.rootref);
        writer = (await FORMATS[opts.format]())({ stdout: opts.stdout, ...(opts.zipPool === false ? {} : { tasks: opts.tasks ?? poolTasks(opts.threads) }) });
      },
      // A pull must enqueue something (or close): the stream calls it again only then.
      async pull(controller) {
        let emitted = false;
        const emit = (chunks: Chunks, batch: readonly ArchiveEntry[] | null): void => {
          if (batch) opts.onEntries?.(batch);
          for (const c of chunks) controller.enqueue(c);
          if (chunks.length > 0) emitted = true;
        };
        for (;;) {
          // Formats that write little until the end (ISO, zip's look-ahead) and in-thread
          // stores never leave the microtask queue: yield to the event loop now and then
          // so a SIGTERM is handled mid-walk, not after it.
          await turn();
          // Oldest write first: each one already finished, and while the window is
          // full, wait for the oldest rather than take another batch from the walk.
          while (pending.length > 0 && (pending[0]!.chunks.settled || pending.length >= MAX_PENDING_WRITES)) {
            const head = pending.shift()!;
            emit(await head.chunks.promise, head.batch);
          }
          if (emitted) return;
          const next = await entries!.next();
          if (next.done) {
            for (const p of pending.splice(0)) emit(await p.chunks.promise, p.batch);
            emit(await writer!.end(), null);
            return controller.close();
          }
          const chunks = writer!.write(next.value);
          if (!isThenable(chunks) && pending.length === 0) emit(chunks, next.value);
          else pending.push({ chunks: tracked(Promise.resolve(chunks)), batch: next.value });
          if (emitted) return;
        }
      },
      async cancel() {
        await entries?.return(undefined);
      },
    },
    { highWaterMark: 4 },
  );
  return archive;
}

/** dump() followed by the compression filter chosen for the output. */
export async function dumpCompressed(opts: DumpOptions): Promise<ReadableStream<Uint8Array>> {
  const filter = await compressionFilter(opts.filter, opts.threads, opts.xzEngine);
  const bytes = dump(opts);
  return filter ? bytes.pipeThrough(filter) : bytes;
}
