/**
 * ZIP writer (`.zip`): per entry a local header (sizes and CRC known up front, so no data
 * descriptor) and the deflated or stored data; at the end the central directory, zip64
 * end records when counts, sizes or offsets need them, and the end record.
 *
 * Written record by record rather than through @zip.js/zip.js (about 1,000 entries/s
 * here: one stream per entry) or fflate's Zip (no zip64: the entry count wraps past
 * 65,535). Symlinks are Unix symlinks (st_mode in the external attributes, host Unix,
 * target stored) so unzip and bsdtar recreate them; mtime goes in the DOS fields and
 * exactly, in UTC, in the UT extra; uid/gid in the ux extra; non-ASCII names set the
 * UTF-8 flag. Members are stored when deflate does not make them smaller.
 *
 * The member compressor is pluggable: `deflateRaw` per member or `deflateRawBatch` per
 * write() (what a worker pool wants: one task per batch). Either may return promises;
 * members are laid out in call order whatever order they complete in.
 */
import { FluxError } from '../../errors.js';
import { utf8Encoder } from '../../util/bytes.js';
import type { ArchiveEntry } from '../../walk/entry.js';
import { Chunker } from '../chunker.js';
import type { FormatFactory, FormatOptions, FormatWriter } from '../format.js';
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
   * zlib, one threadpool job per member, ran ~40x slower than the inline codec here).
   * Takes precedence over `deflateRaw`.
   */
  deflateRawBatch?: BatchCompressor;
  /** Deflate level for the inline codec; libarchive's default is 6. */
  level?: number;
}

interface Payload {
  method: typeof METHOD_STORED | typeof METHOD_DEFLATE;
  /** Bytes written after the local header. */
  bytes: Uint8Array;
  /** Uncompressed bytes (file data or link target). */
  body: Uint8Array;
}

function isThenable<T>(v: T | Promise<T>): v is Promise<T> {
  return typeof (v as { then?: unknown } | null)?.then === 'function';
}

/** The bytes a member holds: file data, or the link target for a symlink. */
function memberBody(entry: ArchiveEntry): Uint8Array {
  return entry.type === 'symlink' ? utf8Encoder.encode(entry.linkTarget) : entry.data;
}

/** Deflated unless that does not shrink it; symlinks and empty files are stored. */
function choosePayload(entry: ArchiveEntry, body: Uint8Array, deflated: Uint8Array | null): Payload {
  if (deflated && deflated.length < body.length) return { method: METHOD_DEFLATE, bytes: deflated, body };
  return { method: METHOD_STORED, bytes: body, body };
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

  constructor(opts: ZipOptions = {}) {
    const member = opts.deflateRaw;
    this.#custom = opts.deflateRawBatch ?? (member ? perMember(member) : null);
    this.#inline = this.#custom ? null : inlineDeflateRaw(opts.level ?? DEFAULT_LEVEL);
  }

  write(batch: readonly ArchiveEntry[]): Uint8Array[] | Promise<Uint8Array[]> {
    if (this.#inline) {
      // The inline codec is synchronous: no batch is ever in flight on this path.
      for (const entry of batch) this.#add(entry, this.#inlinePayload(entry));
      return this.#out.take();
    }
    for (const entry of batch) checkEntry(entry);
    const bodies = batch.map(memberBody);
    const which = batch.map((_, i) => i).filter((i) => needsDeflate(batch[i]!));
    const layOut = (deflated: Uint8Array[]): Uint8Array[] => {
      if (deflated.length !== which.length) throw new Error(`zip: the member compressor returned ${deflated.length} of ${which.length} members`);
      const byIndex = new Map(which.map((i, k) => [i, deflated[k]!]));
      batch.forEach((e, i) => this.#add(e, choosePayload(e, bodies[i]!, byIndex.get(i) ?? null)));
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

  #inlinePayload(entry: ArchiveEntry): Payload {
    checkEntry(entry);
    const body = memberBody(entry);
    if (!needsDeflate(entry)) return choosePayload(entry, body, null);
    let deflated = this.#inline!(body);
    if (deflated.length >= COPY_ABOVE && deflated.length < body.length) deflated = deflated.slice();
    return choosePayload(entry, body, deflated);
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
      crc32: crc32(payload.body),
      compressedSize: payload.bytes.length,
      size: payload.body.length,
      mtime: entry.mtime,
      uid: entry.uid,
      gid: entry.gid,
      unixMode: (entry.type === 'symlink' ? S_IFLNK : S_IFREG) | (entry.mode & PERMISSION_BITS),
      localHeaderOffset: this.#offset,
    };
    const localSize = localHeaderSize(member);
    const scratch = this.#scratchOf(Math.max(localSize, centralHeaderSize(member)));
    writeLocalHeader(scratch, 0, member);
    this.#out.push(scratch.subarray(0, localSize));
    if (payload.bytes.length > 0) this.#out.push(payload.bytes);
    this.#offset += localSize + payload.bytes.length;

    const centralSize = writeCentralHeader(scratch, 0, member);
    this.#central.push(scratch.subarray(0, centralSize));
    this.#centralSize += centralSize;
    this.#entries++;
  }
}

export function createZipWriter(opts: FormatOptions & ZipOptions): ZipWriter {
  return new ZipWriter(opts);
}

export const zipWriter: FormatFactory = (opts) => createZipWriter(opts);
