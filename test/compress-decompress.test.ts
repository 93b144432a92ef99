/**
 * The reading side used by restore: sniffing by magic bytes, decompressing real Flux
 * fixtures, files made by the CLI tools as concatenated members/streams, our own filters'
 * output, plain input passed through, bounded read-ahead, and clear errors on truncated
 * or corrupt input.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kvsTar } from '../bench/compress-data.mjs';
import { bzip2Filter } from '../src/compress/bzip2.js';
import { decompressIterable, decompressStream, sniffCompression, SNIFF_BYTES, type DecompressOptions } from '../src/compress/decompress.js';
import { gzipFilter } from '../src/compress/gzip.js';
import { closePool } from '../src/compress/pool.js';
import { xzFilter } from '../src/compress/xz.js';
import { FluxError } from '../src/errors.js';
import { collect, ensureWorkerBuilt, randomBytes, ROOT, run, sha, through } from './compress-helpers.js';

const FIXTURES = join(ROOT, '../shared/fixtures');
const text = kvsTar(2 << 20, { seed: 5 }) as Uint8Array;
const enc = new TextEncoder();

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** Decompress through the TransformStream, writing `input` in pieces of the given sizes. */
function decompress(input: Uint8Array, sizes: readonly number[] = [65536], opts?: DecompressOptions): Promise<Uint8Array> {
  return through(decompressStream(opts), input, sizes);
}

async function failure(input: Uint8Array, opts?: DecompressOptions): Promise<string> {
  try {
    await decompress(input, [8192], opts);
  } catch (err) {
    expect(err).toBeInstanceOf(FluxError);
    return (err as Error).message;
  }
  return 'no error';
}

beforeAll(ensureWorkerBuilt);
afterAll(closePool);

describe('sniffCompression', () => {
  it('tells gzip, bzip2 and xz by their magic bytes', () => {
    expect(sniffCompression(run('gzip', ['-c'], text.subarray(0, 100)))).toBe('gzip');
    expect(sniffCompression(run('bzip2', ['-c'], text.subarray(0, 100)))).toBe('bzip2');
    expect(sniffCompression(run('bzip2', ['-c'], new Uint8Array(0)))).toBe('bzip2'); // end-of-stream magic
    expect(sniffCompression(run('xz', ['-c'], text.subarray(0, 100)))).toBe('xz');
    expect(sniffCompression(text)).toBe('none');
    expect(sniffCompression(new Uint8Array(0))).toBe('none');
  });

  it('needs the whole magic: short or look-alike heads are not compressed', () => {
    const bz = run('bzip2', ['-c'], text.subarray(0, 100));
    expect(sniffCompression(bz.subarray(0, SNIFF_BYTES - 1))).toBe('none');
    expect(sniffCompression(enc.encode('BZh9 is a file name in a tar'))).toBe('none');
    expect(sniffCompression(new Uint8Array([0x1f, 0x8b]))).toBe('none');
    expect(sniffCompression(new Uint8Array([0x1f, 0x8b, 0x07, 0, 0, 0, 0, 0, 0, 3]))).toBe('none'); // CM != deflate
    expect(sniffCompression(new Uint8Array([0xfd, 0x37, 0x7a, 0x58, 0x5a]))).toBe('none');
  });
});

describe('real Flux dumps', () => {
  const small = readFileSync(join(FIXTURES, 'flux-0.88/small/small.tar'));
  it.each(['gz', 'bz2', 'xz'])('small.tar.%s decompresses to exactly small.tar', async (ext) => {
    const compressed = readFileSync(join(FIXTURES, `flux-0.88/small/small.tar.${ext}`));
    expect(sniffCompression(compressed)).not.toBe('none');
    expect(sha(await decompress(compressed))).toBe(sha(small));
  });

  it('flux-core-tests/*.tar.bz2: real bzip2 is decompressed, plain tar passes through', async () => {
    const dir = join(FIXTURES, 'flux-core-tests');
    const kinds: Record<string, number> = {};
    for (const name of readdirSync(dir).filter((n) => n.endsWith('.tar.bz2'))) {
      const file = readFileSync(join(dir, name));
      const kind = sniffCompression(file);
      kinds[kind] = (kinds[kind] ?? 0) + 1;
      const expected = kind === 'bzip2' ? run('bzip2', ['-dc'], file) : file;
      expect(sha(await decompress(file, [1000]))).toBe(sha(expected));
      expect(run('tar', ['tf', '-'], await decompress(file)).length).toBeGreaterThan(0);
    }
    expect(kinds).toEqual({ bzip2: 2, none: 5 }); // as fixtures/README.md lists them
  });
});

describe('concatenated members and streams from the CLI tools', () => {
  const a = text.subarray(0, 700_000);
  const b = text.subarray(700_000);
  const cases: [string, () => Uint8Array][] = [
    ['cat a.gz b.gz', () => concat([run('gzip', ['-c'], a), run('gzip', ['-1c'], b)])],
    ['pigz -p2', () => run('pigz', ['-p2', '-6', '-c'], text)],
    ['cat a.bz2 b.bz2', () => concat([run('bzip2', ['-c'], a), run('bzip2', ['-c'], b)])],
    ['pbzip2 -p2', () => run('pbzip2', ['-p2', '-9', '-c'], text)],
    ['cat a.xz b.xz', () => concat([run('xz', ['-c'], a), run('xz', ['-c'], b)])],
    ['xz -T2 with 256 KiB blocks', () => run('xz', ['-T2', '--block-size=256KiB', '-c'], text)],
    ['xz streams with stream padding', () => concat([run('xz', ['-c'], a), new Uint8Array(8), run('xz', ['-c'], b)])],
    ['gzip with trailing zero padding', () => concat([run('gzip', ['-c'], text), new Uint8Array(1024)])],
  ];
  it.each(cases)('%s', async (_label, make) => {
    expect(sha(await decompress(make(), [4096, 1, 65536]))).toBe(sha(text));
  });
});

describe('our filters, read back', () => {
  it.each([
    ['gzip', gzipFilter],
    ['bzip2', bzip2Filter],
    ['xz', xzFilter],
  ] as const)('%s: many chunks, concatenated, decode to the input', async (_name, filter) => {
    const compressed = await through(filter({ threads: 2, chunkSize: 200_000, inlineBelow: 0 }), text);
    expect(sha(await decompress(compressed, [3000]))).toBe(sha(text));
  });
});

describe('plain input', () => {
  it.each([0, 1, 3, SNIFF_BYTES - 1, SNIFF_BYTES, 100_000])('%i bytes pass through unchanged', async (n) => {
    const input = text.subarray(0, n);
    expect(sha(await decompress(input, [1, 2, 4096]))).toBe(sha(input));
  });
});

describe('the fflate gzip reader (for runtimes without node:zlib)', () => {
  it('reads concatenated members', async () => {
    const cat = concat([gzipSync(text.subarray(0, 1000)), gzipSync(text.subarray(1000))]);
    expect(sha(await decompress(cat, [5000], { gzipEngine: 'fflate' }))).toBe(sha(text));
  });
  it('reports truncation', async () => {
    const gz = gzipSync(text);
    expect(await failure(gz.subarray(0, gz.length >> 1), { gzipEngine: 'fflate' })).toBe('archive: gzip data is truncated');
  });
});

describe('truncated and corrupt input', () => {
  const sources = [
    { codec: 'gzip', good: run('gzip', ['-c'], text) },
    { codec: 'bzip2', good: run('bzip2', ['-c'], text) },
    { codec: 'xz', good: run('xz', ['-c'], text) },
  ];
  it.each(sources)('$codec cut short at any point: "<where>: $codec data is truncated"', async ({ codec, good }) => {
    for (const frac of [0.1, 0.5, 0.9, 0.999]) {
      const cut = good.subarray(0, Math.max(SNIFF_BYTES, Math.floor(good.length * frac)));
      expect(await failure(cut, { where: 'dump.tar.x' })).toBe(`dump.tar.x: ${codec} data is truncated`);
    }
    expect(await failure(good.subarray(0, good.length - 1))).toBe(`archive: ${codec} data is truncated`);
  });

  it.each(sources)('$codec with a damaged byte: "archive: $codec data is corrupt (...)"', async ({ codec, good }) => {
    const bad = good.slice();
    bad[bad.length >> 1]! ^= 0x55;
    expect(await failure(bad)).toMatch(new RegExp(`^archive: ${codec} data is corrupt \\(.+\\)$`));
  });

  it('the error reaches the writer too, so a pipeTo() from the file rejects', async () => {
    const bad = sources[0]!.good.slice();
    bad[3] = 0xe0; // reserved FLG bits: fails at once; the file goes on for many more pieces
    let off = 0;
    const source = new ReadableStream<Uint8Array>({
      pull(c) {
        if (off >= bad.length) return c.close();
        c.enqueue(bad.slice(off, off + 1024));
        off += 1024;
      },
    });
    const stage = decompressStream({ where: 'x.tgz' });
    const piping = source.pipeTo(stage.writable);
    await expect(collect(stage.readable)).rejects.toThrow(/^x\.tgz: gzip data is corrupt/);
    await expect(piping).rejects.toThrow(/^x\.tgz: gzip data is corrupt/);
    expect(off).toBeLessThan(bad.length); // reading stopped early
  });
});

describe('bounded read-ahead', () => {
  const big = kvsTar(24 << 20, { seed: 6 }) as Uint8Array;
  it.each([
    ['gzip', () => run('gzip', ['-c'], big)],
    ['bzip2', () => run('bzip2', ['-1c'], big)],
    ['xz', () => run('xz', ['-0c'], big)],
  ] as const)('%s: reading the first output takes only a small part of the input', async (_codec, make) => {
    const compressed = make();
    let pulled = 0;
    async function* counted(): AsyncGenerator<Uint8Array> {
      for (let off = 0; off < compressed.length; off += 16384) {
        pulled += Math.min(16384, compressed.length - off);
        yield compressed.subarray(off, off + 16384);
      }
    }
    expect(compressed.length).toBeGreaterThan(1.5 * 2 ** 20);
    const it = decompressIterable(counted());
    const first = await it.next();
    expect(first.done).toBe(false);
    // bzip2 buffers up to one compressed block (< 1 MB) before decoding it.
    expect(pulled).toBeLessThanOrEqual((1 << 20) + 16384);
    await it.return(undefined);
  });

  it('a cancelled xz read releases xz-decompress for the next one', async () => {
    const xz = run('xz', ['-c'], text);
    const it = decompressIterable((async function* () { yield xz; })());
    await it.next();
    await it.return(undefined);
    // xz-decompress serialises its decoders behind one mutex: this hangs if not released.
    expect(sha(await decompress(xz))).toBe(sha(text));
  });

  it('random (incompressible) bytes that happen to follow no magic are plain', async () => {
    const r = randomBytes(50_000, 12);
    r[0] = 0; // no accidental magic
    expect(sha(await decompress(r, [7]))).toBe(sha(r));
  });
});
