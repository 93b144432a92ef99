import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FluxError } from '../src/errors.js';
import { lz4, lz4DecodeBlockTS, lz4EncodeBlockTS } from '../src/store/lz4.js';
import { WASM_BASE64 } from '../src/wasm/generated/lz4.wasm.js';
import { instantiateEmbedded } from '../src/wasm/load.js';
import { installWasmLz4, maxDecodedSize, uninstallWasmLz4, WasmLz4 } from '../src/wasm/lz4.js';

const FIXTURE = '../shared/fixtures/flux-0.88/small/small.sqlite';

/** Byte equality via Buffer.equals: vitest's deep equality walks typed arrays slowly. */
function same(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length));
}

function rng(seed: number): () => number {
  let x = seed | 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

function randomBytes(n: number, next: () => number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (next() * 256) | 0;
  return out;
}

/** KVS-like JSON values: repetitive keys, varying numbers (compresses ~3-5x). */
function jsonBlob(i: number, next: () => number): Uint8Array {
  const job = {
    id: 1_000_000 + i,
    userid: 1000 + (i % 17),
    state: ['INACTIVE', 'RUN', 'CLEANUP'][i % 3],
    t_submit: 1_700_000_000 + next() * 1e6,
    R: { version: 1, execution: { R_lite: [{ rank: String(i % 64), children: { core: `0-${i % 32}` } }] } },
    attributes: { system: { duration: (next() * 3600) | 0, cwd: `/home/user${i % 17}/work/${i}` } },
    eventlog: Array.from({ length: 1 + (i % 6) }, (_, k) => ({ timestamp: 1_700_000_000 + k, name: ['submit', 'alloc', 'start', 'finish', 'release', 'free'][k] })),
  };
  return new TextEncoder().encode(JSON.stringify(job));
}

/** Inputs that exercise literal runs, short and long matches, overlapping copies. */
function corpus(): { name: string; data: Uint8Array }[] {
  const next = rng(42);
  const out: { name: string; data: Uint8Array }[] = [
    { name: 'empty', data: new Uint8Array(0) },
    { name: '1 byte', data: new Uint8Array([7]) },
    { name: '12 bytes (too short to match)', data: new TextEncoder().encode('aaaaaaaaaaaa') },
    { name: '13 bytes', data: new TextEncoder().encode('aaaaaaaaaaaaa') },
    { name: 'zeros 1 MiB', data: new Uint8Array(1 << 20) },
    { name: 'random 100 KiB', data: randomBytes(100_000, next) },
    { name: 'random 300 B', data: randomBytes(300, next) },
  ];
  for (const period of [1, 2, 3, 7, 15, 16, 17, 31, 100]) {
    const base = randomBytes(period, next);
    const data = new Uint8Array(5000 + period);
    for (let i = 0; i < data.length; i++) data[i] = base[i % period]!;
    out.push({ name: `period ${period}`, data });
  }
  for (let i = 0; i < 40; i++) out.push({ name: `json ${i}`, data: jsonBlob(i, next) });
  // Long literal runs (>= 15, >= 270) between matches, and a match far back (~64 KiB).
  const mixed = new Uint8Array(200_000);
  for (let i = 0; i < mixed.length; i++) mixed[i] = i % 1000 < 300 ? (next() * 256) | 0 : mixed[i - 65_000] ?? 9;
  out.push({ name: 'mixed literals and far matches', data: mixed });
  return out;
}

/** A python3 that has liblz4's bindings (Debian python3-lz4), or null. */
function findPython(): string | null {
  for (const py of ['/usr/bin/python3', 'python3']) {
    const r = spawnSync(py, ['-c', 'import lz4.block'], { encoding: 'utf8' });
    if (r.status === 0) return py;
  }
  return null;
}

/** Runs `script` in python with a length-prefixed list of byte strings on stdin and out. */
function pythonMap(py: string, script: string, items: Uint8Array[]): Uint8Array[] {
  const parts: Uint8Array[] = [];
  for (const it of items) {
    const len = new Uint8Array(4);
    new DataView(len.buffer).setUint32(0, it.length);
    parts.push(len, it);
  }
  const prelude = `
import sys, struct, lz4.block
data = sys.stdin.buffer.read(); items = []; i = 0
while i < len(data):
    (n,) = struct.unpack('>I', data[i:i+4]); items.append(data[i+4:i+4+n]); i += 4 + n
out = []
`;
  const epilogue = `
sys.stdout.buffer.write(b''.join(struct.pack('>I', len(o)) + o for o in out))
`;
  const r = spawnSync(py, ['-c', prelude + script + epilogue], { input: Buffer.concat(parts), maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`python failed: ${r.stderr.toString()}`);
  const res: Uint8Array[] = [];
  const buf = new Uint8Array(r.stdout);
  for (let i = 0; i < buf.length; ) {
    const n = new DataView(buf.buffer, buf.byteOffset + i, 4).getUint32(0);
    res.push(buf.subarray(i + 4, i + 4 + n));
    i += 4 + n;
  }
  return res;
}

let codec: WasmLz4;
beforeAll(async () => {
  codec = await WasmLz4.load();
});
afterAll(() => uninstallWasmLz4());

describe('WASM LZ4 block codec', () => {
  const cases = corpus();

  it('round-trips every corpus input, and the TS reference decoder agrees', () => {
    for (const { name, data } of cases) {
      const block = codec.encode(data);
      expect(block.length, name).toBeLessThanOrEqual(data.length + Math.floor(data.length / 255) + 16);
      expect(same(codec.decode(block, data.length), data), name).toBe(true);
      expect(same(lz4DecodeBlockTS(block, data.length), data), name).toBe(true);
      // And the other way: the TS encoder's blocks decode in WASM.
      expect(same(codec.decode(lz4EncodeBlockTS(data), data.length), data), name).toBe(true);
    }
  });

  it('decodeInto writes the same bytes at the offset asked, and nothing around them', () => {
    for (const { name, data } of cases) {
      const block = codec.encode(data);
      const dst = new Uint8Array(data.length + 20).fill(0xee);
      codec.decodeInto(block, data.length, dst, 7);
      expect(same(dst.subarray(7, 7 + data.length), data), name).toBe(true);
      expect(dst.subarray(0, 7).every((b) => b === 0xee) && dst.subarray(7 + data.length).every((b) => b === 0xee), name).toBe(true);
    }
    expect(() => codec.decodeInto(new Uint8Array([0x10, 1, 0, 0]), 10, new Uint8Array(10), 0)).toThrow('corrupt LZ4 block: match offset out of range');
  });

  it('compresses repetitive data (zeros, JSON) well', () => {
    const zeros = cases.find((c) => c.name === 'zeros 1 MiB')!.data;
    expect(codec.encode(zeros).length).toBeLessThan(5000);
    const json = cases.filter((c) => c.name.startsWith('json'));
    const raw = json.reduce((n, c) => n + c.data.length, 0);
    const packed = json.reduce((n, c) => n + codec.encode(c.data).length, 0);
    expect(packed).toBeLessThan(raw * 0.9);
  });

  it('decodes the LZ4 blobs flux-core 0.88 wrote to content.sqlite (and they hash to their keys)', () => {
    // read a private copy: better-sqlite3 leaves -wal/-shm beside a WAL database it opens
    const dir = mkdtempSync(join(tmpdir(), 'fluxdump-lz4-'));
    copyFileSync(FIXTURE, join(dir, 'content.sqlite'));
    const db = new Database(join(dir, 'content.sqlite'), { readonly: true, fileMustExist: true });
    const rows = db.prepare('SELECT CAST(hash AS BLOB) AS hash, size, object FROM objects WHERE size >= 0').all() as {
      hash: Buffer;
      size: number;
      object: Buffer;
    }[];
    db.close();
    rmSync(dir, { recursive: true, force: true });
    expect(rows.length).toBe(9); // the fixture's README: 24 objects, 9 of them LZ4 blocks
    for (const row of rows) {
      const blob = codec.decode(new Uint8Array(row.object), row.size);
      expect(createHash('sha1').update(blob).digest('hex')).toBe(row.hash.toString('hex'));
    }
  });

  const py = findPython();
  it('python3-lz4 (liblz4) is installed for the interoperability tests', () => {
    expect(py, 'install Debian python3-lz4').not.toBeNull();
  });

  it('liblz4 decodes our blocks, and we decode liblz4 blocks', () => {
    const datas = cases.map((c) => c.data);
    const ours = datas.map((d) => codec.encode(d));
    // Each item: 4-byte size + our block -> liblz4 decompress with uncompressed_size.
    const sized = ours.map((b, i) => {
      const x = new Uint8Array(4 + b.length);
      new DataView(x.buffer).setUint32(0, datas[i]!.length);
      x.set(b, 4);
      return x;
    });
    const decodedByLib = pythonMap(
      py!,
      `for it in items:
    (n,) = struct.unpack('>I', it[:4]); out.append(lz4.block.decompress(it[4:], uncompressed_size=n))`,
      sized,
    );
    decodedByLib.forEach((d, i) => expect(same(d, datas[i]!), cases[i]!.name).toBe(true));

    const libBlocks = pythonMap(py!, `for it in items:\n    out.append(lz4.block.compress(it, store_size=False))`, datas);
    libBlocks.forEach((b, i) => expect(same(codec.decode(b, datas[i]!.length), datas[i]!), cases[i]!.name).toBe(true));
    // liblz4's high-compression mode uses longer matches and overlaps: decode those too.
    const hcBlocks = pythonMap(py!, `for it in items:\n    out.append(lz4.block.compress(it, mode='high_compression', store_size=False))`, datas);
    hcBlocks.forEach((b, i) => expect(same(codec.decode(b, datas[i]!.length), datas[i]!), cases[i]!.name).toBe(true));
  });

  it('rejects malformed blocks with the reference decoder\'s messages', () => {
    const cases: [Uint8Array, number, string][] = [
      [new Uint8Array([0xf0]), 20, 'truncated literal length'],
      [new Uint8Array([0x50, 1, 2]), 5, 'literals run past the end of the block'],
      [new Uint8Array([0x30, 1, 2, 3]), 2, 'literals overflow the declared size'],
      [new Uint8Array([0x10, 1, 5]), 10, 'truncated match offset'],
      [new Uint8Array([0x10, 1, 0, 0]), 10, 'match offset out of range'],
      [new Uint8Array([0x10, 1, 2, 0]), 10, 'match offset out of range'],
      [new Uint8Array([0x1f, 1, 1, 0]), 100, 'truncated match length'],
      [new Uint8Array([0x10, 1, 1, 0]), 4, 'match overflows the declared size'],
      [new Uint8Array([0x20, 1, 2]), 3, 'decoded 2 bytes, expected 3'],
      [new Uint8Array(0), 1, 'decoded 0 bytes, expected 1'],
    ];
    for (const [block, size, why] of cases) {
      expect(() => codec.decode(block, size)).toThrow(FluxError);
      expect(() => codec.decode(block, size)).toThrow(`corrupt LZ4 block: ${why}`);
      expect(() => lz4DecodeBlockTS(block, size)).toThrow(`corrupt LZ4 block: ${why}`);
    }
    expect(() => codec.decode(new Uint8Array([0x10, 1]), -1)).toThrow('corrupt LZ4 block: invalid declared size -1');
    expect(() => codec.decode(new Uint8Array(10), 2 ** 40)).toThrow(/declared size 1099511627776 is impossible for a 10-byte block/);
    expect(maxDecodedSize(1)).toBeLessThan(300);
  });

  it('fuzz: mutated and random blocks give the same bytes or the same FluxError as the reference', () => {
    const next = rng(2024);
    const seeds = cases.filter((c) => c.data.length > 0 && c.data.length < 20_000).map((c) => ({ data: c.data, block: codec.encode(c.data) }));
    let errors = 0;
    let decoded = 0;
    for (let iter = 0; iter < 6000; iter++) {
      const seed = seeds[iter % seeds.length]!;
      let block: Uint8Array = seed.block.slice();
      const kind = iter % 5;
      if (kind === 0) {
        for (let k = 0; k < 1 + next() * 4; k++) block[(next() * block.length) | 0] = (next() * 256) | 0;
      } else if (kind === 1) {
        block = block.subarray(0, (next() * block.length) | 0);
      } else if (kind === 2) {
        const extra = randomBytes(1 + ((next() * 40) | 0), next);
        const b = new Uint8Array(block.length + extra.length);
        b.set(block);
        b.set(extra, block.length);
        block = b;
      } else if (kind === 3) {
        block = randomBytes(1 + ((next() * 300) | 0), next);
      } else {
        block[(next() * block.length) | 0] ^= 1 << ((next() * 8) | 0);
      }
      const size = next() < 0.7 ? seed.data.length : Math.max(0, seed.data.length + (((next() - 0.5) * 64) | 0));
      let want: Uint8Array | string;
      try {
        // The WASM wrapper also rejects sizes no block of this length can produce.
        if (size > maxDecodedSize(block.length)) {
          want = `corrupt LZ4 block: declared size ${size} is impossible for a ${block.length}-byte block`;
        } else want = lz4DecodeBlockTS(block, size);
      } catch (e) {
        expect(e).toBeInstanceOf(FluxError);
        want = (e as Error).message;
      }
      let got: Uint8Array | string;
      try {
        got = codec.decode(block, size);
        decoded++;
      } catch (e) {
        expect(e).toBeInstanceOf(FluxError);
        got = (e as Error).message;
        errors++;
      }
      if (typeof want === 'string' || typeof got === 'string') expect(got).toBe(want);
      else expect(same(got, want)).toBe(true);
    }
    expect(errors).toBeGreaterThan(1000); // the fuzzer really produced bad blocks
    expect(decoded).toBeGreaterThan(100); // and some that still decode
  });

  it('fuzz at the ABI level: decode never writes outside its output range', async () => {
    const inst = await instantiateEmbedded(WASM_BASE64);
    const x = inst.exports as unknown as {
      memory: WebAssembly.Memory;
      heapBase(): number;
      decode(src: number, srcLen: number, dst: number, dstLen: number): number;
    };
    x.memory.grow(4);
    const u8 = new Uint8Array(x.memory.buffer);
    const GUARD = 256;
    const next = rng(7);
    const seeds = cases.filter((c) => c.data.length > 0 && c.data.length < 5000).map((c) => codec.encode(c.data));
    for (let iter = 0; iter < 3000; iter++) {
      const block = seeds[iter % seeds.length]!.slice();
      for (let k = 0; k < 3; k++) block[(next() * block.length) | 0] = (next() * 256) | 0;
      const size = (next() * 6000) | 0;
      const src = (x.heapBase() + 15) & ~15;
      const dst = src + block.length + GUARD + ((next() * 16) | 0); // odd alignments too
      u8.fill(0xa5, src + block.length, dst + size + GUARD);
      u8.set(block, src);
      const r = x.decode(src, block.length, dst, size);
      expect(r).toBeLessThanOrEqual(size);
      const before = u8.subarray(src + block.length, dst);
      const after = u8.subarray(dst + size, dst + size + GUARD);
      expect(before.every((b) => b === 0xa5) && after.every((b) => b === 0xa5)).toBe(true);
      expect(same(u8.subarray(src, src + block.length), block)).toBe(true); // input untouched
    }
  });

  it('installWasmLz4 switches the store codec and uninstall restores the reference', async () => {
    await installWasmLz4();
    expect(lz4.decode).not.toBe(lz4DecodeBlockTS);
    const data = cases.find((c) => c.name === 'json 3')!.data;
    expect(lz4.decode(lz4.encode(data), data.length)).toEqual(data);
    const into = new Uint8Array(data.length + 1);
    lz4.decodeInto(lz4.encode(data), data.length, into, 1);
    expect(into.subarray(1)).toEqual(data);
    expect(() => lz4.decode(new Uint8Array([0x10, 1, 0, 0]), 10)).toThrow('corrupt LZ4 block: match offset out of range');
    uninstallWasmLz4();
    expect(lz4.decode).toBe(lz4DecodeBlockTS);
    expect(lz4.encode).toBe(lz4EncodeBlockTS);
  });
});
