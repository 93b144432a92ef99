/** True for a promise (or any thenable): for APIs that return a value or a promise of it. */
export function isThenable<T>(v: T | Promise<T>): v is Promise<T> {
  return typeof (v as { then?: unknown } | null)?.then === 'function';
}
