#!/usr/bin/env node
// The same flux-dump (and flux-restore) under Node and under Deno, side by side: a
// generated job store dumped with --checkpoint to each format, runs alternating between
// the runtimes (Node first on even runs, Deno first on odd ones) so that load drifting on
// a shared machine hits both alike. Deno runs with the permissions `npm run deno:dump`
// gives (scripts/deno-run.mjs), timed directly (no launcher in between).
// Usage: node bench/deno.mjs [--jobs 10000] [--runs 3] [--formats tar,tar.gz,tar.bz2,tar.xz,zip]
//                            [--restore tar] [--out bench/results/deno.md]
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, cpus } from 'node:os';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { denoBinary, denoCommand, denoEnv } from '../scripts/deno-run.mjs';
import { ensureStore, median, OUT, ROOT, size, timed } from './lib.mjs';

const { values } = parseArgs({
  options: {
    jobs: { type: 'string', default: '10000' },
    runs: { type: 'string', default: '3' },
    formats: { type: 'string', default: 'tar,tar.gz,tar.bz2,tar.xz,zip' },
    restore: { type: 'string', default: 'tar' },
    out: { type: 'string', default: join(ROOT, 'bench/results/deno.md') },
  },
});
const runs = Number(values.runs);
const formats = values.formats.split(',').filter(Boolean);
const store = ensureStore(`jobs${values.jobs}`, ['--jobs', values.jobs, '--seed', '1']);
const work = join(OUT, 'deno');
rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });

const env = { ...process.env, FLUX_URI: '', NOTIFY_SOCKET: '' };
const RUNTIMES = {
  node: (cli, args) => [process.execPath, join(ROOT, 'dist/cli', `${cli}.js`), ...args],
  deno: (cli, args) => denoCommand(cli, args, env),
};
const runEnv = { node: env, deno: denoEnv(env) };

/** Keys from the CLI's last progress line ("archived N keys" / "restored N keys (M blobs)"). */
function keysOf(stderr) {
  const all = [...stderr.matchAll(/(?:archived|restored) (\d+) keys/g)];
  return Number(all.at(-1)?.[1] ?? NaN);
}

/** Time `cli` under both runtimes, alternating; `prepare(rt)` runs untimed before each run. */
function sideBySide(cli, argsFor, prepare) {
  const res = { node: [], deno: [] };
  for (let i = 0; i < runs; i++) {
    for (const rt of i % 2 === 0 ? ['node', 'deno'] : ['deno', 'node']) {
      prepare(rt);
      const r = timed(RUNTIMES[rt](cli, argsFor(rt)), { env: runEnv[rt] });
      res[rt].push({ wall: r.wall, rssMiB: r.rssMiB, keys: keysOf(r.stderr) });
      console.error(`${cli} ${argsFor(rt).at(-1)} ${rt} run ${i + 1}: ${r.wall.toFixed(2)} s, ${r.rssMiB.toFixed(0)} MiB`);
    }
  }
  return res;
}

function summary(rs) {
  return { wall: median(rs.map((r) => r.wall)), rss: Math.max(...rs.map((r) => r.rssMiB)), keys: rs[0].keys, all: rs.map((r) => r.wall) };
}

/** Deno's archive against Node's: identical bytes, or (gzip) the same tar inside. */
function sameOutput(format, node, deno) {
  const a = readFileSync(node);
  const b = readFileSync(deno);
  if (a.equals(b)) return 'identical bytes';
  if (format === 'tar.gz' && gunzipSync(a).equals(gunzipSync(b))) return 'same tar inside (deflate differs)';
  if (format === 'zip') {
    // Deno's deflate differs: compare what unzip extracts, entry by entry (CRCs included)
    const list = (f) => execFileSync('unzip', ['-v', f], { encoding: 'utf8', maxBuffer: 1 << 28 }).split('\n').filter((l) => /^\s*\d+\s+(Defl|Stored)/.test(l)).map((l) => { const c = l.trim().split(/\s+/); return [c[0], c[6], c[7]].join(' '); });
    return JSON.stringify(list(node)) === JSON.stringify(list(deno)) ? 'same entries and CRCs (deflate differs)' : 'DIFFERENT';
  }
  return 'DIFFERENT';
}

const rows = [];
for (const format of formats) {
  const file = (rt) => join(work, `dump-${rt}.${format}`);
  const res = sideBySide('flux-dump', (rt) => ['--store', store, '--checkpoint', file(rt)], (rt) => rmSync(file(rt), { force: true }));
  rows.push({ what: `dump .${format}`, bytes: size(file('node')), node: summary(res.node), deno: summary(res.deno), same: sameOutput(format, file('node'), file('deno')) });
}
if (values.restore) {
  const archive = join(work, `dump-node.${values.restore}`);
  const target = (rt) => join(work, `restore-${rt}`);
  const res = sideBySide('flux-restore', (rt) => ['--checkpoint', '--store', target(rt), archive], (rt) => rmSync(target(rt), { recursive: true, force: true }));
  const rootOf = (rt) => execFileSync('sqlite3', [join(target(rt), 'content.sqlite'), 'SELECT value FROM checkpt_v2 ORDER BY id DESC LIMIT 1'], { encoding: 'utf8' });
  rows.push({ what: `restore .${values.restore}`, bytes: size(archive), node: summary(res.node), deno: summary(res.deno), same: rootOf('node') === rootOf('deno') ? 'same root' : 'DIFFERENT ROOT' });
}

const version = (argv) => /^\S+ \S+/.exec(execFileSync(argv[0], argv.slice(1), { encoding: 'utf8', env: runEnv.deno }))?.[0];
const fmt = (n, d = 2) => n.toFixed(d);
const kps = (keys, s) => Math.round(keys / s).toLocaleString('en');
const lines = [
  '# flux-dump under Node and Deno',
  '',
  `Command: \`node bench/deno.mjs --jobs ${values.jobs} --runs ${values.runs} --formats ${values.formats}${values.restore ? ` --restore ${values.restore}` : ''}\``,
  '',
  `Machine: ${cpus().length} vCPU (${cpus()[0]?.model.trim()}), shared; load average ${loadavg().map((l) => l.toFixed(1)).join(' ')} at the end.`,
  `Runtimes: node ${process.versions.node} (better-sqlite3 for restore); ${version([denoBinary(), '--version'])} (node:sqlite for restore), `,
  'run with the permissions of `npm run deno:dump` / `deno:restore`.',
  '',
  `Store: \`${relative(ROOT, store)}\` (scripts/gen-store.mjs --jobs ${values.jobs} --seed 1), ${(size(store) / 1e6).toFixed(0)} MB.`,
  `Median of ${runs} runs per cell, runtimes alternating; peak RSS is the largest of the runs. Wall times drift`,
  'between windows on this machine: compare the two runtimes within a row, not rows across files.',
  '',
  '| what | output MB | keys | node s | deno s | deno/node | node keys/s | deno keys/s | node RSS MiB | deno RSS MiB | output |',
  '|---|---|---|---|---|---|---|---|---|---|---|',
];
for (const r of rows) {
  lines.push(
    `| ${r.what} | ${fmt(r.bytes / 1e6, 1)} | ${r.node.keys.toLocaleString('en')} | ${fmt(r.node.wall)} | ${fmt(r.deno.wall)} | ${fmt(r.deno.wall / r.node.wall)}x | ` +
      `${kps(r.node.keys, r.node.wall)} | ${kps(r.deno.keys, r.deno.wall)} | ${fmt(r.node.rss, 0)} | ${fmt(r.deno.rss, 0)} | ${r.same} |`,
  );
}
lines.push('', 'All runs (s):', '');
for (const r of rows) lines.push(`- ${r.what}: node ${r.node.all.map((w) => fmt(w)).join(', ')}; deno ${r.deno.all.map((w) => fmt(w)).join(', ')}`);
const md = `${lines.join('\n')}\n`;
mkdirSync(join(values.out, '..'), { recursive: true });
writeFileSync(values.out, md);
process.stdout.write(md);
