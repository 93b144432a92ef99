#!/usr/bin/env node
// Whole-dump compression benchmark (issue 4, item 7): `flux-dump --checkpoint OUT.tar.gz`
// (.tar.bz2, .tar.xz) of a generated job store against our plain tar dump fed to the CLI
// compressors, all in ONE run, interleaved, every command a fresh process.
//
//   npm run build:ts && node bench/dump-compress.mjs [--jobs 100000] [--runs 3]
//        [--codecs gzip,bzip2,xz,zip] [--alone] [--workers N] [--keep-dist]
//        [--also DIR|workers=N,...] [--quiet 0.2] [--quiet-wait 600]
//
// Rows per codec (gzip shown; bzip2: pbzip2 -p2 -9 / bzip2 -9; xz: xz -T2 -6 / xz -6):
//   ours                    flux-dump --checkpoint -q out.tar.gz
//   dump | pigz -p2 -6      flux-dump --checkpoint -q - | pigz -p2 -6 > out   (the issue's
//                           "tar | pigz": same walk, same cores, the tool does the compression)
//   dump | gzip -6          the same with the single-threaded tool
//   pigz -p2 -6 < tar       (--alone) the tool alone on the finished .tar: compression only,
//   gzip -6 < tar           no walk; "dump, then tool" = plain dump + this, run one after the other
// and, every repetition, `flux-dump --checkpoint -q plain.tar` (the walk without compression).
//
// The headline ratio is ours vs the pipeline: both walk the same store with the same code
// on the same 2 cores, and differ only in who compresses. `zip`: flux-dump out.zip vs
// `bsdtar --format zip` on the tree extracted from the plain tar, and from the tar itself.
//
// The dist/ tree is copied once at start (bench/out/dump-compress/dist), so a rebuild
// during the run cannot mix two versions. --workers N overrides os.availableParallelism()
// in the flux-dump processes (the pool size), via a preload; the tools keep -p2 / -T2.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ensureStore, median, nodeCli, OUT, ROOT } from './lib.mjs';

const { values } = parseArgs({
  options: {
    jobs: { type: 'string', default: '100000' },
    runs: { type: 'string', default: '3' },
    codecs: { type: 'string', default: 'gzip,bzip2,xz' },
    alone: { type: 'boolean', default: false },
    workers: { type: 'string' },
    'keep-dist': { type: 'boolean', default: false },
    // Start each command only once the machine has been nearly idle (other jobs below
    // this share of all cores for 2 s), waiting at most --quiet-wait seconds.
    quiet: { type: 'string', default: '0.2' },
    // More "ours" rows (A/B of a change): DIR (another tsc outDir inside this repository,
    // so node_modules resolves) or workers=N, comma-separated.
    also: { type: 'string', default: '' },
    'quiet-wait': { type: 'string', default: '600' },
  },
});
const RUNS = Number(values.runs);
const HERE = join(OUT, 'dump-compress');
mkdirSync(HERE, { recursive: true });
const store = ensureStore(`jobs${values.jobs}`, ['--jobs', values.jobs, '--seed', '1']);

const DIST = join(HERE, 'dist');
if (!values['keep-dist'] || !existsSync(DIST)) {
  rmSync(DIST, { recursive: true, force: true });
  cpSync(join(ROOT, 'dist'), DIST, { recursive: true });
}
/** `--import` of a preload that makes os.availableParallelism() (our pool size) return n. */
function workersPreload(n) {
  const file = join(HERE, `workers-${n}.mjs`);
  writeFileSync(
    file,
    `import os from 'node:os';\nimport { syncBuiltinESMExports } from 'node:module';\n` +
      `os.availableParallelism = () => ${Number(n)};\nsyncBuiltinESMExports();\n`,
  );
  return `--import ${file} `;
}
const preload = values.workers ? workersPreload(values.workers) : '';
const dump = (out, dist = DIST, pre = preload) => `${nodeCli(join(dist, 'cli/flux-dump.js')).slice(0, -1).join(' ')} ${pre}${join(dist, 'cli/flux-dump.js')} --store ${store} --checkpoint -q ${out}`;
/** More "ours" rows: another build (a directory) or `workers=N` (this build, N workers). */
const ALSO = values.also
  .split(',')
  .filter(Boolean)
  .map((a) => {
    const w = /^workers=(\d+)$/.exec(a);
    if (w) return { label: `ours, ${w[1]} workers`, dump: (out) => dump(out, DIST, workersPreload(w[1])) };
    const dir = resolve(a);
    return { label: `ours (${dir.split('/').pop()})`, dump: (out) => dump(out, dir) };
  });
/** Outputs of this store's runs (the dist copy is shared). */
const WORK = join(HERE, `jobs${values.jobs}`);
mkdirSync(WORK, { recursive: true });
const f = (name) => join(WORK, name);
const PLAIN = f('plain.tar');
const CPU_FILE = f('time.txt');

/** Busy and total CPU seconds of the whole machine so far (/proc/stat). */
function machineCpu() {
  const [, ...f] = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/);
  const [user, nice, system, idle, iowait, irq, softirq, steal] = f.map(Number);
  const busy = user + nice + system + irq + softirq + steal;
  return { busy: busy / 100, total: (busy + idle + iowait) / 100 };
}
const sleep = (ms) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
const QUIET = Number(values.quiet);
let waited = 0;
/** Wait until the other jobs on this shared machine leave it nearly idle (or give up). */
function waitQuiet() {
  const t0 = performance.now();
  for (;;) {
    const a = machineCpu();
    sleep(2000);
    const b = machineCpu();
    if ((b.busy - a.busy) / (b.total - a.total) <= QUIET) break;
    if (performance.now() - t0 > Number(values['quiet-wait']) * 1000) {
      process.stderr.write('(machine still busy: running anyway)\n');
      break;
    }
  }
  waited += (performance.now() - t0) / 1000;
}

/**
 * Run a shell command: wall s, CPU s of it and all its children (GNU time), max RSS MiB,
 * and `foreign`: the share of all cores that other jobs used meanwhile (0 = we had the
 * machine to ourselves; on 2 shared cores, wall times are only comparable near 0).
 */
function sh(cmd) {
  waitQuiet();
  const m0 = machineCpu();
  const t = performance.now();
  const r = spawnSync('/usr/bin/time', ['-f', '%U %S %M', '-o', CPU_FILE, 'bash', '-o', 'pipefail', '-c', cmd], {
    encoding: 'utf8',
    maxBuffer: 1 << 24,
  });
  const sec = (performance.now() - t) / 1000;
  if (r.status !== 0) throw new Error(`${cmd}: exit ${r.status}: ${r.stderr}`);
  const m1 = machineCpu();
  const [u, s, kb] = readFileSync(CPU_FILE, 'utf8').trim().split('\n').pop().split(/\s+/).map(Number);
  const foreign = Math.max(0, (m1.busy - m0.busy - (u + s)) / (m1.total - m0.total));
  return { sec, cpu: u + s, rss: kb / 1024, foreign, stderr: r.stderr };
}
const load = () => loadavg()[0].toFixed(1);

const TOOLS = {
  gzip: { ext: 'tar.gz', par: 'pigz -p2 -6', single: 'gzip -6', test: 'gzip' },
  bzip2: { ext: 'tar.bz2', par: 'pbzip2 -p2 -9', single: 'bzip2 -9', test: 'bzip2' },
  xz: { ext: 'tar.xz', par: 'xz -T2 -6', single: 'xz -6', test: 'xz' },
};

// The plain tar (also the input of the tool-alone rows and the zip tree); keys from a
// progress-reporting run.
let keys = NaN;
{
  const [node, ...nodeArgs] = nodeCli(join(DIST, 'cli/flux-dump.js'));
  const r = spawnSync(node, [...nodeArgs, '--store', store, '--checkpoint', PLAIN], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`plain dump failed: ${r.stderr}`);
  keys = Number([...r.stderr.matchAll(/archived (\d+) keys/g)].pop()?.[1]);
}
const tarBytes = statSync(PLAIN).size;
const git = spawnSync('git', ['-C', ROOT, 'log', '-1', '--format=%h %s'], { encoding: 'utf8' }).stdout.trim();
const dirty = spawnSync('git', ['-C', ROOT, 'status', '--porcelain', 'src'], { encoding: 'utf8' }).stdout.trim().split('\n').filter(Boolean).length;
console.log(
  `# ${values.jobs} jobs: ${keys.toLocaleString('en')} keys, ${(tarBytes / 1e6).toFixed(1)} MB of tar; ${RUNS} runs; ` +
    `${cpus().length} cores; node ${process.version}; workers ${values.workers ?? 'default'}; commit ${git}` +
    (dirty ? ` + ${dirty} changed files under src/` : ''),
);
console.log(`Started ${new Date().toISOString()}, load ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);

const plainRuns = [];
const plainRow = () => {
  const r = sh(dump(PLAIN));
  plainRuns.push(r);
  process.stderr.write(`plain dump: ${r.sec.toFixed(2)} s, CPU ${r.cpu.toFixed(1)} s (others ${(100 * r.foreign).toFixed(0)}%)\n`);
};

function table(title, rows, results, unit) {
  console.log(`\n## ${title}`);
  console.log(`| command | median s (all runs) | ${unit} | CPU s | max RSS MiB | size MB | ${rows.ratioHead} | other jobs' CPU (max) |`);
  console.log('|---|---|---|---|---|---|---|---|');
  for (const [i, row] of rows.entries()) {
    const res = results[i];
    const sec = median(res.map((x) => x.sec));
    console.log(
      `| ${row.label} | ${sec.toFixed(2)} (${res.map((x) => x.sec.toFixed(1)).join(', ')}) | ${row.rate(sec)} | ` +
        `${median(res.map((x) => x.cpu)).toFixed(1)} | ${Math.max(...res.map((x) => x.rss)).toFixed(0)} | ` +
        `${(row.size / 1e6).toFixed(1)} | ${rows.ratios(i, sec)} | ${(100 * Math.max(...res.map((x) => x.foreign))).toFixed(0)}% |`,
    );
  }
}

const codecs = values.codecs.split(',').filter(Boolean);
for (const codec of codecs) {
  if (codec === 'zip') continue;
  const t = TOOLS[codec];
  if (!t) throw new Error(`unknown codec ${codec}`);
  const ours = f(`ours.${t.ext}`);
  const tool = f(`tool.${t.ext}`);
  const rows = [
    { label: `ours: flux-dump --checkpoint out.${t.ext}`, cmd: dump(ours), out: ours, ours: true },
    ...ALSO.map((a) => ({ label: a.label, cmd: a.dump(ours), out: ours, ours: true })),
    { label: `flux-dump - \\| ${t.par}`, cmd: `${dump('-')} | ${t.par} > ${tool}`, out: tool },
    { label: `flux-dump - \\| ${t.single}`, cmd: `${dump('-')} | ${t.single} > ${tool}`, out: tool },
  ];
  if (values.alone) {
    rows.push({ label: `${t.par} < plain.tar (no walk)`, cmd: `${t.par} < ${PLAIN} > ${tool}`, out: tool, alone: true });
    rows.push({ label: `${t.single} < plain.tar (no walk)`, cmd: `${t.single} < ${PLAIN} > ${tool}`, out: tool, alone: true });
  }
  const results = rows.map(() => []);
  const plainBefore = plainRuns.length;
  const loadStart = loadavg()[0];
  for (let r = 0; r < RUNS; r++) {
    plainRow();
    rows.forEach((row, i) => {
      const res = sh(row.cmd);
      results[i].push(res);
      row.size = statSync(row.out).size;
      if (r === 0) {
        // Every output must be a valid file of the format; ours must decompress to the plain tar.
        if (row.ours) sh(`${t.test} -dc < ${row.out} | cmp -s - ${PLAIN}`);
        else sh(`${t.test} -t < ${row.out}`);
      }
      process.stderr.write(`${row.label}: ${res.sec.toFixed(2)} s, CPU ${res.cpu.toFixed(1)} s (others ${(100 * res.foreign).toFixed(0)}%)\n`);
    });
  }
  const plainSec = median(plainRuns.slice(plainBefore).map((x) => x.sec));
  const secs = results.map((res) => median(res.map((x) => x.sec)));
  const [oursSec, parSec, singleSec] = [secs[0], secs[1 + ALSO.length], secs[2 + ALSO.length]];
  const rate = (sec) => `${(tarBytes / 1e6 / sec).toFixed(1)}`;
  rows.ratioHead = 'ours vs this (time ratio)';
  rows.ratios = (i, sec) => (i === 0 ? '1.00x' : `${(sec / oursSec).toFixed(2)}x`);
  rows.forEach((row) => (row.rate = rate));
  table(`${codec}: ours ${(parSec / oursSec).toFixed(2)}x \`${t.par}\` (target 0.8x), ${(singleSec / oursSec).toFixed(2)}x \`${t.single}\` (target 1.7x), as pipelines after the same walk (load ${loadStart.toFixed(1)} -> ${load()})`, rows, results, 'tar MB/s');
  console.log(`| plain dump, flux-dump --checkpoint plain.tar (same runs) | ${plainSec.toFixed(2)} | ${rate(plainSec)} | | | ${(tarBytes / 1e6).toFixed(1)} | ${(plainSec / oursSec).toFixed(2)}x |`);
  if (values.alone) {
    const [parAlone, singleAlone] = secs.slice(3 + ALSO.length);
    console.log(
      `\nDump, then tool (plain dump + tool alone, one after the other): ${t.par} ${(plainSec + parAlone).toFixed(2)} s = ${((plainSec + parAlone) / oursSec).toFixed(2)}x ours; ` +
        `${t.single} ${(plainSec + singleAlone).toFixed(2)} s = ${((plainSec + singleAlone) / oursSec).toFixed(2)}x ours. ` +
        `Compression alone: ${t.par} ${rate(parAlone)} MB/s, ${t.single} ${rate(singleAlone)} MB/s; ours ${(parAlone / oursSec).toFixed(2)}x and ${(singleAlone / oursSec).toFixed(2)}x the tools alone although it also walks.`,
    );
  }
}

if (codecs.includes('zip')) {
  // The extracted tree, once: every value as a file (bsdtar reads what flux-dump walks).
  const tree = f('tree');
  if (!existsSync(join(tree, '.complete'))) {
    rmSync(tree, { recursive: true, force: true });
    mkdirSync(tree);
    sh(`bsdtar -xf ${PLAIN} -C ${tree}`);
    writeFileSync(join(tree, '.complete'), '');
  }
  const valueBytes = Number(spawnSync('sh', ['-c', `find ${tree} -type f ! -name .complete -printf '%s\\n' | awk '{s+=$1} END {print s}'`], { encoding: 'utf8' }).stdout);
  const ours = f('ours.zip');
  const tool = f('tool.zip');
  const rows = [
    { label: 'ours: flux-dump --checkpoint out.zip', cmd: dump(ours), out: ours, ours: true },
    { label: 'bsdtar --format zip -cf out.zip (extracted tree)', cmd: `cd ${tree} && bsdtar --format zip -cf ${tool} --exclude .complete .`, out: tool },
    { label: 'bsdtar --format zip -cf out.zip @plain.tar', cmd: `bsdtar --format zip -cf ${tool} @${PLAIN}`, out: tool },
  ];
  const results = rows.map(() => []);
  const loadStart = loadavg()[0];
  for (let r = 0; r < RUNS; r++) {
    plainRow();
    rows.forEach((row, i) => {
      const res = sh(row.cmd);
      results[i].push(res);
      row.size = statSync(row.out).size;
      if (r === 0) {
        const u = spawnSync('unzip', ['-tqq', row.out], { encoding: 'utf8' });
        if (u.status !== 0) throw new Error(`unzip -t ${row.out}: ${u.stdout}${u.stderr}`);
      }
      process.stderr.write(`${row.label}: ${res.sec.toFixed(2)} s, CPU ${res.cpu.toFixed(1)} s (others ${(100 * res.foreign).toFixed(0)}%)\n`);
    });
  }
  const oursSec = median(results[0].map((x) => x.sec));
  rows.ratioHead = 'ours vs this (time ratio)';
  rows.ratios = (i, sec) => (i === 0 ? '1.00x' : `${(sec / oursSec).toFixed(2)}x`);
  rows.forEach((row) => (row.rate = (sec) => `${Math.round(keys / sec).toLocaleString('en')} / ${(valueBytes / 1e6 / sec).toFixed(1)}`));
  table(`zip: ${keys.toLocaleString('en')} values, ${(valueBytes / 1e6).toFixed(1)} MB of value bytes (load ${loadStart.toFixed(1)} -> ${load()})`, rows, results, 'values/s / value MB/s');
  const plainSec = median(plainRuns.map((x) => x.sec));
  console.log(`| plain dump, flux-dump --checkpoint plain.tar (all runs) | ${plainSec.toFixed(2)} | ${Math.round(keys / plainSec).toLocaleString('en')} / ${(valueBytes / 1e6 / plainSec).toFixed(1)} | | | ${(tarBytes / 1e6).toFixed(1)} | ${(plainSec / oursSec).toFixed(2)}x |`);
}

console.log(`\nFinished ${new Date().toISOString()}, load ${loadavg().map((x) => x.toFixed(2)).join(' ')}; ${waited.toFixed(0)} s spent waiting for a quiet machine`);
for (const name of ['ours.tar.gz', 'ours.tar.bz2', 'ours.tar.xz', 'ours.zip', 'tool.tar.gz', 'tool.tar.bz2', 'tool.tar.xz', 'tool.zip', 'time.txt']) {
  rmSync(f(name), { force: true });
}
