/**
 * The walk's queue record: the one place its byte layout is written and read.
 *
 *   kind u8 | digest size u8 | blob count u32 BE | key length u32 BE | key (UTF-8) | digests
 *
 * Records live in a ByteFifo, not as JS objects: a breadth-first walk of millions of keys
 * holds a whole tree level at once, and that must neither fill the heap nor keep the
 * garbage collector busy.
 */
import { DIGEST_SIZE, digestInto, type HashType } from '../blobref.js';
import { FluxError } from '../errors.js';
import { encodeUtf8Into, latin1String } from '../util/bytes.js';
import { ByteFifo, type FifoOptions } from './fifo.js';

export const KIND_DIR = 1;
export const KIND_VAL = 2;
/** kind u8, digest size u8, blob count u32, key length u32. */
const RECORD_HEADER = 10;

function putU32(b: Uint8Array, at: number, v: number): void {
  b[at] = v >>> 24;
  b[at + 1] = v >>> 16;
  b[at + 2] = v >>> 8;
  b[at + 3] = v;
}

function getU32(b: Uint8Array, at: number): number {
  return ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;
}

function writeHeader(b: Uint8Array, at: number, kind: number, size: number, count: number, keyLen: number): void {
  b[at] = kind;
  b[at + 1] = size;
  putU32(b, at + 2, count);
  putU32(b, at + 6, keyLen);
}

/**
 * ASCII keys decode faster as latin1 than through TextDecoder and a view.
 * (Not `s += char`: that builds a chain of cons strings, ~32 bytes of heap per
 * character, and it was 40% of everything the walk allocated.)
 */
function readUtf8(b: Uint8Array, at: number, len: number): string {
  if (len > 256) return utf8Decoder.decode(b.subarray(at, at + len));
  for (let i = at; i < at + len; i++) if (b[i]! >= 0x80) return utf8Decoder.decode(b.subarray(at, at + len));
  return latin1String(b, at, at + len);
}

const utf8Decoder = new TextDecoder();

export function displayKey(path: string): string {
  return path === '' ? '.' : path;
}

/**
 * A FIFO of jobs (a directory to read or a value to assemble). The oldest record is read
 * in place: peek() fills kind/size/count/path and the position of its digests in `buf`,
 * which stay valid until shift().
 */
export class JobQueue {
  readonly #fifo: ByteFifo;
  /** The record peek() read. */
  kind = 0;
  size = 0;
  count = 0;
  path = '';
  /** Its digests: buf[digestsAt, digestsAt + count * size). */
  buf: Uint8Array = new Uint8Array(0);
  digestsAt = 0;
  #recordLen = 0;

  constructor(opts?: FifoOptions) {
    this.#fifo = new ByteFifo(opts);
  }

  get length(): number {
    return this.#fifo.length;
  }

  /** Queues a job from blobrefs; a tree that mixes hash types within one entry is refused. */
  push(kind: number, path: string, refs: readonly string[]): void {
    const hash: HashType = refs.length > 0 && refs[0]!.charCodeAt(3) === 50 /* "sha2..." */ ? 'sha256' : 'sha1';
    const size = DIGEST_SIZE[hash];
    // Room for the worst case (3 UTF-8 bytes per UTF-16 unit), trimmed once the key is written.
    const max = RECORD_HEADER + 3 * path.length + refs.length * size;
    const fifo = this.#fifo;
    const at = fifo.reserve(max);
    const buf = fifo.tail;
    const keyLen = encodeUtf8Into(path, buf, at + RECORD_HEADER);
    let p = at + RECORD_HEADER + keyLen;
    for (let r = 0; r < refs.length; r++) {
      const ref = refs[r]!;
      if (!digestInto(ref, hash, buf, p)) {
        throw new FluxError(`${displayKey(path)}: invalid blobref ${ref} (a tree mixes hash types)`, 'EPROTO');
      }
      p += size;
    }
    writeHeader(buf, at, kind, size, refs.length, keyLen);
    fifo.trim(max - (p - at));
  }

  /**
   * Queues a job from bytes (the directory fast path): key = dirKey[0, dirLen) then
   * name[nameStart, nameStart + nameLen); `count` digests of `size` bytes from
   * digests[digestAt ..].
   */
  pushBytes(
    kind: number,
    dirKey: Uint8Array,
    dirLen: number,
    name: Uint8Array,
    nameStart: number,
    nameLen: number,
    digests: Uint8Array,
    digestAt: number,
    count: number,
    size: number,
  ): void {
    const keyLen = dirLen + nameLen;
    const at = this.#fifo.reserve(RECORD_HEADER + keyLen + count * size);
    const buf = this.#fifo.tail;
    writeHeader(buf, at, kind, size, count, keyLen);
    let p = at + RECORD_HEADER;
    for (let k = 0; k < dirLen; k++) buf[p + k] = dirKey[k]!; // no view per record
    p += dirLen;
    for (let k = 0; k < nameLen; k++) buf[p + k] = name[nameStart + k]!;
    p += nameLen;
    for (let k = 0, n = count * size; k < n; k++) buf[p + k] = digests[digestAt + k]!;
  }

  /** Reads the oldest record into the fields above (the queue must not be empty). */
  peek(): void {
    const at = this.#fifo.peek();
    const buf = this.#fifo.head;
    this.buf = buf;
    this.kind = buf[at]!;
    this.size = buf[at + 1]!;
    this.count = getU32(buf, at + 2);
    const keyLen = getU32(buf, at + 6);
    const keyAt = at + RECORD_HEADER;
    this.path = readUtf8(buf, keyAt, keyLen);
    this.digestsAt = keyAt + keyLen;
    this.#recordLen = RECORD_HEADER + keyLen + this.count * this.size;
  }

  /** Drops the record peek() read. */
  shift(): void {
    this.#fifo.shift(this.#recordLen);
  }

  close(): void {
    this.#fifo.close();
  }
}
