/**
 * flux-restore into a running instance: the live counterpart of the offline restore
 * targets (src/restore/target.ts's RestoreTarget shape). Restore hashes blobs itself and
 * hands them over with their digests; here they go out as content.store requests, at
 * most --maxreqs in flight, and each digest the broker answers must equal ours.
 *
 * Order of RPCs, as flux-core 0.88 does it (see the restore-key capture):
 *   open        attr.get content.hash (the digests restore computes depend on it);
 *               with --checkpoint first kvs.getroot, which must answer ENOSYS
 *   putDigested content.store ... (content-backing.store on rank 0 with --no-cache);
 *               resolves when the broker has answered for all of them
 *   --key:        drain(), commit(key, rootref) = kvs.commit, then flush() = content.flush
 *   --checkpoint: putCheckpoint() = content.checkpoint-put (content-backing.checkpoint-put
 *                 with --no-cache), then flush() = content.flush: without a backing store
 *                 the checkpoint is refused first, with the broker's own reason
 *   --no-cache: no content.flush (content-backing.store wrote through already)
 */
import { formatBlobref, type HashType } from '../blobref.js';
import { FluxError } from '../errors.js';
import type { Checkpoint } from '../store/checkpoint.js';
import { BrokerStore, type BrokerStoreOptions, type LiveNotifier } from './store.js';

export interface LiveRestoreOptions extends BrokerStoreOptions {
  /** --checkpoint: refuse while the KVS runs. */
  checkpoint?: boolean;
}

interface Queued {
  digest: Uint8Array;
  blob: Uint8Array;
  /** The key whose value this is (named when its store fails); none for directories. */
  key: string | undefined;
}

const DEFAULT_MAXREQS = 256;

export class LiveRestoreTarget {
  readonly location: string;
  readonly hashType: HashType;
  /** The instance decides its hash; --hash never applies. */
  readonly createdHash = false;
  readonly store: BrokerStore;
  readonly #maxreqs: number;
  readonly #digestSize: number;
  #queue: Queued[] = [];
  #qhead = 0;
  #inflight = 0;
  #error: unknown;
  #idle: (() => void)[] = [];

  private constructor(store: BrokerStore, hashType: HashType, maxreqs: number) {
    this.store = store;
    this.location = store.location;
    this.hashType = hashType;
    this.#maxreqs = maxreqs;
    this.#digestSize = hashType === 'sha1' ? 20 : 32;
  }

  static async open(uri: string, opts: LiveRestoreOptions = {}): Promise<LiveRestoreTarget> {
    const store = await BrokerStore.open(uri, opts);
    try {
      if (opts.checkpoint) await store.assertKvsUnloaded();
      const hash = await store.resolveHashType();
      return new LiveRestoreTarget(store, hash, Math.max(1, opts.maxreqs ?? DEFAULT_MAXREQS));
    } catch (err) {
      await store.close();
      throw err;
    }
  }

  /** Blobs stored, or still on their way. */
  get pending(): number {
    return this.#queue.length - this.#qhead + this.#inflight;
  }

  /**
   * Store blobs whose digests the caller computed (concatenated, in order): at most
   * maxreqs content.store requests in flight. Resolves once the broker has answered for
   * every one of them (the caller may then reuse the blobs); rejects with the first
   * failure, or when a digest the broker returns is not ours.
   */
  putDigested(digests: Uint8Array, blobs: readonly Uint8Array[], keys?: readonly string[]): Promise<void> {
    if (digests.length !== blobs.length * this.#digestSize) {
      return Promise.reject(new FluxError(`putDigested: ${digests.length} digest bytes for ${blobs.length} blobs`, 'EINVAL'));
    }
    for (let i = 0; i < blobs.length; i++) {
      this.#queue.push({ digest: digests.subarray(i * this.#digestSize, (i + 1) * this.#digestSize), blob: blobs[i]!, key: keys?.[i] });
    }
    this.#pump();
    return this.drain();
  }

  #pump(): void {
    while (this.#inflight < this.#maxreqs && this.#qhead < this.#queue.length && this.#error === undefined) {
      const q = this.#queue[this.#qhead]!;
      this.#queue[this.#qhead++] = undefined as unknown as Queued;
      this.#inflight++;
      this.store.store(q.blob, q.key).then(
        (ref) => this.#stored(q, ref),
        (err: unknown) => this.#failed(err),
      );
    }
    if (this.#qhead === this.#queue.length) {
      this.#queue = [];
      this.#qhead = 0;
    }
    if (this.pending === 0 || this.#error !== undefined) for (const wake of this.#idle.splice(0)) wake();
  }

  #stored(q: Queued, ref: string): void {
    this.#inflight--;
    const ours = formatBlobref(this.hashType, q.digest);
    if (ref !== ours) this.#failed(new FluxError(`${this.location}: content.store of a ${q.blob.length}-byte blob returned ${ref}, expected ${ours}`, 'EPROTO'), false);
    this.#pump();
  }

  #failed(err: unknown, inflight = true): void {
    if (inflight) this.#inflight--;
    if (this.#error === undefined) this.#error = err;
    this.#pump();
  }

  /** Resolve when every queued blob is stored; reject with the first failure. */
  async drain(): Promise<void> {
    while (this.pending > 0 && this.#error === undefined) await new Promise<void>((resolve) => this.#idle.push(resolve));
    if (this.#error !== undefined) throw this.#error;
  }

  /** All stores answered, then content.flush (nothing under --no-cache). */
  async flush(): Promise<void> {
    await this.drain();
    await this.store.flush();
  }

  /** --checkpoint: after flush(). */
  async putCheckpoint(ckpt: Checkpoint): Promise<void> {
    await this.drain();
    await this.store.putCheckpoint(ckpt);
  }

  /** --key: commit the restored root as a dirref at `key` (call before flush(), as flux-core does). */
  async commit(key: string, rootref: string): Promise<{ rootref: string; rootseq: number }> {
    await this.drain();
    return this.store.commit(key, rootref);
  }

  /** --sd-notify: state-machine.sd-notify through the broker. */
  sdNotifier(): LiveNotifier {
    return this.store.sdNotifier();
  }

  async close(): Promise<void> {
    await this.store.close();
  }
}
