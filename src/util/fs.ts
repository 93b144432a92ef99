/** Small synchronous file helpers shared by the sinks and the store writers. */
import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';

/** Write all of `data` at the descriptor's position (writeSync may write less). */
export function writeAll(fd: number, data: Uint8Array): void {
  let off = 0;
  while (off < data.length) off += writeSync(fd, data, off, data.length - off);
}

/** fsync a file (or directory) by path. */
export function fsyncPath(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Is process `pid` still running? (EPERM: yes, someone else's.) Tells a killed run's leftovers from a live one's. */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}
