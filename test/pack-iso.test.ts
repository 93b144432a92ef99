import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FluxError } from '../src/errors.js';
import { assignIsoNames, assignJolietNames, compareIsoIds, jolietExact } from '../src/pack/iso/names.js';
import { packSystemUse, planIso, recordsFor, systemUseLengths, systemUseOf, systemUseRoom } from '../src/pack/iso/layout.js';
import { nmEntries, nmLengths, SECTOR, slEntries, tfEntry, tfLength, writePathRecord } from '../src/pack/iso/records.js';
import { createIsoWriter, ImageChunks, isoWriter } from '../src/pack/iso/writer.js';
import type { ArchiveEntry } from '../src/walk/entry.js';
import {
  bsdtarExtract,
  compareTree,
  generatedEntries,
  pseudoRandom,
  removeDir,
  restoreReadBack,
  restoreView,
  run,
  smallEntries,
  tempDir,
  utf8Component,
  writeArchive,
} from './helpers/pack-fixtures.js';

const FIXTURE_ISO = '../shared/fixtures/flux-0.88/small/small.iso';
const work = tempDir('iso');
afterAll(() => removeDir(work));

const enc = new TextEncoder();
const dec = new TextDecoder();

// ------------------------------------------------------------ an independent reader

const le32 = (b: Uint8Array, o: number) => (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
const be32 = (b: Uint8Array, o: number) => ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;

interface RawRecord {
  id: Uint8Array;
  extent: number;
  size: number;
  dir: boolean;
  su: Uint8Array;
}

/** Records of one directory extent, checking the sector and both-endian rules. */
function readDir(img: Uint8Array, extent: number, size: number): RawRecord[] {
  const out: RawRecord[] = [];
  for (let sector = 0; sector < size / SECTOR; sector++) {
    let p = (extent + sector) * SECTOR;
    const end = p + SECTOR;
    while (p < end && img[p]! > 0) {
      const len = img[p]!;
      expect(len % 2).toBe(0);
      expect(p + len).toBeLessThanOrEqual(end);
      expect(be32(img, p + 6)).toBe(le32(img, p + 2));
      expect(be32(img, p + 14)).toBe(le32(img, p + 10));
      const idLen = img[p + 32]!;
      const suStart = p + 33 + idLen + (idLen % 2 === 0 ? 1 : 0);
      out.push({
        id: img.subarray(p + 33, p + 33 + idLen),
        extent: le32(img, p + 2),
        size: le32(img, p + 10),
        dir: (img[p + 25]! & 2) !== 0,
        su: img.subarray(suStart, p + len),
      });
      p += len;
    }
  }
  return out;
}

const utf16be = (b: Uint8Array) => {
  let s = '';
  for (let i = 0; i < b.length; i += 2) s += String.fromCharCode((b[i]! << 8) | b[i + 1]!);
  return s;
};

/** Walk one tree from its volume descriptor; returns path -> {size, dir}, checking order. */
function walkTree(img: Uint8Array, vdSector: number, joliet: boolean): Map<string, { size: number; dir: boolean; extent: number }> {
  const vd = vdSector * SECTOR;
  const root = readDir(img, le32(img, vd + 156 + 2), le32(img, vd + 156 + 10));
  const out = new Map<string, { size: number; dir: boolean; extent: number }>();
  const visit = (records: RawRecord[], prefix: string) => {
    expect(records[0]!.id).toEqual(new Uint8Array([0]));
    expect(records[1]!.id).toEqual(new Uint8Array([1]));
    const names = records.slice(2).map((r) => (joliet ? utf16be(r.id) : dec.decode(r.id)));
    const sorted = [...names].sort((a, b) => (joliet ? (a < b ? -1 : a > b ? 1 : 0) : compareIsoIds(a, b)));
    expect(names).toEqual(sorted);
    expect(new Set(names.map((n) => n.replace(/\.?;1$/, ''))).size).toBe(names.length);
    records.slice(2).forEach((r, i) => {
      const name = names[i]!;
      if (joliet) expect(name.length).toBeLessThanOrEqual(64);
      else expect(name).toMatch(r.dir ? /^[A-Z0-9_]{1,8}$/ : /^[A-Z0-9_]{1,8}\.[A-Z0-9_]{0,3};1$/);
      const path = prefix + name.replace(/\.?;1$/, '');
      out.set(path, { size: r.size, dir: r.dir, extent: r.extent });
      if (r.dir) visit(readDir(img, r.extent, r.size), `${path}/`);
    });
  };
  visit(root, '');
  return out;
}

// ------------------------------------------------------------ SL decoders as readers do it

type Sl = { flags: number; comps: { flags: number; text: Uint8Array }[] };
function parseSl(entries: Uint8Array[]): Sl[] {
  return entries.map((e) => {
    expect(e.length).toBeLessThanOrEqual(255);
    const comps = [];
    for (let p = 5; p < e.length; p += 2 + e[p + 1]!) comps.push({ flags: e[p]!, text: e.subarray(p + 2, p + 2 + e[p + 1]!) });
    return { flags: e[4]!, comps };
  });
}

/** Component bytes; readers concatenate bytes, so a piece may end inside a UTF-8 character. */
const compBytes = (c: { flags: number; text: Uint8Array }): number[] =>
  c.flags & 2 ? [0x2e] : c.flags & 4 ? [0x2e, 0x2e] : c.flags & 8 ? [0x2f] : [...c.text];

/** Linux fs/isofs: '/' after each component not continued and not root, also across entries. */
function linuxTarget(sls: Sl[]): string {
  const bytes: number[] = [];
  sls.forEach((sl) => {
    sl.comps.forEach((c, i) => {
      bytes.push(...compBytes(c));
      const lastInEntry = i === sl.comps.length - 1;
      const slash = !(c.flags & 8) && !(c.flags & 1) && (!lastInEntry || (sl.flags & 1) !== 0);
      if (slash) bytes.push(0x2f);
    });
  });
  return dec.decode(new Uint8Array(bytes));
}

/** libarchive: separator before every component but the first of each SL entry. */
function libarchiveTarget(sls: Sl[]): string {
  const bytes: number[] = [];
  for (const sl of sls) {
    let sep = false;
    for (const c of sl.comps) {
      if (sep) bytes.push(0x2f);
      bytes.push(...compBytes(c));
      sep = !(c.flags & 1 || c.flags & 8);
    }
  }
  return dec.decode(new Uint8Array(bytes));
}

// ------------------------------------------------------------ tests

describe('ISO names and Rock Ridge entries', () => {
  it('makes unique 8.3 d-character identifiers', () => {
    const ids = assignIsoNames([
      { name: 'verylongname.value1', directory: false },
      { name: 'verylongname.value2', directory: false },
      { name: 'ƒuzzybunny', directory: false },
      { name: 'a.b.c', directory: true },
      { name: 'empty', directory: false },
    ]);
    expect(ids).toEqual(['VERYLONG.VAL;1', 'VERYLON1.VAL;1', '_UZZYBUN.;1', 'A_B_C', 'EMPTY.;1']);
  });

  it('keeps Joliet names that fit and shortens the rest uniquely', () => {
    const long = 'x'.repeat(70);
    expect(jolietExact('ユニコード')).toBe(true);
    expect(jolietExact('a:b')).toBe(false);
    const names = assignJolietNames(['ok', long, `${long}y`, 'a:b', '🦀'.repeat(40)]);
    expect(names[0]).toBe('ok');
    expect(names[3]).toBe('a_b');
    for (const n of names) expect(n.length).toBeLessThanOrEqual(64);
    expect(new Set(names).size).toBe(names.length);
    expect(names[4]!.codePointAt(names[4]!.length - 3)).not.toBe(0xd83e); // no lone surrogate before "~N"
  });

  it('splits long names over NM entries with CONTINUE', () => {
    const ascii = enc.encode('n'.repeat(600));
    expect(nmEntries(ascii).map((e) => e.length)).toEqual([255, 255, 105]);
    expect(nmEntries(ascii).map((e) => e[4])).toEqual([1, 1, 0]);
    // 'nm-' + 2-byte characters: byte 250 would split one, so the first piece is 249.
    const name = enc.encode(utf8Component(600, 'nm'));
    const nms = nmEntries(name);
    expect(nms.map((e) => e.length)).toEqual([254, 255, 106]);
    expect(Buffer.concat(nms.map((e) => e.subarray(5)))).toEqual(Buffer.from(name));
    for (const e of nms) expect(() => new TextDecoder('utf-8', { fatal: true }).decode(e.subarray(5))).not.toThrow();
    for (const n of [enc.encode('x'), ascii, name, enc.encode('🦀'.repeat(100))]) {
      expect(nmLengths(n)).toEqual(nmEntries(n).map((e) => e.length));
    }
  });

  it('encodes symlink targets so Linux and libarchive rebuild them the same', () => {
    const targets = [
      'linkedthing',
      'smurf::otherthing',
      '../job/0000/./eventlog',
      '/etc/flux',
      '/',
      '',
      'a//b/',
      Array.from({ length: 12 }, (_, i) => utf8Component(60, `t${i}`)).join('/'),
      `${'x'.repeat(248)}/y`,
      `${'x'.repeat(247)}/y/z`,
      Array.from({ length: 200 }, () => 'ab').join('/'),
      'q'.repeat(1000),
      '🦀'.repeat(200),
      `${'ƒ'.repeat(123)}/${'ƒ'.repeat(130)}`,
    ];
    for (const t of targets) {
      const sls = parseSl(slEntries(enc.encode(t))!);
      expect(linuxTarget(sls)).toBe(t);
      expect(libarchiveTarget(sls)).toBe(t);
      // Every entry but the last ends inside a component, and every piece is whole characters.
      sls.slice(0, -1).forEach((sl) => expect(sl.comps[sl.comps.length - 1]!.flags & 1).toBe(1));
      for (const sl of sls) for (const c of sl.comps) expect(() => new TextDecoder('utf-8', { fatal: true }).decode(c.text)).not.toThrow();
    }
    expect(slEntries(enc.encode(Array.from({ length: 200 }, () => '..').join('/')))).toBeNull();
  });

  it('uses the long TF form outside 1900-2155', () => {
    expect(tfEntry(1795690510).length).toBe(5 + 3 * 7);
    const late = tfEntry(6_000_000_000); // year 2160
    expect(late.length).toBe(5 + 3 * 17);
    expect(dec.decode(late.subarray(5, 9))).toBe('2160');
  });

  it('packs system use into the record, then sector-sized continuation areas', () => {
    const lengths = Array.from({ length: 30 }, (_, i) => 100 + i);
    const p = packSystemUse(lengths, systemUseRoom(14));
    expect(p.inline).toBeGreaterThan(0);
    expect(p.areas.length).toBe(2);
    expect(p.inline + p.areas[0]! + p.areas[1]!).toBe(30);
    expect(p.inlineBytes).toBeLessThanOrEqual(systemUseRoom(14));
    expect(p.areaBytes[0]).toBeLessThanOrEqual(SECTOR);
    expect(p.areaBytes[0]).toBe(lengths.slice(p.inline, p.inline + p.areas[0]!).reduce((a, b) => a + b, 0) + 28);
    expect(packSystemUse([101], systemUseRoom(14))).toEqual({ inline: 1, areas: [], inlineBytes: 102, areaBytes: [] });
  });

  it('measures every record\'s Rock Ridge entries exactly as it builds them', () => {
    const plan = planIso(generatedEntries(), { joliet: true, volumeId: 'V', applicationId: 'A' });
    const ctx = { volumeTime: plan.volumeTime, dirOwner: plan.dirOwner };
    let records = 0;
    for (const d of plan.dirs) {
      for (const r of recordsFor(d, 'primary')) {
        expect(systemUseOf(r, ctx).map((e) => e.length)).toEqual(systemUseLengths(r, ctx));
        records++;
      }
    }
    expect(records).toBeGreaterThan(generatedEntries().length);
    expect(tfEntry(6_000_000_000).length).toBe(tfLength(6_000_000_000));
  });

  it('saturates path-table parent numbers past 65,535 directories', () => {
    const out = new Uint8Array(10);
    writePathRecord(out, 0, new Uint8Array([0x41]), 99, 70000, false);
    expect(out[6]! | (out[7]! << 8)).toBe(0xffff);
  });
});

describe('ISO 9660 writer', () => {
  for (const [label, make] of [['small', smallEntries], ['generated', generatedEntries]] as const) {
    it(`${label}: bsdtar -xf (Rock Ridge) gives back every entry with mtimes and owners`, async () => {
      const entries = make();
      const archive = join(work, `${label}.iso`);
      await writeArchive(isoWriter, entries, archive);
      const dir = tempDir('iso-x');
      try {
        bsdtarExtract(archive, dir);
        expect(compareTree(dir, entries, { mtime: true, owner: true })).toEqual([]);
      } finally {
        removeDir(dir);
      }
    });

    it(`${label}: xorriso extracts it exactly; isoinfo -R lists every name and target`, async () => {
      const entries = make();
      const archive = join(work, `${label}-x.iso`);
      await writeArchive(isoWriter, entries, archive);
      const dir = tempDir('iso-xorriso');
      try {
        const log = run('xorriso', ['-osirrox', 'on', '-indev', archive, '-extract', '/', dir]);
        expect(log).not.toMatch(/WARNING|SORRY|FAILURE/);
        // xorriso sets file mtimes, not symlink ones.
        expect(compareTree(dir, entries, { mtime: true, linkMtime: false, owner: true })).toEqual([]);
      } finally {
        removeDir(dir);
      }
      const listing = run('isoinfo', ['-R', '-l', '-i', archive]);
      const seen = new Map<string, string>();
      let cwd = '';
      for (const line of listing.split('\n')) {
        const d = /^Directory listing of \/(.*)$/.exec(line);
        if (d) cwd = d[1]!;
        const m = /^([-dl])\S+ .*\]  (.*?) ?$/.exec(line);
        if (!m || m[1] === 'd') continue;
        const [name, target = ''] = m[2]!.split(' -> ');
        seen.set(cwd + name, target);
      }
      expect(new Map(entries.map((e) => [e.path, e.linkTarget]))).toEqual(seen);
    });
  }

  it('carries every entry in the Joliet tree: exact names where Joliet holds them', async () => {
    const entries = generatedEntries();
    const archive = join(work, 'joliet.iso');
    await writeArchive(isoWriter, entries, archive);
    expect(run('isoinfo', ['-d', '-i', archive])).toMatch(/Joliet with UCS level 3 found/);
    const img = new Uint8Array(readFileSync(archive));
    const joliet = walkTree(img, 17, true);
    const primary = walkTree(img, 16, false);
    const jolietFiles = [...joliet].filter(([, v]) => !v.dir);
    expect(jolietFiles.length).toBe(entries.length);
    expect([...primary.values()].filter((v) => !v.dir).length).toBe(entries.length);
    for (const e of entries) {
      if (e.path.split('/').every(jolietExact)) expect(joliet.get(e.path)?.size).toBe(e.type === 'file' ? e.data.length : 0);
    }
    // libarchive reading the Joliet tree (Rock Ridge off) finds the same exact names.
    const listed = new Set(run('bsdtar', ['--options', 'iso9660:!rockridge', '-tf', archive]).split('\n'));
    expect(listed.has('ユニコード/キー')).toBe(true);
    expect(listed.has('emoji-🦀-key')).toBe(true);
    // Both trees point at the same data.
    expect(joliet.get('big/one-mebibyte')!.extent).toBe(primary.get('BIG/ONE_MEBI')!.extent);
  });

  it('reads like libarchive\'s own small.iso, name for name', async () => {
    const archive = join(work, 'small-cmp.iso');
    await writeArchive(isoWriter, smallEntries(), archive);
    const names = (file: string) =>
      run('bsdtar', ['-tvf', file])
        .split('\n')
        .filter((l) => l.startsWith('-') || l.startsWith('l'))
        .map((l) => l.replace(/^\S+\s+\d+\s+\S+\s+\S+\s+(\d+)\s+\w+\s+\d+\s+\S+\s+/, '$1 '))
        .sort();
    expect(names(archive)).toEqual(names(FIXTURE_ISO));
  });

  it('puts the newest mtime in the volume descriptors and no clock anywhere', async () => {
    const a = await writeArchive(isoWriter, smallEntries(), join(work, 'det1.iso'));
    const b = await writeArchive(isoWriter, smallEntries(), join(work, 'det2.iso'), 3);
    expect(Buffer.compare(a, b)).toBe(0);
    expect(dec.decode(a.subarray(16 * SECTOR + 813, 16 * SECTOR + 829))).toBe('2026112610551000');
    expect(run('isoinfo', ['-d', '-i', join(work, 'det1.iso')])).toMatch(new RegExp(`Volume size is: ${a.length / SECTOR}\\b`));
  });

  it('lays image bytes out across chunk boundaries exactly', () => {
    const img = new ImageChunks();
    const expected: Uint8Array[] = [];
    const big = pseudoRandom(300_000, 9);
    for (let i = 0; i < 40; i++) {
      const piece = pseudoRandom(1000 + i * 997, i + 1);
      img.push(piece);
      img.skip(40_000 + i);
      img.reserve(3).set([i, 1, 2]);
      expected.push(piece, new Uint8Array(40_000 + i), new Uint8Array([i, 1, 2]));
      if (i % 10 === 0) {
        img.push(big);
        expected.push(big);
      }
    }
    const chunks = img.take();
    expect(chunks.filter((c) => c === big).length).toBe(4); // passed through, not copied
    expect(Buffer.concat(chunks).equals(Buffer.concat(expected))).toBe(true);
  });

  it('hands out large files as the entries\' own arrays, not copies', () => {
    const entries = generatedEntries();
    const w = isoWriter({ stdout: false });
    expect(w.write(entries)).toEqual([]);
    const chunks = w.end() as Uint8Array[];
    const big = entries.find((e) => e.path === 'big/one-mebibyte')!;
    expect(chunks.includes(big.data)).toBe(true);
    expect(chunks.reduce((n, c) => n + c.length, 0) % SECTOR).toBe(0);
  });

  it('works without Joliet', async () => {
    const archive = join(work, 'nojoliet.iso');
    await writeArchive((o) => createIsoWriter({ ...o, joliet: false }), generatedEntries(), archive);
    expect(run('isoinfo', ['-d', '-i', archive])).toMatch(/NO Joliet present/);
    const dir = tempDir('iso-nj');
    try {
      bsdtarExtract(archive, dir);
      expect(compareTree(dir, generatedEntries(), { mtime: true })).toEqual([]);
    } finally {
      removeDir(dir);
    }
  });

  it('an empty store is a valid image with an empty root', async () => {
    const archive = join(work, 'empty.iso');
    await writeArchive(isoWriter, [], archive);
    expect(run('isoinfo', ['-d', '-i', archive])).toMatch(/Rock Ridge signatures/);
    expect(run('bsdtar', ['-tf', archive]).trim()).toBe('.'); // libarchive always lists the root
    expect(run('isoinfo', ['-R', '-l', '-i', archive]).match(/^[-l]/gm)).toBeNull();
  });

  it('the project\'s own restore reader gives back every entry', async () => {
    for (const [name, entries] of [['small', smallEntries()], ['generated', generatedEntries()]] as const) {
      const archive = join(work, `restore-${name}.iso`);
      await writeArchive(isoWriter, entries, archive);
      const back = await restoreReadBack(archive);
      expect(back.format).toBe('iso9660');
      const byPath = (a: { path: string }, b: { path: string }) => (a.path < b.path ? -1 : 1);
      expect(back.entries.sort(byPath)).toEqual(restoreView(entries).sort(byPath));
    }
  });

  it('rejects what ISO 9660 cannot hold with a FluxError naming the entry', () => {
    const f = (path: string, extra: Partial<ArchiveEntry> = {}): ArchiveEntry => ({
      path, type: 'file', data: new Uint8Array(1), linkTarget: '', mode: 0o644, mtime: 0, uid: 0, gid: 0, ...extra,
    });
    const plan = (entries: ArchiveEntry[]) => () => planIso(entries, { joliet: true, volumeId: 'V', applicationId: 'A' });
    expect(plan([f('a'), f('a/b')])).toThrow(/a\/b: a is both a file and a directory/);
    expect(plan([f('a/b'), f('a')])).toThrow(/a: is both a file and a directory/);
    expect(plan([f('k'), f('k')])).toThrow(/k: appears twice/);
    expect(plan([f('a//b')])).toThrow(FluxError);
    expect(plan([f('big', { data: { length: 2 ** 32 } as Uint8Array })])).toThrow(/big: .*4 GiB/);
    expect(plan([f('u', { uid: 2 ** 32 })])).toThrow(/u: uid/);
  });
});
