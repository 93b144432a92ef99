import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FluxError } from '../src/errors.js';
import { encodeOdcHeader, encodeOdcTrailer, formatOctal, HEADER_SIZE } from '../src/pack/cpio/odc.js';
import { cpioWriter, syntheticIno } from '../src/pack/cpio/writer.js';
import type { ArchiveEntry } from '../src/walk/entry.js';
import {
  bsdtarExtract,
  compareTree,
  generatedEntries,
  removeDir,
  restoreReadBack,
  restoreView,
  run,
  SMALL_TAR,
  smallEntries,
  tempDir,
  writeArchive,
} from './helpers/pack-fixtures.js';

const work = tempDir('cpio');
afterAll(() => removeDir(work));

const ascii = (b: Uint8Array) => Buffer.from(b).toString('latin1');

/** Split an odc archive into (header fields, name) records; checks the structure. */
function parseOdc(bytes: Uint8Array): { fields: string[]; name: string; size: number }[] {
  const out = [];
  let off = 0;
  for (;;) {
    const h = ascii(bytes.subarray(off, off + HEADER_SIZE));
    expect(h.slice(0, 6)).toBe('070707');
    const widths = [6, 6, 6, 6, 6, 6, 6, 6, 11, 6, 11];
    const fields: string[] = [];
    let p = 0;
    for (const w of widths) {
      fields.push(h.slice(p, p + w));
      p += w;
    }
    const namesize = parseInt(fields[9]!, 8);
    const size = parseInt(fields[10]!, 8);
    const name = Buffer.from(bytes.subarray(off + HEADER_SIZE, off + HEADER_SIZE + namesize - 1)).toString('utf8');
    expect(bytes[off + HEADER_SIZE + namesize - 1]).toBe(0);
    out.push({ fields, name, size });
    off += HEADER_SIZE + namesize + size;
    if (name === 'TRAILER!!!') break;
  }
  expect(off).toBe(bytes.length); // no padding after the trailer
  return out;
}

describe('odc header packer', () => {
  it('formats octal fields and reports what does not fit', () => {
    const b = new Uint8Array(11);
    expect(formatOctal(b, 0, 11, 0o77777777777)).toBe(true);
    expect(ascii(b)).toBe('77777777777');
    expect(formatOctal(b, 0, 6, 0o1000000)).toBe(false);
    expect(formatOctal(b, 0, 6, -1)).toBe(false);
    expect(formatOctal(b, 0, 6, 1.5)).toBe(false);
  });

  it('packs a header byte for byte', () => {
    const name = new TextEncoder().encode('w');
    const h = encodeOdcHeader(
      { dev: 0, ino: 7, mode: 0o100644, uid: 4242, gid: 0o777777, nlink: 1, rdev: 0, mtime: 1795690510, filesize: 6 },
      name,
    );
    expect(h.overflow).toEqual([]);
    expect(ascii(h.bytes)).toBe(
      '070707' + '000000' + '000007' + '100644' + '010222' + '777777' + '000001' + '000000' + '15302010016' + '000002' + '00000000006' + 'w\0',
    );
  });

  it('reports each overflowing field instead of clamping', () => {
    const h = encodeOdcHeader(
      { dev: 0, ino: 1, mode: 0o100644, uid: 0o1000000, gid: 0, nlink: 1, rdev: 0, mtime: 2 ** 33, filesize: 8 * 2 ** 30 },
      new Uint8Array([0x61]),
    );
    expect(h.overflow).toEqual(['uid', 'mtime', 'filesize']);
  });

  it('writes the trailer as libarchive does', () => {
    expect(ascii(encodeOdcTrailer())).toBe('070707' + '0'.repeat(30) + '000001' + '000000' + '0'.repeat(11) + '000013' + '0'.repeat(11) + 'TRAILER!!!\0');
  });

  it('synthesizes inode numbers from 1 and wraps past the 6-digit field', () => {
    expect(syntheticIno(0)).toBe(1);
    expect(syntheticIno(0o777776)).toBe(0o777777);
    expect(syntheticIno(0o777777)).toBe(1);
  });
});

describe('cpio writer', () => {
  it('matches libarchive odc for the small store, except the fields a tar reader invents', async () => {
    const ours = await writeArchive(cpioWriter, smallEntries(), join(work, 'small.cpio'));
    // bsdtar converting flux-core's small.tar: same entries through libarchive's odc writer
    // (it errs on nothing here: the tar carries the symlinks' sizes).
    const ref = join(work, 'small-libarchive.cpio');
    execFileSync('bsdtar', ['--format', 'odc', '-cf', ref, `@${SMALL_TAR}`]);
    const theirs = new Uint8Array(readFileSync(ref));
    const a = parseOdc(ours);
    const b = parseOdc(theirs);
    expect(a.map((r) => r.name)).toEqual(b.map((r) => r.name));
    for (let i = 0; i < a.length; i++) {
      // dev and nlink: libarchive's tar reader reports dev 1 / nlink 0; ours are 0 / 1 as
      // for files on disk. Trailer records are identical.
      const mask = (f: string[], last: boolean) => (last ? f : f.map((v, j) => (j === 1 || j === 6 ? '*' : v)));
      expect(mask(a[i]!.fields, i === a.length - 1)).toEqual(mask(b[i]!.fields, i === b.length - 1));
    }
    // Byte for byte the same once those two fields are blanked in every header.
    const blank = (bytes: Uint8Array) => {
      const copy = Buffer.from(bytes);
      let off = 0;
      for (const r of parseOdc(bytes)) {
        copy.fill(0x2a, off + 6, off + 12);
        copy.fill(0x2a, off + 36, off + 42);
        off += HEADER_SIZE + Buffer.byteLength(r.name) + 1 + r.size;
      }
      return copy;
    };
    expect(blank(ours).equals(blank(theirs))).toBe(true);
  });

  it('writes symlinks with S_IFLNK and the target as data (flux-core 0.88 failed here)', async () => {
    const bytes = await writeArchive(cpioWriter, smallEntries(), join(work, 'links.cpio'));
    const y = parseOdc(bytes).find((r) => r.name === 'y')!;
    expect(y.fields[3]).toBe('120644');
    expect(y.size).toBe('linkedthing'.length);
    const listing = run('cpio', ['-itv', '--quiet', '-F', join(work, 'links.cpio')]);
    expect(listing).toMatch(/^lrw-r--r-- .* y -> linkedthing$/m);
    expect(listing).toMatch(/^lrw-r--r-- .* z -> smurf::otherthing$/m);
  });

  for (const [label, make] of [['small', smallEntries], ['generated', generatedEntries]] as const) {
    it(`${label}: bsdtar -xf gives back every entry (bytes, targets, mtimes, owners)`, async () => {
      const entries = make();
      const archive = join(work, `${label}.cpio`);
      await writeArchive(cpioWriter, entries, archive);
      const dir = tempDir('cpio-x');
      try {
        bsdtarExtract(archive, dir);
        expect(compareTree(dir, entries, { mtime: true, owner: true })).toEqual([]);
      } finally {
        removeDir(dir);
      }
    });

    it(`${label}: GNU cpio lists and extracts it`, async () => {
      const entries = make();
      const archive = join(work, `${label}-gnu.cpio`);
      await writeArchive(cpioWriter, entries, archive);
      const names = run('cpio', ['-it', '--quiet', '-F', archive]).split('\n').filter(Boolean);
      expect(names).toEqual(entries.map((e) => e.path));
      const dir = tempDir('cpio-gnu');
      try {
        run('cpio', ['-idmv', '--quiet', '--no-absolute-filenames', '-F', archive], { cwd: dir });
        // GNU cpio -m sets the mtimes of files, not of symlinks.
        expect(compareTree(dir, entries, { mtime: true, linkMtime: false })).toEqual([]);
      } finally {
        removeDir(dir);
      }
    });
  }

  it('numbers inodes 1, 2, 3 across batches, nlink 1, dev 0', async () => {
    const bytes = await writeArchive(cpioWriter, smallEntries(), join(work, 'ino.cpio'), 3);
    const records = parseOdc(bytes).slice(0, -1);
    expect(records.map((r) => parseInt(r.fields[2]!, 8))).toEqual(records.map((_, i) => i + 1));
    expect(new Set(records.map((r) => r.fields[6]))).toEqual(new Set(['000001']));
    expect(new Set(records.map((r) => r.fields[1]))).toEqual(new Set(['000000']));
  });

  it('the project\'s own restore reader gives back every entry', async () => {
    for (const [name, entries] of [['small', smallEntries()], ['generated', generatedEntries()]] as const) {
      const archive = join(work, `restore-${name}.cpio`);
      await writeArchive(cpioWriter, entries, archive);
      const back = await restoreReadBack(archive);
      expect(back.format).toBe('cpio-odc');
      const byPath = (a: { path: string }, b: { path: string }) => (a.path < b.path ? -1 : 1);
      expect(back.entries.sort(byPath)).toEqual(restoreView(entries).sort(byPath));
    }
  });

  it('rejects what odc cannot hold with a FluxError naming the entry', () => {
    const base: ArchiveEntry = { path: 'big/uid', type: 'file', data: new Uint8Array(1), linkTarget: '', mode: 0o644, mtime: 0, uid: 0o1000000, gid: 0 };
    const w = cpioWriter({ stdout: false });
    expect(() => w.write([base])).toThrow(FluxError);
    expect(() => w.write([base])).toThrow(/big\/uid: .*uid \(max 262143\)/);
    expect(() => cpioWriter({ stdout: false }).write([{ ...base, uid: 0, path: 'late', mtime: 2 ** 33 }])).toThrow(/late: .*mtime/);
    expect(() => cpioWriter({ stdout: false }).write([{ ...base, uid: 0, path: 'early', mtime: -1 }])).toThrow(/early: .*mtime/);
    expect(() => cpioWriter({ stdout: false }).write([{ ...base, uid: 0, path: 'nul\0name' }])).toThrow(FluxError);
  });

  it('pads to a 10240-byte block on stdout, as libarchive does', async () => {
    const w = cpioWriter({ stdout: true });
    const bytes = Buffer.concat([...(await w.write(smallEntries())), ...(await w.end())]);
    expect(bytes.length).toBe(10240);
    const file = await writeArchive(cpioWriter, smallEntries(), join(work, 'nopad.cpio'));
    expect(bytes.subarray(0, file.length).equals(Buffer.from(file))).toBe(true);
    expect(bytes.subarray(file.length).every((b) => b === 0)).toBe(true);
  });

  it('an empty store is just the trailer', async () => {
    const bytes = await writeArchive(cpioWriter, [], join(work, 'empty.cpio'));
    expect(Buffer.from(bytes).equals(Buffer.from(encodeOdcTrailer()))).toBe(true);
    expect(run('cpio', ['-it', '--quiet', '-F', join(work, 'empty.cpio')])).toBe('');
    expect(readFileSync(join(work, 'empty.cpio')).length).toBe(HEADER_SIZE + 11);
  });
});
