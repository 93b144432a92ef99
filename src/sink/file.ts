/**
 * Output to a file, atomically: bytes go to a temporary beside OUTFILE, which is fsynced
 * and renamed over OUTFILE only when the archive is complete. On any failure the
 * temporary is removed, so OUTFILE is never left half-written.
 */
import { closeSync, fsyncSync, openSync, renameSync, unlinkSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { FluxError } from '../errors.js';
import { writeAll } from '../util/fs.js';

export function tempPathFor(outfile: string): string {
  const rand = Math.random().toString(36).slice(2, 8);
  return join(dirname(outfile), `.${basename(outfile)}.${process.pid}.${rand}.tmp`);
}

/** Temporaries of interrupted runs, so a signal handler can remove them. */
export const liveTemporaries = new Set<string>();

export function fileSink(outfile: string): WritableStream<Uint8Array> {
  const tmp = tempPathFor(outfile);
  let fd: number;
  try {
    fd = openSync(tmp, 'wx', 0o644);
  } catch (err) {
    throw new FluxError(`${outfile}: cannot create: ${(err as Error).message}`, (err as NodeJS.ErrnoException).code ?? 'EIO');
  }
  liveTemporaries.add(tmp);
  const discard = () => {
    try {
      closeSync(fd);
    } catch {
      /* already closed */
    }
    try {
      unlinkSync(tmp);
    } catch {
      /* already gone */
    }
    liveTemporaries.delete(tmp);
  };
  return new WritableStream<Uint8Array>({
    write(chunk) {
      try {
        writeAll(fd, chunk);
      } catch (err) {
        discard();
        throw new FluxError(`${outfile}: write error: ${(err as Error).message}`, (err as NodeJS.ErrnoException).code ?? 'EIO');
      }
    },
    close() {
      try {
        fsyncSync(fd);
        closeSync(fd);
        renameSync(tmp, outfile);
        liveTemporaries.delete(tmp);
      } catch (err) {
        discard();
        throw new FluxError(`${outfile}: ${(err as Error).message}`, (err as NodeJS.ErrnoException).code ?? 'EIO');
      }
    },
    abort() {
      discard();
    },
  });
}
