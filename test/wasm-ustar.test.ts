import { spawnSync } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import { entryHeaderTS, type HeaderInput } from '../src/pack/tar/header.js';
import { FluxError } from '../src/errors.js';
import { headerPacking, TarWriter, tsHeaderPacker } from '../src/pack/tar/writer.js';
import type { ArchiveEntry } from '../src/walk/entry.js';
import { initWasmUstar, PACK_CHUNK, packHeaders, wasmHeaderPacker, WasmUstar, type HeaderFields } from '../src/wasm/ustar.js';

function rng(seed: number): () => number {
  let x = seed | 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

const same = (a: Uint8Array, b: Uint8Array) =>
  Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length));
const utf8Len = (s: string) => Buffer.byteLength(s, 'utf8');

const LETTERS = (() => {
  const next = rng(1);
  let s = '';
  for (let i = 0; i < 1 << 16; i++) s += String.fromCharCode(97 + Math.floor(next() * 26));
  return s;
})();

/** A path of exactly `n` bytes made of `/`-separated lowercase components. */
function pathOfLength(n: number, next: () => number, compMax = 40): string {
  let s = '';
  while (s.length < n) {
    if (s.length > 0 && s.length < n - 1) s += '/';
    const c = Math.min(1 + Math.floor(next() * compMax), n - s.length);
    const at = Math.floor(next() * (LETTERS.length - c));
    s += LETTERS.slice(at, at + c);
  }
  return s.slice(0, n);
}

const WORDS = ['job', 'eventlog', 'guest', 'R', 'ƒuzzybunny', 'café', '漢字', 'x😀y', 'a.b', 'resource', '0000', 'b200'];
const SIZES = [0, 1, 511, 512, 2 ** 33 - 1, 2 ** 33, 8 ** 11 - 1, 8 ** 11, 8 ** 12 - 1, 8 ** 12, 2 ** 40, Number.MAX_SAFE_INTEGER];
const TIMES = [0, 1, 1_700_000_000, 2 ** 31 - 2, 2 ** 31 - 1, 2 ** 31, 4_102_444_800 /* 2100 */, 8 ** 11 - 1, 8 ** 11, 2 ** 40, -1, -(2 ** 40)];
const IDS = [0, 1000, 2 ** 18 - 1, 2 ** 18, 8 ** 7, 8 ** 8 - 1, 8 ** 8, 2 ** 32 - 1, 2 ** 40, -1];
const MODES = [0o644, 0o755, 0o600, 0o7777, 0o100644, 0o120777];

function randomEntry(next: () => number): HeaderInput {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!;
  const r = next();
  let path: string;
  if (r < 0.35) {
    path = pathOfLength(pick([1, 98, 99, 100, 101, 154, 155, 156, 157, 200, 254, 255, 256, 257, 300]), next, pick([5, 40, 120]));
  } else if (r < 0.75) {
    const parts: string[] = [];
    const n = 1 + Math.floor(next() * 12);
    for (let i = 0; i < n; i++) parts.push(next() < 0.3 ? pick(WORDS) : pathOfLength(1 + Math.floor(next() * 30), next, 30));
    path = parts.join('/');
  } else if (r < 0.85) {
    // Odd shapes the shortener must treat exactly like the reference.
    const long = pathOfLength(pick([90, 99, 120, 160, 250, 300]), next, pick([8, 60, 200]));
    path = pick(['/', '//', '/.', 'a/', 'a/.', 'a//b', '/abs/path', '', '.', 'é/', '/' + long, long + '/', long + '/.', long + '//', long + '/./', 'ü' + long + '/', long.replace(/\//g, '//')]);
  } else {
    path = pathOfLength(Math.floor(next() * 140), next, 20);
  }
  const symlink = next() < 0.2;
  let linkTarget = '';
  if (symlink) {
    linkTarget = pick([
      '',
      'a.b',
      'ns::job.0000.0004',
      pathOfLength(100, next),
      pathOfLength(101, next),
      pathOfLength(300, next),
      'tärget',
      '漢'.repeat(40),
    ]);
  }
  const odd = next() < 0.3;
  return {
    path,
    linkTarget: symlink ? linkTarget : next() < 0.1 ? 'ignored for files' : '',
    type: symlink ? 'symlink' : 'file',
    size: odd ? pick(SIZES) : Math.floor(next() * 5000),
    mode: pick(MODES),
    mtime: odd ? pick(TIMES) : 1_700_000_000 + Math.floor(next() * 1e6),
    uid: odd && next() < 0.5 ? pick(IDS) : 1000,
    gid: odd && next() < 0.5 ? pick(IDS) : 1000,
  };
}

beforeAll(() => initWasmUstar());

describe('WASM ustar/pax header packer', () => {
  it('matches the TS packer on the boundary cases', () => {
    const next = rng(3);
    const cases: HeaderFields[] = [];
    const base = { linkTarget: '', type: 'file' as const, size: 10, mode: 0o644, mtime: 1_700_000_000, uid: 1000, gid: 1000 };
    for (const n of [1, 99, 100, 101, 155, 156, 255, 256]) {
      cases.push({ ...base, path: pathOfLength(n, next) }); // splittable
      cases.push({ ...base, path: 'x'.repeat(n) }); // no slash at all
      cases.push({ ...base, path: 'é' + pathOfLength(n - 2, next) }); // UTF-8, n bytes
    }
    // Where ustar's split search starts at the very first byte.
    cases.push({ ...base, path: '/' + pathOfLength(100, next) }, { ...base, path: '//' + pathOfLength(99, next) });
    cases.push({ ...base, path: '/' + 'x'.repeat(100) }, { ...base, path: '//' + 'x'.repeat(99) });
    for (const size of SIZES) cases.push({ ...base, path: 'big', size });
    for (const mtime of TIMES) cases.push({ ...base, path: 'time', mtime });
    for (const uid of IDS) cases.push({ ...base, path: 'ids', uid, gid: uid });
    for (const linkTarget of ['a.b', 'x'.repeat(100), 'x'.repeat(101), 'y'.repeat(1000), 'ns::tärget']) {
      cases.push({ ...base, path: 'link', type: 'symlink', linkTarget, size: 99 });
    }
    cases.push({ ...base, path: 'ƒuzzybunny' }); // the fixture's UTF-8 key
    // Invalid UTF-16: lone surrogates become U+FFFD, also where one string's lone high
    // surrogate meets the next string's lone low one.
    cases.push({ ...base, path: 'ends-high-\ud83d' }, { ...base, path: '\ude00starts-low' });
    cases.push({ ...base, path: 'pair-\ud83d\ude00-ok', type: 'symlink', linkTarget: '\ude00-\ud83d' }, { ...base, path: '\ude00' });
    for (const c of cases) {
      if (c.path.startsWith('é')) expect(utf8Len(c.path)).toBe(utf8Len(c.path)); // lengths are bytes
    }
    const { bytes, offsets } = packHeaders(cases);
    expect(offsets.length).toBe(cases.length + 1);
    expect(offsets[cases.length]).toBe(bytes.length);
    cases.forEach((c, i) => {
      const want = entryHeaderTS(c);
      const got = bytes.subarray(offsets[i]!, offsets[i + 1]!);
      expect(got.length % 512, c.path).toBe(0);
      expect(Buffer.from(got).toString('latin1'), `${c.path} size=${c.size} mtime=${c.mtime} uid=${c.uid} link=${c.linkTarget}`).toBe(
        Buffer.from(want).toString('latin1'),
      );
    });
    // The cases really exercised pax headers (more than 512 bytes for some entries).
    const paxCount = cases.filter((_, i) => offsets[i + 1]! - offsets[i]! > 512).length;
    expect(paxCount).toBeGreaterThan(20);
  });

  it('matches the TS packer byte for byte on 100,000 random entries', () => {
    const next = rng(20240601);
    const packer = WasmUstar.loadSync();
    const BATCH = 1000; // as the tar writer sends them; views compared before the next call
    let bad = 0;
    let firstBad: HeaderInput | undefined;
    let withPax = 0;
    let entries = 0;
    for (let b = 0; b < 100; b++) {
      const batch = Array.from({ length: BATCH }, () => randomEntry(next));
      const { bytes, offsets } = packer.packHeadersTransient(batch);
      expect(offsets.length).toBe(batch.length + 1);
      for (let i = 0; i < batch.length; i++) {
        const got = bytes.subarray(offsets[i]!, offsets[i + 1]!);
        if (got.length > 512) withPax++;
        if (!same(got, entryHeaderTS(batch[i]!))) {
          bad++;
          firstBad ??= batch[i];
        }
      }
      entries += batch.length;
    }
    expect(JSON.stringify(firstBad ?? null)).toBe('null');
    expect(bad).toBe(0);
    expect(entries).toBe(100_000);
    expect(withPax).toBeGreaterThan(10_000);
  });

  it('packHeaders over several chunks keeps order and offsets', () => {
    const next = rng(77);
    const entries = Array.from({ length: 2 * PACK_CHUNK + 17 }, () => randomEntry(next));
    const { bytes, offsets } = packHeaders(entries);
    expect(offsets.length).toBe(entries.length + 1);
    expect(offsets[entries.length]).toBe(bytes.length);
    let bad = 0;
    entries.forEach((e, i) => {
      if (!same(bytes.subarray(offsets[i]!, offsets[i + 1]!), entryHeaderTS(e))) bad++;
    });
    expect(bad).toBe(0);
  });

  it('wasmHeaderPacker takes ArchiveEntry-shaped batches (size from data) and matches the TS packer', () => {
    const next = rng(5);
    const batch = Array.from({ length: 500 }, () => {
      const { size, ...rest } = randomEntry(next);
      return { ...rest, data: new Uint8Array(rest.type === 'file' ? size % 3000 : 0) };
    });
    const views = wasmHeaderPacker(batch);
    expect(views.length).toBe(batch.length);
    batch.forEach((e, i) => expect(same(views[i]!, entryHeaderTS({ ...e, size: e.data.length }))).toBe(true));
    // Larger than one chunk: copied, still right.
    const big = Array.from({ length: PACK_CHUNK + 10 }, (_, i) => ({ ...batch[i % batch.length]! }));
    const bigViews = wasmHeaderPacker(big);
    expect(same(bigViews[PACK_CHUNK + 9]!, entryHeaderTS({ ...big[PACK_CHUNK + 9]!, size: big[PACK_CHUNK + 9]!.data.length }))).toBe(true);
  });

  it('plugged into the tar writer, gives the same archive as the TS packer, batch after batch', () => {
    const next = rng(11);
    const entries: ArchiveEntry[] = Array.from({ length: 3000 }, () => {
      const { size, ...rest } = randomEntry(next);
      return { ...rest, data: new Uint8Array(rest.type === 'file' ? size % 1500 : 0).fill(0x5a) };
    });
    const archive = (packer: typeof tsHeaderPacker) => {
      headerPacking.packer = packer;
      try {
        const w = new TarWriter({ stdout: true });
        const chunks: Uint8Array[] = [];
        for (let i = 0; i < entries.length; i += 250) chunks.push(...w.write(entries.slice(i, i + 250)));
        chunks.push(...w.end());
        return Buffer.concat(chunks);
      } finally {
        headerPacking.packer = tsHeaderPacker;
      }
    };
    const wasm = archive(wasmHeaderPacker);
    const ts = archive(tsHeaderPacker);
    expect(wasm.length).toBe(ts.length);
    expect(wasm.equals(ts)).toBe(true);
  });

  it('packHeaders returns buffers the caller owns; transient views are reused by the next call', () => {
    const packer = WasmUstar.loadSync();
    const a = { path: 'a', linkTarget: '', type: 'file' as const, size: 1, mode: 0o644, mtime: 1, uid: 2, gid: 3 };
    const b = { ...a, path: 'b' };
    const owned = packer.packHeaders([a]);
    const transient = packer.packHeadersTransient([a]);
    expect(transient.bytes[0]).toBe(0x61);
    packer.packHeaders([b]);
    packer.packHeadersTransient([b]);
    expect(owned.bytes[0]).toBe(0x61); // untouched
    expect(transient.bytes[0]).toBe(0x62); // overwritten, as documented
    expect(() => packer.packHeadersTransient(new Array(PACK_CHUNK + 1).fill(a))).toThrow(RangeError);
  });

  it('an empty batch gives no bytes', () => {
    const { bytes, offsets } = packHeaders([]);
    expect(bytes.length).toBe(0);
    expect([...offsets]).toEqual([0]);
  });

  it('rejects numbers the header cannot carry, naming the entry', () => {
    const e = { path: 'a/b', linkTarget: '', type: 'file' as const, size: 1, mode: 0o644, mtime: 0, uid: 0, gid: 0 };
    expect(() => packHeaders([{ ...e, size: -1 }])).toThrow(FluxError);
    expect(() => packHeaders([{ ...e, mtime: 1.5 }])).toThrow('cannot write a tar header for a/b: invalid mtime 1.5');
    expect(() => packHeaders([{ ...e, uid: 2 ** 60 }])).toThrow(/invalid uid/);
    expect(() => packHeaders([{ ...e, type: 'dir' as 'file' }])).toThrow(/invalid type dir/);
  });

  it('headers with their bodies form a tar that Python\'s tarfile reads back', () => {
    const next = rng(99);
    const entries: HeaderFields[] = [];
    for (let i = 0; i < 300; i++) {
      const e = randomEntry(next);
      // Real bodies: keep sizes small; keep paths that are valid, distinct member names.
      entries.push({ ...e, path: `e${i}/${e.path.replace(/^\/+|\/+\.?$|^\.$/g, '') || 'x'}`, size: e.type === 'file' ? i % 700 : 0 });
    }
    const { bytes, offsets } = packHeaders(entries);
    const parts: Uint8Array[] = [];
    entries.forEach((e, i) => {
      parts.push(bytes.subarray(offsets[i]!, offsets[i + 1]!));
      if (e.size > 0) parts.push(new Uint8Array(Math.ceil(e.size / 512) * 512).fill(0x41, 0, e.size));
    });
    parts.push(new Uint8Array(1024));
    const script = `
import sys, tarfile, io, json
t = tarfile.open(fileobj=io.BytesIO(sys.stdin.buffer.read()), mode='r:', encoding='utf-8')
print(json.dumps([[m.name, m.linkname, m.size, m.mtime, m.uid, m.gid, m.mode, m.type.decode()] for m in t.getmembers()]))
`;
    const r = spawnSync('python3', ['-c', script], { input: Buffer.concat(parts), maxBuffer: 1 << 26 });
    expect(r.stderr.toString()).toBe('');
    const members = JSON.parse(r.stdout.toString()) as [string, string, number, number, number, number, number, string][];
    expect(members.length).toBe(entries.length);
    members.forEach(([name, linkname, size, mtime, uid, gid, mode, type], i) => {
      const e = entries[i]!;
      expect(name).toBe(e.path.replace(/\/+$/, ''));
      expect(type).toBe(e.type === 'symlink' ? '2' : '0');
      if (e.type === 'symlink') expect(linkname).toBe(e.linkTarget);
      expect(size).toBe(e.size);
      expect(mtime).toBe(e.mtime);
      expect([uid, gid]).toEqual([e.uid, e.gid]);
      expect(mode).toBe(e.mode & 0o7777);
    });
  });
});
