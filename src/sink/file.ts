/**
 * Output to a file, atomically: bytes go to a temporary beside OUTFILE, which is fsynced
 * and renamed over OUTFILE only when the archive is complete. On any failure the
 * temporary is removed, so OUTFILE is never left half-written and a previous OUTFILE
 * stays as it was. Only `kill -9` (or a crash of the machine) can leave the temporary;
 * the next dump to the same OUTFILE removes such leftovers of processes that are gone.
 */
import { readdirSync, renameSync, unlinkSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { FluxError } from '../errors.js';
import { releaseChunk } from '../util/chunk-recycler.js';
import { fsyncPath, processAlive } from '../util/fs.js';
import { AppendWriter } from './direct-writer.js';

/** `.OUTFILE.PID.RANDOM.tmp`: hidden, and the PID tells a leftover from a live dump. */
export function tempPathFor(outfile: string): string {
  const rand = Math.random().toString(36).slice(2, 8);
  return join(dirname(outfile), `.${basename(outfile)}.${process.pid}.${rand}.tmp`);
}

/** Temporaries of interrupted runs, so a signal handler can remove them. */
export const liveTemporaries = new Set<string>();


/**
 * Remove temporaries for `outfile` left by dumps that were killed (their process no
 * longer exists). Repeated stop timeouts would otherwise fill the disk, a dump each time.
 * Returns the names removed.
 */
export function removeStaleTemporaries(outfile: string): string[] {
  const dir = dirname(outfile);
  const prefix = `.${basename(outfile)}.`;
  const removed: string[] = [];
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return removed; // the create below reports an unusable directory
  }
  for (const name of names) {
    if (!name.startsWith(prefix) || !name.endsWith('.tmp')) continue;
    const m = /^(\d+)\.[0-9a-z]+\.tmp$/.exec(name.slice(prefix.length));
    if (!m || Number(m[1]) === process.pid || processAlive(Number(m[1]))) continue;
    try {
      unlinkSync(join(dir, name));
      removed.push(name);
    } catch {
      /* raced with someone else's cleanup, or not ours to remove */
    }
  }
  return removed;
}

/** `directIo`: write with O_DIRECT where the filesystem allows (default; FLUXDUMP_DIRECT_IO=0 turns it off). */
export function fileSink(outfile: string, opts: { directIo?: boolean } = {}): WritableStream<Uint8Array> {
  removeStaleTemporaries(outfile);
  const tmp = tempPathFor(outfile);
  let out: AppendWriter;
  try {
    out = new AppendWriter(tmp, 0o644, { direct: opts.directIo ?? true });
  } catch (err) {
    throw new FluxError(`${outfile}: cannot create: ${(err as Error).message}`, (err as NodeJS.ErrnoException).code ?? 'EIO');
  }
  liveTemporaries.add(tmp);
  const discard = () => {
    out.close();
    try {
      unlinkSync(tmp);
    } catch {
      /* already gone */
    }
    liveTemporaries.delete(tmp);
  };
  // Writes and the final fsync run on libuv's threads: the walk fills the next chunks
  // meanwhile, and the event loop stays free for signals. Direct I/O where possible.
  return new WritableStream<Uint8Array>(
    {
      async write(chunk) {
        try {
          await out.write(chunk);
          releaseChunk(chunk); // written (or staged): the packer may refill it
        } catch (err) {
          discard();
          throw new FluxError(`${outfile}: write error: ${(err as Error).message}`, (err as NodeJS.ErrnoException).code ?? 'EIO');
        }
      },
      async close() {
        try {
          await out.finish();
          out.close();
          renameSync(tmp, outfile);
          liveTemporaries.delete(tmp);
          // The rename is durable only once the directory is: Flux's next start may
          // truncate its store and restore from this file.
          fsyncPath(dirname(outfile));
        } catch (err) {
          discard();
          // The last staged bytes are written here: a failed write says so, as in write().
          const what = (err as NodeJS.ErrnoException).syscall === 'write' ? 'write error: ' : '';
          throw new FluxError(`${outfile}: ${what}${(err as Error).message}`, (err as NodeJS.ErrnoException).code ?? 'EIO');
        }
      },
      abort() {
        discard();
      },
    },
    // Chunks the walk may run ahead of the disk (1 MiB each).
    new CountQueuingStrategy({ highWaterMark: WRITE_AHEAD_CHUNKS }),
  );
}

const WRITE_AHEAD_CHUNKS = 8;
