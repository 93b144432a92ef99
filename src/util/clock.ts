/**
 * Milliseconds on a monotonic clock. In Node the first touch of the `performance` global
 * loads perf_hooks and its dependencies, ~8 ms of a small dump's 0.3 s; process.hrtime is
 * there from start-up. Other runtimes use `performance`.
 */
const hrtime = (globalThis as { process?: { hrtime?: { bigint?: () => bigint } } }).process?.hrtime;

export const nowMs: () => number =
  typeof hrtime?.bigint === 'function' ? () => Number(hrtime.bigint!()) / 1e6 : () => performance.now();
