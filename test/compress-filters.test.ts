/**
 * The chunked compression filters, checked by the real tools: every output passes
 * `gzip -t` / `bzip2 -t` / `xz -t` and `-dc` gives back the input byte for byte, for
 * sizes around the chunk boundaries, random write sizes, one and two threads, a slow
 * consumer, and KVS-like tar at the default chunk size (50 MiB for gzip).
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { XzCompressor } from '@napi-rs/lzma';
import { kvsTar } from '../bench/compress-data.mjs';
import { bzip2Filter } from '../src/compress/bzip2.js';
import { getCompressor, GZIP_OS_UNIX } from '../src/compress/codecs.js';
import { chunkedFilter, type ChunkedFilterOptions } from '../src/compress/chunked.js';
import { gzipFilter, GZIP_CODEC } from '../src/compress/gzip.js';
import { noneFilter } from '../src/compress/none.js';
import { closePool } from '../src/compress/pool.js';
import { xzFilter } from '../src/compress/xz.js';
import { ensureWorkerBuilt, randomBytes, ROOT, run, sha, through } from './compress-helpers.js';

/** Small chunks keep the tests fast while crossing many chunk boundaries. */
const CHUNK = 64 << 10;

type Factory = (opts: ChunkedFilterOptions) => TransformStream<Uint8Array, Uint8Array>;
const CODECS: { name: string; filter: Factory; tool: string }[] = [
  { name: 'gzip', filter: gzipFilter, tool: 'gzip' },
  { name: 'bzip2', filter: bzip2Filter, tool: 'bzip2' },
  { name: 'xz', filter: xzFilter, tool: 'xz' },
];

/** Checks with the codec's own CLI: integrity test, and decompression gives `input`. */
function expectToolRoundTrip(tool: string, compressed: Uint8Array, input: Uint8Array): void {
  run(tool, ['-t'], compressed);
  const back = run(tool, ['-dc'], compressed);
  expect(back.length).toBe(input.length);
  expect(sha(back)).toBe(sha(input));
}

/** Split a concatenation of members by re-reading each chunk's own compressed length. */
function perChunk(input: Uint8Array, size: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let off = 0; off < input.length; off += size) out.push(input.subarray(off, off + size));
  if (out.length === 0) out.push(new Uint8Array(0));
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

const text = kvsTar(6 * CHUNK + 12345, { seed: 7 }) as Uint8Array;

beforeAll(ensureWorkerBuilt);
afterAll(closePool);

describe.each(CODECS)('$name filter', ({ name, filter, tool }) => {
  const sizes: [string, number][] = [
    ['empty input', 0],
    ['1 byte', 1],
    ['exactly one chunk', CHUNK],
    ['one chunk - 1', CHUNK - 1],
    ['one chunk + 1', CHUNK + 1],
    ['several chunks', 5 * CHUNK + 777],
  ];
  it.each(sizes)('%s (%i bytes) round-trips through the CLI tool', async (_label, size) => {
    const input = text.subarray(0, size);
    const out = await through(filter({ threads: 2, chunkSize: CHUNK, inlineBelow: 0 }), input, [4096, 100, 65536 + 3]);
    expectToolRoundTrip(tool, out, input);
  });

  it('random write sizes put chunk boundaries anywhere, including in tar headers', async () => {
    let seed = 99;
    const sizes = Array.from({ length: 50 }, () => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return 1 + (seed % (3 * CHUNK));
    });
    const out = await through(filter({ threads: 2, chunkSize: CHUNK + 511, inlineBelow: 0 }), text, sizes);
    expectToolRoundTrip(tool, out, text);
  });

  it('incompressible data round-trips (output larger than input)', async () => {
    const input = randomBytes(2 * CHUNK + 5, 3);
    const out = await through(filter({ threads: 2, chunkSize: CHUNK, inlineBelow: 0 }), input, [10000]);
    expect(out.length).toBeGreaterThan(input.length);
    expectToolRoundTrip(tool, out, input);
  });

  it('gives the same bytes with 1 and 2 threads, pooled or inline', async () => {
    const input = text.subarray(0, 4 * CHUNK + 99);
    const one = await through(filter({ threads: 1, chunkSize: CHUNK, inlineBelow: 0 }), input, [30000]);
    const two = await through(filter({ threads: 2, chunkSize: CHUNK, inlineBelow: 0 }), input, [7000]);
    const inline = await through(filter({ threads: 2, chunkSize: CHUNK, inlineBelow: CHUNK + 1 }), input, [CHUNK]);
    expect(sha(two)).toBe(sha(one));
    expect(sha(inline)).toBe(sha(one));
    expectToolRoundTrip(tool, one, input);
  });

  it('a slow consumer gets every byte, in order', async () => {
    const input = text.subarray(0, 5 * CHUNK);
    const stream = filter({ threads: 2, chunkSize: CHUNK, inlineBelow: 0 });
    const writing = (async () => {
      const w = stream.writable.getWriter();
      for (let off = 0; off < input.length; off += 8192) await w.write(input.slice(off, off + 8192));
      await w.close();
    })();
    const parts: Uint8Array[] = [];
    const reader = stream.readable.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      parts.push(value);
      await new Promise((r) => setTimeout(r, 20));
    }
    await writing;
    expect(parts.length).toBe(5); // one member/stream per chunk
    expectToolRoundTrip(tool, concat(parts), input);
  });

  it(`does not read more than 2 x threads chunks ahead of a stalled consumer (${name})`, async () => {
    const threads = 2;
    let pulled = 0;
    const piece = randomBytes(8192, 5);
    // An endless source that counts what the filter takes from it.
    const source = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled += piece.length;
        controller.enqueue(piece.slice());
      },
    });
    const submitted: number[] = [];
    const out = source.pipeThrough(filter({ threads, chunkSize: CHUNK, inlineBelow: 0, onChunk: (i) => submitted.push(i) }));
    const reader = out.getReader();
    await reader.read(); // the first member arrives, then nobody reads
    // Wait until the pipeline stops pulling: it must, since the consumer stopped.
    let last = -1;
    let stable = 0;
    for (let i = 0; i < 200 && stable < 5; i++) {
      await new Promise((r) => setTimeout(r, 50));
      stable = pulled === last ? stable + 1 : 0;
      last = pulled;
    }
    expect(stable).toBe(5);
    // Window (2 x threads) in the filter, up to as many finished members queued for the
    // reader, the chunk being filled, and a piece or two in the stream queues.
    const bound = (2 * 2 * threads + 2) * CHUNK;
    expect(pulled).toBeLessThanOrEqual(bound);
    expect(submitted.length).toBeLessThanOrEqual(4 * threads + 1);
    await reader.cancel();
  });
});

describe('stream formats', () => {
  it('gzip members carry MTIME 0 and OS 3 (Unix), level 6 (XFL 0)', async () => {
    const input = text.subarray(0, 3 * CHUNK);
    const out = await through(gzipFilter({ threads: 2, chunkSize: CHUNK, inlineBelow: 0 }), input);
    expect([...out.subarray(0, 10)]).toEqual([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, GZIP_OS_UNIX]);
    // Each member is zlib level 6 of its chunk, with the pinned header.
    const expected = concat(
      perChunk(input, CHUNK).map((c) => {
        const m = new Uint8Array(gzipSync(c, { level: 6 }));
        m[9] = GZIP_OS_UNIX;
        return m;
      }),
    );
    expect(sha(out)).toBe(sha(expected));
  });

  it('gzip runs on libuv\'s threads: the same bytes as on the worker pool, and the pool never starts', () => {
    const script = `
      const { gzipFilter, GZIP_CODEC } = await import(${JSON.stringify(`${ROOT}dist/compress/gzip.js`)});
      const { chunkedFilter } = await import(${JSON.stringify(`${ROOT}dist/compress/chunked.js`)});
      const { poolThreads, closePool } = await import(${JSON.stringify(`${ROOT}dist/compress/pool.js`)});
      const { createHash } = await import('node:crypto');
      async function pump(filter, bytes) {
        const w = filter.writable.getWriter();
        const reading = new Response(filter.readable).arrayBuffer();
        await w.write(bytes); await w.close();
        return createHash('sha1').update(new Uint8Array(await reading)).digest('hex');
      }
      const input = new Uint8Array(700000).map((_, i) => (i * 7919) % 251 < 60 ? i & 255 : 32);
      const offThread = await pump(gzipFilter({ threads: 2, chunkSize: 65536, inlineBelow: 0 }), input);
      const threadsAfterGzip = poolThreads();
      const onPool = await pump(chunkedFilter({ ...GZIP_CODEC, gzipEngine: 'node:zlib' }, { threads: 2, chunkSize: 65536, inlineBelow: 0 }), input);
      const threadsAfterPool = poolThreads();
      await closePool();
      console.log(JSON.stringify({ offThread, onPool, threadsAfterGzip, threadsAfterPool }));
    `;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { timeout: 60_000, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const res = JSON.parse(r.stdout) as { offThread: string; onPool: string; threadsAfterGzip: number; threadsAfterPool: number };
    expect(res.offThread).toBe(res.onPool);
    expect(res.threadsAfterGzip).toBe(0);
    expect(res.threadsAfterPool).toBeGreaterThan(0); // the comparison really used the pool
  });

  it('the fflate gzip engine writes valid members too', async () => {
    const input = text.subarray(0, 2 * CHUNK + 3);
    const filter = chunkedFilter({ ...GZIP_CODEC, gzipEngine: 'fflate' }, { threads: 2, chunkSize: CHUNK, inlineBelow: 0 });
    const out = await through(filter, input);
    expect([...out.subarray(0, 10)]).toEqual([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, GZIP_OS_UNIX]);
    expectToolRoundTrip('gzip', out, input);
  });

  it('each bzip2 stream is byte-identical to `bzip2 -9` of its chunk', async () => {
    const input = concat([text.subarray(0, 2 * CHUNK), randomBytes(CHUNK + 17, 9)]);
    const out = await through(bzip2Filter({ threads: 2, chunkSize: CHUNK, inlineBelow: 0 }), input);
    const expected = concat(perChunk(input, CHUNK).map((c) => run('bzip2', ['-9c'], c)));
    expect(sha(out)).toBe(sha(expected));
  });

  it('each xz stream is preset 6 with a CRC64 check, as `xz -6` writes', async () => {
    const input = text.subarray(0, 2 * CHUNK + 1);
    const out = await through(xzFilter({ threads: 2, chunkSize: CHUNK, inlineBelow: 0 }), input);
    const parts: Uint8Array[] = [];
    for (const c of perChunk(input, CHUNK)) {
      const x = new XzCompressor({ preset: 6 });
      parts.push(new Uint8Array(x.update(c)), new Uint8Array(await x.finish()));
    }
    expect(sha(out)).toBe(sha(concat(parts)));
    const dir = mkdtempSync(join(tmpdir(), 'fluxdump-xz-'));
    const file = join(dir, 'out.xz');
    writeFileSync(file, out);
    const list = spawnSync('xz', ['--robot', '-lvv', file], { encoding: 'utf8' }).stdout;
    rmSync(dir, { recursive: true });
    expect(list).toMatch(/^stream\s+1\s.*CRC64/m);
    expect(list).toMatch(/^totals\s+3\s+3\s/m); // 3 streams, 3 blocks
  });

  it('without SharedArrayBuffer, chunks travel as transferred ArrayBuffers: same bytes', async () => {
    const input = text.subarray(0, 5 * CHUNK + 3);
    const opts = { threads: 2, chunkSize: CHUNK, inlineBelow: 0 };
    const recycled = await through(gzipFilter(opts), input, [5000]);
    const g = globalThis as { SharedArrayBuffer?: unknown };
    const saved = g.SharedArrayBuffer;
    let filter: TransformStream<Uint8Array, Uint8Array>;
    try {
      g.SharedArrayBuffer = undefined; // as in a browser that is not cross-origin isolated
      filter = gzipFilter(opts);
    } finally {
      g.SharedArrayBuffer = saved;
    }
    const transferred = await through(filter, input, [5000]);
    expect(sha(transferred)).toBe(sha(recycled));
    expectToolRoundTrip('gzip', transferred, input);
  });

  it('the none filter passes bytes through unchanged', async () => {
    const out = await through(noneFilter({}), text, [1000, 1, 70000]);
    expect(sha(out)).toBe(sha(text));
  });

  it('GNU tar and bsdtar read our concatenated members as one archive', async () => {
    const names = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
    const tarNames = names(run('tar', ['tf', '-'], text));
    for (const { filter, tool } of CODECS) {
      const out = await through(filter({ threads: 2, chunkSize: CHUNK, inlineBelow: 0 }), text);
      const flag = tool === 'gzip' ? '-z' : tool === 'bzip2' ? '-j' : '-J';
      expect(names(run('tar', [flag, '-tf', '-'], out))).toBe(tarNames);
      expect(names(run('bsdtar', ['-tf', '-'], out))).toBe(tarNames);
    }
  });
});

describe('codec loading', () => {
  it('loading bzip2-wasm inline leaves no globals or process handlers behind', async () => {
    const g = globalThis as Record<string, unknown>;
    const before = ['uncaughtException', 'unhandledRejection'].map((e) => process.listenerCount(e));
    const hadRequire = 'require' in g;
    const hadDirname = '__dirname' in g;
    const compress = await getCompressor('bzip2');
    expect(compress(new Uint8Array(0)).length).toBe(14); // an empty bzip2 stream
    expect(['uncaughtException', 'unhandledRejection'].map((e) => process.listenerCount(e))).toEqual(before);
    expect('require' in g).toBe(hadRequire);
    expect('__dirname' in g).toBe(hadDirname);
  });

  it('small inputs never start the pool, and a used pool does not keep the process alive', () => {
    // A child process compresses (a) a small input and (b) several chunks on the pool,
    // then returns without calling closePool(): it must still exit by itself.
    const script = `
      const { bzip2Filter } = await import(${JSON.stringify(`${ROOT}dist/compress/bzip2.js`)});
      const { poolThreads } = await import(${JSON.stringify(`${ROOT}dist/compress/pool.js`)});
      async function pump(filter, bytes) {
        const w = filter.writable.getWriter();
        const reading = new Response(filter.readable).arrayBuffer();
        await w.write(bytes); await w.close();
        return new Uint8Array(await reading).length;
      }
      const small = await pump(bzip2Filter({ threads: 2 }), new Uint8Array(1000));
      const threadsAfterSmall = poolThreads();
      const big = await pump(bzip2Filter({ threads: 2, chunkSize: 65536, inlineBelow: 0 }), new Uint8Array(300000).fill(65));
      console.log(JSON.stringify({ small, big, threadsAfterSmall, threadsAfterBig: poolThreads() }));
    `;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { timeout: 30_000, encoding: 'utf8' });
    expect(r.signal).toBeNull(); // not killed by the timeout: it exited on its own
    expect(r.status).toBe(0);
    const res = JSON.parse(r.stdout) as { small: number; big: number; threadsAfterSmall: number; threadsAfterBig: number };
    expect(res.small).toBeGreaterThan(14); // more than an empty bzip2 stream
    expect(res.big).toBeGreaterThan(14);
    expect(res.threadsAfterSmall).toBe(0);
    expect(res.threadsAfterBig).toBeGreaterThan(0);
  });
});

describe('prewarm', () => {
  it('prewarm: true starts the pool before any input, and the output is still right', () => {
    const script = `
      const { bzip2Filter } = await import(${JSON.stringify(`${ROOT}dist/compress/bzip2.js`)});
      const { poolThreads, closePool } = await import(${JSON.stringify(`${ROOT}dist/compress/pool.js`)});
      const filter = bzip2Filter({ threads: 2, prewarm: true });
      // The pool is created asynchronously (piscina is imported on first use).
      for (let i = 0; i < 3000 && poolThreads() === 0; i++) await new Promise((r) => setTimeout(r, 10));
      const threadsBeforeInput = poolThreads();
      const w = filter.writable.getWriter();
      const reading = new Response(filter.readable).arrayBuffer();
      await w.write(new TextEncoder().encode('hello, prewarmed pool')); await w.close();
      const out = Buffer.from(await reading).toString('base64');
      await closePool();
      console.log(JSON.stringify({ threadsBeforeInput, out }));
    `;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { timeout: 60_000, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const res = JSON.parse(r.stdout) as { threadsBeforeInput: number; out: string };
    expect(res.threadsBeforeInput).toBe(2);
    expect(Buffer.from(run('bzip2', ['-dc'], Buffer.from(res.out, 'base64'))).toString()).toBe('hello, prewarmed pool');
  });
});

describe('KVS-like tar at the default chunk size (50 MiB gzip, 24 MiB bzip2, 16 MiB xz)', () => {
  const big = kvsTar(50 << 20, { seed: 11 }) as Uint8Array;
  // bzip2 (~17 MB/s) and xz (~3.5 MB/s) per core are slow: they get 6 and 4 default
  // chunks, which is what this test is about, and keep the file under a minute on 2 cores.
  const sizes: Record<string, number> = { gzip: big.length, bzip2: 24 << 20, xz: 16 << 20 };
  it.each(CODECS)('$name: tool-verified round trip', async ({ name, filter, tool }) => {
    const input = big.subarray(0, sizes[name]);
    const out = await through(filter({}), input, [1 << 16]);
    expect(out.length).toBeLessThan(input.length / 5);
    expectToolRoundTrip(tool, out, input);
  });
});
