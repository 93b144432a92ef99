/** Small file helpers shared by the sinks, the store reader and writers, and the walk queue. */
import { closeSync, fsyncSync, openSync, readSync, write, writeSync } from 'node:fs';
import { promisify } from 'node:util';

const writeAsync = promisify(write);

/** Write all of `data` at the descriptor's position (writeSync may write less). */
export function writeAll(fd: number, data: Uint8Array): void {
  let off = 0;
  while (off < data.length) off += writeSync(fd, data, off, data.length - off);
}

/** Write all of `bytes` at `position`, on libuv's threads (a write may take less). */
export async function writeAllAt(fd: number, bytes: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < bytes.length) {
    const { bytesWritten } = await writeAsync(fd, bytes, done, bytes.length - done, position + done);
    if (bytesWritten === 0) throw new Error('write wrote nothing');
    done += bytesWritten;
  }
}

/** pread until `len` bytes or end of file; returns bytes read. */
export function readFull(fd: number, dst: Uint8Array, at: number, len: number, pos: number): number {
  let done = 0;
  while (done < len) {
    const n = readSync(fd, dst, at + done, len - done, pos + done);
    if (n === 0) break;
    done += n;
  }
  return done;
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
