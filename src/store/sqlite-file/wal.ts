/**
 * Reading a write-ahead log without SQLite: validate the 32-byte header, then the frames in
 * order (salts equal to the header's, cumulative checksum correct); frames count only up to
 * the last commit frame (non-zero "database size after commit"). The newest frame of a page
 * wins. Stale frames left from before a WAL restart carry old salts and end the scan, as do
 * torn or uncommitted tails. The -shm index is never touched: we rebuild it in memory.
 */
import { u32 } from './format.js';

export const WAL_HEADER_SIZE = 32;
export const WAL_FRAME_HEADER_SIZE = 24;
const WAL_MAGIC_LE = 0x377f0682;
const WAL_MAGIC_BE = 0x377f0683;
const WAL_FORMAT_VERSION = 3007000;
const OFF_MAGIC = 0;
const OFF_VERSION = 4;
const OFF_PAGE_SIZE = 8;
const OFF_SALT1 = 16;
const OFF_SALT2 = 20;
const OFF_CKSUM1 = 24;
const OFF_CKSUM2 = 28;
const FRAME_OFF_PGNO = 0;
const FRAME_OFF_COMMIT = 4;
const FRAME_OFF_SALT1 = 8;
const FRAME_OFF_SALT2 = 12;
const FRAME_OFF_CKSUM1 = 16;
const FRAME_OFF_CKSUM2 = 20;
/** Bytes of the frame header that the checksum covers (page number and commit size). */
const FRAME_CKSUM_COVERED = 8;
/** How much of the WAL to read per call while validating. */
const CHUNK_BYTES = 4 << 20;

export interface WalIndex {
  pageSize: number;
  /** Page number -> byte offset in the WAL of that page's newest committed image. */
  frames: Map<number, number>;
  /** Database size in pages after the last valid commit. */
  dbSize: number;
  /** Valid committed frames (for reports and tests). */
  committedFrames: number;
}

/** Why a WAL adds nothing, when it does not (empty, foreign page size, bad header). */
export type WalVerdict = WalIndex | { ignored: string };

const hostLittleEndian = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/**
 * SQLite's WAL checksum over b[off, off+len) (len a multiple of 8), continuing from s.
 * `bigEndian` follows the magic's low bit: words are read in that byte order.
 */
export function walChecksum(b: Uint8Array, off: number, len: number, bigEndian: boolean, s: Uint32Array): void {
  let s0 = s[0]!;
  let s1 = s[1]!;
  if (bigEndian !== hostLittleEndian && ((b.byteOffset + off) & 3) === 0) {
    // Native word order and aligned: read whole words.
    const w = new Uint32Array(b.buffer, b.byteOffset + off, len >>> 2);
    for (let i = 0; i < w.length; i += 2) {
      s0 = (s0 + w[i]! + s1) >>> 0;
      s1 = (s1 + w[i + 1]! + s0) >>> 0;
    }
  } else {
    for (let i = off; i < off + len; i += 8) {
      const x0 = bigEndian ? u32(b, i) : u32le(b, i);
      const x1 = bigEndian ? u32(b, i + 4) : u32le(b, i + 4);
      s0 = (s0 + x0 + s1) >>> 0;
      s1 = (s1 + x1 + s0) >>> 0;
    }
  }
  s[0] = s0;
  s[1] = s1;
}

function u32le(b: Uint8Array, off: number): number {
  return (b[off]! | (b[off + 1]! << 8) | (b[off + 2]! << 16) | (b[off + 3]! << 24)) >>> 0;
}

/**
 * Indexes a WAL. `readAt(dst, pos)` fills dst from byte `pos` and returns how many bytes it
 * read. `dbPageSize` is the main file's page size; a WAL with another one is not ours.
 */
export function indexWal(
  readAt: (dst: Uint8Array, pos: number) => number,
  fileSize: number,
  dbPageSize: number,
): WalVerdict {
  if (fileSize < WAL_HEADER_SIZE) return { ignored: fileSize === 0 ? 'empty' : 'shorter than its header' };
  const hdr = new Uint8Array(WAL_HEADER_SIZE);
  if (readAt(hdr, 0) < WAL_HEADER_SIZE) return { ignored: 'short read' };
  const magic = u32(hdr, OFF_MAGIC);
  if (magic !== WAL_MAGIC_LE && magic !== WAL_MAGIC_BE) return { ignored: 'bad magic' };
  const bigEndian = (magic & 1) === 1;
  if (u32(hdr, OFF_VERSION) !== WAL_FORMAT_VERSION) return { ignored: 'unknown WAL version' };
  const pageSize = u32(hdr, OFF_PAGE_SIZE);
  if (pageSize !== dbPageSize) return { ignored: `page size ${pageSize} differs from the database's` };
  const sum = new Uint32Array(2);
  walChecksum(hdr, 0, OFF_CKSUM1, bigEndian, sum);
  if (sum[0] !== u32(hdr, OFF_CKSUM1) || sum[1] !== u32(hdr, OFF_CKSUM2)) return { ignored: 'bad header checksum' };
  const salt1 = u32(hdr, OFF_SALT1);
  const salt2 = u32(hdr, OFF_SALT2);

  const frameSize = WAL_FRAME_HEADER_SIZE + pageSize;
  const nFrames = Math.floor((fileSize - WAL_HEADER_SIZE) / frameSize);
  const perChunk = Math.max(1, Math.floor(CHUNK_BYTES / frameSize));
  const chunk = new Uint8Array(Math.min(perChunk, Math.max(1, nFrames)) * frameSize);
  const frames = new Map<number, number>();
  const pending: number[] = [];
  let dbSize = 0;
  let committedFrames = 0;
  let done = false;
  for (let first = 0; first < nFrames && !done; first += perChunk) {
    const count = Math.min(perChunk, nFrames - first);
    const pos = WAL_HEADER_SIZE + first * frameSize;
    const got = readAt(chunk.subarray(0, count * frameSize), pos);
    const whole = Math.floor(got / frameSize);
    for (let k = 0; k < count; k++) {
      if (k >= whole) {
        done = true;
        break;
      }
      const f = k * frameSize;
      const pgno = u32(chunk, f + FRAME_OFF_PGNO);
      const commit = u32(chunk, f + FRAME_OFF_COMMIT);
      if (pgno === 0 || u32(chunk, f + FRAME_OFF_SALT1) !== salt1 || u32(chunk, f + FRAME_OFF_SALT2) !== salt2) {
        done = true;
        break;
      }
      walChecksum(chunk, f, FRAME_CKSUM_COVERED, bigEndian, sum);
      walChecksum(chunk, f + WAL_FRAME_HEADER_SIZE, pageSize, bigEndian, sum);
      if (sum[0] !== u32(chunk, f + FRAME_OFF_CKSUM1) || sum[1] !== u32(chunk, f + FRAME_OFF_CKSUM2)) {
        done = true;
        break;
      }
      pending.push(pgno, pos + f + WAL_FRAME_HEADER_SIZE);
      if (commit !== 0) {
        for (let j = 0; j < pending.length; j += 2) frames.set(pending[j]!, pending[j + 1]!);
        committedFrames += pending.length >>> 1;
        pending.length = 0;
        dbSize = commit;
      }
    }
  }
  if (dbSize === 0) return { ignored: 'no committed frames' };
  // A commit that shrank the database (VACUUM) leaves frames for pages past its end.
  for (const pgno of frames.keys()) if (pgno > dbSize) frames.delete(pgno);
  return { pageSize, frames, dbSize, committedFrames };
}
