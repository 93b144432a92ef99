/** True for a promise (or any thenable): for APIs that return a value or a promise of it. */
export function isThenable<T>(v: T | Promise<T>): v is Promise<T> {
  return typeof (v as { then?: unknown } | null)?.then === 'function';
}

/** A promise, and whether it has settled yet. */
export interface Tracked<T> {
  readonly promise: Promise<T>;
  settled: boolean;
}

/**
 * `promise` with a flag set once it resolves or rejects: for ordered queues of results
 * that emit finished heads without waiting. A rejection surfaces where `promise` is
 * awaited (at the head of the queue); until then it is not reported as unhandled.
 */
export function tracked<T>(promise: Promise<T>): Tracked<T> {
  const t: Tracked<T> = { promise, settled: false };
  promise.then(
    () => (t.settled = true),
    () => (t.settled = true),
  );
  return t;
}
