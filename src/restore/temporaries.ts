/**
 * Files and directories a restore creates and must not leave behind: the spool of a
 * streamed zip/ISO, and a new content.sqlite while it is being built. Removed by their
 * owners when done; the CLI removes whatever is left when a signal ends the run
 * (systemd's stop timeout sends SIGTERM to a slow restore).
 */
import { rmSync } from 'node:fs';

const live = new Set<string>();

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
}
