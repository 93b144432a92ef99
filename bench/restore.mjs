#!/usr/bin/env node
// flux-restore throughput on a generated job-shaped archive (run `npm run build` first).
//
//   node bench/restore.mjs [--jobs 100000] [--runs 3] [--dir /tmp/fluxdump-bench] [--gzip]
//
// Builds (once, cached by parameters) a pax/ustar tar of `jobs` jobs x 7 keys from
// src/gen/jobs.ts (values 100 B - ~4 KiB of JSON-ish text, like real Flux jobs), then,
// in the same run:
//   - baselines: `cat` to /dev/null (read speed), `bsdtar -tf` (libarchive, the library
//     flux-core reads archives with, parsing the same input; no store)
//   - ours, parse only: the tar reader over the archive, in process (no hashing, no store)
//   - ours: `node dist/cli/flux-restore.js -q --checkpoint --store=NEW.sqlite TAR`
//     under /usr/bin/time -v (wall time, peak RSS), a fresh store per run
// and prints a Markdown table: keys/s, MB/s (archive bytes), peak RSS, ratios.
import { execFileSync, spawnSync } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateJobs, topLevelValues } from '../dist/gen/jobs.js';
import { openArchive } from '../dist/restore/input.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CLI = join(ROOT, 'dist/cli/flux-restore.js');
const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
const JOBS = Number(arg('--jobs', '100000'));
const RUNS = Number(arg('--runs', '3'));
const DIR = arg('--dir', '/tmp/fluxdump-bench');
const GZIP = process.argv.includes('--gzip');
const SEED = 42;
const MTIME = 1_700_000_000;

mkdirSync(DIR, { recursive: true });
const enc = new TextEncoder();

// ------------------------------------------------------------------ the archive

function header(name, size) {
  const h = Buffer.alloc(512);
  h.write(name, 0, 'utf8');
  h.write('0000644\0', 100);
  h.write('0000000\0', 108);
  h.write('0000000\0', 116);
  h.write(size.toString(8).padStart(11, '0') + ' ', 124);
  h.write(MTIME.toString(8).padStart(11, '0') + ' ', 136);
  h.write('        ', 148);
  h.write('0', 156);
  h.write('ustar\0' + '00', 257, 'latin1');
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += h[i];
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
  return h;
}

async function buildTar(path) {
  const out = createWriteStream(path, { highWaterMark: 1 << 22 });
  let parts = [];
  let pending = 0;
  let keys = 0;
  const flush = async () => {
    if (!out.write(Buffer.concat(parts))) await new Promise((r) => out.once('drain', r));
    parts = [];
    pending = 0;
  };
  const add = async (key, value) => {
    const data = enc.encode(value);
    if (Buffer.byteLength(key) >= 100) throw new Error(`key too long for ustar: ${key}`);
    parts.push(header(key, data.length), data, Buffer.alloc((512 - (data.length % 512)) % 512));
    pending += 512 + data.length;
    keys++;
    if (pending > 1 << 22) await flush();
  };
  for (const v of topLevelValues(SEED)) await add(v.key.join('/'), v.parts.join(''));
  for (const job of generateJobs(JOBS, SEED, { appends: 1, sizeFactor: 1 })) {
    for (const v of job.values) await add(['job', ...job.dirs, ...v.key].join('/'), v.parts.join(''));
  }
  parts.push(Buffer.alloc(1024));
  await flush();
  await new Promise((r) => out.end(r));
  return keys;
}

const tar = join(DIR, `restore-${JOBS}-jobs-${SEED}.tar`);
let keys;
if (!existsSync(tar)) {
  const t0 = performance.now();
  keys = await buildTar(tar);
  console.error(`built ${tar}: ${keys} keys in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}
let input = tar;
if (GZIP) {
  input = tar + '.gz';
  if (!existsSync(input)) execFileSync('sh', ['-c', `pigz -6 -c '${tar}' > '${input}'`]);
}
const tarBytes = statSync(tar).size;
const inputBytes = statSync(input).size;

// ------------------------------------------------------------------ measurements

function timeV(cmd, args) {
  const r = spawnSync('/usr/bin/time', ['-v', cmd, ...args], { encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}):\n${r.stderr.slice(-2000)}`);
  const wall = /Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)/.exec(r.stderr);
  const rss = /Maximum resident set size \(kbytes\): (\d+)/.exec(r.stderr);
  const seconds = (Number(wall[1] ?? 0) * 3600) + Number(wall[2]) * 60 + Number(wall[3]);
  return { seconds, rssMiB: Number(rss[1]) / 1024, stderr: r.stderr };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function parseOnly() {
  const t0 = performance.now();
  const a = await openArchive(input, { sizeLimit: 0 });
  let n = 0;
  for await (const batch of a.entries) n += batch.length;
  await a.close();
  return { seconds: (performance.now() - t0) / 1000, n };
}

const rows = [];
const record = (name, secs, rssMiB, cmd) => rows.push({ name, secs, rssMiB, cmd });

// warm the page cache so every case reads from memory
execFileSync('sh', ['-c', `cat '${input}' > /dev/null`]);

const runs = { cat: [], list: [], parse: [], ours: [] };
const oursRss = [];
let restoredKeys = 0;
for (let i = 0; i < RUNS; i++) {
  runs.cat.push(timeV('sh', ['-c', `cat '${input}' > /dev/null`]).seconds);
  runs.list.push(timeV('bsdtar', ['-tf', input]).seconds);
  const p = await parseOnly();
  runs.parse.push(p.seconds);
  restoredKeys = p.n;
  const store = join(DIR, 'bench-content.sqlite');
  for (const f of [store, store + '-wal', store + '-shm']) rmSync(f, { force: true });
  const r = timeV(process.execPath, [CLI, '-q', '--checkpoint', `--store=${store}`, input]);
  runs.ours.push(r.seconds);
  oursRss.push(r.rssMiB);
  if (i === RUNS - 1) {
    const objects = execFileSync('node', ['-e', `const D=require('better-sqlite3');const d=new D(process.argv[1],{readonly:true});console.log(d.prepare('select count(*) n, sum(length(object)) b from objects').get().n)`, store], { cwd: ROOT, encoding: 'utf8' }).trim();
    console.error(`store: ${objects} objects, ${(statSync(store).size / 2 ** 20).toFixed(0)} MiB`);
  }
  console.error(`run ${i + 1}: cat ${runs.cat[i].toFixed(2)} s, bsdtar -t ${runs.list[i].toFixed(2)} s, parse ${runs.parse[i].toFixed(2)} s, flux-restore ${runs.ours[i].toFixed(2)} s (${r.rssMiB.toFixed(0)} MiB)`);
}

const q = (s) => `'${s}'`;
record('cat > /dev/null', median(runs.cat), NaN, `cat ${q(input)} > /dev/null`);
record('bsdtar -tf (libarchive, list only)', median(runs.list), NaN, `bsdtar -tf ${q(input)}`);
record('ours: tar reader only (in process)', median(runs.parse), NaN, 'openArchive() + iterate');
record('**ours: flux-restore --checkpoint**', median(runs.ours), median(oursRss), `node dist/cli/flux-restore.js -q --checkpoint --store=NEW.sqlite ${q(input)}`);

const ours = median(runs.ours);
const MB = 1e6;
console.log(`\n${JOBS} jobs, ${restoredKeys} keys, archive ${(inputBytes / MB).toFixed(1)} MB${GZIP ? ` (gzip; ${(tarBytes / MB).toFixed(1)} MB of tar)` : ''}; median of ${RUNS} runs\n`);
console.log('| case | seconds | keys/s | MB/s (archive) | peak RSS | vs flux-restore |');
console.log('|---|---|---|---|---|---|');
for (const r of rows) {
  console.log(`| ${r.name} | ${r.secs.toFixed(2)} | ${Math.round(restoredKeys / r.secs).toLocaleString('en')} | ${(inputBytes / MB / r.secs).toFixed(0)} | ${Number.isNaN(r.rssMiB) ? '' : `${r.rssMiB.toFixed(0)} MiB`} | ${(r.secs / ours).toFixed(2)}x |`);
}
console.log(`\nflux-core 0.88 reference (measured elsewhere): 28,005 keys / 5.3 s = 5,284 keys/s; target 10x = 52,840 keys/s; ours: ${Math.round(restoredKeys / ours).toLocaleString('en')} keys/s (${(restoredKeys / ours / 5284).toFixed(1)}x)`);
