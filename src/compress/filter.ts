/**
 * A compression filter turns the archive byte stream into compressed bytes. Filters are
 * WHATWG TransformStreams so stages compose with pipeThrough(), in Node and Deno alike.
 */
export interface FilterOptions {
  /** Worker threads to use; defaults to the number of cores. */
  threads?: number;
}

export type FilterFactory = (opts: FilterOptions) => TransformStream<Uint8Array, Uint8Array>;
