/**
 * Zip member deflate on the worker pool (src/pack/zip/batch.ts, run by batch-task.ts's
 * `deflateBatch` on the compression pool the pipeline hands the writer): the pool path gives exactly the inline path's bytes, whatever the
 * batching, the thread a batch lands on, or the members deflated before; and a whole
 * flux-dump to .zip big enough to use the pool is read by unzip, bsdtar and our restore.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { deflateRawSync } from 'node:zlib';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { genStore, type GenOptions } from '../src/gen/gen-store.js';
import { closePool, defaultThreads, poolThreads, runTask } from '../src/compress/pool.js';
import { inlineDeflateKind, inlineDeflateRaw } from '../src/pack/zip/deflate.js';
import { FIELDS, layOutMembers, readLaidOutBatch, resultBound } from '../src/pack/zip/batch.js';
import { batchTaskPath, createZipWriter, type ZipOptions } from '../src/pack/zip/writer.js';
import { dump, poolTasks } from '../src/pipeline.js';
import { openStore } from '../src/store/open.js';
import type { ArchiveEntry } from '../src/walk/entry.js';
import { generatedEntries, kvsValue, pseudoRandom } from './helpers/pack-fixtures.js';
import { dumpCli, RESTORE_CLI, run, tempDir } from './helpers/paths.js';

const t = tempDir('zip-pool-');
afterAll(async () => {
  await closePool();
  t.cleanup();
});

const file = (path: string, data: Uint8Array): ArchiveEntry => ({ path, type: 'file', data, linkTarget: '', mode: 0o644, mtime: 1795690510, uid: 1000, gid: 1000 });

/** generatedEntries() plus members above 1 MiB (compressible and not) and KVS-sized ones. */
function poolEntries(): ArchiveEntry[] {
  const entries = generatedEntries();
  entries.push(file('big/over-a-mebibyte', kvsValue((1 << 20) + 12345, 3)));
  entries.push(file('big/random-1.5m', pseudoRandom(3 << 19, 11)));
  entries.push(file('big/48k', kvsValue(48 << 10, 5))); // above the reused stream's limit
  for (let i = 0; i < 400; i++) entries.push(file(`jobs/${i}/eventlog`, kvsValue(40 + ((i * 97) % 1900), i)));
  return entries;
}

/** Write `entries` in batches of `batchSize` WITHOUT awaiting each write (as the pipeline does). */
async function zipBytes(entries: readonly ArchiveEntry[], opts: ZipOptions, batchSize: number): Promise<Buffer> {
  const w = createZipWriter({ stdout: false, ...opts });
  const pending: ReturnType<typeof w.write>[] = [];
  for (let i = 0; i < entries.length; i += batchSize) pending.push(w.write(entries.slice(i, i + batchSize)));
  pending.push(w.end());
  return Buffer.concat((await Promise.all(pending)).flat());
}

/** A batch packed by hand, as the writer packs it for a task: names, bodies, field rows. */
function packByHand(entries: readonly ArchiveEntry[]): { names: Uint8Array; bodies: Uint8Array; fields: Uint32Array } {
  const enc = new TextEncoder();
  const names = entries.map((e) => enc.encode(e.path));
  const bodies = entries.map((e) => (e.type === 'symlink' ? enc.encode(e.linkTarget) : e.data));
  const fields = new Uint32Array(entries.length * FIELDS);
  entries.forEach((e, i) => {
    const utf8 = names[i]!.length !== e.path.length ? 1 : 0;
    const deflate = e.type === 'file' && e.data.length > 0 ? 2 : 0;
    fields.set([bodies[i]!.length, names[i]!.length, utf8 | deflate, e.mtime, e.uid, e.gid, (e.type === 'symlink' ? 0o120000 : 0o100000) | e.mode], i * FIELDS);
  });
  return { names: new Uint8Array(Buffer.concat(names)), bodies: new Uint8Array(Buffer.concat(bodies)), fields };
}

const ALWAYS_POOL = { pool: { tasks: poolTasks(2), minTaskBytes: 0, startAfter: 0 } } satisfies ZipOptions;
/** One batch task on the pool, as the writer runs it (an ArrayBuffer of bodies is moved). */
const deflateBatchOnPool = (task: { bodies: ArrayBuffer | SharedArrayBuffer }, threads: number) =>
  runTask(batchTaskPath(), 'deflateBatch', task, threads, task.bodies instanceof ArrayBuffer ? [task.bodies] : []);

describe('zip members deflated on the pool', () => {
  it('the inline codec gives deflateRawSync\'s bytes whatever it deflated before', () => {
    expect(inlineDeflateKind()).toBe('zlib-reused');
    const inline = inlineDeflateRaw();
    // Longer members first, so each later one has stale bytes past its end in an unwashed window.
    const members = [
      ...Array.from({ length: 300 }, (_, i) => kvsValue(2000 - i * 6, i)),
      ...Array.from({ length: 50 }, (_, i) => pseudoRandom(700 - i * 13, i + 1)),
      new TextEncoder().encode('a'.repeat(22)),
      new TextEncoder().encode('ababab'),
    ];
    for (const order of [members, [...members].reverse()]) {
      for (const m of order) expect(Buffer.compare(inline(m), deflateRawSync(m, { level: 6 }))).toBe(0);
    }
  });

  it('lays out a batch in-process exactly as the inline writer does', async () => {
    const entries = poolEntries().slice(0, 60);
    const inline = await zipBytes(entries, {}, entries.length);
    const { names, bodies, fields } = packByHand(entries);
    const out = layOutMembers(names, bodies, fields, 6);
    const { records } = readLaidOutBatch(out.buffer as ArrayBuffer, entries.length);
    // The inline archive starts with exactly these local records.
    expect(Buffer.compare(Buffer.from(records), inline.subarray(0, records.length))).toBe(0);
    expect(inline.readUInt32LE(records.length)).toBe(0x02014b50); // then the central directory
    expect(() => layOutMembers(new Uint8Array(3), new Uint8Array(3), fields, 6)).toThrow(/member 0 runs past the packed input/);
  });

  it('a task returns the same result by message as into a shared output', async () => {
    const { names, bodies, fields } = packByHand(poolEntries().slice(0, 80));
    const want = layOutMembers(names, bodies, fields, 6);
    const n = fields.length / FIELDS;
    const task = () => ({ bodies: bodies.slice().buffer, bodiesLength: bodies.length, names, fields, level: 6 });
    const byMessage = await deflateBatchOnPool(task(), 2);
    expect(byMessage).toBeInstanceOf(ArrayBuffer);
    expect(Buffer.compare(new Uint8Array(byMessage as ArrayBuffer), want)).toBe(0);
    const output = new SharedArrayBuffer(resultBound(n, names.length, bodies.length));
    const length = await deflateBatchOnPool({ ...task(), output }, 2);
    expect(length).toBe(want.length);
    expect(Buffer.compare(new Uint8Array(output, 0, want.length), want)).toBe(0);
  });

  for (const batchSize of [1, 7, 64, 1000]) {
    it(`pool path == inline path, batches of ${batchSize}, writes overlapping`, async () => {
      const entries = poolEntries();
      await closePool();
      const inline = await zipBytes(entries, {}, batchSize);
      expect(poolThreads()).toBe(0); // the inline path never starts it
      const pooled = await zipBytes(entries, ALWAYS_POOL, batchSize);
      expect(poolThreads()).toBeGreaterThan(0);
      expect(pooled.length).toBe(inline.length);
      expect(Buffer.compare(pooled, inline)).toBe(0);
    });
  }

  it('mixes inline and pooled batches by size and still gives the inline bytes', async () => {
    const entries = poolEntries();
    const inline = await zipBytes(entries, {}, 16);
    // The first ~64 KiB inline, then the pool; small batches with nothing in flight inline.
    const mixed = await zipBytes(entries, { pool: { tasks: poolTasks(2), minTaskBytes: 4096, startAfter: 64 << 10 } }, 16);
    expect(Buffer.compare(mixed, inline)).toBe(0);
    const file = join(t.dir, 'mixed.zip');
    writeFileSync(file, mixed);
    expect(spawnSync('unzip', ['-tq', file], { encoding: 'utf8' }).stdout).toMatch(/^No errors detected/);
  });
});

describe('flux-dump to .zip through the pool', () => {
  const store = join(t.dir, 'store', 'content.sqlite');
  beforeAll(() => {
    // 14,004 keys, ~7 MB of values: past the writer's inline start (4 MiB).
    genStore({ out: store, jobs: 2000, seed: 3, hash: 'sha1', shape: { appends: 1, sizeFactor: 1 }, timestamp: 1795690510.5 } as GenOptions);
  });

  it('uses the pool in the pipeline and gives the bytes of the inline path', async () => {
    const opened = await openStore(store);
    await closePool();
    try {
      const ids = { uid: process.getuid!(), gid: process.getgid!() }; // what the CLI stamps
      const stream = dump({ store: opened, checkpoint: true, maxreqs: 2, ignoreFailedRead: false, format: 'zip', filter: 'none', stdout: false, now: 0, ...ids });
      const chunks: Uint8Array[] = [];
      for await (const c of stream) chunks.push(c);
      expect(poolThreads()).toBeGreaterThan(0);
      const cli = join(t.dir, 'cli-inline.zip');
      // The CLI with the pool off (its mtimes come from the checkpoint): the same bytes.
      expect(dumpCli(['-q', '--store', store, '--checkpoint', cli], { env: { FLUXDUMP_ZIP_POOL: '0' } }).status).toBe(0);
      expect(Buffer.concat(chunks).equals(readFileSync(cli))).toBe(true);
    } finally {
      await opened.close();
    }
  });

  it('the pipeline\'s threads option sizes the pool zip deflates on, with the same bytes', async () => {
    const opened = await openStore(store);
    await closePool();
    try {
      const ids = { uid: process.getuid!(), gid: process.getgid!() };
      const base = { store: opened, checkpoint: true, maxreqs: 2, ignoreFailedRead: false, format: 'zip', filter: 'none', stdout: false, now: 0, ...ids } as const;
      const collect = async (threads?: number): Promise<Buffer> => {
        const chunks: Uint8Array[] = [];
        for await (const c of dump(threads === undefined ? base : { ...base, threads })) chunks.push(c);
        return Buffer.concat(chunks);
      };
      const wide = defaultThreads() + 1; // more than the default, so it shows
      const withThreads = await collect(wide);
      expect(poolThreads()).toBe(wide);
      await closePool();
      const withDefault = await collect();
      expect(poolThreads()).toBe(defaultThreads());
      expect(withThreads.equals(withDefault)).toBe(true);
    } finally {
      await opened.close();
      await closePool();
    }
  });

  it('CLI: pool and inline archives are identical; unzip, bsdtar and flux-restore read them', () => {
    const pooled = join(t.dir, 'pooled.zip');
    const inline = join(t.dir, 'inline.zip');
    const tar = join(t.dir, 'ref.tar');
    expect(dumpCli(['-q', '--store', store, '--checkpoint', pooled]).status).toBe(0);
    expect(dumpCli(['-q', '--store', store, '--checkpoint', inline], { env: { FLUXDUMP_ZIP_POOL: '0' } }).status).toBe(0);
    expect(dumpCli(['-q', '--store', store, '--checkpoint', tar]).status).toBe(0);
    expect(readFileSync(pooled).equals(readFileSync(inline))).toBe(true);

    expect(spawnSync('unzip', ['-tq', pooled], { encoding: 'utf8' }).stdout).toMatch(/^No errors detected/);
    const bsd = spawnSync('bsdtar', ['-tvf', pooled], { encoding: 'utf8', maxBuffer: 1 << 26 });
    expect(bsd.status).toBe(0);
    expect(bsd.stderr).toBe('');
    const tarList = spawnSync('bsdtar', ['-tf', tar], { encoding: 'utf8', maxBuffer: 1 << 26 }).stdout.trim().split('\n');
    expect(bsd.stdout.trim().split('\n').length).toBe(tarList.length);
    expect(tarList.length).toBe(14004);

    const rootOf = (archive: string, name: string): string => {
      const dir = join(t.dir, `restore-${name}`);
      const r = run(RESTORE_CLI, ['-q', '--checkpoint', '--store', dir, archive]);
      expect(r.status).toBe(0);
      const ck = spawnSync('sqlite3', [join(dir, 'content.sqlite'), 'SELECT value FROM checkpt_v2 ORDER BY id DESC LIMIT 1'], { encoding: 'utf8' });
      return (JSON.parse(ck.stdout) as { rootref: string }).rootref;
    };
    const want = rootOf(tar, 'tar');
    expect(want).toMatch(/^sha1-[0-9a-f]{40}$/);
    expect(rootOf(pooled, 'zip')).toBe(want);
  });
});
