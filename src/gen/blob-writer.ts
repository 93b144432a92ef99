/**
 * The generator's blob store: hashes blobs (in batches where it can), hands each new one
 * to a RowSink (SQLite in this thread, or in a worker) and returns blobrefs at once, so
 * the tree can be built while rows are still being written.
 */
import { DIGEST_SIZE, formatBlobref, type HashType } from '../blobref.js';
import type { Checkpoint } from '../store/checkpoint.js';
import { getDigester, type Digester } from '../verify/digest.js';
import type { RowSink, RowStats } from './bulk-sqlite.js';

/** Slots of the recent-digest cache (a power of two): 64 Ki x 20-32 bytes. */
const RECENT_SLOTS = 1 << 16;

export interface BlobStats extends RowStats {
  /** put() calls, repeats included: blobs the tree references. */
  blobs: number;
  /** Their uncompressed bytes. */
  bytes: number;
}

export class BlobWriter {
  readonly hash: HashType;
  readonly #sink: RowSink;
  readonly #digester: Digester;
  readonly #recent: RecentDigests;
  #blobs = 0;
  #bytes = 0;

  constructor(sink: RowSink, hash: HashType) {
    this.hash = hash;
    this.#sink = sink;
    this.#digester = getDigester(hash);
    this.#recent = new RecentDigests(DIGEST_SIZE[hash]);
  }

  /** Store one blob; returns its blobref. */
  put(blob: Uint8Array): string {
    const digest = this.#digester.digest(blob);
    this.#store(digest, blob);
    return formatBlobref(this.hash, digest);
  }

  /** Store several blobs, hashed in one batch; returns their blobrefs in order. */
  putMany(blobs: readonly Uint8Array[]): string[] {
    const ds = DIGEST_SIZE[this.hash];
    const digests = this.#digester.digestMany(blobs);
    const refs: string[] = new Array(blobs.length);
    for (let i = 0; i < blobs.length; i++) {
      const digest = digests.subarray(i * ds, (i + 1) * ds);
      this.#store(digest, blobs[i]!);
      refs[i] = formatBlobref(this.hash, digest);
    }
    return refs;
  }

  #store(digest: Uint8Array, blob: Uint8Array): void {
    this.#blobs++;
    this.#bytes += blob.length;
    if (!this.#recent.seen(digest)) this.#sink.add(digest, blob);
  }

  finish(ckpt: Checkpoint | readonly Checkpoint[]): BlobStats {
    return { ...this.#sink.finish(ckpt), blobs: this.#blobs, bytes: this.#bytes };
  }

  abort(): void {
    this.#sink.abort();
  }
}

/**
 * A direct-mapped cache of recent digests: slot = the digest's first bytes (uniformly
 * random), holding the last digest that mapped there. The generator's repeats (the
 * same guest/input in every job, identical directories) recur close together, so
 * nearly all are caught. Lossy by design: a repeat it misses is stored twice and
 * removed after the index build (SqliteRows).
 */
export class RecentDigests {
  readonly #size: number;
  readonly #slots: Uint8Array;
  readonly #used: Uint8Array;

  constructor(digestSize: number) {
    this.#size = digestSize;
    this.#slots = new Uint8Array(RECENT_SLOTS * digestSize);
    this.#used = new Uint8Array(RECENT_SLOTS);
  }

  /** True if `digest` is cached; otherwise caches it (evicting its slot's digest). */
  seen(digest: Uint8Array): boolean {
    const n = this.#size;
    const slot = ((digest[0]! << 8) | digest[1]!) & (RECENT_SLOTS - 1);
    const at = slot * n;
    const slots = this.#slots;
    if (this.#used[slot] === 1) {
      let i = 0;
      while (i < n && slots[at + i] === digest[i]) i++;
      if (i === n) return true;
    }
    slots.set(digest, at);
    this.#used[slot] = 1;
    return false;
  }
}
