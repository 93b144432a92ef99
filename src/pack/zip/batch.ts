/**
 * Zip members of one write() batch laid out at once, off the main thread: what one
 * worker-pool task does (batch-task.ts, `deflateBatch`). Kept here with the zip
 * code so the task is packed and its result read in one file, and so tests can run it
 * in-process.
 *
 * In: the members' names and bodies (file data or symlink target) back to back, and
 * FIELDS u32 per member. Out: ONE buffer, `n` u32 CRC-32s, `n` u32 compressed sizes
 * (platform byte order: both ends are one process), then every member's local header and
 * data back to back, exactly as they go in the archive (local headers hold no offsets,
 * so a batch can be laid out before the ones ahead of it are). The main thread then
 * writes that as one piece and builds only the central directory.
 *
 * Deflated or stored is decided here, by the inline codec with the inline rule (deflate
 * only when it makes the member smaller), so the bytes are the inline path's. Deciding
 * here also means the main thread never reads a body again once it has packed it.
 */
import { crc32, inlineDeflateRaw } from './deflate.js';
import { METHOD_DEFLATE, METHOD_STORED, writeLocalHeader, type ZipMember } from './records.js';

const U32 = 4;

/**
 * One zip write() batch for a pool worker: the members' bodies back to back in ONE
 * buffer (shared and recycled by the writer, or transferred), their names (a few KiB,
 * cloned: the writer keeps them for the central directory) and FIELDS numbers per
 * member. One task per batch, not per member: a hand-off costs about as much as
 * deflating a KVS value.
 */
export interface DeflateBatchTask {
  /** Member bodies back to back: shared (read-only there until it returns) or transferred in. */
  bodies: SharedArrayBuffer | ArrayBuffer;
  /** Bytes of `bodies` in use (a recycled shared buffer is longer). */
  bodiesLength: number;
  /** UTF-8 names back to back. */
  names: Uint8Array;
  fields: Uint32Array;
  level: number;
  /**
   * Where to lay the result out (shared, recycled by the writer, at least resultBound()
   * long): the task then returns only its length, and no result bytes are copied through
   * a message. Without it the result comes back as its own ArrayBuffer.
   */
  output?: SharedArrayBuffer;
}

/** Per-member u32 fields of a batch task. */
export const F_BODY_SIZE = 0;
export const F_NAME_SIZE = 1;
export const F_FLAGS = 2;
export const F_MTIME = 3;
export const F_UID = 4;
export const F_GID = 5;
export const F_MODE = 6;
export const FIELDS = 7;

/** F_FLAGS bits. */
export const FLAG_UTF8_NAME = 1;
/** Try deflate (files with data); otherwise stored (symlinks, empty files). */
export const FLAG_DEFLATE = 2;

/** Byte offset of the records in the result of an `n`-member batch. */
export function recordsAt(n: number): number {
  return 2 * U32 * n;
}

/** Local header bytes beyond the name, at most: fixed part, UT and ux extras, zip64 extra. */
const LOCAL_HEADER_MAX_OVERHEAD = 30 + 9 + 15 + 20;

/**
 * Bytes a result can take at most, for `n` members with `nameBytes` of names and
 * `bodyBytes` of bodies: a payload is never longer than its body.
 */
export function resultBound(n: number, nameBytes: number, bodyBytes: number): number {
  return recordsAt(n) + n * LOCAL_HEADER_MAX_OVERHEAD + nameBytes + bodyBytes;
}

/**
 * Lay out `fields.length / FIELDS` members into `out` (at least resultBound() long, so
 * nothing is reallocated or copied afterwards); returns the bytes written. `names` and
 * `bodies` hold the members' UTF-8 names and bodies back to back, in order.
 */
export function layOutMembersInto(out: Uint8Array, names: Uint8Array, bodies: Uint8Array, fields: Uint32Array, level: number): number {
  const deflate = inlineDeflateRaw(level);
  const n = fields.length / FIELDS;
  if (!Number.isInteger(n)) throw new RangeError(`zip batch: ${fields.length} fields is not a whole number of members`);
  if (out.length < resultBound(n, names.length, bodies.length)) throw new RangeError(`zip batch: a ${out.length}-byte output is too small for ${n} members`);
  let nameAt = 0;
  let bodyAt = 0;
  let put = recordsAt(n);
  // Aligned views need a 4-aligned start; copied into `out` at the end otherwise.
  const crcs = new Uint32Array(n);
  const compressed = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    const f = i * FIELDS;
    const size = fields[f + F_BODY_SIZE]!;
    const nameSize = fields[f + F_NAME_SIZE]!;
    const flags = fields[f + F_FLAGS]!;
    if (bodyAt + size > bodies.length || nameAt + nameSize > names.length) {
      throw new RangeError(`zip batch: member ${i} runs past the packed input (${bodies.length} body bytes, ${names.length} name bytes)`);
    }
    const body = bodies.subarray(bodyAt, bodyAt + size);
    bodyAt += size;
    const crc = crc32(body);
    // A view into the codec's buffer, copied below before the next member.
    const deflated = flags & FLAG_DEFLATE ? deflate(body) : null;
    const useDeflate = deflated !== null && deflated.length < size;
    const payload = useDeflate ? deflated : body;
    const member: ZipMember = {
      name: names.subarray(nameAt, nameAt + nameSize),
      utf8: (flags & FLAG_UTF8_NAME) !== 0,
      method: useDeflate ? METHOD_DEFLATE : METHOD_STORED,
      crc32: crc,
      compressedSize: payload.length,
      size,
      mtime: fields[f + F_MTIME]!,
      uid: fields[f + F_UID]!,
      gid: fields[f + F_GID]!,
      unixMode: fields[f + F_MODE]!,
      localHeaderOffset: 0, // not in local headers
    };
    nameAt += nameSize;
    put = writeLocalHeader(out, put, member);
    out.set(payload, put);
    put += payload.length;
    crcs[i] = crc;
    compressed[i] = payload.length;
  }
  out.set(new Uint8Array(crcs.buffer), 0);
  out.set(new Uint8Array(compressed.buffer), U32 * n);
  return put;
}

/** layOutMembersInto() a fresh buffer; returns exactly the result. */
export function layOutMembers(names: Uint8Array, bodies: Uint8Array, fields: Uint32Array, level: number): Uint8Array {
  const out = new Uint8Array(resultBound(fields.length / FIELDS, names.length, bodies.length));
  return out.subarray(0, layOutMembersInto(out, names, bodies, fields, level)).slice();
}

/** The result of `layOutMembers` for `n` members, read in place. */
export interface LaidOutBatch {
  crcs: Uint32Array;
  compressedSizes: Uint32Array;
  /** Every member's local header and data, back to back. */
  records: Uint8Array;
}

/** Read the first `length` bytes of `result` (a whole ArrayBuffer by default). */
export function readLaidOutBatch(result: ArrayBuffer | SharedArrayBuffer, n: number, length = result.byteLength): LaidOutBatch {
  if (length < recordsAt(n) || length > result.byteLength) throw new RangeError(`zip batch: a ${length}-byte result does not fit ${n} members`);
  return {
    crcs: new Uint32Array(result, 0, n),
    compressedSizes: new Uint32Array(result, U32 * n, n),
    records: new Uint8Array(result, recordsAt(n), length - recordsAt(n)),
  };
}
