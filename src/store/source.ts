/**
 * One async interface over every content store: content.sqlite and content.files on
 * disk (offline), and a live broker. The walk only ever sees this.
 */
import { parseBlobref, type HashType } from '../blobref.js';
import { MissingBlobError } from '../errors.js';
import type { Checkpoint } from './checkpoint.js';

/** A blob, or why it could not be loaded (MissingBlobError when the store lacks it). */
export type LoadResult = Uint8Array | Error;

/**
 * How a loader wants to be driven: `batch` digests per loadBatch call, at most
 * `inflight` calls unanswered and `window` calls not yet handled by the caller (in
 * flight, answered, or being handled). The walk keeps its loads inside this window.
 */
export interface LoadWindow {
  batch: number;
  inflight: number;
  window: number;
}

/**
 * The one way blobs are loaded: a batch of raw digests, answered in the order asked.
 * Offline stores answer at once (a store may read the batch in its own physical order:
 * content.sqlite by rowid); a load thread or a broker answers later, several batches in
 * flight. A rejection (or a throw) means the store itself failed; a blob that cannot be
 * loaded is its own error in the results.
 */
export interface BlobLoader {
  /** The store's hash; every digest asked is of its size. */
  readonly hashType: HashType;
  /** `count` digests of the store's size, packed in `digests`; the caller keeps the bytes. */
  loadBatch(digests: Uint8Array, count: number): LoadResult[] | Promise<LoadResult[]>;
  /** The window to drive loadBatch in; `maxreqs` is the user's --maxreqs (live loads). */
  loadWindow(maxreqs: number): LoadWindow;
}

export interface ContentStore extends BlobLoader {
  /** Human-readable location for messages (a path or a URI). */
  readonly location: string;
  /** Checkpoints, newest first; empty when there are none. */
  checkpoints(): Promise<Checkpoint[]>;
  /** Root of the running KVS; only a live broker has one (offline stores throw). */
  currentRoot(): Promise<string>;
  close(): Promise<void>;
}

/** A store restore writes into (its writers, and a live broker). */
export interface WritableContentStore {
  /** Human-readable location for messages (a path or a URI). */
  readonly location: string;
  /** The store's hash; every blobref it returns uses it. */
  readonly hashType: HashType;
  /** Store blobs; resolves to their blobrefs, in order. Idempotent for existing blobs. */
  storeMany(blobs: readonly Uint8Array[]): Promise<string[]>;
  /** Make everything stored so far durable. */
  flush(): Promise<void>;
  /** Append a checkpoint (after flush); keeps the newest few, as Flux does. */
  putCheckpoint(ckpt: Checkpoint): Promise<void>;
  /** Checkpoints, newest first; empty when there are none. */
  checkpoints(): Promise<Checkpoint[]>;
  close(): Promise<void>;
}

/** One blob by blobref, through the batch loader (tools and tests); rejects with its error. */
export async function loadBlob(store: BlobLoader, blobref: string): Promise<Uint8Array> {
  const { hash, digest } = parseBlobref(blobref);
  if (hash !== store.hashType) throw new MissingBlobError(`${blobref}: No such file or directory (store uses ${store.hashType})`);
  const [r] = await store.loadBatch(digest, 1);
  if (r instanceof Uint8Array) return r;
  throw r;
}
