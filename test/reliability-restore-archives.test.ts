/**
 * Restore input that is damaged: real archives (flux-core's dumps of the shared small
 * store, the same converted by bsdtar, written by GNU cpio, gzip, bzip2, xz and zip),
 * truncated, with checksums that no longer match, with sizes that lie. The compiled CLI
 * must refuse each with one line naming the file (and the member where there is one),
 * exit 1, print no stack trace, and leave the previous checkpoint the newest.
 */
import { mkdirSync, writeFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cleanupTempDirs, readSqliteStore, tempDir } from './restore-helpers.js';
import {
  archiveFile, ensureBuilt, expectRefused, fixture, isoRecordByExtent, restoreCli, setLe32, setTarOctal, storeWithCheckpoint, TAR_SIZE, tool, zipCentral,
} from './reliability-restore.helpers.js';

beforeAll(ensureBuilt, 300_000);
afterEach(cleanupTempDirs);

const escape = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** The error for `file`: `FILE: ` and then what `pattern` says. */
const about = (file: string, pattern: string) => new RegExp(`^${escape(file)}: ${pattern}$`);

const smallTar = () => fixture('small.tar');
const odc = () => tool('bsdtar', ['-cf', '-', '--format', 'odc', '@-'], smallTar());
const newc = () => tool('bsdtar', ['-cf', '-', '--format', 'newc', '@-'], smallTar());

/** Where each member of flux-core's small.tar starts (header) and its data. */
const TAR_HEADER = { fuzzy: 1536, w: 5632, x: 6656, abc: 7680 };

describe('truncated archives, every format and compression', () => {
  /** Bytes that matter: a cut past them (into trailing padding) loses nothing. */
  const upToTrailer = (b: Uint8Array) => b.subarray(0, Buffer.from(b).indexOf('TRAILER!!!'));
  const formats: [string, () => Uint8Array, string][] = [
    ['tar', smallTar, `truncated tar (header at offset \\d+|archive in \\S+)`],
    ['tar.gz', () => fixture('small.tar.gz'), 'gzip data is truncated'],
    ['tar.bz2', () => fixture('small.tar.bz2'), 'bzip2 data is truncated'],
    ['tar.xz', () => fixture('small.tar.xz'), 'xz data is truncated'],
    ['zip', () => fixture('small.zip'), 'zip end of central directory not found'],
    ['iso', () => fixture('small.iso'), 'truncated ISO 9660 image: \\d+ of the 393216 bytes its volume descriptor declares'],
    ['cpio', odc, 'truncated cpio archive \\(\\S+\\) at offset \\d+'],
    ['newc.cpio', newc, 'truncated cpio archive \\(\\S+\\) at offset \\d+'],
  ];
  for (const [ext, bytes, pattern] of formats) {
    it(`${ext} cut at 40% and 85% of its length`, () => {
      const whole = bytes();
      const meaningful = ext.endsWith('cpio') ? upToTrailer(whole).length : whole.length;
      for (const fraction of [0.4, 0.85]) {
        const file = archiveFile(`cut-${fraction}.${ext}`, whole.subarray(0, Math.floor(meaningful * fraction)));
        expectRefused(file, about(file, pattern));
      }
    });
  }

  it('tar cut exactly at a member boundary (no end-of-archive blocks) is truncated too', () => {
    // libarchive would restore the first four keys and call it done
    const file = archiveFile('boundary.tar', smallTar().subarray(0, 3584));
    expectRefused(file, `${file}: truncated tar archive: it ends at offset 3584 without its end-of-archive blocks`);
  });

  it('tar cut inside a member names it', () => {
    const file = archiveFile('in-w.tar', smallTar().subarray(0, TAR_HEADER.w + 512 + 3));
    expectRefused(file, `${file}: truncated tar archive in w`);
  });

  it('a truncated stream on stdin names stdin', () => {
    const { store, checkpoints } = storeWithCheckpoint();
    const gz = fixture('small.tar.gz');
    const r = restoreCli(['-q', '--checkpoint', `--store=${store}`, '-'], gz.subarray(0, 300));
    expect(r.status).toBe(1);
    expect(r.stderr).toBe('flux-restore: stdin: gzip data is truncated\n');
    expect(readSqliteStore(store).checkpoints).toEqual(checkpoints);
  });
});

describe('concatenated members and streams, the later one damaged', () => {
  const tar = smallTar();
  const halves = (cmd: string, args: string[]) => [tool(cmd, args, tar.subarray(0, 5120)), tool(cmd, args, tar.subarray(5120))] as const;
  const cases: [string, string, string[], string][] = [
    ['gzip', 'tar.gz', ['-c'], 'gzip data is'],
    ['bzip2', 'tar.bz2', ['-c'], 'bzip2 data is'],
    ['xz', 'tar.xz', ['-c', '-T1'], 'xz data is'],
  ];
  for (const [cmd, ext, args, prefix] of cases) {
    it(`${cmd}: two members restore; the second truncated or corrupt is refused`, () => {
      const [a, b] = halves(cmd, args);
      const whole = archiveFile(`two.${ext}`, Buffer.concat([a, b]));
      const { store } = storeWithCheckpoint();
      const ok = restoreCli(['-q', '--checkpoint', `--store=${store}`, whole]);
      expect(ok.stderr).toBe('');
      expect(ok.status).toBe(0);

      const cut = archiveFile(`two-cut.${ext}`, Buffer.concat([a, b.subarray(0, Math.floor(b.length / 2))]));
      expectRefused(cut, about(cut, `${prefix} truncated`));
      const bad = Buffer.concat([a, b]);
      bad[a.length + Math.floor(b.length / 2)]! ^= 0x55;
      const corrupt = archiveFile(`two-bad.${ext}`, bad);
      expectRefused(corrupt, about(corrupt, `${prefix} corrupt \\(.+\\)`));
    });
  }
});

describe('checksums that do not match', () => {
  it('tar header checksum', () => {
    const tar = smallTar();
    tar[TAR_HEADER.fuzzy + 3]! ^= 0x01; // inside the name; the stored checksum now disagrees
    const file = archiveFile('header.tar', tar);
    expectRefused(file, `${file}: damaged tar header at offset 1536 (checksum mismatch)`);
  });

  it('gzip CRC-32 and length', () => {
    const crc = fixture('small.tar.gz');
    crc[crc.length - 8]! ^= 0xff;
    const f1 = archiveFile('crc.tar.gz', crc);
    expectRefused(f1, `${f1}: gzip data is corrupt (incorrect data check)`);
    const len = fixture('small.tar.gz');
    len[len.length - 2]! ^= 0x01;
    const f2 = archiveFile('isize.tar.gz', len);
    expectRefused(f2, `${f2}: gzip data is corrupt (incorrect length check)`);
  });

  it('bzip2 block CRC and stream CRC', () => {
    const block = fixture('small.tar.bz2');
    block[10]! ^= 0x01; // the first block's CRC follows "BZh9" and the block magic
    const f1 = archiveFile('block.tar.bz2', block);
    expectRefused(f1, `${f1}: bzip2 data is corrupt (block CRC mismatch)`);
    const stream = fixture('small.tar.bz2');
    stream[stream.length - 3]! ^= 0x10; // the combined CRC after the end-of-stream magic
    const f2 = archiveFile('stream.tar.bz2', stream);
    expectRefused(f2, `${f2}: bzip2 data is corrupt (stream CRC mismatch)`);
  });

  it('xz block check (CRC64)', () => {
    const xz = fixture('small.tar.xz');
    // `xz --robot -lvv`: the block starts at 12 and takes 352 bytes, its CRC64 last
    expect(Buffer.from(xz.subarray(356, 364)).toString('hex')).toBe('cb6954c4d8e41579');
    xz[356]! ^= 0x01;
    const file = archiveFile('check.tar.xz', xz);
    expectRefused(file, `${file}: xz data is corrupt (data error)`);
  });

  it('zip CRC-32 of a member', () => {
    const zip = fixture('small.zip');
    const cd = zipCentral(zip).get('x')!;
    zip[cd + 16]! ^= 0x01;
    const file = archiveFile('crc.zip', zip);
    expectRefused(file, `${file}: x: CRC-32 mismatch`);
  });

  it('cpio 070702 (GNU cpio -H crc) file checksum', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'key'), 'a value whose bytes are summed\n');
    mkdirSync(join(dir, 'sub'));
    writeFileSync(join(dir, 'sub', 'other'), 'x'.repeat(300));
    symlinkSync('key', join(dir, 'link'));
    const cpio = tool('cpio', ['-o', '-H', 'crc', '--quiet'], new TextEncoder().encode('key\nsub/other\nlink\n'), dir);
    const good = archiveFile('good.cpio', cpio);
    const { store } = storeWithCheckpoint();
    expect(restoreCli(['-q', '--checkpoint', `--store=${store}`, good]).status).toBe(0);
    const at = Buffer.from(cpio).indexOf('summed');
    cpio[at]! ^= 0x20;
    const bad = archiveFile('bad.cpio', cpio);
    expectRefused(bad, `${bad}: key: cpio checksum mismatch`);
  });
});

describe('sizes that lie', () => {
  it('tar: a size past the end of the archive', () => {
    const tar = smallTar();
    setTarOctal(tar, TAR_HEADER.x, TAR_SIZE, 12, 100_000);
    const file = archiveFile('long.tar', tar);
    expectRefused(file, `${file}: truncated tar archive in x`);
  });

  it('tar: a size that swallows the next header', () => {
    const tar = smallTar();
    setTarOctal(tar, TAR_HEADER.x, TAR_SIZE, 12, 600); // x is 100 bytes: now two blocks
    const file = archiveFile('short.tar', tar);
    expectRefused(file, `${file}: damaged tar header at offset 8192 (checksum mismatch)`);
  });

  it('cpio: a filesize past the end, and one short of the data', () => {
    const bytes = odc();
    const at = Buffer.from(bytes).indexOf('x\0') - 76; // x's header
    const long = bytes.slice();
    long.set(new TextEncoder().encode('77777777'), at + 65 + 3);
    const f1 = archiveFile('long.cpio', long);
    expectRefused(f1, about(f1, 'truncated cpio archive \\(x\\) at offset \\d+'));
    const short = bytes.slice();
    short.set(new TextEncoder().encode('00000000010'), at + 65); // 8 of its 100 bytes
    const f2 = archiveFile('short.cpio', short);
    expectRefused(f2, about(f2, 'bad cpio header magic at offset \\d+ \\(after x\\)'));
  });

  it('zip: a directory size bigger or smaller than the data', () => {
    for (const [size, message] of [[50, "x: deflate data inflates to more than the directory's 50 bytes"], [200, "x: size 100 differs from the directory's 200"]] as const) {
      const zip = fixture('small.zip');
      setLe32(zip, zipCentral(zip).get('x')! + 24, size);
      const file = archiveFile(`size-${size}.zip`, zip);
      expectRefused(file, `${file}: ${message}`);
    }
  });

  it('zip: members that claim more bytes than they hold', () => {
    // deflated: more compressed bytes than 100 bytes can ever need
    const deflated = fixture('small.zip');
    setLe32(deflated, zipCentral(deflated).get('x')! + 20, 100_000);
    const f1 = archiveFile('claims.zip', deflated);
    expectRefused(f1, `${f1}: x: 100000 bytes of deflate data cannot hold 100 bytes`);
    // stored (the symlink y): both sizes say 100000, past the end of the file
    const stored = fixture('small.zip');
    const cd = zipCentral(stored).get('y')!;
    setLe32(stored, cd + 20, 100_000);
    setLe32(stored, cd + 24, 100_000);
    const f2 = archiveFile('stored.zip', stored);
    expectRefused(f2, about(f2, 'y: truncated archive: 100000 bytes at offset \\d+ are past its end \\(1486 bytes\\)'));
    // a local header offset that points at no local header
    const moved = fixture('small.zip');
    setLe32(moved, zipCentral(moved).get('w')! + 42, 3);
    const f3 = archiveFile('moved.zip', moved);
    expectRefused(f3, `${f3}: w: bad zip local header`);
  });

  it('ISO 9660: a file extent past the end of the image names the file', () => {
    const iso = fixture('small.iso');
    const rec = isoRecordByExtent(iso, 28, 39); // x, in the root directory
    setLe32(iso, rec + 2, 190); // two blocks before the end: its 100 bytes fit...
    setLe32(iso, rec + 10, 10_000); // ...10,000 do not
    const file = archiveFile('extent.iso', iso);
    expectRefused(file, about(file, 'x: truncated archive: 10000 bytes at offset 389120 are past its end \\(393216 bytes\\)'));
  });
});
