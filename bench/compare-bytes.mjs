#!/usr/bin/env node
// Same bytes before and after a change: dumps fixed stores to every archive format with
// one build's CLIs, and restores fixed archives into both store kinds, into OUT. Run it
// with the old build and the new one, then `diff -r OLD NEW` (or cmp file by file).
//
// Usage: node bench/compare-bytes.mjs --root BUILD_ROOT --out DIR [--jobs 2000] [--stores DIR]
//   BUILD_ROOT: a checkout with dist/ built (default: this one).
// Stores: the flux-0.88 small fixture, and a generated job store (sha1 and sha256), each
// dumped with the load thread off and on (FLUXDUMP_LOAD_THREAD) and as content.files
// (restored from the .tar); archives: the flux-0.88 and flux-core-tests fixtures,
// restored into content.sqlite and content.files. Restored stores are compared by their
// objects (a SELECT in rowid order) and checkpoint root, not file bytes (timestamps).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT } from './lib.mjs';

const { values } = parseArgs({
  options: {
    root: { type: 'string', default: ROOT },
    out: { type: 'string' },
    jobs: { type: 'string', default: '2000' },
    stores: { type: 'string', default: '/tmp/fluxdump-compare-stores' },
  },
});
if (!values.out) throw new Error('--out DIR is required');
const build = resolve(values.root);
const out = resolve(values.out);
const FIX = '/work/shared/fixtures';
const SUFFIXES = ['.tar', '.tar.gz', '.tgz', '.tar.bz2', '.tar.xz', '.zip', '.cpio', '.iso'];
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const work = join(out, '.work');
mkdirSync(work);

function run(argv, env = {}) {
  const r = spawnSync(argv[0], argv.slice(1), { encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r;
}
const dump = (args, env) => run([process.execPath, join(build, 'dist/cli/flux-dump.js'), ...args], env);
const restore = (args, env) => run([process.execPath, join(build, 'dist/cli/flux-restore.js'), ...args], env);

function dumpAll(name, store, env = {}) {
  for (const sfx of SUFFIXES) dump(['--checkpoint', '--store', store, join(out, `${name}${sfx}`)], env);
  writeFileSync(join(out, `${name}.stdout.tar`), dump(['--checkpoint', '--store', store, '-'], env).stdout, 'latin1');
}

// Generated stores, made once (job ids and times come from the clock) and kept under
// --stores, so that both builds read the very same files.
const stores = [['small', join(FIX, 'flux-0.88/small/small.sqlite')]];
for (const hash of ['sha1', 'sha256']) {
  const path = join(resolve(values.stores), `jobs${values.jobs}-${hash}`, 'content.sqlite');
  if (!existsSync(path)) run([process.execPath, join(ROOT, 'scripts/gen-store.mjs'), '--out', path, '--jobs', values.jobs, '--seed', '7', '--hash', hash]);
  stores.push([`gen-${hash}`, path]);
}
for (const [name, path] of stores) {
  dumpAll(`${name}.thread0`, path, { FLUXDUMP_LOAD_THREAD: '0' });
  dumpAll(`${name}.thread1`, path, { FLUXDUMP_LOAD_THREAD: '1' });
  // The same content as content.files (restored from our own .tar), dumped again.
  const files = join(work, `${name}-files`);
  restore(['-q', '--checkpoint', '--store', join(files, 'content.files'), join(out, `${name}.thread0.tar`)]);
  dump(['--checkpoint', '--store', files, join(out, `${name}.files.tar`)]);
  dump(['--checkpoint', '--store', files, join(out, `${name}.files.zip`)]);
}

// Restores of fixture archives into both store kinds.
function objects(sqlite) {
  return run(['sqlite3', sqlite, 'SELECT hex(hash), size, hex(object) FROM objects ORDER BY rowid']).stdout;
}
function root(sqlite) {
  const r = run(['sqlite3', sqlite, 'SELECT value FROM checkpt_v2 ORDER BY id DESC LIMIT 1']).stdout;
  return JSON.parse(r).rootref;
}
const archives = [
  ...readdirSync(join(FIX, 'flux-0.88/small')).filter((n) => !n.endsWith('.sqlite')).map((n) => join(FIX, 'flux-0.88/small', n)),
  ...readdirSync(join(FIX, 'flux-core-tests')).map((n) => join(FIX, 'flux-core-tests', n)),
  join(out, 'gen-sha1.thread0.tar'),
  join(out, 'gen-sha256.thread0.zip'),
];
for (const a of archives) {
  const name = a.split('/').pop();
  const sq = join(work, `r-${name}`);
  const r = restore(['--checkpoint', '--store', sq, a]);
  writeFileSync(join(out, `restore-${name}.sqlite.txt`), `${r.stderr}${root(join(sq, 'content.sqlite'))}\n${objects(join(sq, 'content.sqlite'))}`);
  const fd = join(work, `rf-${name}`, 'content.files');
  const rf = restore(['--checkpoint', '--store', fd, a]);
  const names = readdirSync(fd).sort();
  writeFileSync(join(out, `restore-${name}.files.txt`), `${rf.stderr}${names.join('\n')}\n`);
  // ...and what the restored content.files dumps to.
  if (existsSync(join(fd, 'kvs-primary'))) dump(['--checkpoint', '--store', fd, join(out, `restore-${name}.files.tar`)]);
}
rmSync(work, { recursive: true, force: true });
console.log(`${readdirSync(out).length} outputs in ${out}`);
