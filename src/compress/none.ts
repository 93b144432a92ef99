/** `.tar` and `-`: no compression; bytes pass through unchanged. */
import type { FilterOptions } from './filter.js';

export function noneFilter(_opts: FilterOptions = {}): TransformStream<Uint8Array, Uint8Array> {
  return new TransformStream<Uint8Array, Uint8Array>();
}
