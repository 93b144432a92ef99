/**
 * Appends to a new file with O_DIRECT where the filesystem allows it, so an archive of
 * many GB goes to the disk without passing through the kernel's page cache.
 *
 * Why: a dump is written once and not read back soon, yet buffered writes make the
 * kernel copy, account and later write back every page. On a 2-vCPU VM (BENCHMARKS.md),
 * writing 3 GB cost 9.8 s of system CPU buffered and 0.46 s with O_DIRECT (`dd
 * oflag=direct`), and the 6.27 GB archive of 5M keys spent more time in the kernel than
 * in the dump. It also spares the page cache of a login or service node that a
 * shutdown dump would otherwise fill.
 *
 * O_DIRECT wants the buffer address, the file offset and the length aligned to the
 * device's block size. Archive chunks come in any length and from any allocation, so
 * bytes are copied into staging buffers carved out of a WebAssembly.Memory (its base
 * is page-aligned, unlike a Buffer's): one is filled while the others are written.
 * Whole blocks go out directly; the last partial block goes through an ordinary
 * descriptor at its offset. A filesystem that refuses O_DIRECT at open (tmpfs) or on a
 * write (EINVAL) gets ordinary writes from then on, with the same bytes.
 */
import { closeSync, constants, fdatasync, fsync, openSync } from 'node:fs';
import { promisify } from 'node:util';
import { writeAllAt } from '../util/fs.js';

/** Covers the logical block size of every common device (512 or 4096 bytes). */
const ALIGN = 4096;
/**
 * Bytes per staging buffer, and per direct write. Each write call costs the main thread
 * ~0.2 ms (handing the request to libuv's pool), so fewer and larger writes pay: with
 * 1 MiB stages the walk waited for a free one, and 2 MiB made the dump faster for 4 MiB
 * more RSS. 4 MiB gained little more, for another 8 MiB.
 */
export const STAGE_BYTES = 2 << 20;
/**
 * Staging buffers: one is filled while the others are written, so up to three writes
 * are in flight. With one in flight, filling the next stage waited out each write's
 * latency (~0.5-1 ms per MiB, i.e. up to ~0.5 s per 878 MB); with three in flight, CPU
 * timelines of the dump show no such gaps.
 */
const STAGES = 4;
const WASM_PAGE = 65536;
/**
 * Direct writes between background syncs. The final fsync after 878 MB of direct writes
 * took ~0.4 s on a VM (the journal, and the virtual disk flushing its own cache); syncing
 * every 64 MiB on a libuv thread while the walk goes on leaves it almost nothing to do.
 */
const SYNC_EVERY = 64 << 20;

const fsyncAsync = promisify(fsync);
const fdatasyncAsync = promisify(fdatasync);

/** Whether this platform has O_DIRECT at all (the run's settings decide whether to use it). */
export function directIoAvailable(): boolean {
  return typeof constants.O_DIRECT === 'number';
}

export class AppendWriter {
  /** The ordinary descriptor: created the file, writes tails (and everything without O_DIRECT). */
  readonly fd: number;
  /** The O_DIRECT descriptor while direct writes go on (null: none, or fallen back). */
  #direct: number | null;
  /** Kept open after a fallback until close(): writes still in flight use it. */
  readonly #directFd: number | null;
  readonly #stages: Uint8Array[] = [];
  /** Each stage's write in flight, if any: the stage is not refilled before it ends. */
  readonly #inflight: (Promise<void> | null)[] = [];
  #stage = 0;
  #filled = 0;
  /** Bytes handed to write calls so far (the next write's offset). */
  #offset = 0;
  #closed = false;
  /** The background sync in flight (at most one), and the offset the next one is due at. */
  #syncing: Promise<void> | null = null;
  readonly #syncEvery: number;
  #syncDue: number;
  /** Background syncs started (tests). */
  syncs = 0;

  /**
   * Creates `path` exclusively with `mode`; direct writes when `direct` and the filesystem
   * allow. `stageOffset` (tests only) shifts the staging buffers off alignment, so the
   * kernel refuses the direct writes and the fallback runs for real. `syncEvery` (tests
   * only) sets the bytes between background syncs.
   */
  constructor(path: string, mode: number, opts: { direct?: boolean; stageOffset?: number; syncEvery?: number } = {}) {
    this.fd = openSync(path, 'wx', mode);
    this.#syncEvery = opts.syncEvery ?? SYNC_EVERY;
    this.#syncDue = this.#syncEvery;
    this.#direct = (opts.direct ?? true) && directIoAvailable() ? openDirect(path) : null;
    this.#directFd = this.#direct;
    if (this.#direct !== null) {
      const at = opts.stageOffset ?? 0;
      const memory = new WebAssembly.Memory({ initial: Math.ceil((STAGES * STAGE_BYTES + at) / WASM_PAGE) });
      for (let i = 0; i < STAGES; i++) {
        this.#stages.push(new Uint8Array(memory.buffer, at + i * STAGE_BYTES, STAGE_BYTES));
        this.#inflight.push(null);
      }
    }
  }

  /** Whether every write so far bypassed the page cache (false after a fallback). */
  get direct(): boolean {
    return this.#direct !== null;
  }

  /** Appends `bytes`; they may be reused as soon as this resolves. */
  async write(bytes: Uint8Array): Promise<void> {
    let off = 0;
    while (off < bytes.length) {
      if (this.#direct === null) {
        await this.#flushPlain();
        await this.#plain(off === 0 ? bytes : bytes.subarray(off));
        return;
      }
      if (this.#filled === 0) await this.#settle(this.#stage);
      const stage = this.#stages[this.#stage]!;
      const n = Math.min(STAGE_BYTES - this.#filled, bytes.length - off);
      stage.set(off === 0 && n === bytes.length ? bytes : bytes.subarray(off, off + n), this.#filled);
      this.#filled += n;
      off += n;
      if (this.#filled === STAGE_BYTES) this.#writeStage(STAGE_BYTES);
    }
  }

  /** Writes what is staged and syncs the file to the disk. */
  async finish(): Promise<void> {
    if (this.#direct === null) await this.#flushPlain();
    else if (this.#filled > 0) {
      const whole = this.#filled - (this.#filled % ALIGN);
      const tail = this.#stages[this.#stage]!.slice(whole, this.#filled);
      if (whole > 0) this.#writeStage(whole);
      else this.#filled = 0;
      if (tail.length > 0) await this.#plain(tail);
    }
    await this.#settleAll();
    await this.#syncing;
    await fsyncAsync(this.fd);
  }

  /** Closes both descriptors (the file itself is the caller's to rename or remove). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const fd of [this.#directFd, this.fd]) {
      if (fd === null) continue;
      try {
        closeSync(fd);
      } catch {
        /* already closed */
      }
    }
  }

  /** Starts writing the first `length` bytes of the current stage and moves to the next. */
  #writeStage(length: number): void {
    const bytes = this.#stages[this.#stage]!.subarray(0, length);
    const at = this.#offset;
    this.#offset += length;
    const w = this.#directWrite(bytes, at);
    w.catch(() => {}); // awaited when the stage comes round again; never unhandled if aborted first
    this.#inflight[this.#stage] = w;
    this.#stage = (this.#stage + 1) % STAGES;
    this.#filled = 0;
    if (this.#offset >= this.#syncDue && this.#syncing === null) this.#backgroundSync();
  }

  async #directWrite(bytes: Uint8Array, at: number): Promise<void> {
    const fd = this.#direct;
    try {
      if (fd === null) throw Object.assign(new Error('direct writes stopped'), { code: 'EINVAL' });
      await writeAllAt(fd, bytes, at);
    } catch (err) {
      // Open succeeded but this filesystem (or device) will not take our alignment.
      if ((err as NodeJS.ErrnoException).code !== 'EINVAL' || this.#closed) throw err;
      this.#direct = null;
      await writeAllAt(this.fd, bytes, at);
    }
  }

  /** Starts an fdatasync of what is written so far; its error, if any, fails finish(). */
  #backgroundSync(): void {
    this.#syncDue = this.#offset + this.#syncEvery;
    this.syncs++;
    const sync = fdatasyncAsync(this.fd).then(() => {
      if (this.#syncing === sync) this.#syncing = null;
    });
    sync.catch(() => {}); // awaited by finish(); never unhandled if the sink is aborted first
    this.#syncing = sync;
  }

  /** After a fallback: the bytes still staged go out as an ordinary write. */
  async #flushPlain(): Promise<void> {
    if (this.#filled === 0) return;
    const staged = this.#stages[this.#stage]!.subarray(0, this.#filled);
    this.#filled = 0;
    await this.#plain(staged);
  }

  /** An ordinary write at the end of the file, after every write in flight. */
  async #plain(bytes: Uint8Array): Promise<void> {
    await this.#settleAll();
    const at = this.#offset;
    this.#offset += bytes.length;
    await writeAllAt(this.fd, bytes, at);
  }

  async #settle(stage: number): Promise<void> {
    const w = this.#inflight[stage];
    if (!w) return;
    this.#inflight[stage] = null;
    await w;
  }

  async #settleAll(): Promise<void> {
    for (let i = 0; i < this.#inflight.length; i++) await this.#settle(i);
  }
}

function openDirect(path: string): number | null {
  try {
    return openSync(path, constants.O_WRONLY | constants.O_DIRECT);
  } catch {
    return null; // tmpfs and some FUSE filesystems: EINVAL
  }
}
