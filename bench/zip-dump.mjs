#!/usr/bin/env node
// Whole dump to .zip, members deflated inline vs on the worker pool, runs alternated so
// both see the same machine: flux-dump --checkpoint of a generated job store.
//
//   npm run build:ts && node bench/zip-dump.mjs [--jobs 100000] [--runs 3]
//
// FLUXDUMP_ZIP_POOL=0 keeps every member inline; unset, the writer uses the pool. Prints
// wall s, keys/s (keys / wall), CPU s (user + sys, all threads) and peak RSS, medians,
// and checks the two archives are byte-identical.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ensureStore, median, OUT, ROOT } from './lib.mjs';

const { values } = parseArgs({ options: { jobs: { type: 'string', default: '100000' }, runs: { type: 'string', default: '3' } } });
const store = ensureStore(`jobs${values.jobs}`, ['--jobs', values.jobs, '--seed', '1']);
const MODES = [
  ['inline (FLUXDUMP_ZIP_POOL=0)', '0'],
  ['worker pool', '1'],
];

function once(pool) {
  const out = join(OUT, `zip-dump-${pool}.zip`);
  rmSync(out, { force: true });
  const argv = ['-f', 'T=%e %U %S %M', process.execPath, join(ROOT, 'dist/cli/flux-dump.js'), '--store', store, '--checkpoint', out];
  const r = spawnSync('/usr/bin/time', argv, { encoding: 'utf8', env: { ...process.env, FLUXDUMP_ZIP_POOL: pool }, maxBuffer: 1 << 28 });
  if (r.status !== 0) throw new Error(`flux-dump failed: ${r.stderr}`);
  const [wall, user, sys, rss] = /T=([\d.]+) ([\d.]+) ([\d.]+) (\d+)/.exec(r.stderr).slice(1).map(Number);
  const keys = Number(/archived (\d+) keys\n/.exec(r.stderr)?.[1]);
  const digest = createHash('sha256').update(readFileSync(out)).digest('hex');
  return { wall, cpu: user + sys, rssMiB: rss / 1024, keys, digest };
}

const results = new Map(MODES.map(([name]) => [name, []]));
for (let i = 0; i < Number(values.runs); i++) {
  for (const [name, pool] of MODES) {
    const r = once(pool);
    results.get(name).push(r);
    console.error(`run ${i + 1} ${name}: ${r.wall.toFixed(2)} s wall, ${r.cpu.toFixed(2)} s CPU`);
  }
}
const digests = new Set([...results.values()].flat().map((r) => r.digest));
if (digests.size !== 1) throw new Error('inline and pool archives differ');
const keys = results.get(MODES[0][0])[0].keys;
const base = median(results.get(MODES[0][0]).map((r) => r.wall));
console.log(`${values.jobs} jobs, ${keys} keys, median of ${values.runs}, node ${process.version}; archives identical`);
console.log('| zip members | wall s | keys/s (wall) | CPU s | keys per CPU s | peak RSS MiB | wall vs inline |');
console.log('|---|---|---|---|---|---|---|');
for (const [name] of MODES) {
  const rs = results.get(name);
  const wall = median(rs.map((r) => r.wall));
  const cpu = median(rs.map((r) => r.cpu));
  const rss = Math.max(...rs.map((r) => r.rssMiB));
  console.log(`| ${name} | ${wall.toFixed(2)} | ${Math.round(keys / wall).toLocaleString('en')} | ${cpu.toFixed(2)} | ${Math.round(keys / cpu).toLocaleString('en')} | ${rss.toFixed(0)} | ${(base / wall).toFixed(2)}x |`);
}
