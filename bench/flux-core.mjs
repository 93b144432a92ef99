#!/usr/bin/env node
// Ours against flux-core 0.88 in the same run: whole processes, paired runs, ratios.
//
//   node bench/flux-core.mjs [--jobs 4000,20000] [--runs 3] [--cases dump,gz,restore]
//                            [--flux /opt/flux-core/bin/flux]
//
// Per store size (production-shaped jobs stores made by scripts/gen-store --jobs N
// --seed 1, cached in bench/out/live-jobsN/), each run does both commands back to back,
// in alternating order (ours first in odd runs), and the table reports medians and the
// median of the per-pair ratios:
//   dump     flux-core: `flux start` of a minimal instance over a copy of the store's
//            statedir (content + content-sqlite modules, no KVS, as the flux-core README
//            says), `flux dump -q --no-cache --maxreqs=256 --checkpoint OUT.tar` inside;
//            its start-up and shutdown are included, as ours are.
//            ours: `flux-dump -q --store S --checkpoint OUT.tar`
//   gz       the same to .tar.gz (both compress with gzip)
//   restore  of flux-core's .tar (the same archive for both): `flux restore -q
//            --checkpoint --maxreqs=256` in a minimal instance over an empty statedir vs
//            `flux-restore -q --checkpoint --store NEWDIR`, a fresh directory each run.
// The two dumps' archives are checked to hold the same member names once per size.
// CPU seconds (user + system, all processes: flux-core's broker and command, our
// threads) are reported beside the wall times: on a shared machine they move far less.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ensureStore, median, nodeCli, OUT, ROOT, size, timed } from './lib.mjs';

const { values } = parseArgs({
  options: {
    jobs: { type: 'string', default: '4000,20000' },
    runs: { type: 'string', default: '3' },
    cases: { type: 'string', default: 'dump,gz,restore' },
    flux: { type: 'string', default: '/opt/flux-core/bin/flux' },
  },
});
const FLUX = values.flux;
const RUNS = Number(values.runs);
const CASES = new Set(values.cases.split(','));
const DUMP = nodeCli(join(ROOT, 'dist/cli/flux-dump.js'));
const RESTORE = nodeCli(join(ROOT, 'dist/cli/flux-restore.js'));
if (!existsSync(FLUX)) throw new Error(`${FLUX} not found: install flux-core (scripts/test-setup.sh)`);

/** flux-core's command line inside a minimal instance over `statedir`. */
function minimal(statedir, command) {
  const script = `flux module load content && flux module load content-sqlite && ${command}; rc=$?; flux module remove content-sqlite; flux module remove content; exit $rc`;
  return [FLUX, 'start', '-Scontent.hash=sha1', '-Sbroker.rc1_path=', '-Sbroker.rc3_path=', `-Sstatedir=${statedir}`, 'bash', '-c', script];
}

const q = (s) => `'${s.replace(/'/g, `'\\''`)}'`;

function members(archive) {
  const r = spawnSync('tar', ['tf', archive], { encoding: 'utf8', maxBuffer: 1 << 30 });
  if (r.status !== 0) throw new Error(`tar tf ${archive}: ${r.stderr}`);
  return r.stdout.split('\n').filter(Boolean).sort();
}

/** Paired runs of two commands; `before` resets state before each. */
function paired(label, ours, theirs, before = () => {}) {
  const a = [];
  const b = [];
  for (let i = 0; i < RUNS; i++) {
    const order = i % 2 === 0 ? ['ours', 'theirs'] : ['theirs', 'ours'];
    for (const who of order) {
      before(who);
      const r = timed(who === 'ours' ? ours : theirs);
      (who === 'ours' ? a : b).push(r);
    }
    console.error(`  ${label} run ${i + 1}: ours ${a[i].wall.toFixed(2)} s (${a[i].cpu.toFixed(2)} CPU s), flux-core ${b[i].wall.toFixed(2)} s (${b[i].cpu.toFixed(2)} CPU s), ratio ${(b[i].wall / a[i].wall).toFixed(1)}x`);
  }
  const ratios = a.map((r, i) => b[i].wall / r.wall);
  const cpuRatios = a.map((r, i) => b[i].cpu / r.cpu);
  return {
    ours: median(a.map((r) => r.wall)),
    theirs: median(b.map((r) => r.wall)),
    ratio: median(ratios),
    ratios,
    oursCpu: median(a.map((r) => r.cpu)),
    theirsCpu: median(b.map((r) => r.cpu)),
    cpuRatio: median(cpuRatios),
    rss: Math.max(...a.map((r) => r.rssMiB)),
  };
}

const rows = [];
const date = new Date().toISOString().slice(0, 16).replace('T', ' ');
const load = () => spawnSync('cat', ['/proc/loadavg'], { encoding: 'utf8' }).stdout.split(' ').slice(0, 3).join(' ');
for (const n of values.jobs.split(',').map(Number)) {
  const store = ensureStore(`live-jobs${n}`, ['--jobs', String(n), '--seed', '1']);
  const dir = join(OUT, `live-jobs${n}`);
  const statedir = join(dir, 'fc-state');
  if (!existsSync(join(statedir, 'content.sqlite'))) {
    mkdirSync(statedir, { recursive: true });
    copyFileSync(store, join(statedir, 'content.sqlite'));
  }
  console.error(`${n} jobs: ${store} (${(size(store) / 1e6).toFixed(0)} MB), load ${load()}`);
  for (const ext of ['tar', 'tar.gz']) {
    // restore needs flux-core's .tar: dumped here unless an earlier run left it
    const forRestore = ext === 'tar' && CASES.has('restore') && !existsSync(join(dir, 'flux-core.tar'));
    if (!CASES.has(ext === 'tar' ? 'dump' : 'gz') && !forRestore) continue;
    const ourOut = join(dir, `ours.${ext}`);
    const fcOut = join(dir, `flux-core.${ext}`);
    const r = paired(
      `dump .${ext}`,
      [...DUMP, '-q', '--store', store, '--checkpoint', ourOut],
      minimal(statedir, `flux dump -q --no-cache --maxreqs=256 --checkpoint ${q(fcOut)}`),
      (who) => rmSync(who === 'ours' ? ourOut : fcOut, { force: true }),
    );
    const mine = members(ourOut);
    const theirs = members(fcOut);
    if (mine.length !== theirs.length || mine.some((m, i) => m !== theirs[i])) throw new Error(`${n} jobs: the two .${ext} archives differ in members`);
    rows.push({ n, keys: mine.length, what: `dump --checkpoint to .${ext}`, ...r, bytes: size(ourOut) });
  }
  if (CASES.has('restore')) {
    const archive = join(dir, 'flux-core.tar');
    const ourDir = join(dir, 'restored-ours');
    const fcDir = join(dir, 'restored-fc');
    const r = paired(
      'restore .tar',
      [...RESTORE, '-q', '--checkpoint', '--store', ourDir, archive],
      minimal(fcDir, `flux restore -q --checkpoint --maxreqs=256 ${q(archive)}`),
      (who) => {
        const d = who === 'ours' ? ourDir : fcDir;
        rmSync(d, { recursive: true, force: true });
        mkdirSync(d, { recursive: true });
      },
    );
    rows.push({ n, keys: members(archive).length, what: 'restore --checkpoint of the .tar', ...r, bytes: size(archive) });
  }
}

console.log(`\n${date} UTC, ${RUNS} paired runs, load average at the end ${load()}\n`);
console.log('| store | keys | case | ours (median s) | flux-core 0.88 (median s) | wall ratio (median of pairs) | pair ratios | CPU s, ours / flux-core | CPU ratio | our peak RSS |');
console.log('|---|---|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  console.log(
    `| ${r.n.toLocaleString('en')} jobs | ${r.keys.toLocaleString('en')} | ${r.what} | ${r.ours.toFixed(2)} | ${r.theirs.toFixed(2)} | **${r.ratio.toFixed(1)}x** | ${r.ratios.map((x) => x.toFixed(1)).join(', ')} | ${r.oursCpu.toFixed(2)} / ${r.theirsCpu.toFixed(2)} | ${r.cpuRatio.toFixed(1)}x | ${r.rss.toFixed(0)} MiB |`,
  );
}
