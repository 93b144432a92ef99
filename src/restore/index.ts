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
import type { HashType } from '../blobref.js';
import { LiveRestoreTarget } from '../broker/restore-target.js';
import type { Compression } from '../compress/decompress.js';
import { makeSdNotifier, type SdNotifier } from '../cli/sd-notify.js';
import { DEFAULT_SETTINGS, type RunSettings } from '../cli/settings.js';
import { FluxError } from '../errors.js';
import { getDigester, initWasm } from '../verify/digest.js';
import { installWasmLz4 } from '../wasm/lz4.js';
import { overLimit } from './entry.js';
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

export async function restore(o: RestoreOptions): Promise<RestoreResult> {
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
  const settings = o.settings ?? DEFAULT_SETTINGS;
  const write = o.write ?? ((s: string) => void process.stderr.write(s));
  const quiet = o.quiet ?? false;

  // WASM hashing (many small blobs per call) and LZ4; without them the TS/node:crypto
  // fallbacks give the same bytes, only slower.
  await Promise.all([initWasm().catch(() => undefined), installWasmLz4().catch(() => undefined)]);

  const archive = await openArchive(o.input, { sizeLimit, ...(o.stdin ? { stdin: o.stdin } : {}) });
  // A new content.sqlite is built under a temporary name (see SqliteWriter): known here,
  // so a signal handler can remove it even while the store worker owns it.
  const building = live ? undefined : newStoreTemp(location);
  if (building !== undefined) registerTemporary(building);
  // content.files blobs are written by the store worker under `.NAME.tmp-PID-N`.
  const filesDir = live ? undefined : filesTargetDir(location);
  if (filesDir !== undefined) registerTemporaryPattern(filesDir, ownBlobTemporaries());
  let target: RestoreTarget | undefined;
  let liveTarget: LiveRestoreTarget | undefined;
  let notifier: SdNotifier | undefined;
  let progress: RestoreProgress | undefined;
  try {
    if (live) {
      // --checkpoint: open refuses while the KVS runs. The instance's content.hash decides.
      liveTarget = await LiveRestoreTarget.open(location, {
        checkpoint: o.checkpoint ?? false,
        noCache: o.noCache ?? false,
        maxreqs,
        namespace: settings.namespace,
      });
      target = liveTarget;
    } else {
      const workerPath = (o.storeWorker ?? storeWorkerByDefault()) ? storeWorkerPath() : undefined;
      target = workerPath !== undefined ? await WorkerTarget.open(workerPath, { location, hash: o.hash }) : openTarget(location, o.hash);
    }
    const t = target;
    if (o.hash !== undefined && !t.createdHash && t.hashType !== o.hash) {
      const holds = live ? `uses ${t.hashType} (content.hash)` : `already holds ${t.hashType} blobs`;
      write(`flux-restore: ${t.location} ${holds}; ignoring --hash=${o.hash}\n`);
    }
    if (o.sdNotify) {
      // Live: state-machine.sd-notify through the broker, as flux-core does.
      notifier = liveTarget ? liveTarget.sdNotifier() : makeSdNotifier((msg) => write(`flux-restore: ${msg}\n`), settings.notifyEnv);
    }
    const p = new RestoreProgress({ quiet, verbose: o.verbose ?? false, write, notifier });
    progress = p;

    const digester = getDigester(t.hashType);
    const ds = digester.digestSize;
    /** Hash and store blobs, at most maxreqs per store call; their digests, concatenated. */
    /** `keys`: whose values the blobs are (a live store failure names the key). */
    const storeBlobs = async (blobs: Uint8Array[], keys?: string[]): Promise<Uint8Array> => {
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

    const tree = new KvsTree(t.hashType);
    let maxMtime = 0;
    const where = o.input === '-' ? 'stdin' : o.input;
    const limits = { sizeLimit, where };
    const parts: string[][] = [];
    for await (const batch of archive.entries) {
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

    const rootref = await tree.storeDirectories((dirs) => {
      p.addBlobs(dirs.length);
      return storeBlobs(dirs);
    }, maxreqs);
    const timestamp = maxMtime > 0 ? maxMtime : (o.now ?? (() => Date.now() / 1000))();
    let committed: RestoreResult['committed'];
    if (o.checkpoint) {
      const ckpt = { version: 1, rootref, sequence: 0, timestamp };
      // Offline: blobs durable before the checkpoint that names them. Live, as flux-core:
      // the checkpoint first (a broker without backing store refuses it with its reason),
      // then content.flush (nothing with --no-cache).
      if (!liveTarget) await t.flush();
      p.end();
      if (!quiet) p.message(`writing snapshot ${shortBlobref(rootref)} to checkpoint for next KVS start`);
      await t.putCheckpoint(ckpt);
      if (liveTarget) await t.flush();
    } else {
      // --key (live only, checked above): commit first, then flush, as flux-core does.
      p.end();
      if (!quiet) p.message(`writing snapshot ${shortBlobref(rootref)} to KVS key '${o.key!}'`);
      committed = await liveTarget!.commit(o.key!, rootref);
      await liveTarget!.flush();
    }
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
    if (building !== undefined) releaseTemporary(building);
    if (filesDir !== undefined) releaseTemporaryPattern(filesDir);
  }
}
