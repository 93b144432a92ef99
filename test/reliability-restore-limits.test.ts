/**
 * Restore input that is hostile rather than damaged: decompression bombs and size
 * fields past the per-value ceiling (1 GiB without --size-limit), member names that
 * would mean something else to a file system, a value where a directory is needed.
 * Archives come from real tools (gzip, bzip2, xz, zip, python3's tarfile/zipfile,
 * bsdtar) and flux-core's own dumps; the compiled CLI runs them, with its peak RSS
 * measured: a bomb must be refused or skipped without being held in memory.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_VALUE_CEILING } from '../src/restore/entry.js';
import { cleanupTempDirs, readSqliteStore, tempDir } from './restore-helpers.js';
import {
  archiveFile, ensureBuilt, expectRefused, fixture, isoRecordByExtent, restoreCli, setLe32, setTarOctal, storeWithCheckpoint, TAR_SIZE, tool, zipCentral,
} from './reliability-restore.helpers.js';

beforeAll(ensureBuilt, 300_000);
afterEach(cleanupTempDirs);

const MiB = 1 << 20;
/** Peak RSS a refused or skipped bomb may cost: node, the WASM modules and a store worker. */
const RSS_BUDGET = 300 * MiB;

const enc = new TextEncoder();

/** One ustar header for a regular file `name` of `size` bytes (checksum included). */
function tarHeader(name: string, size: number): Uint8Array {
  const h = new Uint8Array(512);
  h.set(enc.encode(name), 0);
  h.set(enc.encode('0000644\0'), 100);
  h.set(enc.encode('ustar\0' + '00'), 257);
  h[156] = 0x30;
  setTarOctal(h, 0, TAR_SIZE, 12, size);
  return h;
}

/**
 * A real gzip bomb: a tar member `bomb` holding `size` zero bytes (a multiple of 512),
 * written as concatenated gzip members (1 MiB of zeros compresses to ~1 KiB, so 1.5 GiB
 * fits in 1.5 MB), then `after` (by default the end-of-archive blocks).
 */
function gzipBomb(size: number, after: Uint8Array = gzipSync(Buffer.alloc(1024))): Uint8Array {
  const zeros = gzipSync(Buffer.alloc(MiB), { level: 9 });
  const parts: Uint8Array[] = [gzipSync(tarHeader('bomb', size))];
  for (let left = size; left > 0; left -= MiB) parts.push(left >= MiB ? zeros : gzipSync(Buffer.alloc(left)));
  parts.push(after);
  return Buffer.concat(parts);
}

const ceilingError = (file: string, name: string, size: number) =>
  `${file}: ${name}: value of ${size} bytes is over the ${DEFAULT_VALUE_CEILING}-byte limit for one value (--size-limit skips large values)`;

describe('decompression bombs and sizes past the per-value ceiling', () => {
  it('a 1.5 GiB gzip bomb is refused at its header, without decompressing it', () => {
    const size = 1536 * MiB;
    const file = archiveFile('bomb.tar.gz', gzipBomb(size));
    const r = expectRefused(file, ceilingError(file, 'bomb', size));
    expect(r.maxRss).toBeLessThan(RSS_BUDGET);
  });

  it('under --size-limit the same kind of bomb is skipped, streamed through, and the rest restored', () => {
    const size = 400 * MiB; // under the ceiling: only --size-limit keeps it out of memory
    // small.tar's ten members (and its end-of-archive blocks) follow the bomb
    const file = archiveFile('bomb-then-keys.tar.gz', gzipBomb(size, gzipSync(Buffer.from(fixture('small.tar')))));
    const { store, checkpoints } = storeWithCheckpoint();
    const r = restoreCli(['--checkpoint', '--size-limit=1M', `--store=${store}`, file]);
    expect(r.stderr).toContain(`bomb size ${size} exceeds ${MiB} limit, skipping\n`);
    expect(r.stderr).toContain('restored 10 keys (4 blobs)\n');
    expect(r.status).toBe(0);
    expect(r.maxRss).toBeLessThan(RSS_BUDGET);
    expect(readSqliteStore(store).checkpoints).toHaveLength(checkpoints.length + 1);
  });

  it('tar headers claiming more than the ceiling, under every compression, are refused before any data is read', () => {
    const size = 3 * 1024 * MiB;
    const tar = Buffer.concat([tarHeader('claims/3GiB', size), Buffer.alloc(64 * 1024, 0x61), Buffer.alloc(1024)]);
    for (const [ext, bytes] of [
      ['tar', tar],
      ['tar.gz', tool('gzip', ['-c'], tar)],
      ['tar.bz2', tool('bzip2', ['-c'], tar)],
      ['tar.xz', tool('xz', ['-c', '-T1'], tar)],
    ] as const) {
      const file = archiveFile(`claims.${ext}`, bytes);
      expect(expectRefused(file, ceilingError(file, 'claims/3GiB', size)).maxRss).toBeLessThan(RSS_BUDGET);
    }
  });

  it('a bomb after the end of the archive is not read to its end', () => {
    // a whole dump, then 1 GiB of zeros as concatenated gzip members (1 MB on disk)
    const zeros = gzipSync(Buffer.alloc(MiB), { level: 9 });
    const file = archiveFile('trailing.tar.gz', Buffer.concat([gzipSync(Buffer.from(fixture('small.tar'))), ...Array<Buffer>(1024).fill(zeros)]));
    const r = expectRefused(file, `${file}: more than ${64 * MiB} bytes follow the end of the archive`);
    expect(r.maxRss).toBeLessThan(RSS_BUDGET);
  });

  it('a pax size too large for any number is refused', () => {
    const pax = enc.encode('30 size=100000000000000000000\n');
    const tar = Buffer.concat([
      (() => {
        const h = tarHeader('PaxHeader/big', pax.length);
        h[156] = 0x78; // 'x'
        setTarOctal(h, 0, TAR_SIZE, 12, pax.length);
        return h;
      })(),
      pax, Buffer.alloc(512 - pax.length), tarHeader('big', 10), Buffer.alloc(512), Buffer.alloc(1024),
    ]);
    const file = archiveFile('pax.tar', tar);
    expectRefused(file, `${file}: invalid pax size in big at offset 1024`);
  });

  it('cpio: odc and newc file sizes past the ceiling', () => {
    const odc = tool('bsdtar', ['-cf', '-', '--format', 'odc', '@-'], fixture('small.tar'));
    const x = Buffer.from(odc).indexOf('x\0') - 76;
    odc.set(enc.encode('77777777777'), x + 65); // 8 GiB - 1
    const f1 = archiveFile('big.cpio', odc);
    expectRefused(f1, ceilingError(f1, 'x', 8 * 1024 * MiB - 1));
    const newc = tool('bsdtar', ['-cf', '-', '--format', 'newc', '@-'], fixture('small.tar'));
    const y = Buffer.from(newc).indexOf('x\0') - 110;
    newc.set(enc.encode('FFFFFFFF'), y + 54); // 4 GiB - 1
    const f2 = archiveFile('big-newc.cpio', newc);
    expectRefused(f2, ceilingError(f2, 'x', 4 * 1024 * MiB - 1));
  });

  it('zip: a member whose directory claims 4 GiB, and a deflate bomb that says 100,000 bytes', () => {
    const claims = fixture('small.zip');
    setLe32(claims, zipCentral(claims).get('x')! + 24, 0xfffffff0);
    const f1 = archiveFile('claims.zip', claims);
    expectRefused(f1, ceilingError(f1, 'x', 0xfffffff0));

    // a real zip (Info-ZIP) of 64 MiB of zeros (~65 KB deflated), made to say 100,000 bytes
    const dir = tempDir();
    tool('sh', ['-c', 'head -c 67108864 /dev/zero > zeros && zip -q -9 bomb.zip zeros'], undefined, dir);
    const zip = new Uint8Array(readFileSync(join(dir, 'bomb.zip')));
    setLe32(zip, zipCentral(zip).get('zeros')! + 24, 100_000);
    const f2 = archiveFile('bomb.zip', zip);
    expect(expectRefused(f2, `${f2}: zeros: deflate data inflates to more than the directory's 100000 bytes`).maxRss).toBeLessThan(RSS_BUDGET);
  });

  it('ISO 9660: a file record claiming 4 GiB', () => {
    const iso = fixture('small.iso');
    setLe32(iso, isoRecordByExtent(iso, 28, 39) + 10, 0xfffffff0); // x
    const file = archiveFile('claims.iso', iso);
    expectRefused(file, ceilingError(file, 'x', 0xfffffff0));
  });
});

describe('member names that are not KVS keys are refused, naming the member', () => {
  const names: [string, string][] = [
    ['/etc/passwd', 'absolute path'],
    ['../escape', '".." path component'],
    ['a/../../b', '".." path component'],
    ['a/./b', '"." path component'],
    ['.', '"." path component'],
    ['a//b', 'empty path component'],
  ];
  /**
   * For each name, a tar and a zip of `ok` then that name (python3's tarfile and zipfile
   * keep names verbatim), made in one python run.
   */
  let made: Record<string, { tar: Uint8Array; zip: Uint8Array }>;
  beforeAll(() => {
    const script = [
      'import base64,io,json,sys,tarfile,zipfile',
      'out={}',
      'for n in json.loads(sys.stdin.read()):',
      '  t=io.BytesIO(); a=tarfile.open(fileobj=t,mode="w",format=tarfile.PAX_FORMAT)',
      '  for m in ("ok",n):',
      '    i=tarfile.TarInfo(m); i.size=5; a.addfile(i,io.BytesIO(b"value"))',
      '  a.close()',
      '  z=io.BytesIO(); b=zipfile.ZipFile(z,"w")',
      '  for m in ("ok",n): b.writestr(zipfile.ZipInfo(m),b"value")',
      '  b.close()',
      '  out[n]=[base64.b64encode(t.getvalue()).decode(),base64.b64encode(z.getvalue()).decode()]',
      'print(json.dumps(out))',
    ].join('\n');
    const all = [...names.map(([n]) => n), 'two\nlines/../x'];
    const json = JSON.parse(new TextDecoder().decode(tool('python3', ['-c', script], enc.encode(JSON.stringify(all))))) as Record<string, [string, string]>;
    made = Object.fromEntries(Object.entries(json).map(([n, [t, z]]) => [n, { tar: Buffer.from(t, 'base64'), zip: Buffer.from(z, 'base64') }]));
  });
  const make = (kind: 'tar' | 'zip', name: string): Uint8Array => made[name]![kind];

  // every name in a tar; zip and cpio (each its own reader) get half of them each
  const formats = (i: number) => ['tar', i % 2 === 0 ? 'zip' : 'cpio'];
  for (const [i, [name, why]] of names.entries()) {
    it(`${JSON.stringify(name)} in ${formats(i).join(' and ')}`, () => {
      const tar = make('tar', name);
      const archives: [string, Uint8Array][] = formats(i).map((ext) => [
        ext,
        ext === 'tar' ? tar : ext === 'zip' ? make('zip', name) : tool('bsdtar', ['-cf', '-', '-P', '--format', 'newc', '@-'], tar), // -P: names as they are
      ]);
      for (const [ext, bytes] of archives) {
        const file = archiveFile(`names.${ext}`, bytes);
        expectRefused(file, `${file}: refusing archive member ${JSON.stringify(name)}: ${why}`);
      }
    });
  }

  it('a name with a newline stays on one line', () => {
    const tar = make('tar', 'two\nlines/../x');
    const file = archiveFile('newline.tar', tar);
    expectRefused(file, `${file}: refusing archive member "two\\nlines/../x": ".." path component`);
  });
});

describe('a value where a directory is needed', () => {
  it('tar and zip: "NAME in PATH is not a directory"', () => {
    const script = `import io,sys,tarfile,zipfile\nkind=sys.argv[1]\nb=io.BytesIO()\nif kind=='tar':\n  t=tarfile.open(fileobj=b,mode='w',format=tarfile.PAX_FORMAT)\n  for n in ('a/x','a/x/y'):\n    i=tarfile.TarInfo(n);i.size=5;t.addfile(i,io.BytesIO(b'value'))\n  t.close()\nelse:\n  z=zipfile.ZipFile(b,'w')\n  for n in ('a/x','a/x/y'): z.writestr(n,b'value')\n  z.close()\nsys.stdout.buffer.write(b.getvalue())`;
    for (const kind of ['tar', 'zip']) {
      const file = archiveFile(`notdir.${kind}`, tool('python3', ['-c', script, kind]));
      expectRefused(file, 'x in a/x/y is not a directory');
    }
  });
});

describe('a failed restore into a new store leaves nothing behind', () => {
  it('no content.sqlite and no temporary in the statedir', () => {
    const statedir = join(tempDir(), 'state');
    const file = archiveFile('cut.tar', fixture('small.tar').subarray(0, 6150)); // inside w's data
    const r = restoreCli(['-q', '--checkpoint', `--store=${statedir}`, file]);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`flux-restore: ${file}: truncated tar archive in w\n`);
    expect(existsSync(join(statedir, 'content.sqlite'))).toBe(false);
    expect(existsSync(statedir) ? readdirSync(statedir) : []).toEqual([]);
  });
});
