/**
 * ZIP writer (`.zip`): per entry a local header (sizes and CRC known up front, so no data
 * descriptor) and the deflated or stored data; at the end the central directory, zip64
 * end records when counts, sizes or offsets need them, and the end record.
 *
 * Written record by record rather than through @zip.js/zip.js (under 1,000 entries/s:
 * one stream per entry) or fflate's Zip (no zip64: the entry count wraps past
 * 65,535). Symlinks are Unix symlinks (st_mode in the external attributes, host Unix,
 * target stored) so unzip and bsdtar recreate them; mtime goes in the DOS fields and
 * exactly, in UTC, in the UT extra; uid/gid in the ux extra; non-ASCII names set the
 * UTF-8 flag. Members are stored when deflate does not make them smaller.
 *
 * Members are deflated inline (one reused zlib stream, deflate.ts) or, with `pool`, on
 * the worker threads the pipeline hands us (its compression pool): one task per write()
 * batch (batch-task.ts running batch.ts) that deflates the
 * batch's members and lays out their local headers and data, read from and written to
 * recycled shared buffers, so the main thread only packs the batch and writes the
 * central directory while the walk goes on. write() then returns a promise; batches are
 * emitted in call order whatever order tasks complete in, and the bytes are those of the
 * inline path (same codec, same level, same stored-or-deflated choice, same record
 * code). Small archives stay inline: starting workers costs more than deflating them.
 *
 * Tests and benchmarks may plug in another compressor instead: `deflateRaw` per member
 * or `deflateRawBatch` per write(), either possibly returning promises.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { FluxError } from '../../errors.js';
import { encodeUtf8Into, utf8Encoder } from '../../util/bytes.js';
import { isThenable } from '../../util/promise.js';
import type { ArchiveEntry } from '../../walk/entry.js';
import { Chunker } from '../chunker.js';
import type { FormatFactory, FormatOptions, FormatWriter, TaskRunner } from '../format.js';
import {
  F_BODY_SIZE,
  F_FLAGS,
  F_GID,
  F_MODE,
  F_MTIME,
  F_NAME_SIZE,
  F_UID,
  FIELDS,
  FLAG_DEFLATE,
  FLAG_UTF8_NAME,
  readLaidOutBatch,
  resultBound,
  type DeflateBatchTask,
} from './batch.js';
import { crc32, DEFAULT_LEVEL, inlineDeflateRaw, type DeflateRaw } from './deflate.js';
import {
  centralHeaderSize,
  encodeEndRecords,
  localHeaderSize,
  MAX32,
  METHOD_DEFLATE,
  METHOD_STORED,
  writeCentralHeader,
  writeLocalHeader,
  type ZipMember,
} from './records.js';

const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const PERMISSION_BITS = 0o7777;

/** Deflate output at least this long is copied out of the inline codec's reused buffer
 * before it reaches the Chunker (which passes big pieces through without copying). */
const COPY_ABOVE = 1 << 16;

export type MemberCompressor = (data: Uint8Array) => Uint8Array | Promise<Uint8Array>;
export type BatchCompressor = (members: Uint8Array[]) => Uint8Array[] | Promise<Uint8Array[]>;

export interface ZipOptions {
  /**
   * Raw-deflate one member. Default: the inline codec (node:zlib, else fflate) at
   * `level`. A custom one may return a promise and must return arrays it does not reuse.
   */
  deflateRaw?: MemberCompressor;
  /**
   * Raw-deflate all members of one write() at once (in order), e.g. as one worker-pool
   * task: per-member hand-offs cost more than deflating a KVS value (node's async
   * zlib, one threadpool job per member, ran ~40x slower than the inline codec).
   * Takes precedence over `deflateRaw`.
   */
  deflateRawBatch?: BatchCompressor;
  /** Deflate level (inline and pool); libarchive's default is 6. */
  level?: number;
  /** Deflate on the worker pool once the archive is big enough (ignored with a custom compressor). */
  pool?: ZipPoolOptions;
}

export interface ZipPoolOptions {
  /** The worker threads batches are deflated on. */
  tasks: TaskRunner;
  /** A batch with fewer bytes to deflate goes inline when nothing is in flight. */
  minTaskBytes?: number;
  /**
   * Bytes deflated inline before the pool is used at all (workers are warmed up half way
   * there): a small store never starts threads it would wait ~0.1-0.4 s for.
   */
  startAfter?: number;
}

/**
 * Defaults of ZipPoolOptions. The inline codec deflates KVS values at ~50 MB/s per core
 * (bench/zip.mjs), so 4 MiB is ~0.08 s of work: an archive that small is done before
 * workers would have started (0.1-0.4 s), and one that grows past it has them warm by
 * then (prewarmed at 2 MiB). 16 KiB is ~0.3 ms inline, a few task hand-offs.
 */
export const POOL_MIN_TASK_BYTES = 16 << 10;
export const POOL_START_AFTER = 4 << 20;

interface Payload {
  method: typeof METHOD_STORED | typeof METHOD_DEFLATE;
  /** Bytes written after the local header. */
  bytes: Uint8Array;
  /** Uncompressed size (file data or link target). */
  size: number;
  crc: number;
}

/** The batch task's worker module, next to this one once compiled (dist/pack/zip/batch-task.js). */
const BATCH_TASK_URL = new URL('./batch-task.js', import.meta.url);
/** Under vitest this module runs from src/; worker threads need the compiled JS in dist/. */
const DIST_BATCH_TASK_URL = new URL('../../../dist/pack/zip/batch-task.js', import.meta.url);
const BATCH_TASK = 'deflateBatch';

export function batchTaskPath(): string {
  const own = fileURLToPath(BATCH_TASK_URL);
  return existsSync(own) ? own : fileURLToPath(DIST_BATCH_TASK_URL);
}

/** The bytes a member holds: file data, or the link target for a symlink. */
function memberBody(entry: ArchiveEntry): Uint8Array {
  return entry.type === 'symlink' ? utf8Encoder.encode(entry.linkTarget) : entry.data;
}

/** Deflated unless that does not shrink it; symlinks and empty files are stored. */
function choosePayload(body: Uint8Array, deflated: Uint8Array | null): Payload {
  const crc = crc32(body);
  if (deflated && deflated.length < body.length) return { method: METHOD_DEFLATE, bytes: deflated, size: body.length, crc };
  return { method: METHOD_STORED, bytes: body, size: body.length, crc };
}

function needsDeflate(entry: ArchiveEntry): boolean {
  return entry.type === 'file' && entry.data.length > 0;
}

/** A per-member compressor as a batch one: all members in flight at once, in order. */
function perMember(fn: MemberCompressor): BatchCompressor {
  return (members) => {
    const results = members.map(fn);
    return results.some(isThenable) ? Promise.all(results) : (results as Uint8Array[]);
  };
}

/**
 * Bytes of file data in `batch` that the deflate codec will see; -1 if a member is too
 * big for a pool task (its sizes travel as u32; such a member needs zip64 anyway).
 */
function deflateBytes(batch: readonly ArchiveEntry[]): number {
  let bytes = 0;
  for (const entry of batch) {
    if (!needsDeflate(entry)) continue;
    if (entry.data.length >= MAX32) return -1;
    bytes += entry.data.length;
  }
  return bytes;
}

/** A worker failure as one line naming the members it was deflating. */
function poolError(batch: readonly ArchiveEntry[], err: unknown): FluxError {
  const files = batch.filter(needsDeflate);
  const what = files.length === 1 ? files[0]!.path : `${files.length} members, ${files[0]?.path} to ${files.at(-1)?.path}`;
  const why = (err instanceof Error ? err.message : String(err)).split('\n')[0];
  return new FluxError(`zip: deflating ${what} on the worker pool failed: ${why}`, 'EIO');
}

/**
 * Buffers for pool tasks (packed bodies in, laid-out records out), recycled. A fresh
 * buffer per batch costs more than the packing (zero-fill and page faults of a new
 * mapping each time, the effect src/compress/chunked.ts measured), and a result sent back
 * by message is copied twice more (clone out, clone in). So both are SharedArrayBuffers
 * the workers read and write in place, reused once their task is done. Without
 * SharedArrayBuffer, bodies go in a fresh ArrayBuffer, transferred, never reused, and
 * results come back by message.
 */
function taskBuffers(): { take(size: number): Uint8Array; give(buf: Uint8Array): void } {
  const free: Uint8Array[] = [];
  const shared = typeof SharedArrayBuffer === 'function';
  return {
    take: (size) => {
      const i = free.findIndex((b) => b.length >= size);
      if (i >= 0) return free.splice(i, 1)[0]!;
      // Room to spare, so that later, slightly bigger batches can reuse it.
      const room = Math.max(size + (size >>> 2), 1 << 16);
      return new Uint8Array(shared ? new SharedArrayBuffer(room) : new ArrayBuffer(room));
    },
    give: (buf) => {
      if (buf.buffer instanceof ArrayBuffer) return; // transferred: detached now
      if (free.length < MAX_FREE_TASK_BUFFERS) free.push(buf);
    },
  };
}

/** Buffers kept for reuse: two per batch a dump keeps in flight (8), with room to spare. */
const MAX_FREE_TASK_BUFFERS = 24;

/** Records are copied into the output chunks in pieces this big (the Chunker copies below 256 KiB). */
const COPY_PIECE = 1 << 17;

function checkEntry(entry: ArchiveEntry): void {
  if (entry.path.length === 0) throw new FluxError('zip: entry with an empty path');
  if (entry.path.includes('\0')) throw new FluxError(`${entry.path}: zip names cannot contain NUL`);
  if (!Number.isInteger(entry.mtime) || entry.mtime < 0 || entry.mtime > MAX32) {
    throw new FluxError(`${entry.path}: mtime ${entry.mtime} is outside what zip can hold (0 to ${MAX32})`, 'ERANGE');
  }
  for (const [what, v] of [['uid', entry.uid], ['gid', entry.gid]] as const) {
    if (!Number.isInteger(v) || v < 0 || v > MAX32) {
      throw new FluxError(`${entry.path}: ${what} ${v} is outside what zip can hold (0 to ${MAX32})`, 'ERANGE');
    }
  }
}

export class ZipWriter implements FormatWriter {
  readonly #out = new Chunker();
  readonly #central = new Chunker();
  readonly #inline: DeflateRaw | null;
  readonly #custom: BatchCompressor | null;
  /** Archive bytes handed out so far (local headers and member data). */
  #offset = 0;
  #entries = 0;
  #centralSize = 0;
  #scratch = new Uint8Array(1 << 12);
  #nameBuf = new Uint8Array(1 << 10);
  /** Set while an asynchronous batch is in flight: later calls queue behind it. */
  #tail: Promise<unknown> | null = null;
  readonly #level: number;
  readonly #pool: Required<ZipPoolOptions> | null;
  #taskPath: string | null = null;
  /** Bytes deflated inline while the pool was not in use yet. */
  #inlineBytes = 0;
  #pooled = false;
  #warmed = false;
  /** Packed bodies and results of pool tasks, recycled. */
  readonly #buffers = taskBuffers();

  constructor(opts: ZipOptions = {}) {
    const member = opts.deflateRaw;
    this.#level = opts.level ?? DEFAULT_LEVEL;
    this.#custom = opts.deflateRawBatch ?? (member ? perMember(member) : null);
    this.#inline = this.#custom ? null : inlineDeflateRaw(this.#level);
    const pool = opts.pool;
    this.#pool =
      pool && !this.#custom
        ? {
            tasks: pool.tasks,
            minTaskBytes: pool.minTaskBytes ?? POOL_MIN_TASK_BYTES,
            startAfter: pool.startAfter ?? POOL_START_AFTER,
          }
        : null;
  }

  write(batch: readonly ArchiveEntry[]): Uint8Array[] | Promise<Uint8Array[]> {
    for (const entry of batch) checkEntry(entry);
    if (this.#pool && batch.length > 0) {
      const bytes = deflateBytes(batch);
      if (bytes >= 0 && (this.#tail || !this.#inlineWorthIt(bytes))) return this.#writePooled(batch);
    }
    if (this.#inline) {
      // Behind pooled batches still in flight only for a member too big for a task.
      return this.#tail ? this.#queue(() => this.#writeInline(batch)) : this.#writeInline(batch);
    }
    const bodies = batch.map(memberBody);
    const which = batch.map((_, i) => i).filter((i) => needsDeflate(batch[i]!));
    const layOut = (deflated: Uint8Array[]): Uint8Array[] => {
      if (deflated.length !== which.length) throw new Error(`zip: the member compressor returned ${deflated.length} of ${which.length} members`);
      const byIndex = new Map(which.map((i, k) => [i, deflated[k]!]));
      batch.forEach((e, i) => this.#add(e, choosePayload(bodies[i]!, byIndex.get(i) ?? null)));
      return this.#out.take();
    };
    // Compression starts now, even behind a batch still in flight; layout keeps call order.
    const result = this.#custom!(which.map((i) => bodies[i]!));
    if (!isThenable(result) && !this.#tail) return layOut(result);
    return this.#queue(() => Promise.resolve(result).then(layOut));
  }

  end(): Uint8Array[] | Promise<Uint8Array[]> {
    return this.#tail ? this.#queue(() => this.#finish()) : this.#finish();
  }

  #finish(): Uint8Array[] {
    const centralOffset = this.#offset;
    const end = { entries: this.#entries, centralDirectorySize: this.#centralSize, centralDirectoryOffset: centralOffset };
    const chunks = [...this.#out.take(true), ...this.#central.take(true)];
    chunks.push(encodeEndRecords(end, centralOffset + this.#centralSize));
    return chunks;
  }

  /** Run `step` after everything already queued; keeps output in call order. */
  #queue<T>(step: () => T | Promise<T>): Promise<T> {
    const run = (this.#tail ?? Promise.resolve()).then(step);
    const tail = run.finally(() => {
      if (this.#tail === tail) this.#tail = null;
    });
    // The caller sees a failure through `run`; the tail only orders later calls.
    tail.catch(() => undefined);
    this.#tail = tail;
    return run;
  }

  #writeInline(batch: readonly ArchiveEntry[]): Uint8Array[] {
    for (const entry of batch) this.#add(entry, this.#inlinePayload(entry));
    return this.#out.take();
  }

  #inlinePayload(entry: ArchiveEntry): Payload {
    const body = memberBody(entry);
    if (!needsDeflate(entry)) return choosePayload(body, null);
    let deflated = this.#inline!(body);
    if (deflated.length >= COPY_ABOVE && deflated.length < body.length) deflated = deflated.slice();
    return choosePayload(body, deflated);
  }

  /**
   * With nothing in flight: deflate a batch of `bytes` inline? Yes when it is too small
   * for a task, or while the archive is still too small to be worth starting the pool.
   */
  #inlineWorthIt(bytes: number): boolean {
    const pool = this.#pool!;
    if (bytes < pool.minTaskBytes) return true;
    if (this.#pooled || this.#inlineBytes + bytes > pool.startAfter) return false;
    this.#inlineBytes += bytes;
    if (!this.#warmed && this.#inlineBytes >= pool.startAfter / 2) {
      // Likely to need the pool soon: start the workers while we keep deflating here.
      this.#warmed = true;
      const empty: DeflateBatchTask = { bodies: new ArrayBuffer(0), bodiesLength: 0, names: new Uint8Array(0), fields: new Uint32Array(0), level: this.#level };
      pool.tasks.prewarm(this.#batchTask(), BATCH_TASK, empty, String(this.#level));
    }
    return true;
  }

  #batchTask(): string {
    return (this.#taskPath ??= batchTaskPath());
  }

  /**
   * Pack the batch (names, bodies, fields) for one pool task that lays out its local
   * headers and data (batch.ts); when the result is back, after every earlier batch,
   * write it as one piece and add the central directory records. The entries' data is
   * copied here and never read again.
   */
  #writePooled(batch: readonly ArchiveEntry[]): Promise<Uint8Array[]> {
    const n = batch.length;
    const fields = new Uint32Array(n * FIELDS);
    let nameRoom = 0;
    let bodyRoom = 0;
    for (const entry of batch) {
      nameRoom += entry.path.length * 3; // UTF-8 bytes per UTF-16 unit, at most
      bodyRoom += entry.type === 'symlink' ? entry.linkTarget.length * 3 : entry.data.length;
    }
    const names = new Uint8Array(nameRoom);
    const bodies = this.#buffers.take(bodyRoom);
    let nameAt = 0;
    let bodyAt = 0;
    for (let i = 0; i < n; i++) {
      const entry = batch[i]!;
      const f = i * FIELDS;
      const nameSize = encodeUtf8Into(entry.path, names, nameAt);
      let size: number;
      if (entry.type === 'symlink') size = utf8Encoder.encodeInto(entry.linkTarget, bodies.subarray(bodyAt)).written;
      else {
        bodies.set(entry.data, bodyAt);
        size = entry.data.length;
      }
      fields[f + F_BODY_SIZE] = size;
      fields[f + F_NAME_SIZE] = nameSize;
      // One byte per UTF-16 unit exactly when every character is ASCII.
      fields[f + F_FLAGS] = (nameSize !== entry.path.length ? FLAG_UTF8_NAME : 0) | (needsDeflate(entry) ? FLAG_DEFLATE : 0);
      fields[f + F_MTIME] = entry.mtime;
      fields[f + F_UID] = entry.uid;
      fields[f + F_GID] = entry.gid;
      fields[f + F_MODE] = (entry.type === 'symlink' ? S_IFLNK : S_IFREG) | (entry.mode & PERMISSION_BITS);
      nameAt += nameSize;
      bodyAt += size;
    }
    this.#pooled = true;
    // The worker lays the result out straight into a recycled shared buffer, if any.
    const output = this.#buffers.take(resultBound(n, nameAt, bodyAt));
    const shared = output.buffer instanceof ArrayBuffer ? null : (output.buffer as SharedArrayBuffer);
    const task: DeflateBatchTask = { bodies: bodies.buffer, bodiesLength: bodyAt, names: names.subarray(0, nameAt), fields, level: this.#level };
    if (shared) task.output = shared;
    const { tasks } = this.#pool!;
    // A shared `bodies` is read in place; an ArrayBuffer is moved (detached here).
    const transfer = task.bodies instanceof ArrayBuffer ? [task.bodies] : [];
    const result = (tasks.run(this.#batchTask(), BATCH_TASK, task, transfer) as Promise<ArrayBuffer | number>)
      .catch((err: unknown) => {
        this.#buffers.give(output);
        throw poolError(batch, err);
      })
      .finally(() => this.#buffers.give(bodies)); // only now: the worker reads it until then
    // Its failure reaches the caller once the batches ahead are laid out; until then
    // it is not unhandled.
    result.catch(() => undefined);
    return this.#queue(() =>
      result.then((r) => {
        try {
          return typeof r === 'number' ? this.#layOutPooled(task.names, fields, shared!, r) : this.#layOutPooled(task.names, fields, r, r.byteLength);
        } finally {
          this.#buffers.give(output); // the records were copied out
        }
      }),
    );
  }

  #layOutPooled(names: Uint8Array, fields: Uint32Array, result: ArrayBuffer | SharedArrayBuffer, length: number): Uint8Array[] {
    const n = fields.length / FIELDS;
    const { crcs, compressedSizes, records } = readLaidOutBatch(result, n, length);
    const start = this.#offset;
    let nameAt = 0;
    for (let i = 0; i < n; i++) {
      const f = i * FIELDS;
      const nameSize = fields[f + F_NAME_SIZE]!;
      const size = fields[f + F_BODY_SIZE]!;
      const compressedSize = compressedSizes[i]!;
      const member: ZipMember = {
        name: names.subarray(nameAt, nameAt + nameSize),
        utf8: (fields[f + F_FLAGS]! & FLAG_UTF8_NAME) !== 0,
        // The worker stores the body itself when deflate did not make it smaller.
        method: (fields[f + F_FLAGS]! & FLAG_DEFLATE) !== 0 && compressedSize < size ? METHOD_DEFLATE : METHOD_STORED,
        crc32: crcs[i]!,
        compressedSize,
        size,
        mtime: fields[f + F_MTIME]!,
        uid: fields[f + F_UID]!,
        gid: fields[f + F_GID]!,
        unixMode: fields[f + F_MODE]!,
        localHeaderOffset: this.#offset,
      };
      nameAt += nameSize;
      this.#offset += localHeaderSize(member) + compressedSize;
      this.#addCentral(member);
    }
    if (this.#offset - start !== records.length) {
      throw new Error(`zip: a laid-out batch of ${n} members holds ${records.length} bytes, its headers say ${this.#offset - start}`);
    }
    // Copied: the result buffer is reused (pieces this small never pass through uncopied).
    for (let at = 0; at < records.length; at += COPY_PIECE) this.#out.push(records.subarray(at, at + COPY_PIECE));
    return this.#out.take();
  }

  #encodeName(path: string): { name: Uint8Array; utf8: boolean } {
    if (this.#nameBuf.length < path.length * 3) this.#nameBuf = new Uint8Array(path.length * 3);
    const { written } = utf8Encoder.encodeInto(path, this.#nameBuf);
    // One byte per UTF-16 unit exactly when every character is ASCII.
    return { name: this.#nameBuf.subarray(0, written), utf8: written !== path.length };
  }

  #scratchOf(n: number): Uint8Array {
    if (this.#scratch.length < n) this.#scratch = new Uint8Array(Math.max(n, this.#scratch.length * 2));
    return this.#scratch;
  }

  #add(entry: ArchiveEntry, payload: Payload): void {
    const { name, utf8 } = this.#encodeName(entry.path);
    const member: ZipMember = {
      name,
      utf8,
      method: payload.method,
      crc32: payload.crc,
      compressedSize: payload.bytes.length,
      size: payload.size,
      mtime: entry.mtime,
      uid: entry.uid,
      gid: entry.gid,
      unixMode: (entry.type === 'symlink' ? S_IFLNK : S_IFREG) | (entry.mode & PERMISSION_BITS),
      localHeaderOffset: this.#offset,
    };
    const localSize = localHeaderSize(member);
    const scratch = this.#scratchOf(localSize);
    writeLocalHeader(scratch, 0, member);
    this.#out.push(scratch.subarray(0, localSize));
    if (payload.bytes.length > 0) this.#out.push(payload.bytes);
    this.#offset += localSize + payload.bytes.length;
    this.#addCentral(member);
  }

  #addCentral(member: ZipMember): void {
    const scratch = this.#scratchOf(centralHeaderSize(member));
    const centralSize = writeCentralHeader(scratch, 0, member);
    this.#central.push(scratch.subarray(0, centralSize));
    this.#centralSize += centralSize;
    this.#entries++;
  }
}

export function createZipWriter(opts: FormatOptions & ZipOptions): ZipWriter {
  return new ZipWriter(opts);
}

/** The registry's zip format: deflate on the worker threads it is given when the archive is big enough. */
export const zipWriter: FormatFactory = (opts) => createZipWriter(opts.tasks ? { ...opts, pool: { tasks: opts.tasks } } : opts);
