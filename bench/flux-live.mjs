#!/usr/bin/env node
// flux-dump against real flux-core 0.88 (/opt/flux-core, or FLUX_CORE_PREFIX), same run,
// same store, whole processes timed wall-clock (node start-up and flux's included):
//
//   live     one instance over a generated store; per --maxreqs, pairs of our
//            `flux-dump --maxreqs=M` and flux-core's `flux dump --maxreqs=M`, alternating
//            which goes first, both through FLUX_URI to the current root
//   offline  our `flux-dump --store content.sqlite --checkpoint` against flux-core's best
//            offline: `flux start` of a minimal instance over a copy of the statedir
//            (content + content-sqlite only) running
//            `flux dump --no-cache --maxreqs=256 --checkpoint`, its start-up counted
//   rank3    (--rank3) a --test-size=4 instance over the store: bench/maxreqs.mjs
//            --source live through rank 3's local URI (loads travel the overlay to rank 0)
//
// Usage: node bench/flux-live.mjs [--jobs 3000] [--runs 5] [--maxreqs 2,32,256]
//                                 [--skip-live] [--skip-offline] [--rank3] [--sweep 1,2,...]
// Medians per point; ratios are flux-core's median over ours (> 1: ours is faster).
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ensureStore, median, nodeCli, OUT, ROOT } from './lib.mjs';

const { values: v } = parseArgs({
  options: {
    jobs: { type: 'string', default: '3000' },
    runs: { type: 'string', default: '5' },
    maxreqs: { type: 'string', default: '2,32,256' },
    'skip-live': { type: 'boolean', default: false },
    'skip-offline': { type: 'boolean', default: false },
    rank3: { type: 'boolean', default: false },
    sweep: { type: 'string', default: '1,2,4,8,16,32,64,128,256' },
  },
});
const FLUX = join(process.env.FLUX_CORE_PREFIX || '/opt/flux-core', 'bin/flux');
if (!existsSync(FLUX)) throw new Error(`flux-core not found at ${FLUX}: run scripts/test-setup.sh`);
const DUMP = nodeCli(join(ROOT, 'dist/cli/flux-dump.js'));
const runs = Number(v.runs);
const work = join(OUT, 'flux-live');
rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });

const store = ensureStore(`jobs${v.jobs}-seed1`, ['--jobs', v.jobs, '--seed', '1']);
const baseEnv = { ...process.env };
delete baseEnv.FLUX_URI;

/** Wall seconds of one whole process; throws with its stderr on failure. */
function wall(argv, env) {
  const t0 = performance.now();
  const r = spawnSync(argv[0], argv.slice(1), { env, encoding: 'utf8', maxBuffer: 1 << 26 });
  const s = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`${argv.join(' ')} exited ${r.status}: ${r.stderr}`);
  return s;
}

/** A statedir holding a copy of the store (the broker opens it read-write). */
function statedirCopy(name) {
  const dir = join(work, name);
  mkdirSync(dir, { recursive: true });
  cpSync(store, join(dir, 'content.sqlite'));
  return dir;
}

/** `flux start` in the background until stop(); resolves with rank 0's FLUX_URI. */
async function startInstance(statedir, args = []) {
  const ctl = `${statedir}.ctl`;
  mkdirSync(ctl, { recursive: true });
  const uriFile = join(ctl, 'uri');
  const stopFile = join(ctl, 'stop');
  const script = `printenv FLUX_URI > ${uriFile}.new && mv ${uriFile}.new ${uriFile}; while [ ! -e ${stopFile} ]; do sleep 0.1; done`;
  const child = spawn(FLUX, ['start', `-Sstatedir=${statedir}`, ...args, 'bash', '-c', script], { env: baseEnv, stdio: ['ignore', 'ignore', 'inherit'] });
  const exited = new Promise((resolve) => child.on('exit', resolve));
  for (let i = 0; !existsSync(uriFile); i++) {
    if (child.exitCode !== null) throw new Error('flux start exited before it was up');
    if (i > 1200) throw new Error('flux start did not come up in 120 s');
    await new Promise((r) => setTimeout(r, 100));
  }
  const uri = readFileSync(uriFile, 'utf8').trim();
  return {
    uri,
    env: { ...baseEnv, FLUX_URI: uri },
    async stop() {
      writeFileSync(stopFile, '');
      await exited;
    },
  };
}

const fmt = (s) => s.toFixed(3);
const lines = [];
const say = (s = '') => {
  console.log(s);
  lines.push(s);
};
say(`# flux-dump vs flux-core 0.88 (${new Date().toISOString()})`);
say(`store: scripts/gen-store --jobs ${v.jobs} --seed 1 (${(statSync(store).size / 1048576).toFixed(1)} MiB content.sqlite); ${runs} pairs per point`);
say(`machine: a noisy 2-vCPU VM, load average ${loadavg().map((x) => x.toFixed(1)).join(' ')} at the start`);

if (!v['skip-live']) {
  const inst = await startInstance(statedirCopy('live'));
  try {
    const outA = join(work, 'ours.tar');
    const outB = join(work, 'theirs.tar');
    say('\n## live, current root, through FLUX_URI (same instance)\n');
    say('| --maxreqs | ours median s | flux dump median s | flux / ours | archive bytes (ours = flux) |');
    say('|---:|---:|---:|---:|---:|');
    for (const m of v.maxreqs.split(',').map(Number)) {
      const ours = [];
      const theirs = [];
      const runOurs = () => ours.push(wall([...DUMP, '-q', `--maxreqs=${m}`, outA], inst.env));
      const runTheirs = () => theirs.push(wall([FLUX, 'dump', '-q', `--maxreqs=${m}`, outB], inst.env));
      runOurs(); // warm the broker's cache and the page cache once, untimed
      ours.length = 0;
      for (let i = 0; i < runs; i++) {
        if (i % 2 === 0) (runOurs(), runTheirs());
        else (runTheirs(), runOurs());
      }
      const a = statSync(outA).size;
      const b = statSync(outB).size;
      if (a !== b) throw new Error(`archive sizes differ at --maxreqs ${m}: ours ${a}, flux ${b}`);
      say(`| ${m} | ${fmt(median(ours))} | ${fmt(median(theirs))} | ${(median(theirs) / median(ours)).toFixed(2)} | ${a} |`);
      console.error(`  maxreqs ${m}: ours ${ours.map(fmt).join(' ')}; flux ${theirs.map(fmt).join(' ')}`);
    }
  } finally {
    await inst.stop();
  }
}

if (!v['skip-offline']) {
  const dir = statedirCopy('offline');
  const outA = join(work, 'offline-ours.tar');
  const outB = join(work, 'offline-theirs.tar');
  const script = `flux module load content && flux module load content-sqlite && flux dump -q --no-cache --maxreqs=256 --checkpoint ${outB}; rc=$?; flux module remove content-sqlite; flux module remove content; exit $rc`;
  const theirArgv = [FLUX, 'start', '-Scontent.hash=sha1', '-Sbroker.rc1_path=', '-Sbroker.rc3_path=', `-Sstatedir=${dir}`, 'bash', '-c', script];
  const ourArgv = [...DUMP, '-q', '--checkpoint', '--store', store, outA];
  const ours = [];
  const theirs = [];
  for (let i = 0; i < runs; i++) {
    if (i % 2 === 0) (ours.push(wall(ourArgv, baseEnv)), theirs.push(wall(theirArgv, baseEnv)));
    else (theirs.push(wall(theirArgv, baseEnv)), ours.push(wall(ourArgv, baseEnv)));
  }
  const a = statSync(outA).size;
  const b = statSync(outB).size;
  if (a !== b) throw new Error(`offline archive sizes differ: ours ${a}, flux ${b}`);
  say('\n## offline, newest checkpoint\n');
  say('| command | median s | runs (s) |');
  say('|---|---:|---|');
  say(`| ours: \`flux-dump --store content.sqlite --checkpoint\` | ${fmt(median(ours))} | ${ours.map(fmt).join(' ')} |`);
  say(`| flux-core: minimal \`flux start\` + \`flux dump --no-cache --maxreqs=256 --checkpoint\` | ${fmt(median(theirs))} | ${theirs.map(fmt).join(' ')} |`);
  say(`\nflux-core / ours: ${(median(theirs) / median(ours)).toFixed(2)}x (archive ${a} bytes, same size)`);
}

if (v.rank3) {
  const inst = await startInstance(statedirCopy('rank3'), ['--test-size=4']);
  try {
    const r = spawnSync(FLUX, ['exec', '-r', '3', 'flux', 'getattr', 'local-uri'], { env: inst.env, encoding: 'utf8' });
    const rank3 = r.stdout.trim();
    if (r.status !== 0 || !rank3) throw new Error(`rank 3's local-uri: ${r.stderr}`);
    say(`\n## maxreqs sweep through rank 3 of a --test-size=4 instance: bench/results/real-flux-rank3.md`);
    const s = spawnSync(process.execPath, [join(ROOT, 'bench/maxreqs.mjs'), '--source', 'live', '--maxreqs', v.sweep, '--runs', String(Math.min(runs, 3)), '--name', 'real-flux-rank3'], {
      env: { ...inst.env, FLUX_URI: rank3, FLUXDUMP_BENCH_SOURCE: `rank 3 of a --test-size=4 instance over scripts/gen-store --jobs ${v.jobs} --seed 1` },
      stdio: 'inherit',
    });
    if (s.status !== 0) throw new Error('bench/maxreqs.mjs failed');
  } finally {
    await inst.stop();
  }
}
writeFileSync(join(work, 'summary.md'), lines.join('\n') + '\n');
