/**
 * Values past 2 GiB and 4 GiB. A valref may list many blobs, so one value can outgrow
 * 32-bit arithmetic: sizes and padding must stay right past 2 GiB (checked by the
 * system's tar and cpio reading every byte back), and a value no format or array can
 * hold is refused by its key, never written as a corrupt archive. The store is a
 * content.files directory whose valref repeats one 1 MiB blob, so a 2 GiB value costs
 * 1 MiB of disk, but ~4 GiB of memory and minutes of a 2-core machine: run by hand with
 * `npm run test:large` (the padding arithmetic is tested in the suite, test/large-values.test.ts).
 */
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { dumpCli, tempDir } from '../helpers/paths.js';

const t = tempDir('fluxdump-large-');
afterAll(t.cleanup);

const BLOB = randomBytes((1 << 20) + 1);
const BLOBREF = `sha1-${createHash('sha1').update(BLOB).digest('hex')}`;
const AFTER = 'the entry after the big one\n';

/** A content.files store whose key `big` is `copies` x BLOB, followed by key `z`. */
function storeWith(copies: number): string {
  const dir = join(t.dir, `store-${copies}`, 'content.files');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, BLOBREF), BLOB);
  const root = JSON.stringify({
    data: {
      big: { data: Array(copies).fill(BLOBREF), type: 'valref', ver: 1 },
      z: { data: Buffer.from(AFTER).toString('base64'), type: 'val', ver: 1 },
    },
    type: 'dir',
    ver: 1,
  });
  const rootref = `sha1-${createHash('sha1').update(root).digest('hex')}`;
  writeFileSync(join(dir, rootref), root);
  writeFileSync(join(dir, 'kvs-primary'), JSON.stringify({ version: 1, rootref, sequence: 1, timestamp: 1700000000.5 }));
  return dir;
}

/** sha1 of BLOB repeated `copies` times. */
function expectedSha1(copies: number): string {
  const h = createHash('sha1');
  for (let i = 0; i < copies; i++) h.update(BLOB);
  return h.digest('hex');
}

/** sha1 and length of what `cmd` writes to stdout, streamed (the value is 2 GiB). */
function sha1Of(cmd: string): { sha1: string; status: number | null } {
  const r = spawnSync('bash', ['-c', `set -o pipefail; ${cmd} | sha1sum`], { encoding: 'utf8', timeout: 300_000 });
  if (r.status !== 0) throw new Error(`${cmd}: ${r.stderr}`);
  return { sha1: r.stdout.split(' ')[0]!, status: r.status };
}

// 2049 x (1 MiB + 1): 2,148,534,273 bytes, just past 2 GiB, and not a multiple of 512.
const COPIES_2G = 2049;
const SIZE_2G = COPIES_2G * BLOB.length;

describe('a value just past 2 GiB is archived whole', () => {
  let store = '';
  let want = '';
  beforeAll(() => {
    store = storeWith(COPIES_2G);
    want = expectedSha1(COPIES_2G);
  });

  test.each(['tar', 'cpio'])('.%s: the system tool reads every byte back, and the entry after it', (ext) => {
    const out = join(t.dir, `big.${ext}`);
    const r = dumpCli(['-q', '--store', store, '--checkpoint', out]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const list = ext === 'tar'
      ? spawnSync('tar', ['tvf', out], { encoding: 'utf8' })
      : spawnSync('bash', ['-c', `cpio -itv < ${out}`], { encoding: 'utf8' });
    expect(list.status).toBe(0);
    const bigLine = list.stdout.split('\n').find((l) => / big$/.test(l));
    expect(bigLine).toContain(` ${SIZE_2G} `);
    expect(list.stdout).toMatch(/ z\n/);
    const extract = ext === 'tar' ? `tar xOf ${out}` : `cpio -i --quiet --to-stdout < ${out}`;
    expect(sha1Of(`${extract} big`).sha1).toBe(want);
    const z = ext === 'tar'
      ? spawnSync('tar', ['xOf', out, 'z'], { encoding: 'utf8' })
      : spawnSync('bash', ['-c', `cpio -i --quiet --to-stdout z < ${out}`], { encoding: 'utf8' });
    expect(z.stdout).toBe(AFTER);
  }, 300_000);
});

describe('a value past 4 GiB - 1 is refused by name', () => {
  test('.tar: one line naming the key, exit 1, no OUTFILE, no temporary', () => {
    // 4097 x (1 MiB + 1) = 4,296,019,969 bytes: more than any size field or array here holds
    const store = storeWith(4097);
    const dir = join(t.dir, 'refused');
    mkdirSync(dir);
    const out = join(dir, 'huge.tar');
    const r = dumpCli(['-q', '--store', store, '--checkpoint', out]);
    expect(r.stderr).toBe(`flux-dump: big: value of ${4097 * BLOB.length} bytes is too large to archive (at most 4294967295)\n`);
    expect(r.status).toBe(1);
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(dir)).toEqual([]);
  }, 300_000);
});
