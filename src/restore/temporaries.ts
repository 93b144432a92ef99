/**
 * Files and directories a restore creates and must not leave behind: the spool of a
 * streamed zip/ISO, and a new content.sqlite while it is being built. Removed by their
 * owners when done; the CLI removes whatever is left when a signal ends the run
 * (systemd's stop timeout sends SIGTERM to a slow restore).
 */
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

const live = new Set<string>();
/** Directories whose files matching a pattern are this process's temporaries. */
const patterns = new Map<string, RegExp>();

/**
 * Files named by `pattern` in `dir` are ours until released: for temporaries another
 * thread creates one by one (content.files blobs written by the store worker).
 */
export function registerTemporaryPattern(dir: string, pattern: RegExp): void {
  patterns.set(dir, pattern);
}

export function releaseTemporaryPattern(dir: string): void {
  patterns.delete(dir);
}

export function registerTemporary(path: string): void {
  live.add(path);
}

export function releaseTemporary(path: string): void {
  live.delete(path);
}

/** Remove every registered temporary now (signal handlers; synchronous on purpose). */
export function removeTemporaries(): void {
  for (const path of live) {
    try {
      rmSync(path, { recursive: true, force: true });
    } catch {
      /* best effort on the way out */
    }
  }
  live.clear();
  for (const [dir, pattern] of patterns) {
    try {
      for (const name of readdirSync(dir)) if (pattern.test(name)) rmSync(join(dir, name), { force: true });
    } catch {
      /* best effort on the way out */
    }
  }
  patterns.clear();
}

/** Threads that may still be creating temporaries: stopped before they are removed. */
const writers = new Set<() => Promise<unknown>>();

export function registerWriterThread(stop: () => Promise<unknown>): void {
  writers.add(stop);
}

export function releaseWriterThread(stop: () => Promise<unknown>): void {
  writers.delete(stop);
}

/** Signal path: stop writer threads (bounded wait), then remove every temporary. */
export async function stopWritersAndRemoveTemporaries(graceMs = 2000): Promise<void> {
  const stops = [...writers].map((stop) => stop().catch(() => undefined));
  writers.clear();
  await Promise.race([Promise.all(stops), new Promise((resolve) => setTimeout(resolve, graceMs).unref())]);
  removeTemporaries();
}
