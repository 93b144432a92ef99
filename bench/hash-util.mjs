// Shared helpers for the hash/lz4/header benchmarks: interleaved rounds, medians, and
// deterministic inputs. Every figure in a table comes from the same process run.

/** Deterministic pseudo-random bytes (xorshift32). */
export function randomBytes(n, seed = 1) {
  const out = new Uint8Array(n);
  let x = seed | 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 255;
  }
  return out;
}

const gc = globalThis.gc; // present under `node --expose-gc`

/**
 * CPU time of this process in ms (user + system): not inflated by waiting for a core,
 * though still by cache and SMT contention, so runs on a busy machine stay noisy.
 */
function cpuMs() {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

/**
 * Warms every case up for `warmupMs`, then runs each case `rounds` times, interleaved
 * (A B C A B C ...) so drift hits all alike.
 * A case is { name, run(): number } where run returns the units of work it did; each
 * round repeats run() until `minMs` of time elapse. Returns name -> median units per
 * second.
 *
 * Time is this process's CPU time by default (clock 'cpu'): the machines these benches run
 * on are shared, and wall-clock windows of a few hundred ms swung 5x between identical
 * cases when other jobs took the cores. All cases here are single-threaded and
 * synchronous, so CPU time is the work they cost. `clock: 'wall'` uses performance.now().
 *
 * Under `node --expose-gc` each window starts from a collected heap and ends with a timed
 * full collection, so garbage is charged to the case that made it (without it, one
 * case's garbage was collected in the next case's window).
 */
export function measure(cases, { rounds = 5, minMs = 300, clock = 'cpu', warmupMs = 600 } = {}) {
  const now = clock === 'cpu' ? cpuMs : () => performance.now();
  const rates = new Map(cases.map((c) => [c.name, []]));
  // Warm up until steady: V8 runs new WASM code in its baseline tier (Liftoff) and swaps
  // in optimised code from a background compile; the ustar packer needed ~300 ms of CPU
  // to reach its steady rate (10x the first window's).
  for (const c of cases) {
    const t0 = now();
    do c.run();
    while (now() - t0 < warmupMs);
  }
  for (let r = 0; r < rounds; r++) {
    for (const c of cases) {
      let units = 0;
      gc?.(); // not timed: the previous case's garbage
      const t0 = now();
      let t = t0;
      do {
        units += c.run();
        t = now();
      } while (t - t0 < minMs);
      if (gc) {
        gc(); // timed: this case pays for collecting its own garbage
        t = now();
      }
      rates.get(c.name).push((units * 1000) / (t - t0));
    }
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
  return new Map([...rates].map(([k, v]) => [k, median(v)]));
}

export function fmt(n, digits = 0) {
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}
