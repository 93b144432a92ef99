/**
 * flux-restore's rules beyond the formats: progress output, --size-limit, refused
 * paths, "not a directory", last-wins, hashes, store kinds, checkpoint durability and
 * pruning, and refusing a store a running instance holds.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import {
  allHashesValid, cleanupTempDirs, makeTar, objectByRef, readKvs, readSqliteStore, referenceRoot, restoreError, runRestore, SMALL,
  SMALL_ROOT, tempDir, type RawTarEntry,
} from './restore-helpers.js';

afterEach(cleanupTempDirs);

const SMALL_TAR = join(SMALL, 'small.tar');

function tarFile(entries: RawTarEntry[]): string {
  const path = join(tempDir(), 'in.tar');
  writeFileSync(path, makeTar(entries));
  return path;
}

describe('progress on stderr, as flux-core prints it', () => {
  it('counts keys (N < 10 and every 100) with blobs, then the final line and the snapshot note', async () => {
    const r = await runRestore(SMALL_TAR, join(tempDir(), 'content.sqlite'));
    // member order: empty y z ƒuzzybunny a/e v60 w x(blob) a/b/c a/b/d; then 3 directories
    const lines = [1, 2, 3, 4, 5, 6, 7].map((n) => `\rflux-restore: restored ${n} keys (0 blobs)`).join('')
      + '\rflux-restore: restored 8 keys (1 blobs)\rflux-restore: restored 9 keys (1 blobs)'
      + '\rflux-restore: restored 10 keys (4 blobs)\n'
      + 'flux-restore: writing snapshot sha1-7ac6c1de to checkpoint for next KVS start\n';
    expect(r.stderr).toBe(lines);
  });

  it('prints every hundredth count for larger archives', async () => {
    const entries = Array.from({ length: 250 }, (_, i) => ({ path: `k/${i}`, data: String(i) }));
    const r = await runRestore(tarFile(entries), join(tempDir(), 'content.sqlite'));
    const counts = [...r.stderr.matchAll(/restored (\d+) keys/g)].map((m) => Number(m[1]));
    expect(counts).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 100, 200, 250]);
  });

  it('-v lists keys (symlinks with their targets) instead of counts', async () => {
    const r = await runRestore(SMALL_TAR, join(tempDir(), 'content.sqlite'), { verbose: true });
    expect(r.stderr).toBe(
      'empty\ny -> linkedthing\nz -> smurf::otherthing\nƒuzzybunny\na/e\nv60\nw\nx\na/b/c\na/b/d\n'
        + 'flux-restore: writing snapshot sha1-7ac6c1de to checkpoint for next KVS start\n',
    );
  });

  it('-q prints nothing', async () => {
    const r = await runRestore(SMALL_TAR, join(tempDir(), 'content.sqlite'), { quiet: true });
    expect(r.stderr).toBe('');
    expect(r.rootref).toBe(SMALL_ROOT);
  });
});

describe('--size-limit', () => {
  it('skips larger values with a message containing "exceeds" and restores the rest', async () => {
    const store = join(tempDir(), 'content.sqlite');
    const r = await runRestore(SMALL_TAR, store, { sizeLimit: 59, quiet: true });
    expect(r.stderr).toBe('v60 size 60 exceeds 59 limit, skipping\nx size 100 exceeds 59 limit, skipping\n');
    expect(r.keys).toBe(8);
    const kvs = readKvs(readSqliteStore(store).objects, r.rootref);
    expect(kvs.has('x') || kvs.has('v60')).toBe(false);
    expect(kvs.get('w')).toEqual({ val: Buffer.from('foobar').toString('hex') });
  });

  it('puts the skip message on its own line after a progress count', async () => {
    const r = await runRestore(SMALL_TAR, join(tempDir(), 'content.sqlite'), { sizeLimit: 99 });
    expect(r.stderr).toContain('\rflux-restore: restored 7 keys (0 blobs)\rx size 100 exceeds 99 limit, skipping\n\rflux-restore: restored 8 keys (0 blobs)');
  });

  it('a value exactly at the limit is kept', async () => {
    const r = await runRestore(SMALL_TAR, join(tempDir(), 'content.sqlite'), { sizeLimit: 100, quiet: true });
    expect(r.rootref).toBe(SMALL_ROOT);
  });
});

describe('member names', () => {
  const cases: [string, string][] = [
    ['/etc/passwd', 'absolute path'],
    ['a/../b', '".." path component'],
    ['a/./b', '"." path component'],
    ['a//b', 'empty path component'],
    ['a/b/', 'empty path component'],
  ];
  for (const [name, why] of cases) {
    it(`refuses ${JSON.stringify(name)} naming the member`, async () => {
      const msg = await restoreError(tarFile([{ path: 'ok', data: '1' }, { path: name, data: 'x' }]), join(tempDir(), 'c.sqlite'));
      expect(msg).toContain(JSON.stringify(name));
      expect(msg).toContain(why);
    });
  }

  it('drops a leading ./ and ignores directories, hard links and the archive root', async () => {
    const path = tarFile([
      { path: './', type: 'dir' },
      { path: './a/', type: 'dir' },
      { path: './a/b', data: 'value' },
      { path: './a/hard', type: 'hardlink', linkTarget: 'a/b' },
    ]);
    const r = await runRestore(path, join(tempDir(), 'content.sqlite'), { quiet: true });
    expect(r.rootref).toBe(referenceRoot([{ path: 'a/b', kind: 'file', data: new TextEncoder().encode('value') }]).root);
  });
});

describe('building the tree', () => {
  it('a value on the way to a key: "NAME in PATH is not a directory"', async () => {
    const msg = await restoreError(tarFile([{ path: 'a/x', data: 'value' }, { path: 'a/x/y', data: 'deeper' }]), join(tempDir(), 'c.sqlite'));
    expect(msg).toBe('x in a/x/y is not a directory');
  });

  it('a later member for the same key replaces the earlier one (values, directories)', async () => {
    const path = tarFile([
      { path: 'k', data: 'first' },
      { path: 'k', data: 'second' },
      { path: 'd/sub', data: 'gone' },
      { path: 'd', data: 'now a value' },
      { path: 'l', type: 'symlink', linkTarget: 'x' },
      { path: 'l', data: 'y'.repeat(100) },
    ]);
    const store = join(tempDir(), 'content.sqlite');
    const r = await runRestore(path, store, { quiet: true });
    const enc = new TextEncoder();
    expect(r.rootref).toBe(referenceRoot([
      { path: 'k', kind: 'file', data: enc.encode('second') },
      { path: 'd', kind: 'file', data: enc.encode('now a value') },
      { path: 'l', kind: 'file', data: enc.encode('y'.repeat(100)) },
    ]).root);
    expect(r.keys).toBe(6);
  });

  it('an empty input and an archive of only end blocks restore an empty root directory', async () => {
    const emptyDir = referenceRoot([]).root;
    for (const bytes of [new Uint8Array(0), new Uint8Array(10240)]) {
      const path = join(tempDir(), 'in');
      writeFileSync(path, bytes);
      const store = join(tempDir(), 'content.sqlite');
      const r = await runRestore(path, store, { quiet: true, now: () => 1234.5 });
      expect(r.rootref).toBe(emptyDir);
      expect(readSqliteStore(store).checkpoints).toEqual([`{"version":1,"rootref":"${emptyDir}","sequence":0,"timestamp":1234.5}`]);
    }
  });

  it('stores the directory encoding byte for byte (escapes, UTF-8 byte order)', async () => {
    const enc = new TextEncoder();
    const entries = [
      { path: 'q"\\\b\f\n\r\t\x01', data: '1' },
      { path: '\u{1F600}astral', data: '2' },
      { path: '\uFF5Ahigh-bmp', data: '3' },
      { path: 'é', data: '4' },
    ];
    const store = join(tempDir(), 'content.sqlite');
    const r = await runRestore(tarFile(entries), store, { quiet: true });
    const root = objectByRef(readSqliteStore(store).objects, r.rootref)!;
    const json = new TextDecoder().decode(root.blob);
    // astral (F0 9F..) sorts after U+FF5A (EF BD..) in UTF-8 byte order, unlike UTF-16
    expect(json.indexOf('high-bmp')).toBeLessThan(json.indexOf('astral'));
    expect(json).toContain('"q\\"\\\\\\b\\f\\n\\r\\t\\u0001":');
    expect(r.rootref).toBe(referenceRoot(entries.map((e) => ({ path: e.path, kind: 'file' as const, data: enc.encode(e.data) }))).root);
  });
});

describe('hashes', () => {
  it('a sha256 store gets sha256 blobrefs, every object hash-checked', async () => {
    const store = join(tempDir(), 'content.sqlite');
    const r = await runRestore(SMALL_TAR, store, { hash: 'sha256', quiet: true });
    expect(r.rootref).toMatch(/^sha256-[0-9a-f]{64}$/);
    const dump = readSqliteStore(store);
    expect(dump.objects).toHaveLength(4);
    expect(allHashesValid(dump.objects, 'sha256')).toBe(true);
    expect(readKvs(dump.objects, r.rootref).get('z')).toEqual({ symlink: 'smurf::otherthing' });
  });

  it("an existing store's hash wins over --hash, with a note", async () => {
    const store = join(tempDir(), 'content.sqlite');
    await runRestore(SMALL_TAR, store, { hash: 'sha256', quiet: true });
    const again = await runRestore(SMALL_TAR, store, { hash: 'sha1', quiet: true });
    expect(again.hash).toBe('sha256');
    expect(again.stderr).toContain('already holds sha256 blobs; ignoring --hash=sha1');
    expect(readSqliteStore(store).objects).toHaveLength(4); // INSERT OR IGNORE: nothing twice
  });
});

describe('where the store is written', () => {
  it('in-process and on the store worker give the same database contents', async () => {
    const a = join(tempDir(), 'worker.sqlite');
    const b = join(tempDir(), 'inproc.sqlite');
    const ra = await runRestore(SMALL_TAR, a, { quiet: true, storeWorker: true });
    const rb = await runRestore(SMALL_TAR, b, { quiet: true, storeWorker: false });
    expect(ra.rootref).toBe(rb.rootref);
    const rows = (p: string) => readSqliteStore(p).objects.map((o) => `${o.hashHex} ${o.size} ${Buffer.from(o.blob).toString('hex')}`).sort();
    expect(rows(a)).toEqual(rows(b));
    expect(readSqliteStore(a).checkpoints).toEqual(readSqliteStore(b).checkpoints);
  });
});

describe('store locations', () => {
  it('a new statedir gets a content.sqlite', async () => {
    const statedir = join(tempDir(), 'state');
    await runRestore(SMALL_TAR, statedir, { quiet: true });
    expect(readSqliteStore(join(statedir, 'content.sqlite')).objects).toHaveLength(4);
  });

  it('a content.files directory: one file per blob, named by blobref, and kvs-primary', async () => {
    const dir = join(tempDir(), 'content.files');
    const r = await runRestore(SMALL_TAR, dir, { quiet: true });
    const names = readdirSync(dir).sort();
    expect(names).toHaveLength(5);
    expect(names).toContain('kvs-primary');
    for (const n of names.filter((x) => x !== 'kvs-primary')) {
      expect(`sha1-${createHash('sha1').update(readFileSync(join(dir, n))).digest('hex')}`).toBe(n);
    }
    expect(readFileSync(join(dir, 'kvs-primary'), 'utf8')).toBe(`{"version":1,"rootref":"${r.rootref}","sequence":0,"timestamp":1795690510.0}`);
    expect(r.rootref).toBe(SMALL_ROOT);
  });

  it('a statedir holding content.files is restored into it, keeping its hash', async () => {
    const statedir = tempDir();
    mkdirSync(join(statedir, 'content.files'));
    await runRestore(SMALL_TAR, join(statedir, 'content.files'), { hash: 'sha256', quiet: true });
    const r = await runRestore(SMALL_TAR, statedir, { quiet: true });
    expect(r.hash).toBe('sha256');
    expect(r.store).toBe(join(statedir, 'content.files'));
    expect(existsSync(join(statedir, 'content.sqlite'))).toBe(false);
  });
});

describe('checkpoints', () => {
  it('a failed restore leaves the previous checkpoint the newest', async () => {
    const store = join(tempDir(), 'content.sqlite');
    await runRestore(SMALL_TAR, store, { quiet: true });
    const before = readSqliteStore(store).checkpoints;
    const bad = tarFile([{ path: 'a/x', data: 'v'.repeat(100) }, { path: 'a/x/y', data: 'w'.repeat(100) }]);
    expect(await restoreError(bad, store)).toBe('x in a/x/y is not a directory');
    expect(readSqliteStore(store).checkpoints).toEqual(before);
  });

  it('keeps the newest five', async () => {
    const store = join(tempDir(), 'content.sqlite');
    const roots: string[] = [];
    for (let i = 0; i < 7; i++) {
      const r = await runRestore(tarFile([{ path: 'n', data: String(i), mtime: 1000 + i }]), store, { quiet: true });
      roots.push(r.rootref);
    }
    const cks = readSqliteStore(store).checkpoints.map((c) => JSON.parse(c) as { rootref: string; timestamp: number });
    expect(cks.map((c) => c.rootref)).toEqual(roots.slice(2));
    expect(cks.map((c) => c.timestamp)).toEqual([1002, 1003, 1004, 1005, 1006]);
  });

  it('refuses a store held by a running instance (exclusive lock), changing nothing', async () => {
    const store = join(tempDir(), 'content.sqlite');
    await runRestore(SMALL_TAR, store, { quiet: true });
    // what a broker does: WAL, locking_mode=EXCLUSIVE, and the lock taken by a write
    const broker = new Database(store);
    try {
      broker.pragma('locking_mode=EXCLUSIVE');
      broker.pragma('journal_mode=WAL');
      broker.exec("INSERT INTO checkpt_v2 (value) VALUES ('held')");
      const msg = await restoreError(SMALL_TAR, store);
      expect(msg).toContain('is in use by a running Flux instance');
      expect(msg).toContain('--key');
    } finally {
      broker.close();
    }
    expect(readSqliteStore(store).checkpoints).toHaveLength(2);
  });
});

describe('input errors are one line naming the input', () => {
  it('missing file', async () => {
    expect(await restoreError('/nonexistent/x.tar', join(tempDir(), 'c.sqlite'))).toBe('/nonexistent/x.tar: No such file or directory');
  });

  it('unrecognized format', async () => {
    const path = join(tempDir(), 'junk');
    writeFileSync(path, 'this is not an archive at all, just some text\n'.repeat(20));
    expect(await restoreError(path, join(tempDir(), 'c.sqlite'))).toBe(`${path}: unrecognized archive format`);
  });

  it('truncated tar', async () => {
    const path = join(tempDir(), 'cut.tar');
    writeFileSync(path, makeTar([{ path: 'a', data: 'x'.repeat(5000) }]).subarray(0, 2048));
    expect(await restoreError(path, join(tempDir(), 'c.sqlite'))).toBe(`${path}: truncated tar archive in a`);
  });

  it('damaged tar header', async () => {
    const bytes = makeTar([{ path: 'a', data: '1' }, { path: 'b', data: '2' }]);
    bytes[1024 + 10] ^= 0xff; // second member's name
    const path = join(tempDir(), 'bad.tar');
    writeFileSync(path, bytes);
    expect(await restoreError(path, join(tempDir(), 'c.sqlite'))).toBe(`${path}: damaged tar header at offset 1024 (checksum mismatch)`);
  });
});
