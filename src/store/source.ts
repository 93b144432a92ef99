/**
 * One async interface over every content store: content.sqlite and content.files on
 * disk (offline), and a live broker. The walk only ever sees this.
 */
import type { HashType } from '../blobref.js';
import type { Checkpoint } from './checkpoint.js';

export interface ContentStore {
  /** Human-readable location for messages (a path or a URI). */
  readonly location: string;
  /** The store's hash; every blobref it serves uses it. */
  readonly hashType: HashType;
  /** Load one blob by blobref. Rejects with MissingBlobError when the store lacks it. */
  load(blobref: string): Promise<Uint8Array>;
  /** Offline stores can load synchronously; the walk then skips promise overhead. */
  loadSync?(blobref: string): Uint8Array;
  /**
   * Many blobs at once by raw digest (`count` digests of the store's size, packed), in the
   * order asked, each a blob or its error (MissingBlobError when absent). Lets a store
   * fetch in its own physical order (content.sqlite: by rowid).
   */
  loadDigestsSync?(digests: Uint8Array, count: number): (Uint8Array | Error)[];
  /**
   * loadDigestsSync done elsewhere (a load thread), several batches in flight, replies in
   * order. With `verify`, a blob that does not hash to its digest comes back as a
   * CorruptBlobError, so the caller need not hash it again.
   */
  loadDigests?(digests: Uint8Array, count: number, verify: boolean): Promise<(Uint8Array | Error)[]>;
  /** Checkpoints, newest first; empty when there are none. */
  checkpoints(): Promise<Checkpoint[]>;
  /** Root of the running KVS; only a live broker has one (offline stores throw). */
  currentRoot(): Promise<string>;
  close(): Promise<void>;
}

/** A store that can also be written (restore targets). */
export interface WritableContentStore extends ContentStore {
  /** Store blobs; resolves to their blobrefs, in order. Idempotent for existing blobs. */
  storeMany(blobs: readonly Uint8Array[]): Promise<string[]>;
  /** Make everything stored so far durable. */
  flush(): Promise<void>;
  /** Append a checkpoint (after flush); keeps the newest few, as Flux does. */
  putCheckpoint(ckpt: Checkpoint): Promise<void>;
}
