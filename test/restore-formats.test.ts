/**
 * Every archive format restore reads, written by real tools (bsdtar = libarchive, the
 * library flux-core uses; genisoimage; cpio) from one tree of real files and symlinks:
 * each restore must give the root blobref computed independently from the tree, every
 * key must read back with its exact bytes, and the checkpoint time is the largest mtime.
 */
import { execFileSync } from 'node:child_process';
import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cleanupTempDirs, expectedKvs, materialize, readKvs, readSqliteStore, referenceRoot, runRestore, sortedKvs, tempDir, type TreeEntry,
} from './restore-helpers.js';

const enc = new TextEncoder();

/** Deterministic incompressible bytes. */
function noise(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed | 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 255;
  }
  return out;
}

const text = (n: number, c = 'v') => enc.encode(c.repeat(n));
const T0 = 1_700_000_000;
const DIR_MTIME = 1_600_000_000;

/** Portable everywhere (ustar's 100-byte names, Joliet's 64 characters, no symlinks). */
const PORTABLE: TreeEntry[] = [
  { path: 'a/b/c', kind: 'file', data: enc.encode('testkey'), mtime: T0 + 1 },
  { path: 'a/b/d', kind: 'file', data: enc.encode('second'), mtime: T0 + 2 },
  { path: 'empty', kind: 'file', data: new Uint8Array(0), mtime: T0 + 3 },
  { path: 'v71', kind: 'file', data: text(71), mtime: T0 + 4 },
  { path: 'v72', kind: 'file', data: text(72), mtime: T0 + 5 },
  { path: 'v255', kind: 'file', data: text(255), mtime: T0 + 6 },
  { path: 'v256', kind: 'file', data: text(256), mtime: T0 + 7 },
  { path: 'big', kind: 'file', data: noise(200_000, 7), mtime: T0 + 8 },
  { path: 'job/0000/006a/0200/0000/eventlog', kind: 'file', data: enc.encode('{"timestamp":1700000000.1,"name":"submit","context":{}}\n'.repeat(20)), mtime: T0 + 9 },
  { path: 'deep/1/2/3/4/5/6/7/8/9/10/leaf', kind: 'file', data: text(100, 'd'), mtime: T0 + 10 },
  { path: 'ƒuzzy/ünï', kind: 'file', data: enc.encode('42'), mtime: T0 + 11 },
  { path: 'sp ace', kind: 'file', data: enc.encode('x'), mtime: T0 + 12 },
  { path: 'dup/same1', kind: 'file', data: text(300, 's'), mtime: T0 + 13 },
  { path: 'dup/same2', kind: 'file', data: text(300, 's'), mtime: T0 + 14 },
];
/** What ustar and v7 can hold besides: symlinks, quotes, astral characters. */
const SHORT_EXTRAS: TreeEntry[] = [
  { path: 'link1', kind: 'symlink', target: 'a.b.c', mtime: T0 + 15 },
  { path: 'link2', kind: 'symlink', target: 'smurf::other.thing', mtime: T0 + 16 },
  { path: 'quote"back\\slash', kind: 'file', data: enc.encode('q'), mtime: T0 + 17 },
  { path: '𝄞clef', kind: 'file', data: enc.encode('music'), mtime: T0 + 18 },
];
/** Names and targets past ustar's fields: pax records, GNU 'L'/'K' members. */
const LONG_EXTRAS: TreeEntry[] = [
  { path: 'long/' + 'n'.repeat(120), kind: 'file', data: text(80, 'l'), mtime: T0 + 19 },
  { path: 'longlink', kind: 'symlink', target: 'ns::' + 't'.repeat(150), mtime: T0 + 20 },
  { path: 'ctl\x01name', kind: 'file', data: enc.encode('ctl'), mtime: T0 + 21 },
];

const FULL = [...PORTABLE, ...SHORT_EXTRAS, ...LONG_EXTRAS];
/** Joliet (without Rock Ridge) also stops at ISO 9660's 8 directory levels. */
const JOLIET = PORTABLE.filter((e) => !e.path.startsWith('deep/'));
const SHORT = [...PORTABLE, ...SHORT_EXTRAS];

const trees = new Map<TreeEntry[], string>();
let work = '';

beforeAll(() => {
  work = tempDir();
  for (const [name, entries] of [['full', FULL], ['short', SHORT], ['joliet', JOLIET]] as const) {
    const dir = join(work, name);
    materialize(entries, dir, DIR_MTIME);
    trees.set(entries, dir);
  }
});
afterAll(cleanupTempDirs);

function run(cmd: string, args: string[], cwd?: string): void {
  execFileSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], ...(cwd ? { cwd } : {}) });
}

interface Case {
  name: string;
  entries: TreeEntry[];
  build: (src: string, out: string) => void;
  /** The checkpoint timestamp is checked where the writer keeps exact mtimes. */
  timestamp: boolean;
  format: string;
}

const bsdtar = (format: string, ...opts: string[]) => (src: string, out: string) => run('bsdtar', ['-cf', out, '--format', format, ...opts, '-C', src, '.']);

const CASES: Case[] = [
  { name: 'pax (bsdtar)', entries: FULL, build: bsdtar('pax'), timestamp: true, format: 'tar' },
  { name: 'restricted pax (bsdtar)', entries: FULL, build: bsdtar('paxr'), timestamp: true, format: 'tar' },
  { name: 'GNU tar (bsdtar): L/K long names', entries: FULL, build: bsdtar('gnutar'), timestamp: true, format: 'tar' },
  { name: 'ustar (bsdtar)', entries: SHORT, build: bsdtar('ustar'), timestamp: true, format: 'tar' },
  { name: 'v7 tar (bsdtar)', entries: SHORT, build: bsdtar('v7'), timestamp: true, format: 'tar' },
  { name: 'cpio odc (bsdtar)', entries: FULL, build: bsdtar('odc'), timestamp: true, format: 'cpio-odc' },
  { name: 'cpio newc (bsdtar)', entries: FULL, build: bsdtar('newc'), timestamp: true, format: 'cpio-newc' },
  {
    name: 'cpio newc (GNU cpio)',
    entries: FULL,
    build: (src, out) => {
      const list = execFileSync('find', ['.', '-mindepth', '1'], { cwd: src });
      writeFileSync(out, execFileSync('cpio', ['-o', '-H', 'newc', '--quiet'], { cwd: src, input: list }));
    },
    timestamp: true,
    format: 'cpio-newc',
  },
  { name: 'zip deflate (bsdtar)', entries: FULL, build: bsdtar('zip'), timestamp: true, format: 'zip' },
  { name: 'zip stored (bsdtar)', entries: FULL, build: bsdtar('zip', '--options', 'zip:compression=store'), timestamp: true, format: 'zip' },
  { name: 'zip (Info-ZIP)', entries: FULL, build: (src, out) => {
      run('zip', ['-q', '-r', '-y', out + '.zip', '.'], src); // zip insists on the suffix
      renameSync(out + '.zip', out);
    }, timestamp: true, format: 'zip' },
  // libarchive's ISO writer stamps the root directory with the time of writing, and
  // libarchive's reader (so flux-core) counts it: no fixed timestamp to expect.
  { name: 'ISO 9660 + Rock Ridge (bsdtar, relocated deep dirs)', entries: FULL, build: bsdtar('iso9660'), timestamp: false, format: 'iso9660' },
  { name: 'ISO 9660 + Rock Ridge (genisoimage)', entries: FULL, build: (src, out) => run('genisoimage', ['-quiet', '-R', '-o', out, src]), timestamp: false, format: 'iso9660' },
  { name: 'ISO 9660 + Joliet only (genisoimage)', entries: JOLIET, build: (src, out) => run('genisoimage', ['-quiet', '-J', '-joliet-long', '-o', out, src]), timestamp: false, format: 'iso9660' },
];

describe('archives written by real tools restore to the independently computed root', () => {
  for (const c of CASES) {
    it(c.name, async () => {
      const src = trees.get(c.entries)!;
      const out = join(tempDir(), 'archive');
      c.build(src, out);
      const store = join(tempDir(), 'content.sqlite');
      const r = await runRestore(out, store);
      expect(r.format).toBe(c.format);
      const ref = referenceRoot(c.entries);
      expect(r.rootref).toBe(ref.root);
      const dump = readSqliteStore(store);
      expect(dump.objects).toHaveLength(ref.objects);
      expect(sortedKvs(readKvs(dump.objects, r.rootref))).toEqual(expectedKvs(c.entries));
      if (c.timestamp) expect(r.timestamp).toBe(Math.max(...c.entries.map((e) => e.mtime ?? 0)));
    });
  }
});

describe('zip64', () => {
  it('reads sizes and offsets from zip64 extra fields and the zip64 end records', async () => {
    const entries: TreeEntry[] = [
      { path: 'z/one', kind: 'file', data: text(500, 'o') },
      { path: 'z/two', kind: 'file', data: enc.encode('2') },
    ];
    const out = join(tempDir(), 'z64.zip');
    writeFileSync(out, makeZip64(entries.map((e) => [e.path, (e as { data: Uint8Array }).data])));
    run('unzip', ['-tq', out]); // the system's unzip accepts it too
    const r = await runRestore(out, join(tempDir(), 'content.sqlite'));
    expect(r.rootref).toBe(referenceRoot(entries).root);
  });
});

/** A stored zip whose every size and offset goes through zip64 (0xFFFFFFFF placeholders). */
function makeZip64(files: [string, Uint8Array][]): Uint8Array {
  const parts: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  const crc = crc32Impl;
  for (const [name, data] of files) {
    const nameBytes = enc.encode(name);
    const local = Buffer.alloc(30 + nameBytes.length + 20);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(45, 4);
    local.writeUInt16LE(0x0800, 6);
    local.writeUInt32LE(crc(data), 14);
    local.writeUInt32LE(0xffffffff, 18);
    local.writeUInt32LE(0xffffffff, 22);
    local.writeUInt16LE(nameBytes.length, 26);
    local.writeUInt16LE(20, 28);
    local.set(nameBytes, 30);
    local.writeUInt16LE(1, 30 + nameBytes.length);
    local.writeUInt16LE(16, 32 + nameBytes.length);
    local.writeBigUInt64LE(BigInt(data.length), 34 + nameBytes.length);
    local.writeBigUInt64LE(BigInt(data.length), 42 + nameBytes.length);
    const cd = Buffer.alloc(46 + nameBytes.length + 28);
    cd.writeUInt32LE(0x02014b50, 0);
    cd.writeUInt16LE((3 << 8) | 45, 4);
    cd.writeUInt16LE(45, 6);
    cd.writeUInt16LE(0x0800, 8);
    cd.writeUInt32LE(crc(data), 16);
    cd.writeUInt32LE(0xffffffff, 20);
    cd.writeUInt32LE(0xffffffff, 24);
    cd.writeUInt16LE(nameBytes.length, 28);
    cd.writeUInt16LE(28, 30);
    cd.writeUInt32LE((0o100644 << 16) >>> 0, 38);
    cd.writeUInt32LE(0xffffffff, 42);
    cd.set(nameBytes, 46);
    const x = 46 + nameBytes.length;
    cd.writeUInt16LE(1, x);
    cd.writeUInt16LE(24, x + 2);
    cd.writeBigUInt64LE(BigInt(data.length), x + 4);
    cd.writeBigUInt64LE(BigInt(data.length), x + 12);
    cd.writeBigUInt64LE(BigInt(offset), x + 20);
    parts.push(local, data);
    central.push(cd);
    offset += local.length + data.length;
  }
  const cdSize = central.reduce((n, b) => n + b.length, 0);
  const eocd64 = Buffer.alloc(56);
  eocd64.writeUInt32LE(0x06064b50, 0);
  eocd64.writeBigUInt64LE(44n, 4);
  eocd64.writeUInt16LE(45, 12);
  eocd64.writeUInt16LE(45, 14);
  eocd64.writeBigUInt64LE(BigInt(files.length), 24);
  eocd64.writeBigUInt64LE(BigInt(files.length), 32);
  eocd64.writeBigUInt64LE(BigInt(cdSize), 40);
  eocd64.writeBigUInt64LE(BigInt(offset), 48);
  const locator = Buffer.alloc(20);
  locator.writeUInt32LE(0x07064b50, 0);
  locator.writeBigUInt64LE(BigInt(offset + cdSize), 8);
  locator.writeUInt32LE(1, 16);
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(0xffff, 8);
  eocd.writeUInt16LE(0xffff, 10);
  eocd.writeUInt32LE(0xffffffff, 12);
  eocd.writeUInt32LE(0xffffffff, 16);
  return Buffer.concat([...parts, ...central, eocd64, locator, eocd]);
}

// keep this test independent of node:zlib's crc32 (the reader uses it)
const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
function crc32Impl(b: Uint8Array): number {
  let c = 0xffffffff;
  for (const byte of b) c = CRC_TABLE[(c ^ byte) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
