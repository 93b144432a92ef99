// Zip writer throughput on KVS-sized values, against bsdtar in the same run.
//
//   npm run build:ts && node bench/zip.mjs [ENTRIES] [RUNS]
//
// 100,000 JSON-ish values of 100-2000 bytes (seeded, so every run sees the same bytes)
// under job-like paths. Ours: the zip writer with its inline codec (one reused zlib
// stream), with its members deflated on the worker pool (one task per batch, up to 8
// write() promises outstanding and their chunks written in call order, as the dump
// pipeline does), with node's one-shot deflateRawSync per member, and with fflate (the
// Deno/browser fallback): entries in batches of 1000, chunks written to a file. bsdtar:
// `bsdtar --format zip -cf` on the same tree extracted to disk (it also reads 100,000
// files and writes directory entries: that is the comparison the issue asks for), and
// `bsdtar --format zip -cf out.zip @tree.tar` (the same entries read from one tar, so
// libarchive's zip writer is timed without 100,000 file opens).
// Prints a markdown table (medians); set FLUXDUMP_DIST to use another build directory,
// ZIP_BENCH_OURS_ONLY=1 to skip the bsdtar rows (they take minutes).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { deflateRawSync } from 'node:zlib';
import { join } from 'node:path';
import { median, OUT, ROOT, timed } from './lib.mjs';

const DIST = process.env.FLUXDUMP_DIST ?? join(ROOT, 'dist');
const { createZipWriter } = await import(join(DIST, 'pack/zip/writer.js'));
const { inlineDeflateKind, fflateDeflateRaw } = await import(join(DIST, 'pack/zip/deflate.js'));
const { closePool, defaultThreads } = await import(join(DIST, 'compress/pool.js'));

const N = Number(process.argv[2] ?? 100_000);
const RUNS = Number(process.argv[3] ?? 3);
const enc = new TextEncoder();

function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A KVS-like value: an eventlog-ish JSON text of `size` bytes. */
function value(rnd, size) {
  const names = ['submit', 'validate', 'depend', 'priority', 'alloc', 'start', 'finish', 'release', 'free', 'clean'];
  let s = '';
  let t = 1.7e9 + rnd() * 1e6;
  for (let i = 0; s.length < size; i++) {
    t += rnd() * 5;
    s += `{"timestamp":${t.toFixed(7)},"name":"${names[i % names.length]}","context":{"userid":${Math.floor(rnd() * 9000)},"rank":"${Math.floor(rnd() * 1024)}"}}\n`;
  }
  return enc.encode(s.slice(0, size));
}

const rnd = prng(7);
const entries = [];
let inputBytes = 0;
for (let i = 0; i < N; i++) {
  const id = (0x10000000 + Math.floor(i / 4) * 7919).toString(16);
  const data = value(rnd, 100 + Math.floor(rnd() * 1901));
  inputBytes += data.length;
  entries.push({
    path: `job/${id.slice(0, 4)}/${id.slice(4)}/key${i % 4}`,
    type: 'file',
    data,
    linkTarget: '',
    mode: 0o644,
    mtime: 1795690510,
    uid: 1000,
    gid: 1000,
  });
}

// The same tree on disk, for bsdtar (written once per entry count).
const tree = join(OUT, `zip-tree-${N}`);
if (!existsSync(join(tree, '.complete'))) {
  rmSync(tree, { recursive: true, force: true });
  for (const e of entries) {
    const p = join(tree, e.path);
    mkdirSync(join(p, '..'), { recursive: true });
    writeFileSync(p, e.data);
  }
  writeFileSync(join(tree, '.complete'), '');
}

const treeTar = join(OUT, `zip-tree-${N}.tar`);
if (!existsSync(treeTar)) timed(['bsdtar', '-cf', treeTar, '-C', tree, '--exclude', '.complete', '.']);

const outFile = join(OUT, 'bench-zip.zip');

function ours(opts) {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const fd = openSync(outFile, 'w');
  const w = createZipWriter({ stdout: false, ...opts });
  for (let i = 0; i < entries.length; i += 1000) for (const c of w.write(entries.slice(i, i + 1000))) writeSync(fd, c);
  for (const c of w.end()) writeSync(fd, c);
  closeSync(fd);
  const c = process.cpuUsage(c0);
  return { wall: (performance.now() - t0) / 1000, cpu: (c.user + c.system) / 1e6, size: statSync(outFile).size };
}

/** Writes kept outstanding, as src/pipeline.ts does (MAX_PENDING_WRITES). */
const MAX_PENDING = 8;

/** The pool path: write() promises pipelined, chunks written strictly in call order. */
async function oursPool() {
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const fd = openSync(outFile, 'w');
  const w = createZipWriter({ stdout: false, pool: {} });
  const pending = [];
  const drain = async (keep) => {
    while (pending.length > keep) for (const c of await pending.shift()) writeSync(fd, c);
  };
  for (let i = 0; i < entries.length; i += 1000) {
    pending.push(w.write(entries.slice(i, i + 1000)));
    await drain(MAX_PENDING - 1);
  }
  await drain(0);
  for (const c of await w.end()) writeSync(fd, c);
  closeSync(fd);
  const c = process.cpuUsage(c0); // all threads: the workers' deflate included
  return { wall: (performance.now() - t0) / 1000, cpu: (c.user + c.system) / 1e6, size: statSync(outFile).size };
}

/** Wall and CPU (user + sys) seconds of a command. */
function timedCpu(argv) {
  const t0 = performance.now();
  const r = spawnSync('/usr/bin/time', ['-f', 'CPU=%U %S', ...argv], { encoding: 'utf8' });
  const wall = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed: ${r.stderr}`);
  const m = /CPU=([\d.]+) ([\d.]+)/.exec(r.stderr);
  return { wall, cpu: Number(m[1]) + Number(m[2]), size: statSync(outFile).size };
}

const bsdtar = () => timedCpu(['bsdtar', '--format', 'zip', '-cf', outFile, '-C', tree, '--exclude', '.complete', '.']);
const bsdtarFromTar = () => timedCpu(['bsdtar', '--format', 'zip', '-cf', outFile, `@${treeTar}`]);

const fflate = await fflateDeflateRaw();
const variants = [
  [`ours, inline codec (${inlineDeflateKind()})`, () => ours({})],
  [`ours, worker pool (${defaultThreads()} threads, pipelined writes)`, oursPool],
  ['ours, deflateRawSync per member', () => ours({ deflateRaw: (d) => deflateRawSync(d, { level: 6 }) })],
  ['ours, fflate deflateSync per member', () => ours({ deflateRaw: fflate })],
  ['bsdtar --format zip -cf (tree on disk)', bsdtar],
  ['bsdtar --format zip -cf @tree.tar', bsdtarFromTar],
];

const oursOnly = process.env.ZIP_BENCH_OURS_ONLY === '1';
if (oursOnly) variants.splice(4);
const results = new Map(variants.map(([name]) => [name, []]));
let inlineDigest;
for (let r = 0; r < RUNS; r++) {
  for (const [name, fn] of variants) {
    const res = await fn();
    results.get(name).push(res);
    if (name.startsWith('ours, inline') || name.startsWith('ours, worker pool')) {
      const t = spawnSync('unzip', ['-tq', outFile], { encoding: 'utf8' });
      if (!/^No errors detected/.test(t.stdout)) throw new Error(`unzip -t failed: ${t.stdout}${t.stderr}`);
      // The pool path must give the inline path's bytes.
      const digest = createHash('sha256').update(readFileSync(outFile)).digest('hex');
      inlineDigest ??= digest;
      if (digest !== inlineDigest) throw new Error(`${name}: archive differs from the inline path's`);
    }
  }
}

const mb = inputBytes / 1e6;
const wallOf = (name) => median(results.get(name).map((r) => r.wall));
const cpuOf = (name) => median(results.get(name).map((r) => r.cpu));
const ratio = (base, v) => (Number.isNaN(base) ? '-' : `${(base / v).toFixed(2)}x`);
const baseTree = oursOnly ? NaN : wallOf(variants[4][0]);
const baseTar = oursOnly ? NaN : wallOf(variants[5][0]);
const baseTarCpu = oursOnly ? NaN : cpuOf(variants[5][0]);
console.log(`${N.toLocaleString('en-US')} entries, ${mb.toFixed(1)} MB of values (100-2000 B each), median of ${RUNS}, node ${process.version}`);
console.log('CPU s = user + sys of the writing process: the fairer figure when the machine is shared.\n');
console.log('| writer | wall s | entries/s | MB/s | CPU s | entries per CPU s | zip MB | wall vs bsdtar (tree) | wall vs bsdtar (@tar) | CPU vs bsdtar (@tar) |');
console.log('|---|---|---|---|---|---|---|---|---|---|');
for (const [name] of variants) {
  const wall = wallOf(name);
  const cpu = cpuOf(name);
  const size = results.get(name)[0].size;
  console.log(
    `| ${name} | ${wall.toFixed(2)} | ${Math.round(N / wall).toLocaleString('en-US')} | ${(mb / wall).toFixed(1)} | ${cpu.toFixed(2)} | ` +
      `${Math.round(N / cpu).toLocaleString('en-US')} | ${(size / 1e6).toFixed(1)} | ${ratio(baseTree, wall)} | ${ratio(baseTar, wall)} | ${ratio(baseTarCpu, cpu)} |`,
  );
}
await closePool();
