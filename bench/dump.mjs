#!/usr/bin/env node
// Dump throughput: flux-dump --checkpoint of a generated job store to .tar.
// Usage: node bench/dump.mjs [--jobs 100000] [--runs 3] [--format tar] [--extra "--maxreqs=256"]
import { parseArgs } from 'node:util';
import { join } from 'node:path';
import { rmSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { ensureStore, median, nodeCli, OUT, ROOT, size, timed } from './lib.mjs';

const { values } = parseArgs({
  options: {
    jobs: { type: 'string', default: '100000' },
    runs: { type: 'string', default: '3' },
    format: { type: 'string', default: 'tar' },
    extra: { type: 'string', default: '' },
  },
});
const store = ensureStore(`jobs${values.jobs}`, ['--jobs', values.jobs, '--seed', '1']);
const out = join(OUT, `dump.${values.format}`);
const runs = [];
let keys = 0;
// This VM's speed drifts by tens of percent from one minute to the next: a fixed
// single-threaded workload timed just before each run shows how fast one core is then.
// It misses spells that only slow two busy threads; the CPU seconds per run show those.
const probe = new Uint8Array(256 << 20).fill(7);
function machineSpeed() {
  const t0 = performance.now();
  createHash('sha1').update(probe).digest();
  return probe.length / 1e6 / ((performance.now() - t0) / 1000);
}
for (let i = 0; i < Number(values.runs); i++) {
  rmSync(out, { force: true });
  const speed = machineSpeed();
  const argv = [...nodeCli(join(ROOT, 'dist/cli/flux-dump.js')), '--store', store, '--checkpoint', ...values.extra.split(' ').filter(Boolean), out];
  const r = timed(argv);
  keys = Number(/archived (\d+) keys\n/.exec(r.stderr)?.[1]);
  runs.push(r);
  console.error(`run ${i + 1}: ${r.wall.toFixed(2)} s, ${r.cpu.toFixed(2)} CPU s, peak RSS ${r.rssMiB.toFixed(0)} MiB (machine check just before: sha1 ${speed.toFixed(0)} MB/s)`);
}
const wall = median(runs.map((r) => r.wall));
const bytes = size(out);
const rss = Math.max(...runs.map((r) => r.rssMiB));
console.log(`| ${values.jobs} jobs | ${keys} keys | .${values.format} ${(bytes / 1e6).toFixed(0)} MB | ${wall.toFixed(2)} s | ${Math.round(keys / wall).toLocaleString('en')} keys/s | ${(bytes / 1e6 / wall).toFixed(0)} MB/s | ${rss.toFixed(0)} MiB |`);
