/**
 * Let the event loop turn now and then. Signal handlers (SIGINT, SIGTERM: a systemd stop
 * timeout) run only when the loop polls, and a dump from an offline store can go from
 * the first blob to the last without ever leaving the microtask queue: the store reads
 * synchronously and a file sink writes synchronously. A sink that awaits a loop turn at
 * least every TURN_INTERVAL_MS keeps signals prompt at no measurable cost.
 */
import { nowMs } from './clock.js';

/** Longest stretch of synchronous output before the loop gets a turn. */
export const TURN_INTERVAL_MS = 20;

const nextTurn: () => Promise<void> =
  typeof setImmediate === 'function'
    ? () => new Promise((resolve) => setImmediate(resolve))
    : () => new Promise((resolve) => setTimeout(resolve, 0));

/** Returns a function to call after each write: a promise when a turn is due, else undefined. */
export function loopTurner(intervalMs = TURN_INTERVAL_MS): () => Promise<void> | undefined {
  let last = nowMs();
  return () => {
    const now = nowMs();
    if (now - last < intervalMs) return undefined;
    last = now;
    return nextTurn();
  };
}
