/**
 * V8 settings for a small offline store, made by the launcher before the rest of the
 * program loads.
 *
 * Dumping a store of a few hundred jobs takes a fraction of a second, most of it in code
 * that runs once or a few thousand times. V8 still picks the hottest functions for its
 * optimizing compiler, whose work (on background threads, but CPU all the same) is never
 * paid back in so short a run: without it the 100-job sample's dump used ~30% less CPU
 * (bench/results/fixed-costs.md). From a few tens of MiB on, optimized code wins, so
 * bigger stores (and live instances, whose size is unknown here) keep the default.
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';

/** content.sqlite files below this size dump without the optimizing compiler. */
export const SMALL_STORE_BYTES = 16 << 20;

/**
 * Turns the optimizing compiler off if `location` (a --store value: a content.sqlite or
 * a statedir holding one) is a small store; true if it did. Anything unusual about the
 * location is left for the store's opening to report.
 */
export function tuneForSmallStore(location: string | undefined): boolean {
  if (location === undefined || location.includes('://')) return false;
  try {
    const st = statSync(location);
    const size = st.isDirectory() ? statSync(join(location, 'content.sqlite')).size : st.size;
    if (size >= SMALL_STORE_BYTES) return false;
    setFlagsFromString('--no-opt');
    return true;
  } catch {
    return false;
  }
}
