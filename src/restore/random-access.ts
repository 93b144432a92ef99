/**
 * Positioned reads for the formats that need them (zip's central directory sits at the
 * end; ISO 9660 directories point anywhere). A plain file is read in place; a stream
 * (stdin, or anything compressed) is first spooled to a temporary file, so memory stays
 * bounded whatever the archive size.
 */
import { open, mkdtemp, rm, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FluxError } from '../errors.js';
import { registerTemporary, releaseTemporary } from './temporaries.js';

const SPOOL_BUFFER = 1 << 20;

export interface RandomAccess {
  readonly size: number;
  /** Exactly `length` bytes at `offset`; throws a FluxError past the end. */
  read(offset: number, length: number): Promise<Uint8Array>;
  close(): Promise<void>;
}

class FileRandomAccess implements RandomAccess {
  readonly size: number;
  readonly #fh: FileHandle;
  readonly #where: string;
  readonly #onClose: (() => Promise<void>) | undefined;

  constructor(fh: FileHandle, size: number, where: string, onClose?: () => Promise<void>) {
    this.#fh = fh;
    this.size = size;
    this.#where = where;
    this.#onClose = onClose;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    if (!(offset >= 0 && length >= 0 && offset + length <= this.size)) { // NaN too
      throw new FluxError(`${this.#where}: truncated archive: ${length} bytes at offset ${offset} are past its end (${this.size} bytes)`, 'EPROTO');
    }
    const buf = new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.#fh.read(buf, done, length - done, offset + done);
      if (bytesRead === 0) throw new FluxError(`${this.#where}: unexpected end of file at offset ${offset + done}`, 'EPROTO');
      done += bytesRead;
    }
    return buf;
  }

  async close(): Promise<void> {
    await this.#fh.close();
    await this.#onClose?.();
  }
}

/** Positioned reads over bytes already in memory (tests, fuzzing, small inputs). */
export function bytesRandomAccess(bytes: Uint8Array, where: string): RandomAccess {
  return {
    size: bytes.length,
    async read(offset: number, length: number): Promise<Uint8Array> {
      if (!(offset >= 0 && length >= 0 && offset + length <= bytes.length)) {
        throw new FluxError(`${where}: truncated archive: ${length} bytes at offset ${offset} are past its end (${bytes.length} bytes)`, 'EPROTO');
      }
      return bytes.slice(offset, offset + length);
    },
    async close(): Promise<void> {},
  };
}

export async function openFileRandomAccess(path: string, where = path): Promise<RandomAccess> {
  const fh = await open(path, 'r');
  const { size } = await fh.stat();
  return new FileRandomAccess(fh, size, where);
}

/** Copy a stream into a private temporary file (removed on close) and read that. */
export async function spoolToRandomAccess(chunks: AsyncIterable<Uint8Array>, where: string): Promise<RandomAccess> {
  const dir = await mkdtemp(join(tmpdir(), 'flux-restore-'));
  registerTemporary(dir);
  const remove = async () => {
    await rm(dir, { recursive: true, force: true });
    releaseTemporary(dir);
  };
  try {
    const path = join(dir, 'spool');
    const fh = await open(path, 'w+', 0o600);
    let size = 0;
    // small chunks are gathered so the file sees few, large writes
    const buf = new Uint8Array(SPOOL_BUFFER);
    let used = 0;
    const writeOut = async (bytes: Uint8Array) => {
      for (let off = 0; off < bytes.length; ) {
        const { bytesWritten } = await fh.write(bytes, off, bytes.length - off, size);
        off += bytesWritten;
        size += bytesWritten;
      }
    };
    try {
      for await (const chunk of chunks) {
        if (used + chunk.length > buf.length) {
          await writeOut(buf.subarray(0, used));
          used = 0;
        }
        if (chunk.length >= buf.length) await writeOut(chunk);
        else {
          buf.set(chunk, used);
          used += chunk.length;
        }
      }
      await writeOut(buf.subarray(0, used));
    } catch (err) {
      await fh.close();
      throw err;
    }
    return new FileRandomAccess(fh, size, where, remove);
  } catch (err) {
    await remove();
    throw err;
  }
}

/**
 * Reads through a sliding window, so walking records in file order costs one read per
 * window rather than one per record. Returned views stay valid (windows are replaced,
 * never overwritten).
 */
export class WindowedReader {
  readonly #ra: RandomAccess;
  readonly #windowSize: number;
  #win: Uint8Array = new Uint8Array(0);
  #winStart = 0;

  constructor(ra: RandomAccess, windowSize = 1 << 20) {
    this.#ra = ra;
    this.#windowSize = windowSize;
  }

  get size(): number {
    return this.#ra.size;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    const rel = offset - this.#winStart;
    if (rel >= 0 && rel + length <= this.#win.length) return this.#win.subarray(rel, rel + length);
    if (length >= this.#windowSize) return this.#ra.read(offset, length);
    const n = Math.min(this.#windowSize, this.#ra.size - offset);
    this.#win = await this.#ra.read(offset, Math.max(n, length));
    this.#winStart = offset;
    return this.#win.subarray(0, length);
  }
}
