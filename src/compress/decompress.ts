/**
 * The reading side, for restore: tell the compression from the first bytes (never from a
 * file name: real Flux dumps called .tar.bz2 are often plain tar) and stream the
 * decompressed bytes with bounded memory. Concatenated members/streams, as our filters,
 * pigz, pbzip2 and `xz -T` write them, decode as one file. Truncated or corrupt input ends
 * in a one-line FluxError, never a hang.
 *
 * Readers: gzip = node:zlib's gunzip (multi-member; Deno has node:zlib too), fflate's
 * streaming Gunzip where node:zlib is absent; bzip2 = bunzip2.ts (our TypeScript decoder);
 * xz = xz-decompress (xz-embedded compiled to WASM, streaming, multi-stream).
 */
import { FluxError } from '../errors.js';
import { bunzip2 } from './bunzip2.js';

export type Compression = 'gzip' | 'bzip2' | 'xz' | 'none';

/** Bytes sniffCompression needs to be sure (bzip2: "BZh" + level + a 6-byte block magic). */
export const SNIFF_BYTES = 10;

const GZIP_MAGIC = [0x1f, 0x8b, 0x08]; // ID1 ID2, CM = 8 (deflate): RFC 1952 §2.3.1
const XZ_MAGIC = [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]; // 0xFD '7zXZ' 0x00
const BZIP2_MAGIC = [0x42, 0x5a, 0x68]; // 'BZh'
const BZIP2_BLOCK_MAGIC = [0x31, 0x41, 0x59, 0x26, 0x53, 0x59]; // pi: first block
const BZIP2_EOS_MAGIC = [0x17, 0x72, 0x45, 0x38, 0x50, 0x90]; // sqrt(pi): empty stream

function startsWith(head: Uint8Array, magic: readonly number[], at = 0): boolean {
  if (head.length < at + magic.length) return false;
  for (let i = 0; i < magic.length; i++) if (head[at + i] !== magic[i]) return false;
  return true;
}

/**
 * The compression of a file from its first bytes (SNIFF_BYTES are enough). bzip2 needs
 * the level digit and the block (or end-of-stream) magic too, so a tar whose first name
 * happens to start with "BZh" is not mistaken for bzip2.
 */
export function sniffCompression(head: Uint8Array): Compression {
  if (startsWith(head, GZIP_MAGIC)) return 'gzip';
  if (startsWith(head, XZ_MAGIC)) return 'xz';
  if (startsWith(head, BZIP2_MAGIC) && head.length >= 4 && head[3]! >= 0x31 && head[3]! <= 0x39) {
    if (startsWith(head, BZIP2_BLOCK_MAGIC, 4) || startsWith(head, BZIP2_EOS_MAGIC, 4)) return 'bzip2';
  }
  return 'none';
}

export interface DecompressOptions {
  /** Names the input in error messages ("archive: gzip data is truncated"). */
  where?: string;
  /** Force a gzip reader (tests, benchmarks); default node:zlib, else fflate. */
  gzipEngine?: 'node:zlib' | 'fflate';
}

/** Input slice fed to a decoder at a time: bounds the output of one decoding step. */
const FEED_BYTES = 64 << 10;

function* slices(chunk: Uint8Array): Generator<Uint8Array> {
  for (let off = 0; off < chunk.length; off += FEED_BYTES) yield chunk.subarray(off, off + FEED_BYTES);
}

function truncated(where: string, codec: string): FluxError {
  return new FluxError(`${where}: ${codec} data is truncated`, 'EPROTO');
}

function corrupt(where: string, codec: string, detail: string): FluxError {
  return new FluxError(`${where}: ${codec} data is corrupt (${detail})`, 'EPROTO');
}

// ---- gzip ------------------------------------------------------------------------------

/**
 * Output chunk of node:zlib's gunzip. Its default (16 KiB) makes a 200 MB archive 12,500
 * chunks, each a trip through the stream and the reader above: restoring a 140,004-key
 * .tgz took 3.44-3.52 s with it and 2.29-2.30 s with 256 KiB chunks (1 MiB: 2.22-2.28 s
 * for 20 MiB more peak RSS).
 */
const GUNZIP_CHUNK_BYTES = 256 << 10;

async function* gunzipNode(
  zlib: typeof import('node:zlib'),
  input: AsyncIterable<Uint8Array>,
  where: string,
): AsyncGenerator<Uint8Array> {
  const { Readable, pipeline } = await import('node:stream');
  // zlib's gunzip reads member after member and ignores trailing zero padding; its
  // readable side stops inflating while its buffer is full, so memory stays bounded.
  const gunzip = zlib.createGunzip({ chunkSize: GUNZIP_CHUNK_BYTES });
  pipeline(Readable.from(input), gunzip, () => {});
  try {
    for await (const out of gunzip as AsyncIterable<Uint8Array>) yield out;
  } catch (err) {
    if (err instanceof FluxError) throw err;
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'Z_BUF_ERROR') throw truncated(where, 'gzip');
    if (e.code === 'Z_DATA_ERROR') throw corrupt(where, 'gzip', e.message);
    throw err; // an error of the input itself
  } finally {
    gunzip.destroy();
  }
}

async function* gunzipFflate(input: AsyncIterable<Uint8Array>, where: string): AsyncGenerator<Uint8Array> {
  const { Gunzip } = await import('fflate');
  const out: Uint8Array[] = [];
  const gunzip = new Gunzip((data) => out.push(data));
  let fed = false;
  const push = (data: Uint8Array, final: boolean): void => {
    try {
      gunzip.push(data, final);
    } catch (err) {
      const msg = (err as Error).message;
      if (final && /unexpected EOF/i.test(msg)) throw truncated(where, 'gzip');
      throw corrupt(where, 'gzip', msg);
    }
  };
  for await (const chunk of input) {
    for (const s of slices(chunk)) {
      push(s, false);
      fed = true;
      yield* out.splice(0);
    }
  }
  if (!fed) throw truncated(where, 'gzip');
  push(new Uint8Array(0), true);
  yield* out.splice(0);
}

async function* gunzip(input: AsyncIterable<Uint8Array>, where: string, engine?: 'node:zlib' | 'fflate'): AsyncGenerator<Uint8Array> {
  if (engine !== 'fflate') {
    const zlib = await import('node:zlib').catch(() => null);
    if (zlib) return yield* gunzipNode(zlib, input, where);
  }
  return yield* gunzipFflate(input, where);
}

// ---- xz --------------------------------------------------------------------------------

/** xz-embedded's xz_ret codes, as xz-decompress reports them. */
const XZ_ERRORS: Record<string, string> = {
  '2': 'unsupported integrity check',
  '3': 'out of memory',
  '4': 'memory limit reached',
  '5': 'not xz data',
  '6': 'unsupported options',
  '7': 'data error',
};
const XZ_BUF_ERROR = '8';

interface XzModule {
  XzReadableStream: new (compressed: ReadableStream<Uint8Array>) => ReadableStream<Uint8Array>;
}

/**
 * xz-decompress keeps ONE decoder per process behind a mutex that is released only when
 * a stream ends, fails or is cancelled: we always cancel on early exit, or the next xz
 * restore in this process would wait forever.
 */
async function* unxz(input: AsyncIterable<Uint8Array>, where: string): AsyncGenerator<Uint8Array> {
  const mod = (await import('xz-decompress')) as unknown as XzModule & { default?: XzModule };
  const XzReadableStream = mod.XzReadableStream ?? mod.default!.XzReadableStream;
  const it = input[Symbol.asyncIterator]();
  const source = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const r = await it.next();
        if (r.done) controller.close();
        else controller.enqueue(r.value);
      },
      async cancel() {
        await it.return?.();
      },
    },
    { highWaterMark: 0 },
  );
  const reader = new XzReadableStream(source).getReader();
  let finished = false;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (value.length > 0) yield value;
    }
    finished = true;
  } catch (err) {
    const m = /error code (\d+)/.exec((err as Error).message ?? '');
    if (m?.[1] === XZ_BUF_ERROR || err instanceof TypeError) throw truncated(where, 'xz');
    if (m) throw corrupt(where, 'xz', XZ_ERRORS[m[1]!] ?? `code ${m[1]}`);
    throw err;
  } finally {
    if (!finished) await reader.cancel().catch(() => {});
  }
}

// ---- the stage -------------------------------------------------------------------------

/** Prepend already-read chunks to the rest of an iterator. */
async function* prepend(head: Uint8Array[], rest: AsyncIterator<Uint8Array>): AsyncGenerator<Uint8Array> {
  yield* head;
  for (;;) {
    const r = await rest.next();
    if (r.done) return;
    yield r.value;
  }
}

/**
 * Decompress `source` (whatever it holds: gzip, bzip2, xz, or plain bytes passed through
 * unchanged) as an async iterable. The stage restore wants; decompressStream() wraps it.
 */
export async function* decompressIterable(
  source: AsyncIterable<Uint8Array>,
  opts: DecompressOptions = {},
): AsyncGenerator<Uint8Array> {
  const where = opts.where ?? 'archive';
  const it = source[Symbol.asyncIterator]();
  const head: Uint8Array[] = [];
  let have = 0;
  try {
    while (have < SNIFF_BYTES) {
      const r = await it.next();
      if (r.done) break;
      if (r.value.length === 0) continue;
      head.push(r.value);
      have += r.value.length;
    }
    const first = new Uint8Array(Math.min(have, SNIFF_BYTES));
    let off = 0;
    for (const c of head) {
      if (off >= first.length) break;
      const n = Math.min(c.length, first.length - off);
      first.set(c.subarray(0, n), off);
      off += n;
    }
    const all = prepend(head, it);
    switch (sniffCompression(first)) {
      case 'none':
        yield* all;
        return;
      case 'gzip':
        yield* gunzip(all, where, opts.gzipEngine);
        return;
      case 'bzip2':
        yield* bunzip2(all, where);
        return;
      case 'xz':
        yield* unxz(all, where);
        return;
    }
  } finally {
    await it.return?.();
  }
}

/**
 * A TransformStream-shaped stage: write compressed (or plain) bytes, read decompressed
 * bytes. Output is produced only as the reader pulls (highWaterMark 0), and input is
 * taken only as the decoder needs it, so memory stays bounded whatever the sizes. An error
 * errors the readable side and cancels the writable side (FluxError for bad data).
 */
export function decompressStream(opts: DecompressOptions = {}): TransformStream<Uint8Array, Uint8Array> {
  const input = new TransformStream<Uint8Array, Uint8Array>();
  const reader = input.readable.getReader();
  // The input reader stays ours: the decoder only reads from it, and we cancel it with the
  // reason (the decoder's error, or the consumer's cancel) so the writer learns why.
  const source: AsyncIterable<Uint8Array> = {
    [Symbol.asyncIterator]: () => ({
      next: () => reader.read() as Promise<IteratorResult<Uint8Array>>,
      return: async () => ({ done: true, value: undefined }),
    }),
  };
  const out = decompressIterable(source, opts);
  const readable = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        try {
          const r = await out.next();
          if (r.done) controller.close();
          else controller.enqueue(r.value);
        } catch (err) {
          controller.error(err);
          await reader.cancel(err).catch(() => {});
        }
      },
      async cancel(reason) {
        await out.return(undefined);
        await reader.cancel(reason).catch(() => {});
      },
    },
    { highWaterMark: 0 },
  );
  return { readable, writable: input.writable };
}
