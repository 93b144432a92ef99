/**
 * One table-driven suite over every row of the extension registry: flux-dump of the
 * shared small store to each format, checked with the system's own tools, extracted by
 * bsdtar to exactly the entries of the .tar, and restored to the same root.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EXTENSIONS } from '../src/registry.js';
import { dumpCli, RESTORE_CLI, run, SMALL, tempDir } from './helpers/paths.js';

const SMALL_DB = join(SMALL, 'small.sqlite');
const t = tempDir();
afterAll(() => t.cleanup());

/** Every file and symlink under dir: path -> bytes or '-> target'. */
function tree(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      const st = lstatSync(p);
      if (st.isDirectory()) walk(p);
      else if (st.isSymbolicLink()) out.set(relative(dir, p), `-> ${readlinkSync(p)}`);
      else out.set(relative(dir, p), readFileSync(p).toString('base64'));
    }
  };
  walk(dir);
  return out;
}

function extract(archive: string, name: string): Map<string, string> {
  const dir = join(t.dir, `x-${name}`);
  mkdirSync(dir);
  const r = spawnSync('bsdtar', ['-xf', archive, '-C', dir], { encoding: 'utf8' });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return tree(dir);
}

function restoreRoot(archive: string, name: string): string {
  const r = run(RESTORE_CLI, ['-q', '--checkpoint', '--store', join(t.dir, `store-${name}`), archive]);
  expect(r.stderr).toMatch(/^(flux-restore: writing snapshot sha1-[0-9a-f]+ to checkpoint for next KVS start\n)?$/);
  expect(r.status).toBe(0);
  const ck = spawnSync('sqlite3', [join(t.dir, `store-${name}`, 'content.sqlite'), 'SELECT value FROM checkpt_v2 ORDER BY id DESC LIMIT 1'], { encoding: 'utf8' });
  return (JSON.parse(ck.stdout) as { rootref: string }).rootref;
}

const CHECKS: Record<string, string[][]> = {
  gzip: [['gzip', '-t']],
  bzip2: [['bzip2', '-t']],
  xz: [['xz', '-t']],
};
const DECOMPRESS: Record<string, string> = { gzip: 'gzip', bzip2: 'bzip2', xz: 'xz' };

describe('every registry row', () => {
  const reference = join(t.dir, 'small.tar');
  let refTree: Map<string, string>;
  let refRoot: string;
  beforeAll(() => {
    expect(dumpCli(['-q', '--store', SMALL_DB, '--checkpoint', reference]).status).toBe(0);
    refTree = extract(reference, 'ref');
    refRoot = restoreRoot(reference, 'ref');
  });

  it('the reference tar holds the ten keys and restores to flux-core root', () => {
    expect([...refTree.keys()].sort()).toEqual(['a/b/c', 'a/b/d', 'a/e', 'empty', 'v60', 'w', 'x', 'y', 'z', 'ƒuzzybunny']);
    expect(refTree.get('z')).toBe('-> smurf::otherthing');
    expect(refRoot).toBe('sha1-7ac6c1decd1ada8735dc9794d25346df66aadcf8');
  });

  it.each(EXTENSIONS.map((k) => [k.suffix, k.format, k.filter] as const))('%s (%s, %s)', (suffix, format, filter) => {
    const file = join(t.dir, `small${suffix}`);
    const r = dumpCli(['-q', '--store', SMALL_DB, '--checkpoint', file]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    for (const [cmd, ...args] of CHECKS[filter] ?? []) {
      expect(spawnSync(cmd!, [...args, file]).status).toBe(0);
    }
    if (filter !== 'none') {
      const plain = spawnSync(DECOMPRESS[filter]!, ['-dc', file], { maxBuffer: 1 << 26 });
      expect(plain.status).toBe(0);
      expect(plain.stdout.equals(readFileSync(reference))).toBe(true);
    }
    if (format === 'zip') expect(spawnSync('unzip', ['-t', file]).status).toBe(0);
    if (format === 'cpio') {
      const list = spawnSync('cpio', ['-it'], { input: readFileSync(file), encoding: 'utf8' });
      expect(list.status).toBe(0);
      expect(list.stdout.trim().split('\n').sort()).toEqual([...refTree.keys()].sort());
    }
    if (format === 'iso9660') {
      const l = spawnSync('isoinfo', ['-R', '-f', '-i', file], { encoding: 'utf8' });
      expect(l.status).toBe(0);
      for (const k of refTree.keys()) expect(l.stdout).toContain(`/${k}\n`);
    }
    expect(extract(file, suffix.slice(1))).toEqual(refTree);
    expect(restoreRoot(file, suffix.slice(1))).toBe(refRoot);
  });

  it('stdout (-) is the uncompressed tar, padded to a 10240-byte record', () => {
    const r = dumpCli(['-q', '--store', SMALL_DB, '--checkpoint', '-']);
    expect(r.status).toBe(0);
    const ref = readFileSync(reference);
    expect(r.stdout.length % 10240).toBe(0);
    expect(r.stdout.subarray(0, ref.length).equals(ref)).toBe(true);
    expect(r.stdout.subarray(ref.length).every((b) => b === 0)).toBe(true);
  });

  it('an unknown extension creates nothing', () => {
    const file = join(t.dir, 'small.tar.zst');
    const r = dumpCli(['-q', '--store', SMALL_DB, '--checkpoint', file]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('small.tar.zst');
    expect(existsSync(file)).toBe(false);
  });
});
