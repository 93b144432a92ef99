/**
 * Flux's own lifecycle with real flux-core 0.88: `flux shutdown --gc` dumps the store in
 * rc3 and the next `flux start -Scontent.restore=...` restores it in rc1.
 *
 * (a) Our commands stand in for `flux dump`/`flux restore` (the wrapper first on PATH)
 *     and flux-core's own rc tasks run them: the shutdown dump and the restore at the
 *     next start go through the broker, and `content.restore=ARCHIVE` reads every
 *     archive format we write.
 * (b) Our modprobe tasks (modprobe/rc1.d, rc3.d) replace flux-core's: the dump is taken
 *     offline after content-sqlite is unloaded, the restore is built offline beside
 *     content.sqlite before it loads, and a corrupt archive leaves the old store in use.
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FLUX, FLUX_PREFIX, requireFlux, wrapperDir, type FluxResult } from './helpers/flux.js';
import { DUMP_CLI, ROOT, tempDir } from './helpers/paths.js';
import { readTar } from './helpers/tar.js';

const MODPROBE_DIR = join(ROOT, 'modprobe');
const FORMATS = ['.tar', '.tgz', '.tar.bz2', '.tar.xz', '.zip', '.cpio', '.iso'];

requireFlux();
const tmp = tempDir('fluxdump-lifecycle-');
afterAll(() => tmp.cleanup());

/** `BIN start ARGS bash -c SCRIPT` run to completion in `cwd`. */
function start(bin: string, args: string[], script: string, env: NodeJS.ProcessEnv, cwd: string): FluxResult {
  const r = spawnSync(bin, ['start', ...args, 'bash', '-c', script], {
    encoding: 'utf8',
    cwd,
    env: { ...process.env, FLUX_URI: undefined, ...env },
    timeout: 240_000,
    maxBuffer: 1 << 26,
  });
  return { status: r.status, stdout: String(r.stdout), stderr: String(r.stderr) };
}

/** A shutdown that the initial program starts hangs that program up: flux start exits 129. */
function expectShutdownExit(r: FluxResult): void {
  expect(r.status, r.stderr).toBe(129);
  expect(r.stderr).toContain('shutdown will dump KVS to');
}

/**
 * A `flux` first on PATH that notes each subcommand (`$1`) in `log` and runs flux-core's
 * flux for everything: it shows which flux commands the rc tasks ran (flux dump, flux
 * restore, flux fsck). `exec -a flux` keeps PATH, as in wrapperDir().
 */
function noteWrapper(dir: string, log: string): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'flux');
  writeFileSync(path, `#!/bin/bash\necho "$1" >> '${log}'\nexec -a flux "${FLUX}" "$@"\n`);
  chmodSync(path, 0o755);
  return path;
}

function subcommands(log: string): string[] {
  return existsSync(log) ? readFileSync(log, 'utf8').split('\n').filter(Boolean) : [];
}

function expectOk(r: FluxResult): void {
  expect(r.status, r.stderr).toBe(0);
}

/** Archive entries (tar or tgz) as name -> content ("-> target" for symlinks). */
function tarEntries(path: string): Map<string, string> {
  let buf: Uint8Array = readFileSync(path);
  if (buf[0] === 0x1f && buf[1] === 0x8b) buf = gunzipSync(buf);
  const out = new Map<string, string>();
  let paxPath: string | undefined;
  for (const m of readTar(buf).members) {
    if (m.typeflag === 'x') {
      const rec = /(?:^|\n)\d+ path=([^\n]*)\n/.exec(Buffer.from(m.data).toString('utf8'));
      paxPath = rec?.[1];
      continue;
    }
    const name = paxPath ?? m.name;
    paxPath = undefined;
    if (m.typeflag === '2') out.set(name, `-> ${m.linkname}`);
    else if (m.typeflag === '0' || m.typeflag === '\0') out.set(name, Buffer.from(m.data).toString('base64'));
  }
  return out;
}

/** The entries of `before` under job/ and test/, each required to be in `after` unchanged. */
function expectKeysBack(before: Map<string, string>, after: Map<string, string>): number {
  const wanted = [...before].filter(([k]) => k.startsWith('job/') || k.startsWith('test/'));
  const missing = wanted.filter(([k, v]) => after.get(k) !== v).map(([k]) => k);
  expect(missing).toEqual([]);
  return wanted.length;
}

function jobIds(out: string): string[] {
  return out
    .split('\n')
    .filter((l) => l.startsWith('JOBID '))
    .map((l) => l.slice(6).trim())
    .sort();
}

/** The rootref of the newest checkpoint in a content.sqlite. */
function checkpointRoot(db: string): string {
  const d = new Database(db, { readonly: true, fileMustExist: true });
  try {
    const row = d.prepare('SELECT value FROM checkpt_v2 ORDER BY id DESC LIMIT 1').get() as { value: string };
    return (JSON.parse(row.value) as { rootref: string }).rootref;
  } finally {
    d.close();
  }
}

// The script lines that put test keys and jobs in an instance and record what is there.
const JOB_LIST = `${FLUX} jobs -a -n -o 'JOBID {id}'`;
function populate(running: number, cancelled: number, snapshot: string): string {
  return [
    'set -e',
    'flux kvs put test.value=hello test.big=$(head -c 3000 /dev/zero | tr "\\0" x)',
    'flux kvs put --append test.log=one && flux kvs put --append test.log=two',
    'flux kvs link test.value test.alias',
    // a job's flux kvs writes to its own namespace, kept under job.ID.guest after it ends
    `flux submit --quiet --wait --cc=1-${running} sh -c 'flux kvs put --append appended=job{cc} && flux kvs put --append appended=again'`,
    `flux submit --quiet --cc=1-${cancelled} --urgency=hold true`,
    'flux cancel --all --quiet',
    'flux queue drain',
    `${JOB_LIST} > ${snapshot}.jobs`,
    // flux-core's own dump of the current root: the reference the restart is compared with
    `${FLUX} dump -q ${snapshot}.tar`,
  ].join('\n');
}

function afterScript(snapshot: string): string {
  return ['set -e', `${JOB_LIST} > ${snapshot}.jobs`, `${FLUX} dump -q ${snapshot}.tar`].join('\n');
}

// Each test starts one to seven real instances: on a busy 2-core machine that takes
// minutes, so the guard against a hang is wider than the suite's 60 s default.
const SLOW = { timeout: 600_000 };

describe('(a) flux-core rc tasks with our commands as flux dump / flux restore', SLOW, () => {
  const dir = join(tmp.dir, 'a');
  const statedir = join(dir, 'state');
  const calls = join(dir, 'calls.log');
  let wrapper: string;
  let env: NodeJS.ProcessEnv;
  let firstJobs: string[];

  beforeAll(() => {
    mkdirSync(statedir, { recursive: true });
    wrapper = join(wrapperDir(join(dir, 'bin'), { log: calls }), 'flux');
    env = { PATH: `${join(dir, 'bin')}:${FLUX_PREFIX}/bin:${process.env.PATH}` };
  });

  it('flux shutdown --gc, then content.restore=auto brings every key and job back and uses up dump/RESTORE', () => {
    const r1 = start(wrapper, [`-Sstatedir=${statedir}`], `${populate(4, 16, join(dir, 'before'))}\nflux shutdown --gc --quiet`, env, dir);
    expectShutdownExit(r1);
    const link = join(statedir, 'dump/RESTORE');
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    const archive = join(statedir, 'dump', readlinkSync(link));
    expect(archive).toMatch(/\/\d{8}_\d{6}\.tgz$/);
    expect(readFileSync(calls, 'utf8')).toMatch(/^dump .*--checkpoint .*\.tgz$/m);
    firstJobs = jobIds(readFileSync(join(dir, 'before.jobs'), 'utf8'));
    expect(firstJobs).toHaveLength(20);

    const r2 = start(wrapper, [`-Sstatedir=${statedir}`, '-Scontent.restore=auto'], afterScript(join(dir, 'after')), env, dir);
    expectOk(r2);
    expect(readFileSync(calls, 'utf8')).toMatch(/^restore .*--checkpoint .*\.tgz$/m);
    expect(lstatSync(link, { throwIfNoEntry: false })).toBeUndefined();
    expect(existsSync(archive)).toBe(true);
    expect(jobIds(readFileSync(join(dir, 'after.jobs'), 'utf8'))).toEqual(firstJobs);
    const checked = expectKeysBack(tarEntries(join(dir, 'before.tar')), tarEntries(join(dir, 'after.tar')));
    expect(checked).toBeGreaterThan(20 * 3);
  });

  it('flux start -Scontent.restore=ARCHIVE reads an archive of ours in every format', async () => {
    expect(firstJobs, 'the shutdown test above must run first').toBeDefined();
    const archives = FORMATS.map((ext) => join(dir, `ours${ext}`));
    for (const a of archives) {
      const r = spawnSync(process.execPath, [DUMP_CLI, '-q', '--checkpoint', `--store=${statedir}`, a], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
    }
    const runOne = (archive: string, i: number) =>
      new Promise<{ archive: string; status: number | null; out: string; err: string }>((resolve) => {
        const cwd = join(dir, `fmt${i}`);
        mkdirSync(cwd, { recursive: true });
        const script = `set -e\n${JOB_LIST}\nflux kvs get test.value test.log test.alias | tr '\\n' ' '`;
        const child = spawn(wrapper, ['start', `-Scontent.restore=${archive}`, 'bash', '-c', script], { cwd, env: { ...process.env, FLUX_URI: undefined, ...env } });
        let out = '';
        let err = '';
        child.stdout!.on('data', (d: Buffer) => (out += d));
        child.stderr!.on('data', (d: Buffer) => (err += d));
        child.on('exit', (status) => resolve({ archive, status, out, err }));
      });
    // two at a time: this machine has two cores
    const results = [];
    for (let i = 0; i < archives.length; i += 2) {
      results.push(...(await Promise.all(archives.slice(i, i + 2).map((a, j) => runOne(a, i + j)))));
    }
    for (const r of results) {
      expect(r.status, `${r.archive}: ${r.err}`).toBe(0);
      expect(jobIds(r.out), r.archive).toEqual(firstJobs);
      expect(r.out, r.archive).toContain('hello onetwo hello');
    }
    const restores = readFileSync(calls, 'utf8').split('\n').filter((l) => l.startsWith('restore '));
    for (const a of archives) expect(restores.some((l) => l.endsWith(` ${a}`)), a).toBe(true);
  });
});

describe('(b) our modprobe tasks in rc1/rc3', SLOW, () => {
  const dir = join(tmp.dir, 'b');
  const statedir = join(dir, 'state');
  const notes = join(dir, 'subcommands.log');
  const bin = join(dir, 'bin');
  const env: NodeJS.ProcessEnv = { FLUX_MODPROBE_PATH_APPEND: MODPROBE_DIR, PATH: `${bin}:${FLUX_PREFIX}/bin:${process.env.PATH}` };
  let flux: string;
  let archive: string;
  let restoredRoot: string;
  let firstJobs: string[];

  beforeAll(() => {
    mkdirSync(statedir, { recursive: true });
    flux = noteWrapper(bin, notes);
  });

  it('shutdown --gc dumps offline after content-sqlite is unloaded; the archive is valid', () => {
    const log = join(dir, 'shutdown.log');
    writeFileSync(notes, '');
    const r = start(flux, [`-Sstatedir=${statedir}`, `-Slog-filename=${log}`], `${populate(12, 288, join(dir, 'before'))}\nflux shutdown --gc --quiet`, env, dir);
    expectShutdownExit(r);
    const text = readFileSync(log, 'utf8');
    expect(text).toMatch(/fluxdump\.info\[0\]: content\.dump: offline dump of .*content\.sqlite to .*\.tgz once content-sqlite is unloaded/);
    expect(text).toMatch(/fluxdump\.info\[0\]: content\.dump: dumped .* offline in [\d.]+s/);
    // ours ran after the backing store was gone, flux-core's content-dump not at all
    expect(text.indexOf('rmmod content-sqlite')).toBeLessThan(text.search(/content\.dump: dumped/));
    expect(text).not.toMatch(/dumping content to/);
    expect(subcommands(notes)).not.toContain('dump');
    const link = join(statedir, 'dump/RESTORE');
    archive = join(statedir, 'dump', readlinkSync(link));
    expect(archive).toMatch(/\/\d{8}_\d{6}\.tgz$/);
    // the system's tar reads it whole
    const t = spawnSync('tar', ['-tzf', archive], { encoding: 'utf8', maxBuffer: 1 << 26 });
    expect(t.status, t.stderr).toBe(0);
    const names = t.stdout.split('\n').filter(Boolean);
    expect(names).toContain('test/value');
    firstJobs = jobIds(readFileSync(join(dir, 'before.jobs'), 'utf8'));
    expect(firstJobs).toHaveLength(300);
    // job/ID/eventlog (ID in 4 parts) for every job; the appends of the 12 that ran
    expect(names.filter((n) => /^job\/([^/]+\/){4}eventlog$/.test(n)).length).toBe(300);
    expect(names.filter((n) => /^job\/([^/]+\/){4}guest\/appended$/.test(n)).length).toBe(12);
  });

  it('content.restore=auto restores offline before content-sqlite loads: every key and job back, no RESTORE link', () => {
    expect(archive, 'the shutdown test above must run first').toBeDefined();
    const log = join(dir, 'restart.log');
    const oldIno = statSync(join(statedir, 'content.sqlite')).ino;
    writeFileSync(notes, '');
    const r = start(flux, [`-Sstatedir=${statedir}`, '-Scontent.restore=auto', `-Slog-filename=${log}`], afterScript(join(dir, 'after')), env, dir);
    expectOk(r);
    const text = readFileSync(log, 'utf8');
    const done = /fluxdump\.info\[0\]: content\.restore: restored (\S+) offline into (\S+) in [\d.]+s \(root (sha1-[0-9a-f]{40})\)/.exec(text);
    expect(done, text).not.toBeNull();
    expect(done![1]).toBe(archive);
    restoredRoot = done![3]!;
    // before content-sqlite was loaded, and no flux fsck --repair over the new store
    expect(text.search(/content\.restore: restored/)).toBeLessThan(text.indexOf('insmod content-sqlite'));
    expect(text).not.toMatch(/restoring content from/);
    expect(subcommands(notes)).not.toContain('restore');
    expect(subcommands(notes)).not.toContain('fsck'); // the "dump restored" flag is set
    expect(lstatSync(join(statedir, 'dump/RESTORE'), { throwIfNoEntry: false })).toBeUndefined();
    expect(existsSync(archive)).toBe(true);
    expect(statSync(join(statedir, 'content.sqlite')).ino).not.toBe(oldIno); // renamed into place
    expect(readdirSync(statedir).filter((n) => n.startsWith('.'))).toEqual([]);
    expect(jobIds(readFileSync(join(dir, 'after.jobs'), 'utf8'))).toEqual(firstJobs);
    const checked = expectKeysBack(tarEntries(join(dir, 'before.tar')), tarEntries(join(dir, 'after.tar')));
    expect(checked).toBeGreaterThan(300 * 3); // eventlog, jobspec, J for each, more for those that ran
  });

  it('the restored root is the one flux-core\'s flux restore makes from the same archive', () => {
    expect(restoredRoot, 'the restart test above must run first').toBeDefined();
    const ref = join(dir, 'reference');
    mkdirSync(ref, { recursive: true });
    const script = `set -e\nflux module load content\nflux module load content-sqlite\nflux restore -q --checkpoint ${archive}\nflux module remove content-sqlite\nflux module remove content`;
    expectOk(start(FLUX, ['-Scontent.hash=sha1', '-Sbroker.rc1_path=', '-Sbroker.rc3_path=', `-Sstatedir=${ref}`], script, {}, dir));
    expect(checkpointRoot(join(ref, 'content.sqlite'))).toBe(restoredRoot);
  });

  it('a corrupt archive leaves the old content.sqlite in place and the instance starts from it', () => {
    expect(firstJobs, 'the shutdown test above must run first').toBeDefined();
    const bad = join(dir, 'corrupt.tgz');
    const whole = readFileSync(archive);
    writeFileSync(bad, whole.subarray(0, whole.length >> 1));
    const db = join(statedir, 'content.sqlite');
    const ino = statSync(db).ino;
    const log = join(dir, 'corrupt.log');
    writeFileSync(notes, '');
    const r = start(flux, [`-Sstatedir=${statedir}`, `-Scontent.restore=${bad}`, `-Slog-filename=${log}`], `set -e\n${JOB_LIST}\nflux kvs get test.value`, env, dir);
    expectOk(r);
    expect(readFileSync(log, 'utf8')).toMatch(new RegExp(`fluxdump\\.err\\[0\\]: content\\.restore: restore of ${bad} FAILED \\(flux-restore: .*\\); ${db} is left as it was and the instance starts from it`));
    expect(r.stderr).toContain('FAILED'); // errors reach the console too
    expect(statSync(db).ino).toBe(ino);
    expect(subcommands(notes)).not.toContain('restore');
    expect(subcommands(notes)).toContain('fsck'); // nothing was restored: rc1 checks the old store
    expect(jobIds(r.stdout)).toEqual(firstJobs);
    expect(r.stdout).toContain('hello');
    expect(readdirSync(statedir).filter((n) => n.startsWith('.'))).toEqual([]);
  });

  it('falls back to flux-core\'s way through the broker for a content-files store, and says so', () => {
    const sd = join(dir, 'files-state');
    mkdirSync(sd, { recursive: true });
    const args = [`-Sstatedir=${sd}`, '-Scontent.backing-module=content-files'];
    const log1 = join(dir, 'files-shutdown.log');
    writeFileSync(notes, '');
    const r1 = start(flux, [...args, `-Slog-filename=${log1}`], `set -e\n${JOB_LIST} >/dev/null\nflux submit --quiet --wait --cc=1-3 true\nflux kvs put test.files=yes\nflux shutdown --gc --quiet`, env, dir);
    expectShutdownExit(r1);
    expect(readFileSync(log1, 'utf8')).toMatch(/fluxdump\.warning\[0\]: content\.dump: the backing module is content-files, not content-sqlite: dumping to .* through the broker/);
    expect(subcommands(notes)).toContain('dump');
    const log2 = join(dir, 'files-restart.log');
    writeFileSync(notes, '');
    const r2 = start(flux, [...args, '-Scontent.restore=auto', `-Slog-filename=${log2}`], `set -e\n${JOB_LIST}\nflux kvs get test.files`, env, dir);
    expectOk(r2);
    const text = readFileSync(log2, 'utf8');
    expect(text).toMatch(/fluxdump\.warning\[0\]: content\.restore: the backing module is content-files, not content-sqlite: truncating the store and restoring .* through the broker/);
    expect(text).toMatch(/fluxdump\.info\[0\]: content\.restore: flux restore restored .* in [\d.]+s/);
    expect(subcommands(notes)).toContain('restore');
    expect(jobIds(r2.stdout)).toHaveLength(3);
    expect(r2.stdout).toContain('yes');
    expect(lstatSync(join(sd, 'dump/RESTORE'), { throwIfNoEntry: false })).toBeUndefined();
  });
});
