#!/usr/bin/env -S MALLOC_ARENA_MAX=2 UV_THREADPOOL_SIZE=6 node --max-semi-space-size=8
/**
 * flux-dump [OPTIONS] OUTFILE: archive a Flux KVS snapshot (the CLI is dump-main.ts).
 *
 * This file stays small on purpose: before the rest of the program is loaded it starts
 * the load thread of an offline content.sqlite big enough to get one, so that thread's
 * own start-up and digest table (a quarter second at 100,000 jobs) overlap the main
 * thread's instead of following it; and a small store's dump runs without V8's
 * optimizing compiler, which would not pay for itself (small-store.ts).
 *
 * The shebang caps V8's young generation (8 MiB semi-spaces instead of 16): the walk
 * allocates little per key, so a smaller nursery costs no CPU, and it takes 40-70 MiB
 * off the peak RSS of a large dump. MALLOC_ARENA_MAX=2 keeps glibc from giving each
 * thread (walk, load thread, compression workers, libuv) its own malloc arena: ~20 MiB
 * less at the peak of a 1M-key .tar.gz dump, no measurable speed (BENCHMARKS.md, "Scale
 * and memory").
 * UV_THREADPOOL_SIZE=6: gzip members compress on libuv's pool (4 at once, see
 * compress/chunked.ts) beside the archive's file writes, which must not queue behind them.
 */
import { prestartLoadThread } from '../store/load-thread.js';
import { tuneForSmallStore } from './small-store.js';
import { settingsFromEnv } from './settings.js';

prestartLoadThread(storeOperand(process.argv.slice(2)), settingsFromEnv(process.env).loadThread);
tuneForSmallStore(storeOperand(process.argv.slice(2)));
const { main } = await import('./dump-main.js');
const { installSignalCleanup, runMain } = await import('./run.js');
installSignalCleanup('flux-dump');
runMain('flux-dump', main);

/** The --store value, if given (the full parse, with its errors, comes later). */
function storeOperand(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') return undefined;
    if (a.startsWith('--store=')) return a.slice('--store='.length);
    if (a === '--store') return argv[i + 1];
  }
  return undefined;
}
