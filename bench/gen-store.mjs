#!/usr/bin/env node
// Store generator speed and memory: scripts/gen-store at scale, per shape.
//
// Usage: node bench/gen-store.mjs [--keys 1000000,5000000] [--shapes flat,wide,...]
//          [--runs 1] [--inline] [--verify] [--md FILE] [--extra="--width 10000"]
// Each cell runs `scripts/gen-store --shape S --keys K` under /usr/bin/time: wall, CPU
// (user+sys: what the run cost however loaded the machine was), peak RSS. With --inline
// each cell runs again with SQLite on the main thread (the in-run baseline for the
// worker). --verify dumps each store with our flux-dump and counts `tar tf` members.
// Stores go to bench/out/gen/<shape>-<keys>/ and are deleted after each cell.
import { spawnSync } from 'node:child_process';
import { loadavg } from 'node:os';
import { rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { OUT, ROOT } from './lib.mjs';

const { values: v } = parseArgs({
  options: {
    keys: { type: 'string', default: '1000000' },
    // flat: the jobs shape these scale figures were first taken with (the production-shaped
    // `jobs` simulates every commit: ~10x the objects per key, docs/generator.md)
    shapes: { type: 'string', default: 'flat' },
    runs: { type: 'string', default: '1' },
    inline: { type: 'boolean', default: false },
    verify: { type: 'boolean', default: false },
    extra: { type: 'string', default: '' },
    md: { type: 'string' },
  },
});

const GEN = join(ROOT, 'scripts/gen-store.mjs');
const DUMP = join(ROOT, 'dist/cli/flux-dump.js');

/** Run under /usr/bin/time; wall from here, user/sys/RSS from time(1). */
function timed(argv) {
  const t0 = performance.now();
  const r = spawnSync('/usr/bin/time', ['-f', 'TIME user=%U sys=%S rss=%M', ...argv], { encoding: 'utf8', maxBuffer: 1 << 26 });
  const wall = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed (${r.status}): ${r.stderr}`);
  const m = /TIME user=([\d.]+) sys=([\d.]+) rss=(\d+)/.exec(r.stderr);
  return { wall, cpu: Number(m[1]) + Number(m[2]), rssMiB: Number(m[3]) / 1024, stderr: r.stderr };
}

function genCell(shape, keys, inline) {
  const dir = join(OUT, 'gen', `${shape}-${keys}`);
  const path = join(dir, 'content.sqlite');
  rmSync(dir, { recursive: true, force: true });
  const load = loadavg()[0];
  const argv = [process.execPath, GEN, '--out', path, '--shape', shape, '--keys', String(keys), ...(inline ? ['--inline'] : []), ...v.extra.split(' ').filter(Boolean)];
  const r = timed(argv);
  const m = /: (\w+), (\d+) keys, (\d+) objects \((\d+) blobs, ([\d.]+) MB\) in [\d.]+ s \(\d+ keys\/s; finishing ([\d.]+) s, index ([\d.]+) s\), root (\S+)/.exec(r.stderr);
  if (!m) throw new Error(`unexpected gen-store output: ${r.stderr}`);
  const cell = {
    shape,
    mode: inline ? 'inline' : 'worker',
    keys: Number(m[2]),
    objects: Number(m[3]),
    mb: Number(m[5]),
    fileMB: statSync(path).size / 1e6,
    wall: r.wall,
    cpu: r.cpu,
    rss: r.rssMiB,
    finish: Number(m[6]),
    index: Number(m[7]),
    root: m[8],
    load,
  };
  if (v.verify) {
    const tar = join(dir, 'dump.tar');
    const d = spawnSync(process.execPath, [DUMP, '-q', '--checkpoint', `--store=${path}`, tar], { encoding: 'utf8' });
    if (d.status !== 0) throw new Error(`dump failed: ${d.stderr}`);
    const list = spawnSync('sh', ['-c', `tar tf '${tar}' | wc -l`], { encoding: 'utf8' });
    cell.tarEntries = Number(list.stdout.trim());
    if (cell.tarEntries !== cell.keys) throw new Error(`${path}: tar lists ${cell.tarEntries} entries, generator made ${cell.keys} keys`);
  }
  rmSync(dir, { recursive: true, force: true });
  return cell;
}

const fmt = (n) => Math.round(n).toLocaleString('en');
const rows = [];
for (const shape of v.shapes.split(',')) {
  for (const keys of v.keys.split(',').map(Number)) {
    for (const inline of v.inline ? [false, true] : [false]) {
      for (let i = 0; i < Number(v.runs); i++) {
        const c = genCell(shape, keys, inline);
        rows.push(c);
        console.error(
          `${c.shape} ${c.mode} ${fmt(c.keys)} keys: ${c.wall.toFixed(1)} s wall, ${c.cpu.toFixed(1)} s CPU, ${fmt(c.keys / c.wall)} keys/s, ` +
            `${fmt(c.keys / c.cpu)} keys/CPU-s, RSS ${c.rss.toFixed(0)} MiB, load ${c.load.toFixed(1)}${c.tarEntries ? `, tar ${fmt(c.tarEntries)} entries` : ''}`,
        );
      }
    }
  }
}

const header = [
  '| shape | SQLite | keys | objects | data MB | file MB | wall s | keys/s | CPU s | keys/CPU-s | peak RSS MiB | index s | load |',
  '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
];
const lines = rows.map(
  (c) =>
    `| ${c.shape} | ${c.mode} | ${fmt(c.keys)} | ${fmt(c.objects)} | ${fmt(c.mb)} | ${fmt(c.fileMB)} | ${c.wall.toFixed(1)} | ${fmt(c.keys / c.wall)} | ` +
    `${c.cpu.toFixed(1)} | ${fmt(c.keys / c.cpu)} | ${c.rss.toFixed(0)} | ${c.index.toFixed(1)} | ${c.load.toFixed(1)} |`,
);
const table = [...header, ...lines].join('\n');
console.log(table);
if (v.md) writeFileSync(v.md, table + '\n');
