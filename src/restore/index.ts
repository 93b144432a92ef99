/**
 * flux-restore as a library: archive in, KVS tree out, into an offline content store or
 * a running instance (a `local://` URI), with flux-core's exact content addresses.
 *
 *   input bytes -> [decompress] -> archive reader (batches of entries, in order)
 *     -> per batch: validate keys; hash value blobs (>= 72 bytes) in groups of maxreqs
 *        and store them; put each key's tree object into the in-memory tree, in order
 *     -> at the end: directories bottom-up, canonical encoding, stored -> root dirref
 *     -> flush (durable) -> checkpoint {"version":1,"rootref":...,"sequence":0,...}
 *
 * Live (LiveRestoreTarget): the same blobs go out as content.store requests, the hash is
 * the instance's (attr.get content.hash), and the end is flux-core's: --checkpoint =
 * checkpoint-put then content.flush (open refuses while the KVS runs); --key = kvs.commit
 * of the root dirref at KEY, then content.flush. --no-cache writes through
 * content-backing.* and skips the flush.
 *
 * Nothing here depends on timing: the root blobref is a function of the archive alone.
 */
import { DIGEST_SIZE, type HashType } from '../blobref.js';
import { LiveRestoreTarget } from '../broker/restore-target.js';
import type { Compression } from '../compress/decompress.js';
import { makeSdNotifier, type SdNotifier } from '../cli/sd-notify.js';
import { DEFAULT_SETTINGS, type RunSettings } from '../cli/settings.js';
import { FluxError } from '../errors.js';
import { getDigester, initWasm } from '../verify/digest.js';
import { installWasmLz4 } from '../wasm/lz4.js';
import { overLimit, type EntryBatches } from './entry.js';
import { openArchive, type ArchiveFormat } from './input.js';
import { keyComponents } from './paths.js';
import { RestoreProgress } from './progress.js';
import { registerTemporary, registerTemporaryPattern, releaseTemporary, releaseTemporaryPattern } from './temporaries.js';
import { ownBlobTemporaries } from '../store-write/files-writer.js';
import { filesTargetDir, newStoreTemp, openTarget, type RestoreTarget } from './target.js';
import { KvsTree, symlinkText } from './tree.js';
import { storeWorkerPath, WorkerTarget } from './worker-target.js';
import { storeWorkerByDefault } from '../runtime-pool.js';

/** Values shorter than a blobref string (with its NUL) are stored inline, as Flux does. */
export const BLOBREF_MAX_STRING_SIZE = 72;
export const DEFAULT_MAXREQS = 256;

export interface RestoreOptions {
  /** Archive path, or '-' for stdin. */
  input: string;
  /** The stream read for '-' (default: process.stdin). */
  stdin?: AsyncIterable<Uint8Array>;
  /** Write the root as the store's new checkpoint. */
  checkpoint?: boolean;
  /** Commit the root under this KVS key: needs a running instance (ignored with checkpoint). */
  key?: string | undefined;
  /** Offline store (statedir, *.sqlite, or content.files directory), or a `local://` broker URI. */
  store?: string | undefined;
  /** Hash for a new offline store (an existing store's or the instance's own hash wins). */
  hash?: HashType | undefined;
  /** Skip values larger than this many bytes; 0 = no limit. */
  sizeLimit?: number;
  /** Blobs hashed and stored per batch; live, also content.store requests in flight. */
  maxreqs?: number;
  verbose?: boolean;
  quiet?: boolean;
  sdNotify?: boolean;
  /** Live: bypass the broker's content cache (content-backing.*, no flush). Offline: no effect. */
  noCache?: boolean;
  /**
   * Compress and write blobs on a worker thread (default in Node), overlapping with reading
   * and hashing; false stores in-process (the default in Deno: storeWorkerByDefault()).
   */
  storeWorker?: boolean;
  /** stderr (progress, messages). */
  write?: (s: string) => void;
  /** What the environment set (namespace, NOTIFY_SOCKET); read once by the CLI. */
  settings?: RunSettings;
  /** Seconds since the epoch; the checkpoint time when every entry has mtime 0. */
  now?: () => number;
}

export interface RestoreResult {
  rootref: string;
  keys: number;
  blobs: number;
  /** The checkpoint's timestamp (computed with --key too, though nothing records it). */
  timestamp: number;
  format: ArchiveFormat;
  compression: Compression;
  /** The store written (the resolved file or directory, or the broker URI). */
  store: string;
  hash: HashType;
  /** --key: the instance's new KVS root after the commit. */
  committed?: { rootref: string; rootseq: number };
}

export function noTargetError(): FluxError {
  return new FluxError('Please specify a restore target with --checkpoint or --key', 'EINVAL');
}

export function keyNeedsInstanceError(): FluxError {
  return new FluxError('--key needs a running Flux instance (FLUX_URI) and is not supported offline; use --checkpoint with --store', 'ENOSYS');
}

/** A running instance rather than an offline store: `local://...` (or another URI scheme, refused by the client). */
export function isLiveLocation(location: string): boolean {
  return /^[a-z][a-z0-9+.-]*:\/\//i.test(location);
}

/** First characters of a blobref a human wants to see (`sha1-7ac6c1de`). */
function shortBlobref(ref: string): string {
  return ref.slice(0, ref.indexOf('-') + 1 + 8);
}

/** What restore() checked of its options: how they fit together, once, in flux-core's words. */
interface Checked {
  maxreqs: number;
  sizeLimit: number;
  location: string;
  live: boolean;
}

/** Phase 1: the options fit together (a target, --key only live, a store to write at all). */
function checkOptions(o: RestoreOptions): Checked {
  const maxreqs = o.maxreqs ?? DEFAULT_MAXREQS;
  if (!Number.isInteger(maxreqs) || maxreqs <= 0) throw new FluxError(`invalid value for maxreqs: ${maxreqs}`, 'EINVAL');
  const sizeLimit = o.sizeLimit ?? 0;
  if (!o.checkpoint && o.key === undefined) throw noTargetError();
  const location = o.store;
  const live = location !== undefined && isLiveLocation(location);
  if (!o.checkpoint && !live) throw keyNeedsInstanceError();
  if (location === undefined) {
    throw new FluxError('no store to restore into: give --store=LOCATION (a statedir, a .sqlite file or a content.files directory) or set FLUX_URI to a running instance', 'EINVAL');
  }
  return { maxreqs, sizeLimit, location, live };
}

/**
 * Phase 2: the temporaries an offline restore may leave behind, registered before any
 * exist, so a signal handler can remove them even while the store worker owns them: a
 * new content.sqlite is built under a temporary name (see SqliteWriter), and
 * content.files blobs are written under `.NAME.tmp-PID-N`. Returns their release.
 */
function guardTemporaries(c: Checked): () => void {
  const building = c.live ? undefined : newStoreTemp(c.location);
  if (building !== undefined) registerTemporary(building);
  const filesDir = c.live ? undefined : filesTargetDir(c.location);
  if (filesDir !== undefined) registerTemporaryPattern(filesDir, ownBlobTemporaries());
  return () => {
    if (building !== undefined) releaseTemporary(building);
    if (filesDir !== undefined) releaseTemporaryPattern(filesDir);
  };
}

/**
 * Phase 3: the store written. Live: the instance (--checkpoint: open refuses while the
 * KVS runs; the instance's content.hash decides). Offline: a store worker thread, or the
 * writer in-process.
 */
async function openStoreTarget(o: RestoreOptions, c: Checked, settings: RunSettings): Promise<{ target: RestoreTarget; liveTarget?: LiveRestoreTarget }> {
  let target: RestoreTarget;
  let liveTarget: LiveRestoreTarget | undefined;
  if (c.live) {
    liveTarget = await LiveRestoreTarget.open(c.location, {
      checkpoint: o.checkpoint ?? false,
      noCache: o.noCache ?? false,
      maxreqs: c.maxreqs,
      namespace: settings.namespace,
    });
    target = liveTarget;
  } else {
    const workerPath = (o.storeWorker ?? storeWorkerByDefault()) ? storeWorkerPath() : undefined;
    target = workerPath !== undefined ? await WorkerTarget.open(workerPath, { location: c.location, hash: o.hash }) : openTarget(c.location, o.hash);
  }
  return liveTarget ? { target, liveTarget } : { target };
}

/** Hash and store blobs, at most maxreqs per store call; their digests, concatenated. `keys`: whose values they are (a live store failure names the key). */
type StoreBlobs = (blobs: Uint8Array[], keys?: string[]) => Promise<Uint8Array>;

/** Phase 4: how blobs are hashed and handed to the store. */
function blobStorer(t: RestoreTarget, maxreqs: number): StoreBlobs {
  const digester = getDigester(t.hashType);
  const ds = digester.digestSize;
  return async (blobs, keys) => {
    if (blobs.length <= maxreqs) {
      const digests = digester.digestMany(blobs);
      await t.putDigested(digests, blobs, keys);
      return digests;
    }
    const all = new Uint8Array(blobs.length * ds);
    for (let start = 0; start < blobs.length; start += maxreqs) {
      const group = blobs.slice(start, start + maxreqs);
      const digests = digester.digestMany(group);
      await t.putDigested(digests, group, keys?.slice(start, start + maxreqs));
      all.set(digests, start * ds);
    }
    return all;
  };
}

/**
 * Phase 5: every archive entry into the tree, batch by batch in archive order, value
 * blobs stored on the way. Returns the newest entry mtime (0 when all are 0).
 */
async function buildTree(entries: EntryBatches, tree: KvsTree, storeBlobs: StoreBlobs, ds: number, p: RestoreProgress, where: string, sizeLimit: number, live: boolean): Promise<number> {
  const limits = { sizeLimit, where };
  let maxMtime = 0;
  const parts: string[][] = [];
  for await (const batch of entries) {
    // 1. keys checked and value blobs gathered, in archive order
    const blobs: Uint8Array[] = [];
    const blobKeys: string[] | undefined = live ? [] : undefined;
    parts.length = batch.length;
    for (let i = 0; i < batch.length; i++) {
      const entry = batch[i]!;
      if (entry.mtime > maxMtime) maxMtime = entry.mtime;
      if (entry.type === 'other') continue;
      parts[i] = keyComponents(entry.path, where);
      if (entry.type === 'file' && !overLimit(entry.size, limits) && entry.data.length >= BLOBREF_MAX_STRING_SIZE) {
        blobs.push(entry.data);
        blobKeys?.push(entry.path);
      }
    }
    // 2. blobs hashed and handed to the store
    const digests = blobs.length > 0 ? await storeBlobs(blobs, blobKeys) : undefined;
    // 3. tree objects put in archive order: a later entry for a key wins
    let r = 0;
    for (let i = 0; i < batch.length; i++) {
      const entry = batch[i]!;
      if (entry.type === 'other') continue;
      const key = parts[i]!;
      if (entry.type === 'symlink') {
        tree.put(key, symlinkText(entry.linkTarget), entry.path);
        p.addKey(`${entry.path} -> ${entry.linkTarget}`);
      } else if (overLimit(entry.size, limits)) {
        p.skipped(entry.path, entry.size, sizeLimit);
      } else if (entry.data.length >= BLOBREF_MAX_STRING_SIZE) {
        tree.put(key, tree.valrefLeaf(digests!.subarray(r * ds, (r + 1) * ds)), entry.path);
        r++;
        p.addBlobs(1);
        p.addKey(entry.path);
      } else {
        tree.put(key, tree.valLeaf(entry.data), entry.path);
        p.addKey(entry.path);
      }
    }
    p.flush();
  }
  return maxMtime;
}

/**
 * Phase 6: the root made the store's: --checkpoint (offline: blobs durable before the
 * checkpoint that names them; live, as flux-core: the checkpoint first, a broker without
 * backing store refusing it with its reason, then content.flush, nothing with
 * --no-cache), or --key (live only: kvs.commit first, then flush, as flux-core does).
 */
async function commitRoot(
  o: RestoreOptions,
  t: RestoreTarget,
  liveTarget: LiveRestoreTarget | undefined,
  rootref: string,
  timestamp: number,
  p: RestoreProgress,
): Promise<RestoreResult['committed']> {
  const quiet = o.quiet ?? false;
  if (o.checkpoint) {
    const ckpt = { version: 1, rootref, sequence: 0, timestamp };
    if (!liveTarget) await t.flush();
    p.end();
    if (!quiet) p.message(`writing snapshot ${shortBlobref(rootref)} to checkpoint for next KVS start`);
    await t.putCheckpoint(ckpt);
    if (liveTarget) await t.flush();
    return undefined;
  }
  p.end();
  if (!quiet) p.message(`writing snapshot ${shortBlobref(rootref)} to KVS key '${o.key!}'`);
  const committed = await liveTarget!.commit(o.key!, rootref);
  await liveTarget!.flush();
  return committed;
}

/** Archive in, KVS tree out: the phases above, in order, with everything opened closed again. */
export async function restore(o: RestoreOptions): Promise<RestoreResult> {
  const c = checkOptions(o);
  const settings = o.settings ?? DEFAULT_SETTINGS;
  const write = o.write ?? ((s: string) => void process.stderr.write(s));

  // WASM hashing (many small blobs per call) and LZ4; without them the TS/node:crypto
  // fallbacks give the same bytes, only slower.
  await Promise.all([initWasm().catch(() => undefined), installWasmLz4().catch(() => undefined)]);

  const archive = await openArchive(o.input, { sizeLimit: c.sizeLimit, ...(o.stdin ? { stdin: o.stdin } : {}) });
  const releaseTemporaries = guardTemporaries(c);
  let target: RestoreTarget | undefined;
  let notifier: SdNotifier | undefined;
  let progress: RestoreProgress | undefined;
  try {
    const opened = await openStoreTarget(o, c, settings);
    const t = (target = opened.target);
    if (o.hash !== undefined && !t.createdHash && t.hashType !== o.hash) {
      // A --hash the store cannot honour is reported and ignored.
      const holds = c.live ? `uses ${t.hashType} (content.hash)` : `already holds ${t.hashType} blobs`;
      write(`flux-restore: ${t.location} ${holds}; ignoring --hash=${o.hash}\n`);
    }
    if (o.sdNotify) {
      // Live: state-machine.sd-notify through the broker, as flux-core does.
      notifier = opened.liveTarget ? opened.liveTarget.sdNotifier() : makeSdNotifier((msg) => write(`flux-restore: ${msg}\n`), settings.notifyEnv);
    }
    const p = (progress = new RestoreProgress({ quiet: o.quiet ?? false, verbose: o.verbose ?? false, write, notifier }));
    const storeBlobs = blobStorer(t, c.maxreqs);
    const tree = new KvsTree(t.hashType);
    const maxMtime = await buildTree(archive.entries, tree, storeBlobs, DIGEST_SIZE[t.hashType], p, o.input === '-' ? 'stdin' : o.input, c.sizeLimit, c.live);
    const rootref = await tree.storeDirectories((dirs) => {
      p.addBlobs(dirs.length);
      return storeBlobs(dirs);
    }, c.maxreqs);
    const timestamp = maxMtime > 0 ? maxMtime : (o.now ?? (() => Date.now() / 1000))();
    const committed = await commitRoot(o, t, opened.liveTarget, rootref, timestamp, p);
    return {
      rootref,
      keys: p.keys,
      blobs: p.blobs,
      timestamp,
      format: archive.format,
      compression: archive.compression,
      store: t.location,
      hash: t.hashType,
      ...(committed ? { committed } : {}),
    };
  } catch (err) {
    progress?.interrupt(); // what a failing batch printed, then a newline before the error
    throw err;
  } finally {
    progress?.flush();
    await notifier?.flush();
    await target?.close();
    await archive.close();
    releaseTemporaries();
  }
}
