/**
 * Opt-in measurement of the load a dump puts on its source, for bench/maxreqs.mjs: with
 * FLUXDUMP_STATS=FILE in the environment (the run's settings: src/cli/settings.ts), each store (a broker connection, or an offline
 * store's load calls) appends one JSON line to FILE when the process exits:
 *
 *   {"source":"broker","requests":22209,"blobs":22209,"bytes":9612345,"maxInflight":64,
 *    "meanInflight":61.8,"p50Ms":1.21,"p99Ms":2.73,"meanMs":1.30,"spanMs":480.2}
 *
 * requests: RPCs (broker) or load calls (offline: one call may load a batch of blobs);
 * in flight: requests sent and not answered, time-weighted mean over the span from the
 * first request to the last answer, and the maximum; latency: from the request to its
 * answer, measured here on the client side (p50/p99 from a log-scale histogram, ~3%).
 * Without the variable nothing is created: the stores hold `undefined` and skip it.
 */
import { appendFileSync } from 'node:fs';
import type { ContentStore, LoadResult } from './source.js';
import { nowMs } from '../util/clock.js';

/** Histogram: SUB buckets per power of two of microseconds, up to 2^BITS us (~71 min). */
const SUB = 32;
const BITS = 32;

export class LoadStats {
  readonly source: string;
  requests = 0;
  blobs = 0;
  bytes = 0;
  #inflight = 0;
  #maxInflight = 0;
  /** Integral of in-flight requests over time (request-ms). */
  #area = 0;
  #first = -1;
  #last = 0;
  #latencySum = 0;
  #answered = 0;
  readonly #hist = new Float64Array(SUB * BITS);

  /** `now` (tests): the clock, in milliseconds. */
  constructor(source: string, readonly now: () => number = nowMs) {
    this.source = source;
  }

  #advance(now: number): void {
    if (this.#first < 0) this.#first = now;
    else this.#area += this.#inflight * (now - this.#last);
    this.#last = now;
  }

  /** A request goes out; returns its start time for end(). */
  begin(): number {
    const now = this.now();
    this.#advance(now);
    this.requests++;
    if (++this.#inflight > this.#maxInflight) this.#maxInflight = this.#inflight;
    return now;
  }

  /** The request that began at `t0` is answered with `blobs` blobs of `bytes` bytes. */
  end(t0: number, blobs = 1, bytes = 0): void {
    const now = this.now();
    this.#advance(now);
    this.#inflight--;
    this.blobs += blobs;
    this.bytes += bytes;
    const ms = now - t0;
    this.#latencySum += ms;
    this.#answered++;
    this.#hist[bucket(ms * 1000)]!++;
  }

  /** Requests that will never be answered (connection lost). */
  abandon(count: number): void {
    if (count <= 0) return;
    this.#advance(this.now());
    this.#inflight = Math.max(0, this.#inflight - count);
  }

  #quantile(q: number): number {
    const target = q * this.#answered;
    let seen = 0;
    for (let i = 0; i < this.#hist.length; i++) {
      seen += this.#hist[i]!;
      if (seen >= target && seen > 0) return bucketMid(i) / 1000;
    }
    return 0;
  }

  summary(): Record<string, number | string> {
    const span = this.#first < 0 ? 0 : this.#last - this.#first;
    const round = (x: number) => Math.round(x * 1000) / 1000;
    return {
      source: this.source,
      requests: this.requests,
      blobs: this.blobs,
      bytes: this.bytes,
      maxInflight: this.#maxInflight,
      meanInflight: round(span > 0 ? this.#area / span : this.#maxInflight),
      p50Ms: round(this.#quantile(0.5)),
      p99Ms: round(this.#quantile(0.99)),
      meanMs: round(this.#answered > 0 ? this.#latencySum / this.#answered : 0),
      spanMs: round(span),
    };
  }
}

/** Log-linear bucket of a value in microseconds. */
function bucket(us: number): number {
  if (!(us >= 1)) return 0;
  const exp = Math.min(BITS - 1, Math.floor(Math.log2(us)));
  const frac = us / 2 ** exp - 1; // [0, 1)
  return exp * SUB + Math.min(SUB - 1, Math.floor(frac * SUB));
}

function bucketMid(i: number): number {
  const exp = Math.floor(i / SUB);
  return 2 ** exp * (1 + ((i % SUB) + 0.5) / SUB);
}

const open: LoadStats[] = [];
let hooked = false;

/** A LoadStats for `source` whose summary goes to `file` at exit; undefined without a file. */
export function loadStatsTo(file: string | undefined, source: string): LoadStats | undefined {
  if (!file) return undefined;
  const s = new LoadStats(source);
  open.push(s);
  if (!hooked) {
    hooked = true;
    process.once('exit', () => {
      const lines = open.filter((x) => x.requests > 0).map((x) => JSON.stringify(x.summary()) + '\n');
      try {
        if (lines.length > 0) appendFileSync(file, lines.join(''));
      } catch {
        /* measurement only: never fail the dump over it */
      }
    });
  }
  return s;
}

const blobBytes = (rs: readonly LoadResult[]) => rs.reduce((n, r) => n + (r instanceof Uint8Array ? r.length : 0), 0);

/**
 * The store with every loadBatch call timed into `stats`: a "request" is one call (a
 * batch), its latency the call's duration. Everything else goes to the store untouched.
 */
export function withLoadStats(store: ContentStore, stats: LoadStats): ContentStore {
  return {
    get location() {
      return store.location;
    },
    get hashType() {
      return store.hashType;
    },
    loadWindow: (maxreqs) => store.loadWindow(maxreqs),
    loadBatch(digests, count) {
      const t0 = stats.begin();
      const rs = store.loadBatch(digests, count);
      if (Array.isArray(rs)) {
        stats.end(t0, count, blobBytes(rs));
        return rs;
      }
      return rs.then((r) => {
        stats.end(t0, count, blobBytes(r));
        return r;
      });
    },
    checkpoints: () => store.checkpoints(),
    currentRoot: () => store.currentRoot(),
    close: () => store.close(),
  };
}
