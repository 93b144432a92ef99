/**
 * flux-restore interrupted (issue #9, part 1 as it applies to restore): SIGINT, SIGTERM
 * and kill -9 in the middle of a restore, into an existing content.sqlite, an existing
 * content.files directory, and a store that does not exist yet.
 *
 * Promised: a signal ends the run with 128+signal and one line; an existing store's
 * newest checkpoint is always one whose every blob is present (the previous one, or the
 * complete new one: proven by dumping it, which loads and verifies every blob); a new
 * store appears whole or not at all (after kill -9 only its private temporary remains);
 * and the next restore into the store works.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorLines, generatedStore, HANG_GUARD_MS, progressCount, Running } from './helpers/faults.js';
import { DUMP_CLI, RESTORE_CLI, SMALL, tempDir } from './helpers/paths.js';

const t = tempDir('fluxdump-reliability-restore-');
afterAll(() => t.cleanup());
/** small.sqlite's newest checkpoint holds 10 keys; the archive restored over it (300 jobs), 2104. */
const OLD_KEYS = 10;
const NEW_KEYS = 2104;
let archive = '';
let n = 0;

beforeAll(() => {
  const store = generatedStore(t.dir, 300);
  archive = join(t.dir, 'jobs.tar');
  const r = spawnSync(process.execPath, [DUMP_CLI, '-q', '--store', store, '--checkpoint', archive], { encoding: 'utf8', env: { ...process.env, FLUX_URI: '' } });
  expect(r.stderr).toBe('');
});

/** A statedir holding a copy of small.sqlite (a store with a checkpoint of 10 keys). */
function existingSqlite(): string {
  const dir = join(t.dir, `${n++}-sqlite`);
  mkdirSync(dir);
  copyFileSync(join(SMALL, 'small.sqlite'), join(dir, 'content.sqlite'));
  chmodSync(join(dir, 'content.sqlite'), 0o644);
  return dir;
}

/** A statedir with a content.files directory restored from small.tar (10 keys). */
function existingFiles(): string {
  const dir = join(t.dir, `${n++}-files`);
  const r = spawnSync(process.execPath, [RESTORE_CLI, '-q', '--checkpoint', `--store=${join(dir, 'content.files')}`, join(SMALL, 'small.tar')], { encoding: 'utf8' });
  expect(r.stderr).toBe('');
  expect(readdirSync(dir)).toEqual(['content.files']);
  return dir;
}

/** Keys in the store's newest checkpoint, by dumping it (every blob loaded and verified); -1 if the dump fails. */
function newestCheckpointKeys(statedir: string): number {
  const r = spawnSync(process.execPath, [DUMP_CLI, '--store', statedir, '--checkpoint', join(t.dir, `${n++}-check.tar`)], {
    encoding: 'utf8',
    env: { ...process.env, FLUX_URI: '' },
    timeout: HANG_GUARD_MS,
  });
  return r.status === 0 ? progressCount(r.stderr) : -1;
}

/** Start a restore into `statedir`, wait for `when` on its stderr, send `sig`. */
async function interruptedRestore(statedir: string, sig: NodeJS.Signals, when: 'mid-archive' | 'writing the checkpoint') {
  const run = new Running(RESTORE_CLI, ['--checkpoint', `--store=${statedir}`, archive]);
  if (when === 'mid-archive') await run.progressAtLeast(500);
  else await run.until(() => run.stderr.includes('to checkpoint for next KVS start'), 'the checkpoint was about to be written');
  run.child.kill(sig);
  return { r: await run.exited, pid: run.child.pid! };
}

const SIGNALS: Record<string, number> = { SIGINT: 2, SIGTERM: 15 };

describe('into an existing content.sqlite', () => {
  it.each(['SIGINT', 'SIGTERM'] as const)('%s mid-archive: exit 128+signal, one line, the previous checkpoint stays the newest', async (sig) => {
    const dir = existingSqlite();
    const { r } = await interruptedRestore(dir, sig, 'mid-archive');
    expect(r.signal).toBeNull();
    expect(r.status).toBe(128 + SIGNALS[sig]!);
    expect(errorLines(r.stderr)).toEqual([`flux-restore: interrupted by ${sig}`]);
    // SQLite's own journal may stay (it is the database's, recovered by the next opener)
    expect(readdirSync(dir).filter((f) => !/^content\.sqlite(-wal|-shm)?$/.test(f))).toEqual([]);
    expect(newestCheckpointKeys(dir)).toBe(OLD_KEYS);
  });

  it('kill -9 mid-archive: the previous checkpoint stays the newest', async () => {
    const dir = existingSqlite();
    const { r } = await interruptedRestore(dir, 'SIGKILL', 'mid-archive');
    expect(r.signal).toBe('SIGKILL');
    expect(newestCheckpointKeys(dir)).toBe(OLD_KEYS);
  });

  it('kill -9 while the checkpoint is being written: old or new, never one with missing blobs; the next restore works', async () => {
    const dir = existingSqlite();
    const { r } = await interruptedRestore(dir, 'SIGKILL', 'writing the checkpoint');
    expect(r.signal).toBe('SIGKILL');
    expect([OLD_KEYS, NEW_KEYS]).toContain(newestCheckpointKeys(dir));
    const again = spawnSync(process.execPath, [RESTORE_CLI, '-q', '--checkpoint', `--store=${dir}`, archive], { encoding: 'utf8', timeout: HANG_GUARD_MS });
    expect(again.stderr).toBe('');
    expect(again.status).toBe(0);
    expect(newestCheckpointKeys(dir)).toBe(NEW_KEYS);
  });
});

describe('into an existing content.files directory', () => {
  it('SIGTERM mid-archive: exit 143, one line, the previous checkpoint stays the newest', async () => {
    const dir = existingFiles();
    const { r } = await interruptedRestore(dir, 'SIGTERM', 'mid-archive');
    expect(r.status).toBe(143);
    expect(errorLines(r.stderr)).toEqual(['flux-restore: interrupted by SIGTERM']);
    expect(readdirSync(join(dir, 'content.files')).filter((f) => f.startsWith('.'))).toEqual([]); // no half-written blob file
    expect(newestCheckpointKeys(dir)).toBe(OLD_KEYS);
  });

  it('kill -9 while the checkpoint is being written: old or new, never one with missing blobs', async () => {
    const dir = existingFiles();
    const { r } = await interruptedRestore(dir, 'SIGKILL', 'writing the checkpoint');
    expect(r.signal).toBe('SIGKILL');
    expect([OLD_KEYS, NEW_KEYS]).toContain(newestCheckpointKeys(dir));
  });
});

describe('into a new content.sqlite', () => {
  it('SIGINT mid-archive: nothing is left', async () => {
    const dir = join(t.dir, `${n++}-new`);
    mkdirSync(dir);
    const { r } = await interruptedRestore(join(dir, 'content.sqlite'), 'SIGINT', 'mid-archive');
    expect(r.status).toBe(130);
    expect(errorLines(r.stderr)).toEqual(['flux-restore: interrupted by SIGINT']);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('kill -9 mid-archive: only the private temporary remains, never content.sqlite', async () => {
    const dir = join(t.dir, `${n++}-new`);
    mkdirSync(dir);
    const { r, pid } = await interruptedRestore(join(dir, 'content.sqlite'), 'SIGKILL', 'mid-archive');
    expect(r.signal).toBe('SIGKILL');
    expect(readdirSync(dir).filter((f) => !f.startsWith(`.content.sqlite.restore-${pid}`))).toEqual([]);
  });
});
