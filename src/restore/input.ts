/**
 * Opens INFILE (or stdin) as a stream of archive entries. Compression and archive
 * format are both told from the bytes, never from the name (real Flux dumps named
 * .tar.bz2 are often plain tar): decompress if a compression magic is there, then look
 * at the first 32 KiB for cpio, zip, tar and ISO 9660 signatures. tar and cpio stream;
 * zip and ISO need positioned reads, so a stream is spooled to a temporary file first.
 */
import { Buffer } from 'node:buffer';
import { open, stat } from 'node:fs/promises';
import { decompressIterable, sniffCompression, SNIFF_BYTES, type Compression } from '../compress/decompress.js';
import { FluxError } from '../errors.js';
import { ByteStream } from './byte-stream.js';
import { cpioKind, readCpio } from './cpio.js';
import type { EntryBatches, ReaderOptions } from './entry.js';
import { ISO_SNIFF_BYTES, looksLikeIso, readIso } from './iso9660.js';
import { openFileRandomAccess, spoolToRandomAccess, type RandomAccess } from './random-access.js';
import { BLOCK, looksLikeTar, readTar } from './tar.js';
import { looksLikeZip, readZip } from './zip.js';

export type ArchiveFormat = 'tar' | 'cpio-odc' | 'cpio-newc' | 'zip' | 'iso9660' | 'empty';

export interface OpenedArchive {
  format: ArchiveFormat;
  compression: Compression;
  entries: EntryBatches;
  /** Release the file, temporary spool, decompressor. Safe to call twice. */
  close(): Promise<void>;
}

export interface InputOptions {
  sizeLimit: number;
  /** Without sizeLimit, values over this many bytes are refused (default DEFAULT_VALUE_CEILING). */
  valueCeiling?: number;
  /** The stream read for INFILE `-` (default: process.stdin). */
  stdin?: AsyncIterable<Uint8Array>;
}

/** Read size for files: large enough that per-chunk costs vanish. */
const FILE_CHUNK = 1 << 20;

/** A file as chunks, reading the next chunk while the current one is being parsed. */
async function* fileChunks(path: string): AsyncGenerator<Uint8Array> {
  const fh = await open(path, 'r');
  let next: Promise<Uint8Array> | undefined;
  try {
    const readOne = async (): Promise<Uint8Array> => {
      // Not zero-filled: every byte handed on is read into first; and malloc can reuse
      // the chunks already dropped instead of faulting in fresh pages.
      const b = Buffer.allocUnsafe(FILE_CHUNK);
      const buf = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
      const { bytesRead } = await fh.read(buf, 0, FILE_CHUNK, null);
      return bytesRead === FILE_CHUNK ? buf : buf.subarray(0, bytesRead);
    };
    next = readOne();
    for (;;) {
      const chunk = await next;
      if (chunk.length === 0) return;
      next = readOne();
      yield chunk;
    }
  } finally {
    // a consumer that stops early leaves one read in flight: let it land before closing
    await next?.catch(() => undefined);
    await fh.close();
  }
}

function openError(path: string, err: unknown): FluxError {
  const e = err as NodeJS.ErrnoException;
  if (e.code === 'ENOENT') return new FluxError(`${path}: No such file or directory`, 'ENOENT');
  if (e.code === 'EACCES') return new FluxError(`${path}: Permission denied`, 'EACCES');
  if (e.code === 'EISDIR') return new FluxError(`${path}: Is a directory`, 'EISDIR');
  return new FluxError(`${path}: ${e.message ?? String(err)}`, e.code ?? 'EIO');
}

/**
 * Most bytes read past the end-of-archive marker. Writers put at most a record of
 * padding there (10 KiB; 1 MiB with `tar -b 2048`), and the compressed stream's checksum
 * comes within one member (1 MiB for our gzip): anything longer is a second archive or
 * a decompression bomb, not something to spend the restore's time on.
 */
export const MAX_TRAILING_BYTES = 64 << 20;

/**
 * After the end-of-archive marker, read the input to its end: a compressed stream's
 * checksum (gzip CRC, bzip2 CRC, xz check, the only integrity check tar and cpio values
 * get) is only verified there, and a pipe writer is not left with a broken pipe. What
 * follows the archive is otherwise ignored, up to MAX_TRAILING_BYTES.
 */
async function* thenDrain(entries: EntryBatches, stream: ByteStream, where: string): EntryBatches {
  yield* entries;
  let trailing = 0;
  for await (const chunk of stream.rest()) {
    trailing += chunk.length;
    if (trailing > MAX_TRAILING_BYTES) {
      throw new FluxError(`${where}: more than ${MAX_TRAILING_BYTES} bytes follow the end of the archive`, 'EPROTO');
    }
  }
}

export function detectFormat(head: Uint8Array): ArchiveFormat | undefined {
  if (head.length === 0) return 'empty';
  const cpio = cpioKind(head);
  if (cpio !== undefined) return cpio === 'odc' ? 'cpio-odc' : 'cpio-newc';
  if (looksLikeZip(head)) return 'zip';
  if (looksLikeTar(head)) return 'tar';
  if (looksLikeIso(head)) return 'iso9660';
  // An archive of end-of-archive blocks only is an empty tar.
  if (head.length >= BLOCK && head.subarray(0, BLOCK).every((b) => b === 0)) return 'tar';
  return undefined;
}

export async function openArchive(input: string, opts: InputOptions): Promise<OpenedArchive> {
  const where = input === '-' ? 'stdin' : input;
  const readerOpts: ReaderOptions = { sizeLimit: opts.sizeLimit, where, ...(opts.valueCeiling !== undefined ? { valueCeiling: opts.valueCeiling } : {}) };
  let source: AsyncIterable<Uint8Array>;
  if (input === '-') source = opts.stdin ?? (process.stdin as AsyncIterable<Uint8Array>);
  else {
    try {
      const st = await stat(input);
      if (st.isDirectory()) throw Object.assign(new Error('Is a directory'), { code: 'EISDIR' });
    } catch (err) {
      throw openError(input, err);
    }
    source = fileChunks(input);
  }

  const raw = new ByteStream(source);
  let stream = raw;
  const cleanups: (() => Promise<void>)[] = [() => raw.cancel()];
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  };

  try {
    const compression = sniffCompression(await stream.peek(SNIFF_BYTES));
    if (compression !== 'none') {
      const decompressed = new ByteStream(decompressIterable(raw.rest(), { where }));
      cleanups.push(() => decompressed.cancel());
      stream = decompressed;
    }
    const head = await stream.peek(ISO_SNIFF_BYTES);
    const format = detectFormat(head);
    if (format === undefined) throw new FluxError(`${where}: unrecognized archive format`, 'EPROTO');

    let entries: EntryBatches;
    switch (format) {
      case 'empty':
        entries = (async function* () {})();
        break;
      case 'tar':
        entries = thenDrain(readTar(stream, readerOpts), stream, where);
        break;
      case 'cpio-odc':
      case 'cpio-newc':
        entries = thenDrain(readCpio(stream, format === 'cpio-odc' ? 'odc' : 'newc', readerOpts), stream, where);
        break;
      case 'zip':
      case 'iso9660': {
        let ra: RandomAccess;
        if (input !== '-' && compression === 'none') {
          await stream.cancel();
          ra = await openFileRandomAccess(input, where);
        } else {
          ra = await spoolToRandomAccess(stream.rest(), where);
        }
        cleanups.push(() => ra.close());
        entries = format === 'zip' ? readZip(ra, readerOpts) : readIso(ra, readerOpts);
        break;
      }
    }
    return { format, compression, entries, close };
  } catch (err) {
    await close();
    if (err instanceof FluxError) throw err;
    throw openError(where, err);
  }
}
