/**
 * A FIFO of variable-length byte records that keeps memory flat: records live in 1 MiB
 * chunks; once more than a few chunks are queued, the middle ones go to an unlinked
 * temporary file and come back, in order, when the reader gets to them.
 *
 * The walk's queue is breadth-first: on a store of millions of keys it holds every value
 * of a whole tree level at once (several per job). As JS objects that was hundreds of MiB
 * and most of the garbage collector's work; as bytes it is ~70 B per pending load, and
 * past SPILL_AFTER it costs disk, not memory. The file is unlinked as soon as it is
 * created, so nothing is left behind whatever way the process ends.
 *
 * Spilled chunks are written on libuv's threads (the walk's thread was spending 0.14 s
 * per 100,000 jobs in write calls), and a chunk the reader reaches before its write
 * ends is read from memory. Chunk buffers are reused: a fresh 1 MiB buffer costs its
 * page faults again on every fill.
 */
import { closeSync, mkdtempSync, openSync, rmdirSync, unlinkSync } from 'node:fs';
import { FluxError } from '../errors.js';
import { readFull, writeAllAt } from '../util/fs.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const CHUNK_BYTES = 1 << 20;
/** Chunks kept in memory (head, tail and those between) before the rest is spilled. */
const SPILL_AFTER = 8;
/** Emptied chunk buffers kept for reuse. */
const SPARE_CHUNKS = 2;

/** A chunk in the spill file; `buf` holds its bytes until their write has ended. */
interface Spilled {
  len: number;
  buf: Uint8Array | null;
}

export interface FifoOptions {
  /** Directory for the spill file (default: the OS temporary directory). */
  spillDir?: string;
  chunkBytes?: number;
  spillAfter?: number;
}

export class ByteFifo {
  /** In-memory chunks after the spilled ones (the last is being written). */
  #mem: Uint8Array[] = [];
  /** Used length of each chunk in #mem. */
  #memEnds: number[] = [];
  /** The spilled chunks, oldest first; their bytes follow #spillRead in the file. */
  #spilled: Spilled[] = [];
  #spare: Uint8Array[] = [];
  /** The first spill write that failed: reported by the next reserve() or peek(). */
  #spillError: Error | null = null;
  /** Spill writes in flight: the file is closed only after the last (its fd could be reused). */
  #writing = 0;
  #closed = false;
  #spillFd = -1;
  #spillWrite = 0;
  #spillRead = 0;
  #reloaded = 0;
  #head: Uint8Array | null = null;
  #headEnd = 0;
  #headPos = 0;
  #count = 0;
  readonly #chunkBytes: number;
  readonly #spillAfter: number;
  readonly #spillDir: string | undefined;

  constructor(opts: FifoOptions = {}) {
    this.#chunkBytes = opts.chunkBytes ?? CHUNK_BYTES;
    this.#spillAfter = Math.max(2, opts.spillAfter ?? SPILL_AFTER);
    this.#spillDir = opts.spillDir;
  }

  /** Records queued. */
  get length(): number {
    return this.#count;
  }

  /** Bytes ever written to the spill file (0 when everything fitted in memory). */
  get spilledBytes(): number {
    return this.#spillWrite;
  }

  /** Bytes read back from the spill file (chunks whose write ended before the reader came). */
  get reloadedBytes(): number {
    return this.#reloaded;
  }

  /**
   * Space for one record of `n` bytes at the tail: returns its offset in `tail`; write
   * it there before the next call. Records never straddle chunks.
   */
  reserve(n: number): number {
    if (this.#spillError) throw this.#spillError;
    let last = this.#mem.length - 1;
    if (last < 0 || this.#memEnds[last]! + n > this.#mem[last]!.length) {
      this.#mem.push(this.#chunk(n));
      this.#memEnds.push(0);
      this.#spillMiddle();
      last = this.#mem.length - 1;
    }
    const at = this.#memEnds[last]!;
    this.#memEnds[last] = at + n;
    this.#count++;
    return at;
  }

  /** The chunk the last reserve() placed its record in. */
  get tail(): Uint8Array {
    return this.#mem[this.#mem.length - 1]!;
  }

  /** Gives back the last `n` bytes of the record just reserved (it turned out shorter). */
  trim(n: number): void {
    this.#memEnds[this.#memEnds.length - 1]! -= n;
  }

  /**
   * Offset of the oldest record in `head`; the caller parses it and reports its length
   * with shift(). -1 when empty.
   */
  peek(): number {
    if (this.#spillError) throw this.#spillError;
    if (this.#count === 0) return -1;
    while (this.#head === null || this.#headPos >= this.#headEnd) this.#nextHead();
    return this.#headPos;
  }

  /** The chunk holding the record peek() pointed at. */
  get head(): Uint8Array {
    return this.#head!;
  }

  /** Drops the oldest record, `n` bytes long. */
  shift(n: number): void {
    this.#headPos += n;
    this.#count--;
  }

  /** Closes the spill file (the queue is unusable afterwards). */
  close(): void {
    this.#closed = true;
    if (this.#spillFd >= 0 && this.#writing === 0) closeSync(this.#spillFd);
    if (this.#writing === 0) this.#spillFd = -1;
    this.#mem = [];
    this.#head = null;
    this.#spare = [];
  }

  #nextHead(): void {
    if (this.#head !== null) this.#recycle(this.#head);
    this.#head = null;
    const spilled = this.#spilled.shift();
    if (spilled !== undefined) {
      const { len } = spilled;
      let buf = spilled.buf;
      spilled.buf = null; // the head now; its write's end must not recycle it
      if (buf === null) {
        buf = this.#chunk(len);
        if (readFull(this.#spillFd, buf, 0, len, this.#spillRead) < len) throw new Error('walk queue spill file is shorter than written');
        this.#reloaded += len;
      }
      this.#spillRead += len;
      this.#setHead(buf, len);
      return;
    }
    this.#setHead(this.#mem.shift()!, this.#memEnds.shift()!);
  }

  /** A buffer for a chunk of at least `n` bytes: a spare one if it fits. */
  #chunk(n: number): Uint8Array {
    const spare = this.#spare.pop();
    if (spare !== undefined && spare.length >= n) return spare;
    return new Uint8Array(Math.max(this.#chunkBytes, n));
  }

  #recycle(buf: Uint8Array): void {
    if (this.#spare.length < SPARE_CHUNKS && buf.length === this.#chunkBytes) this.#spare.push(buf);
  }

  #setHead(buf: Uint8Array, end: number): void {
    this.#head = buf;
    this.#headEnd = end;
    this.#headPos = 0;
  }

  /** Moves full chunks between head and tail to the spill file while too many are in memory. */
  #spillMiddle(): void {
    while (this.#mem.length > this.#spillAfter) {
      const chunk = this.#mem.shift()!;
      const end = this.#memEnds.shift()!;
      if (this.#spillFd < 0) this.#spillFd = openSpillFile(this.#spillDir);
      const spilled: Spilled = { len: end, buf: chunk };
      this.#spilled.push(spilled);
      this.#writeSpilled(spilled, this.#spillWrite);
      this.#spillWrite += end;
    }
  }

  /** Writes a spilled chunk at `pos`; its buffer is released when all of it is out. */
  #writeSpilled(s: Spilled, pos: number): void {
    const buf = s.buf!;
    this.#writing++;
    const settled = (err?: NodeJS.ErrnoException) => {
      this.#writing--;
      if (this.#closed) {
        if (this.#writing === 0) this.close();
        return;
      }
      if (err) {
        this.#spillError ??= new FluxError(`walk queue spill file: ${err.message}`, err.code);
        return;
      }
      if (s.buf === null) return; // already read back from memory
      s.buf = null;
      this.#recycle(buf);
    };
    writeAllAt(this.#spillFd, buf.subarray(0, s.len), pos).then(() => settled(), settled);
  }
}

/** An anonymous file: created, then unlinked at once (its space is freed at close or exit). */
function openSpillFile(dir: string | undefined): number {
  const d = mkdtempSync(join(dir ?? tmpdir(), 'fluxdump-queue-'));
  const path = join(d, 'queue');
  const fd = openSync(path, 'w+', 0o600);
  unlinkSync(path);
  rmdirSync(d);
  return fd;
}
