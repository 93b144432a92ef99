#!/usr/bin/env node
// Flux's own dump-at-shutdown / restore-at-start cycle with real flux-core: its built-in
// rc tasks against fluxdump's modprobe tasks (modprobe/rc1.d, rc3.d), same run, same store.
//
//   node bench/flux-cycle.mjs [--jobs 4000,20000] [--reps 1] [--stores DIR] [--work DIR]
//                             [--variants flux-core,fluxdump] [--json FILE]
//
// Needs flux-core (scripts/test-setup.sh; FLUX_CORE_PREFIX, default /opt/flux-core) and
// `npm run build`. For each store size a content.sqlite is generated once with
// `node scripts/gen-store.mjs --jobs N` (its default shape; kept in --stores DIR), then
// each variant, on a fresh copy of it:
//   1. flux start -Sstatedir=SD -Scontent.dump=auto true   (rc1, rc2 = true, rc3 dumps)
//   2. flux start -Sstatedir=SD -Scontent.restore=auto true (rc1 restores dump/RESTORE)
// with rc1/rc3 run as `flux modprobe rc1|rc3 -v` and the broker log in a file, so every
// task's start and end has a timestamp. Reported:
//   dump phase     flux-core: content-dump (flux dump --no-cache --maxreqs=128 through the
//                  broker); fluxdump: from the start of fluxdump-content-dump to the end of
//                  fluxdump-offline-dump (so it includes unloading content-sqlite)
//   dump + unload  the same span for both: from the start of the dump task until both the
//                  archive is written and content-sqlite is unloaded (flux-core: to the
//                  "removed content-sqlite" log line; fluxdump: the dump phase)
//   restore phase  flux-core: start of check-restore to end of restore (includes loading
//                  content-sqlite with truncate); fluxdump: start of fluxdump-check-restore
//                  to end of fluxdump-restore (includes loading content-sqlite)
//   rc3, rc1       the broker's "Exited ... Ns" for the whole rc script
//   cycle          wall time of both flux start commands
// The archive is checked with the system tar (entry count) after step 1.
//
//   node bench/flux-cycle.mjs --cpu [--jobs ...] [--stores DIR] [--work DIR]
//
// measures the two phases alone, with CPU seconds (user+sys of the whole process tree,
// /usr/bin/time), which a busy machine distorts far less than wall time: flux-core's dump
// and restore exactly as its rc tasks run them, in a minimal instance (content +
// content-sqlite only; its start-up cost is measured alone and subtracted), against
// fluxdump's offline commands as our tasks run them, on the same store and archive.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const FLUX = join(process.env.FLUX_CORE_PREFIX || '/opt/flux-core', 'bin/flux');
const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : dflt;
};
const SIZES = arg('--jobs', '4000,20000').split(',').map(Number);
const REPS = Number(arg('--reps', '1'));
const STORES = arg('--stores', join(ROOT, 'bench/out/flux-cycle/stores'));
const WORK = arg('--work', join(ROOT, 'bench/out/flux-cycle/work'));
const VARIANTS = arg('--variants', 'flux-core,fluxdump').split(',');
const JSON_OUT = arg('--json', join(ROOT, 'bench/out/flux-cycle/results.json'));

if (!existsSync(FLUX)) {
  console.error(`flux-cycle: flux-core not found at ${FLUX} (run scripts/test-setup.sh)`);
  process.exit(1);
}

function store(jobs) {
  const db = join(STORES, `jobs${jobs}`, 'content.sqlite');
  const info = join(STORES, `jobs${jobs}`, 'gen-store.txt');
  if (!existsSync(db)) {
    mkdirSync(join(STORES, `jobs${jobs}`), { recursive: true });
    const r = spawnSync(process.execPath, [join(ROOT, 'scripts/gen-store.mjs'), '--jobs', String(jobs), '--out', db], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`gen-store failed: ${r.stderr}`);
    writeFileSync(info, (r.stdout + r.stderr).trim() + '\n');
  }
  return { db, info: existsSync(info) ? readFileSync(info, 'utf8').trim() : '(generated earlier; no record)' };
}

const MONTHS = { Jan: 0, Feb: 1, Mar: 2, Apr: 3, May: 4, Jun: 5, Jul: 6, Aug: 7, Sep: 8, Oct: 9, Nov: 10, Dec: 11 };
/** Broker log lines ("Dec 08 01:07:44.273563 UTC 2026 name: text") as {t seconds, text}. */
function logLines(file) {
  const out = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^(\w{3}) (\d\d) (\d\d):(\d\d):(\d\d\.\d+) UTC (\d{4}) (.*)$/.exec(line);
    if (!m) continue;
    const t = Date.UTC(Number(m[6]), MONTHS[m[1]], Number(m[2]), Number(m[3]), Number(m[4])) / 1000 + Number(m[5]);
    out.push({ t, text: m[7] });
  }
  return out;
}

function at(lines, rc, what) {
  // rc's stderr lines of tasks running at once can arrive joined ("start Astart B"):
  // a line holds the event when the name is followed by the end or by another message
  const re = new RegExp(`${rc}\\.0: .*${what.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(?=$|start |completed |module\\.|loaded |removed )`);
  const l = lines.find((x) => re.test(x.text));
  if (!l) throw new Error(`no "${rc}.0: ${what}" in the broker log`);
  return l.t;
}

function rcExited(lines, rc) {
  const l = lines.find((x) => new RegExp(`${rc}\\.0: flux modprobe ${rc} -v Exited \\(rc=(\\d+)\\) ([\\d.]+)s`).test(x.text));
  if (!l) throw new Error(`no ${rc} exit line in the broker log`);
  const m = /Exited \(rc=(\d+)\) ([\d.]+)s/.exec(l.text);
  if (m[1] !== '0') throw new Error(`${rc} failed: ${l.text}`);
  return Number(m[2]);
}

function startFlux(args, env, cwd) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(FLUX, ['start', '-Sbroker.rc1_path=flux modprobe rc1 -v', '-Sbroker.rc3_path=flux modprobe rc3 -v', ...args, 'true'], {
    encoding: 'utf8',
    cwd,
    env: { ...process.env, FLUX_URI: '', ...env },
    maxBuffer: 1 << 26,
  });
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.status !== 0) throw new Error(`flux start ${args.join(' ')} exited ${r.status}: ${r.stderr.slice(-2000)}`);
  return secs;
}

function cycle(jobs, db, variant, rep) {
  const dir = join(WORK, `jobs${jobs}-${variant}-${rep}`);
  rmSync(dir, { recursive: true, force: true });
  const sd = join(dir, 'state');
  mkdirSync(sd, { recursive: true });
  cpSync(db, join(sd, 'content.sqlite'));
  const env = variant === 'fluxdump' ? { FLUX_MODPROBE_PATH_APPEND: join(ROOT, 'modprobe') } : {};
  const log1 = join(dir, 'stop.log');
  const log2 = join(dir, 'start.log');

  const wall1 = startFlux([`-Sstatedir=${sd}`, '-Scontent.dump=auto', `-Slog-filename=${log1}`], env, dir);
  const archive = join(sd, 'dump', readlinkSync(join(sd, 'dump/RESTORE')));
  const tar = spawnSync('tar', ['-tzf', archive], { encoding: 'utf8', maxBuffer: 1 << 28 });
  if (tar.status !== 0) throw new Error(`${archive}: tar -tzf failed: ${tar.stderr}`);
  const entries = tar.stdout.split('\n').filter(Boolean).length;
  const l1 = logLines(log1);
  const dump =
    variant === 'fluxdump'
      ? at(l1, 'rc3', 'completed fluxdump-offline-dump') - at(l1, 'rc3', 'start fluxdump-content-dump')
      : at(l1, 'rc3', 'completed content-dump') - at(l1, 'rc3', 'start content-dump');
  // The same span for both: from the dump task's start until the dump is written and
  // content-sqlite is unloaded (flux-core unloads after its dump, we dump after unloading).
  const dumpUnload =
    variant === 'fluxdump'
      ? dump
      : Math.max(at(l1, 'rc3', 'removed content-sqlite'), at(l1, 'rc3', 'completed content-dump')) - at(l1, 'rc3', 'start content-dump');
  const rc3 = rcExited(l1, 'rc3');

  const wall2 = startFlux([`-Sstatedir=${sd}`, '-Scontent.restore=auto', `-Slog-filename=${log2}`], env, dir);
  if (existsSync(join(sd, 'dump/RESTORE'))) throw new Error(`${variant}: dump/RESTORE left after the restore`);
  const l2 = logLines(log2);
  const restore =
    variant === 'fluxdump'
      ? at(l2, 'rc1', 'completed fluxdump-restore') - at(l2, 'rc1', 'start fluxdump-check-restore')
      : at(l2, 'rc1', 'completed restore') - at(l2, 'rc1', 'start check-restore');
  const rc1 = rcExited(l2, 'rc1');
  if (variant === 'fluxdump' && !l2.some((x) => /fluxdump\.info\[0\]: content\.restore: restored .* offline/.test(x.text))) {
    throw new Error('fluxdump: the offline restore did not run (see ' + log2 + ')');
  }
  const res = { jobs, variant, rep, entries, dump, dumpUnload, restore, rc3, rc1, stop: wall1, start: wall2, cycle: wall1 + wall2 };
  rmSync(sd, { recursive: true, force: true }); // keep the logs, not GBs of stores
  return res;
}

/** `/usr/bin/time` around argv: { wall, cpu } seconds of the whole process tree. */
function timed(argv, cwd) {
  const r = spawnSync('/usr/bin/time', ['-f', 'TIMED %e %U %S', ...argv], { encoding: 'utf8', cwd, env: { ...process.env, FLUX_URI: '' }, maxBuffer: 1 << 26 });
  const m = /TIMED ([\d.]+) ([\d.]+) ([\d.]+)\s*$/.exec(r.stderr);
  if (r.status !== 0 || !m) throw new Error(`${argv.join(' ')} failed (${r.status}): ${r.stderr.slice(-1500)}`);
  return { wall: Number(m[1]), cpu: Number(m[2]) + Number(m[3]) };
}

function minimal(statedir, script) {
  return [FLUX, 'start', '-Scontent.hash=sha1', '-Sbroker.rc1_path=', '-Sbroker.rc3_path=', `-Sstatedir=${statedir}`, 'bash', '-c', script];
}

function cpuPhases(jobs, db) {
  const dir = join(WORK, `cpu-jobs${jobs}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const sd = join(dir, 'state');
  mkdirSync(sd);
  cpSync(db, join(sd, 'content.sqlite'));
  const load = 'flux module load content && flux module load content-sqlite';
  const unload = 'flux module remove content-sqlite && flux module remove content';
  const base = timed(minimal(sd, `${load} && ${unload}`), dir);
  const coreArchive = join(dir, 'core.tgz');
  const coreDump = timed(minimal(sd, `${load} && flux dump --sd-notify --quiet --ignore-failed-read --no-cache --maxreqs=128 --checkpoint ${coreArchive} && ${unload}`), dir);
  const ourArchive = join(dir, 'ours.tgz');
  const ourDump = timed([process.execPath, join(ROOT, 'dist/cli/flux-dump.js'), '--sd-notify', '--quiet', '--ignore-failed-read', '--checkpoint', `--store=${join(sd, 'content.sqlite')}`, ourArchive], dir);
  // both restore the same archive (flux-core's), each into an empty store
  const coreSd = join(dir, 'core-restored');
  mkdirSync(coreSd);
  const coreRestore = timed(minimal(coreSd, `flux module load content && flux module load content-sqlite truncate && flux restore --sd-notify --quiet --checkpoint --size-limit=100M ${coreArchive} && ${unload}`), dir);
  const ourDb = join(dir, 'ours-restored', 'content.sqlite');
  mkdirSync(join(dir, 'ours-restored'));
  const ourRestore = timed([process.execPath, join(ROOT, 'dist/cli/flux-restore.js'), '--sd-notify', '--quiet', '--checkpoint', '--size-limit=100M', '--hash=sha1', `--store=${ourDb}`, coreArchive], dir);
  rmSync(dir, { recursive: true, force: true });
  const sub = (x) => ({ wall: x.wall - base.wall, cpu: x.cpu - base.cpu });
  return { jobs, base, coreDump: sub(coreDump), ourDump, coreRestore: sub(coreRestore), ourRestore };
}

if (process.argv.includes('--cpu')) {
  const f = (x) => x.toFixed(2);
  const rows = [];
  for (const jobs of SIZES) {
    const r = cpuPhases(jobs, store(jobs).db);
    console.error(JSON.stringify(r));
    rows.push(r);
  }
  console.log('| jobs | phase | flux-core wall s | flux-core CPU s | fluxdump wall s | fluxdump CPU s | wall ratio | CPU ratio |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const r of rows) {
    for (const [name, a, b] of [['dump', r.coreDump, r.ourDump], ['restore', r.coreRestore, r.ourRestore]]) {
      console.log(`| ${r.jobs} | ${name} | ${f(a.wall)} | ${f(a.cpu)} | ${f(b.wall)} | ${f(b.cpu)} | ${f(a.wall / b.wall)}x | ${f(a.cpu / b.cpu)}x |`);
    }
  }
  console.log(`\n(minimal instance start+stop, subtracted from flux-core's figures: ${rows.map((r) => `${r.jobs} jobs ${f(r.base.wall)} s wall, ${f(r.base.cpu)} s CPU`).join('; ')})`);
  process.exit(0);
}

const results = [];
const stores = {};
for (const jobs of SIZES) {
  const s = store(jobs);
  stores[jobs] = s.info;
  console.error(`store jobs=${jobs}: ${s.info}`);
  for (let rep = 1; rep <= REPS; rep++) {
    for (const variant of VARIANTS) {
      const r = cycle(jobs, s.db, variant, rep);
      results.push(r);
      console.error(JSON.stringify(r));
      mkdirSync(join(JSON_OUT, '..'), { recursive: true });
      writeFileSync(JSON_OUT, JSON.stringify({ date: new Date().toISOString(), stores, results }, null, 1) + '\n');
    }
  }
}

const f = (x) => x.toFixed(2);
console.log('| jobs | run | variant | entries | dump phase s | dump + unload s | restore phase s | rc3 s | rc1 s | stop (start 1) s | start 2 s | whole cycle s |');
console.log('|---|---|---|---|---|---|---|---|---|---|---|---|');
for (const r of results) {
  console.log(`| ${r.jobs} | ${r.rep} | ${r.variant} | ${r.entries} | ${f(r.dump)} | ${f(r.dumpUnload)} | ${f(r.restore)} | ${f(r.rc3)} | ${f(r.rc1)} | ${f(r.stop)} | ${f(r.start)} | ${f(r.cycle)} |`);
}
console.log('\n| jobs | run | dump phase ratio | dump + unload ratio | restore phase ratio | whole cycle ratio |');
console.log('|---|---|---|---|---|---|');
for (const jobs of SIZES) {
  for (let rep = 1; rep <= REPS; rep++) {
    const a = results.find((r) => r.jobs === jobs && r.rep === rep && r.variant === 'flux-core');
    const b = results.find((r) => r.jobs === jobs && r.rep === rep && r.variant === 'fluxdump');
    if (a && b) console.log(`| ${jobs} | ${rep} | ${f(a.dump / b.dump)}x | ${f(a.dumpUnload / b.dumpUnload)}x | ${f(a.restore / b.restore)}x | ${f(a.cycle / b.cycle)}x |`);
  }
}
