/**
 * The offline store writers on their own: content.sqlite (a new one built aside and
 * linked into place, an existing one written through its WAL) and content.files; and
 * what a restore leaves behind when it fails or is killed.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { FilesWriter } from '../src/store-write/files-writer.js';
import { newDatabaseTemp, SqliteWriter } from '../src/store-write/sqlite-writer.js';
import { cleanupTempDirs, makeTar, readSqliteStore, restoreError, tempDir } from './restore-helpers.js';

afterEach(cleanupTempDirs);

const enc = new TextEncoder();
const sha1 = (b: Uint8Array) => createHash('sha1').update(b).digest();
const BLOBS = [enc.encode(''), enc.encode('small'), enc.encode('x'.repeat(300)), enc.encode('{"a":1}'.repeat(100))];
const ck = (rootref: string, timestamp: number) => ({ version: 1, rootref, sequence: 0, timestamp });

describe('SqliteWriter', () => {
  it('builds a new database aside and links it into place on flush', async () => {
    const path = join(tempDir(), 'content.sqlite');
    const w = SqliteWriter.open(path, { hash: 'sha1' });
    const refs = await w.storeMany(BLOBS);
    expect(existsSync(path)).toBe(false);
    expect(existsSync(newDatabaseTemp(path))).toBe(true);
    await w.flush();
    expect(existsSync(path)).toBe(true);
    expect(existsSync(newDatabaseTemp(path))).toBe(false);
    await w.putCheckpoint(ck(refs[3]!, 1.5));
    for (let i = 0; i < BLOBS.length; i++) expect(await w.load(refs[i]!)).toEqual(BLOBS[i]);
    await w.close();
    const dump = readSqliteStore(path);
    // empty blob NULL with -1; small raw with -1; >= 256 bytes LZ4 with the real size
    expect(dump.objects.map((o) => o.size).sort((a, b) => a - b)).toEqual([-1, -1, 300, 700]);
    expect(dump.checkpoints).toEqual([`{"version":1,"rootref":"${refs[3]}","sequence":0,"timestamp":1.5}`]);
    expect(readFileSync(path).subarray(18, 20)).toEqual(Buffer.from([2, 2])); // WAL, as Flux keeps it
  });

  it('a new database closed without flush leaves no file at all', async () => {
    const dir = tempDir();
    const w = SqliteWriter.open(join(dir, 'content.sqlite'));
    await w.storeMany(BLOBS);
    await w.close();
    expect(readdirSync(dir)).toEqual([]);
  });

  it('does not replace a content.sqlite that appeared meanwhile', async () => {
    const path = join(tempDir(), 'content.sqlite');
    const w = SqliteWriter.open(path);
    await w.storeMany(BLOBS);
    writeFileSync(path, 'someone else');
    await expect(w.flush()).rejects.toThrow(`${path} appeared while restoring`);
    await w.close();
    expect(readFileSync(path, 'utf8')).toBe('someone else');
    expect(existsSync(newDatabaseTemp(path))).toBe(false);
  });

  it('writes into an existing database, keeping its hash and rolling back what was not flushed', async () => {
    const path = join(tempDir(), 'content.sqlite');
    const first = SqliteWriter.open(path, { hash: 'sha256' });
    await first.storeMany([BLOBS[2]!]);
    await first.flush();
    await first.close();

    const w = SqliteWriter.open(path, { hash: 'sha1' });
    expect([w.hashType, w.createdHash]).toEqual(['sha256', false]);
    await w.storeMany([BLOBS[3]!]);
    await w.close(); // no flush
    expect(readSqliteStore(path).objects).toHaveLength(1);
  });

  it('checkpoints come back newest first, five kept', async () => {
    const path = join(tempDir(), 'content.sqlite');
    const w = SqliteWriter.open(path);
    const [ref] = await w.storeMany([BLOBS[1]!]);
    await w.flush();
    for (let t = 1; t <= 7; t++) await w.putCheckpoint(ck(ref!, t));
    expect((await w.checkpoints()).map((c) => c.timestamp)).toEqual([7, 6, 5, 4, 3]);
    await w.close();
  });

  it('refuses a file that is not a database, in one line', () => {
    const path = join(tempDir(), 'content.sqlite');
    writeFileSync(path, 'x'.repeat(5000));
    expect(() => SqliteWriter.open(path)).toThrow(new RegExp(`^${path}: not a usable content.sqlite`));
  });
});

describe('FilesWriter', () => {
  it('removes blob temporaries of killed restores, never a live one\'s', () => {
    const dir = tempDir();
    // A pid that cannot exist (above pid_max) stands for a restore killed with -9.
    writeFileSync(join(dir, '.sha1-0123.tmp-99999999-0'), 'half');
    writeFileSync(join(dir, `.sha1-4567.tmp-${process.pid}-3`), 'mine');
    writeFileSync(join(dir, 'sha1-89ab'), 'a blob');
    FilesWriter.open(dir);
    expect(readdirSync(dir).sort()).toEqual([`.sha1-4567.tmp-${process.pid}-3`, 'sha1-89ab']);
  });

  it('one file per blob named by its blobref, raw; kvs-primary replaced atomically', async () => {
    const dir = join(tempDir(), 'content.files');
    const w = FilesWriter.open(dir, { hash: 'sha1' });
    const refs = await w.storeMany(BLOBS);
    await w.flush();
    await w.putCheckpoint(ck(refs[0]!, 2));
    await w.putCheckpoint(ck(refs[1]!, 3));
    for (let i = 0; i < BLOBS.length; i++) {
      expect(refs[i]).toBe(`sha1-${sha1(BLOBS[i]!).toString('hex')}`);
      expect(new Uint8Array(readFileSync(join(dir, refs[i]!)))).toEqual(BLOBS[i]);
    }
    expect((await w.checkpoints()).map((c) => c.rootref)).toEqual([refs[1]]);
    expect(readdirSync(dir).filter((n) => n.startsWith('.'))).toEqual([]); // no temporaries left
  });

  it('an existing directory keeps the hash its file names use', async () => {
    const dir = join(tempDir(), 'content.files');
    await FilesWriter.open(dir, { hash: 'sha256' }).storeMany([BLOBS[1]!]);
    const again = FilesWriter.open(dir, { hash: 'sha1' });
    expect([again.hashType, again.createdHash]).toEqual(['sha256', false]);
  });
});

describe('what a failed or killed restore leaves', () => {
  it('a failed restore into a new store leaves the directory empty', async () => {
    const dir = tempDir();
    const tar = join(tempDir(), 'bad.tar');
    writeFileSync(tar, makeTar([{ path: 'a', data: 'x'.repeat(500) }, { path: 'a/b', data: '1' }]));
    expect(await restoreError(tar, join(dir, 'content.sqlite'))).toBe('a in a/b is not a directory');
    expect(readdirSync(dir)).toEqual([]);
  });

  it('SIGTERM removes the store being built', async () => {
    const dir = tempDir();
    const store = join(dir, 'content.sqlite');
    const cli = fileURLToPath(new URL('../dist/cli/flux-restore.js', import.meta.url));
    const child = spawn(process.execPath, [cli, '-q', '--checkpoint', `--store=${store}`, '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
    const entries = Array.from({ length: 200 }, (_, i) => ({ path: `k/${i}`, data: 'v'.repeat(100 + i) }));
    const tar = makeTar(entries);
    child.stdin.write(tar.subarray(0, tar.length - 1024)); // no end of archive: it waits for more
    const building = newDatabaseTemp(store).replace(`${process.pid}`, String(child.pid));
    for (let i = 0; i < 200 && !existsSync(building); i++) await new Promise((r) => setTimeout(r, 50));
    expect(existsSync(building)).toBe(true);
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(143);
    expect(readdirSync(dir)).toEqual([]);
  }, 30_000);
});
