/**
 * Restoring archives written by real Flux gives flux-core's exact root blobrefs and
 * object counts (fixtures README), whatever the archive format and --maxreqs.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import {
  allHashesValid, cleanupTempDirs, FIXTURES, readSqliteStore, restoreError, runRestore, SMALL, SMALL_ROOT, SMALL_TIMESTAMP, tempDir,
} from './restore-helpers.js';

afterEach(cleanupTempDirs);

// [file, format, compression, checkpoint timestamp]. The timestamp is the largest mtime
// of all members, as libarchive reports them: the ISO's directories (created by the
// writer one second after the dump's timestamp) count too.
const SMALL_FORMATS: [string, string, string, number][] = [
  ['small.tar', 'tar', 'none', SMALL_TIMESTAMP],
  ['small-stdout.tar', 'tar', 'none', SMALL_TIMESTAMP],
  ['small-uid4242.tar', 'tar', 'none', SMALL_TIMESTAMP],
  ['small.zip', 'zip', 'none', SMALL_TIMESTAMP],
  ['small.iso', 'iso9660', 'none', SMALL_TIMESTAMP + 1],
  ['small.tar.gz', 'tar', 'gzip', SMALL_TIMESTAMP],
  ['small.tar.bz2', 'tar', 'bzip2', SMALL_TIMESTAMP],
  ['small.tar.xz', 'tar', 'xz', SMALL_TIMESTAMP],
];

describe('small fixture', () => {
  for (const [file, format, compression, timestamp] of SMALL_FORMATS) {
    it(`${file} restores to flux-core's root with 4 objects`, async () => {
      const store = join(tempDir(), 'content.sqlite');
      const r = await runRestore(join(SMALL, file), store);
      expect([r.format, r.compression]).toEqual([format, compression]);
      expect(r.rootref).toBe(SMALL_ROOT);
      const dump = readSqliteStore(store);
      expect(dump.objects).toHaveLength(4);
      expect(allHashesValid(dump.objects, 'sha1')).toBe(true);
      expect(dump.checkpoints).toEqual([`{"version":1,"rootref":"${SMALL_ROOT}","sequence":0,"timestamp":${timestamp}.0}`]);
      expect(r.keys).toBe(10);
    });
  }
});

// fixtures README: `flux restore --checkpoint` of each into an empty store
const FLUX_CORE_TESTS: [string, number, string][] = [
  ['dump-0-40-0.tar.bz2', 21, 'sha1-6d573595eb11c980404f972b11c199218a1c6029'],
  ['dump-0-41-0.tar.bz2', 21, 'sha1-2622afb63d5d61db4863683a2492ce0ab38d4e61'],
  ['dump-0-45-0-no-checkpoint.tar.bz2', 20, 'sha1-928367dfc05783bbcd748bc522888eddce472cb0'],
  ['dump-0-45-0-queue-anon.tar.bz2', 21, 'sha1-391074f4a42d1221e607e2b9b585b00fa0d4336c'],
  ['dump-0-45-0-queues-named.tar.bz2', 22, 'sha1-6cf7a469bc24dbe77871c3c8e5b18f73f21aabc9'],
  ['dump-0-46-0-queue-anon-v1.tar.bz2', 22, 'sha1-796657920a6a3803ce1124a2e5b4ccaa1b3bbd1f'],
  ['dump-0-46-0-queues-named-v1.tar.bz2', 22, 'sha1-ed1e5e533f79983a9414b9012190948012a6ce89'],
];

describe('flux-core test suite dumps (0.40 - 0.46)', () => {
  for (const [file, objects, root] of FLUX_CORE_TESTS) {
    it(`${file}: ${objects} objects, root ${root}`, async () => {
      const store = join(tempDir(), 'content.sqlite');
      const r = await runRestore(join(FIXTURES, 'flux-core-tests', file), store);
      expect(r.rootref).toBe(root);
      const dump = readSqliteStore(store);
      expect(dump.objects).toHaveLength(objects);
      expect(allHashesValid(dump.objects, 'sha1')).toBe(true);
    });
  }
});

describe('the root never depends on --maxreqs', () => {
  const all: [string, string][] = [
    ...SMALL_FORMATS.map(([f]) => [join(SMALL, f), SMALL_ROOT] as [string, string]),
    ...FLUX_CORE_TESTS.map(([f, , root]) => [join(FIXTURES, 'flux-core-tests', f), root] as [string, string]),
  ];
  for (const maxreqs of [1, 7, 1000]) {
    it(`--maxreqs ${maxreqs}`, async () => {
      for (const [path, root] of all) {
        const store = join(tempDir(), 'content.sqlite');
        const r = await runRestore(path, store, { maxreqs, quiet: true });
        expect(`${path}: ${r.rootref}`).toBe(`${path}: ${root}`);
      }
    });
  }
});

describe('the store matches what flux-core 0.88 wrote (small-restored.sqlite)', () => {
  it('same (hash, decompressed object) pairs, schema, storage classes and file format', async () => {
    const store = join(tempDir(), 'content.sqlite');
    await runRestore(join(SMALL, 'small.tar'), store);
    const ours = readSqliteStore(store);
    const theirs = readSqliteStore(join(SMALL, 'small-restored.sqlite'));
    const pairs = (d: typeof ours) => d.objects.map((o) => [o.hashHex, Buffer.from(o.blob).toString('hex')]).sort();
    expect(pairs(ours)).toEqual(pairs(theirs));
    // raw (size -1) below 256 bytes, LZ4 with the uncompressed size from 256 on
    expect(ours.objects.map((o) => [o.hashHex, o.size]).sort()).toEqual(theirs.objects.map((o) => [o.hashHex, o.size]).sort());
    expect(ours.objects.every((o) => o.hashType === 'text')).toBe(true);
    expect(ours.schema).toEqual(theirs.schema);
    expect(ours.checkpoints).toEqual(theirs.checkpoints);
    const header = (p: string) => readFileSync(p).subarray(0, 20);
    // page size 4096 (bytes 16-17), WAL (file format versions 2 at bytes 18-19)
    expect(header(store).subarray(16, 20)).toEqual(header(join(SMALL, 'small-restored.sqlite')).subarray(16, 20));
  });
});

describe('compression is told from the bytes, members may be concatenated', () => {
  const tarBytes = readFileSync(join(SMALL, 'small.tar'));
  const tools: [string, string[]][] = [['gzip', ['gzip', '-c']], ['bzip2', ['bzip2', '-c']], ['xz', ['xz', '-c']]];
  for (const [name, cmd] of tools) {
    it(`${name}: two members of small.tar, under a misleading name`, async () => {
      const part = (b: Buffer) => execFileSync(cmd[0]!, cmd.slice(1), { input: b });
      const path = join(tempDir(), 'dump.zip');
      writeFileSync(path, Buffer.concat([part(tarBytes.subarray(0, 3000)), part(tarBytes.subarray(3000))]));
      const r = await runRestore(path, join(tempDir(), 'content.sqlite'), { quiet: true });
      expect([r.compression, r.format, r.rootref]).toEqual([name, 'tar', SMALL_ROOT]);
    });
  }

  for (const f of ['small.zip', 'small.iso']) {
    it(`a gzip-compressed ${f.slice(6)} is spooled and read`, async () => {
      const path = join(tempDir(), `${f}.gz`);
      writeFileSync(path, gzipSync(readFileSync(join(SMALL, f))));
      const r = await runRestore(path, join(tempDir(), 'content.sqlite'), { quiet: true });
      expect([r.compression, r.rootref]).toEqual(['gzip', SMALL_ROOT]);
    });
  }

  it('a bad checksum after the end of the tar is still an error naming the input', async () => {
    const gz = gzipSync(tarBytes);
    gz[gz.length - 8] ^= 0xff; // the member's CRC-32, read only once the archive has ended
    const path = join(tempDir(), 'bad.tar.gz');
    writeFileSync(path, gz);
    expect(await restoreError(path, join(tempDir(), 'c.sqlite'))).toMatch(new RegExp(`^${path}: .*gzip`));
  });
});
