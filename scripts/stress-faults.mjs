#!/usr/bin/env node
/**
 * npm run stress:faults -- [--runs N] [--store PATH | --jobs N] [--cells REGEX] [--out FILE]
 *
 * Runs every cell of the fault matrix (scripts/fault-cells.mjs) N times (default 50) on a
 * large store (default: a generated store of at least 100 MiB, made once under /tmp) and
 * prints a table of cells x runs x wrong outcomes. Exits 1 if any outcome was wrong.
 * Races are the point: a cell that is right once can be wrong one run in twenty. Needs
 * root (it mounts a tmpfs) and the built CLIs (npm run build).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { cellName, dumpCells, makeWorkspace, RESTORE_FAULTS, runDumpCell, runRestoreCell, DUMP_CLI } from './fault-cells.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const MIN_STORE = 100 << 20;

function arg(name, dflt) {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : dflt;
}

const runs = Number(arg('runs', '50'));
const cellFilter = new RegExp(arg('cells', '.'));
let store = arg('store');
if (!store) {
  const jobs = Number(arg('jobs', '4500'));
  store = join(tmpdir(), `fluxdump-stress-${jobs}`, 'content.sqlite');
  if (!existsSync(store)) {
    console.error(`stress-faults: generating ${store} (${jobs} jobs)`);
    const g = spawnSync(process.execPath, [join(ROOT, 'scripts/gen-store.mjs'), '--jobs', String(jobs), '--out', store], { stdio: ['ignore', 'ignore', 'inherit'] });
    if (g.status !== 0) process.exit(1);
  }
}
const size = statSync(store).size;
if (size < MIN_STORE && !process.argv.includes('--small-ok')) {
  console.error(`stress-faults: ${store} is ${(size / 2 ** 20).toFixed(0)} MiB; the matrix wants at least 100 MiB (more --jobs, or --small-ok)`);
  process.exit(1);
}

const ws = makeWorkspace(tmpdir());
const archive = join(ws.disk, '..', 'stress.tar');
const seed = join(ws.disk, '..', 'seed.tar');
try {
  // The seed of the existing-store restore cell: a store small enough for the tmpfs.
  const seedStore = join(ws.disk, '..', 'seed', 'content.sqlite');
  const g = spawnSync(process.execPath, [join(ROOT, 'scripts/gen-store.mjs'), '--jobs', '3', '--shape', 'flat', '--out', seedStore], { encoding: 'utf8' });
  if (g.status !== 0) throw new Error(`seed store: ${g.stderr}`);
  for (const [out, src] of [[archive, store], [seed, seedStore]]) {
    const d = spawnSync(process.execPath, [DUMP_CLI, '-q', '--store', src, '--checkpoint', out], { encoding: 'utf8', env: { ...process.env, FLUX_URI: '' } });
    if (d.status !== 0) throw new Error(`dump of ${src}: ${d.stderr}`);
  }
  const cells = [...dumpCells(), ...RESTORE_FAULTS.map((fault) => ({ fault }))].filter((c) => cellFilter.test(cellName(c)));
  console.log(`store ${store} (${(size / 2 ** 20).toFixed(0)} MiB), ${runs} runs per cell, ${cells.length} cells`);
  const rows = [];
  for (const cell of cells) {
    let wrong = 0;
    let missed = 0;
    const why = new Map();
    for (let i = 0; i < runs; i++) {
      let r;
      try {
        r = 'format' in cell ? await runDumpCell(cell, store, ws) : await runRestoreCell(cell, archive, seed, ws);
      } catch (err) {
        r = { wrong: `the harness failed: ${err.message.split('\n')[0]}`, missed: false };
      }
      if (r.missed) missed++;
      if (r.wrong) {
        wrong++;
        why.set(r.wrong, (why.get(r.wrong) ?? 0) + 1);
      }
    }
    const row = { cell: cellName(cell), runs, wrong, missed, why: [...why].map(([w, n]) => `${n}x ${w}`).join('; ') };
    rows.push(row);
    console.log(`| ${row.cell} | ${runs} | ${wrong} | ${missed} | ${row.why}`);
  }
  const total = rows.reduce((a, r) => a + r.wrong, 0);
  const table = ['| cell | runs | wrong outcomes | signal missed (run ended first) |', '|---|---|---|---|', ...rows.map((r) => `| ${r.cell} | ${r.runs} | ${r.wrong}${r.why ? ` (${r.why})` : ''} | ${r.missed} |`)].join('\n');
  console.log(`\n${table}\n\n${total} wrong outcomes in ${rows.length * runs} runs`);
  const out = arg('out');
  if (out) writeFileSync(out, `${table}\n`);
  process.exitCode = total === 0 ? 0 : 1;
} finally {
  ws.close();
}
