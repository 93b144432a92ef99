/**
 * A compression filter turns the archive byte stream into compressed bytes. Filters are
 * WHATWG TransformStreams so stages compose with pipeThrough(), in Node and Deno alike.
 */
import type { XzEngine } from './codecs.js';

export interface FilterOptions {
  /** Worker threads to use; defaults to the number of cores. */
  threads?: number;
  /**
   * Start the worker pool and load the codec now, not when the first chunk of input is
   * near: for a caller that knows the input is big (a dump of a large store), so the
   * workers boot while the store is opened and the walk starts (~0.3 s of start-up off
   * the critical path). Left unset, a small input never starts a worker.
   */
  prewarm?: boolean;
  /** xz only: the encoder (codecs.ts XzEngine); others ignore it. */
  xzEngine?: XzEngine;
}

export type FilterFactory = (opts: FilterOptions) => TransformStream<Uint8Array, Uint8Array>;
