/**
 * Our streaming bzip2 decoder against the real `bzip2`/`pbzip2` tools, with
 * unbzip2-stream as an independent second reader: every block size, RLE edge cases,
 * incompressible data, concatenated streams, input in tiny pieces, and truncated or
 * corrupt input ending in a FluxError (never a hang, never wrong bytes).
 */
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { kvsTar } from '../bench/compress-data.mjs';
import { bunzip2 } from '../src/compress/bunzip2.js';
import { FluxError } from '../src/errors.js';
import { randomBytes, run, sha } from './compress-helpers.js';

async function* pieces(data: Uint8Array, sizes: readonly number[] = [65536]): AsyncGenerator<Uint8Array> {
  let off = 0;
  for (let i = 0; off < data.length; i++) {
    const n = sizes[i % sizes.length]!;
    yield data.slice(off, off + n);
    off += n;
  }
}

async function decode(data: Uint8Array, sizes?: readonly number[]): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const p of bunzip2(pieces(data, sizes), 'test.bz2')) parts.push(p);
  return concat(parts);
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

/** Runs of every length around the RLE1 thresholds (4 = run marker, 4 + 255 = max). */
function runs(): Uint8Array {
  const parts: Uint8Array[] = [];
  for (let len = 1; len <= 700; len += len < 12 ? 1 : len < 250 ? 37 : 1) {
    parts.push(new Uint8Array(len).fill(len & 0xff));
  }
  return concat(parts);
}

const text = kvsTar(3 << 20, { seed: 3 }) as Uint8Array;
const samples: [string, Uint8Array][] = [
  ['KVS-like tar', text],
  ['random bytes', randomBytes(1_200_000, 4)],
  ['8 MB of zeros (RLE1 runs)', new Uint8Array(8_000_000)],
  ['run lengths around the RLE thresholds', runs()],
  ['every byte value once', Uint8Array.from({ length: 256 }, (_, i) => i)],
  ['one byte', new Uint8Array([0x41])],
  ['empty', new Uint8Array(0)],
];

describe('bunzip2 matches bzip2', () => {
  it.each(samples)('%s, block sizes 1, 5 and 9', async (_label, data) => {
    for (const level of ['-1', '-5', '-9']) {
      const compressed = run('bzip2', [level, '-c'], data);
      const out = await decode(compressed);
      expect(out.length).toBe(data.length);
      expect(sha(out)).toBe(sha(data));
    }
  });

  it('concatenated streams (cat a.bz2 b.bz2 c.bz2) decode as one file', async () => {
    const a = text.subarray(0, 1_000_000);
    const b = randomBytes(300_000, 8);
    const c = new Uint8Array(0);
    const cat = concat([run('bzip2', ['-9c'], a), run('bzip2', ['-1c'], b), run('bzip2', ['-c'], c)]);
    expect(sha(await decode(cat))).toBe(sha(concat([a, b, c])));
  });

  it('pbzip2 -p2 output (one stream per 900 kB) decodes', async () => {
    const out = await decode(run('pbzip2', ['-p2', '-9', '-c'], text));
    expect(sha(out)).toBe(sha(text));
  });

  it('input in pieces of 1 to 7 bytes decodes the same', async () => {
    const data = text.subarray(0, 400_000);
    const compressed = run('bzip2', ['-9c'], concat([data, data.subarray(0, 1000)]));
    const out = await decode(compressed, [1, 2, 3, 5, 7]);
    expect(sha(out)).toBe(sha(concat([data, data.subarray(0, 1000)])));
  });

  it('agrees with unbzip2-stream, an independent reader', async () => {
    const cat = concat([run('bzip2', ['-9c'], text.subarray(0, 500_000)), run('bzip2', ['-9c'], runs())]);
    const require = createRequire(import.meta.url);
    const unbzip2 = require('unbzip2-stream') as () => NodeJS.ReadWriteStream;
    const theirs = await new Promise<Uint8Array>((resolve, reject) => {
      const parts: Uint8Array[] = [];
      const s = unbzip2();
      s.on('data', (d: Uint8Array) => parts.push(d));
      s.on('end', () => resolve(concat(parts)));
      s.on('error', reject);
      s.end(Buffer.from(cat));
    });
    expect(sha(await decode(cat))).toBe(sha(theirs));
  });

  it('trailing zero bytes after the last stream are padding', async () => {
    const compressed = concat([run('bzip2', ['-9c'], text.subarray(0, 100_000)), new Uint8Array(4096)]);
    expect(sha(await decode(compressed))).toBe(sha(text.subarray(0, 100_000)));
  });
});

describe('bunzip2 on bad input', () => {
  const data = text.subarray(0, 600_000);
  const good = concat([run('bzip2', ['-9c'], data), run('bzip2', ['-1c'], data.subarray(0, 150_000))]);
  const expected = concat([data, data.subarray(0, 150_000)]);

  async function outcome(bytes: Uint8Array): Promise<string> {
    try {
      const out = await decode(bytes, [4096]);
      return sha(out) === sha(expected) ? 'ok' : 'WRONG BYTES';
    } catch (err) {
      if (!(err instanceof FluxError)) throw err;
      return err.message;
    }
  }

  it('truncated anywhere: "bzip2 data is truncated"', async () => {
    for (let i = 1; i < 40; i++) {
      const cut = Math.floor((good.length * i) / 40);
      expect(await outcome(good.subarray(0, cut))).toBe('test.bz2: bzip2 data is truncated');
    }
  });

  it('a flipped bit anywhere: corrupt (or, in header padding, harmless), never wrong bytes', async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 40; i++) {
      const bad = good.slice();
      bad[Math.floor((bad.length * i) / 40) + 5]! ^= 1 << i % 8;
      const r = await outcome(bad);
      expect(r).not.toBe('WRONG BYTES');
      if (r !== 'ok') expect(r).toMatch(/^test\.bz2: bzip2 data is (corrupt \(.+\)|truncated)$/);
      seen.add(r);
    }
    expect([...seen].some((r) => r.includes('CRC mismatch'))).toBe(true);
  });

  it('garbage after a stream, or no bzip2 data at all, is corrupt', async () => {
    const garbage = concat([good, new TextEncoder().encode('not a bzip2 stream')]);
    expect(await outcome(garbage)).toBe('test.bz2: bzip2 data is corrupt (garbage after the end of a stream)');
    expect(await outcome(text.subarray(0, 5000))).toBe('test.bz2: bzip2 data is corrupt (not bzip2 data)');
  });
});
