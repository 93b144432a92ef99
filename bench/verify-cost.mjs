#!/usr/bin/env node
// What blob verification costs in a whole dump: the same --checkpoint dump of a generated
// job store to tar, with verification on and off, interleaved, CPU time of this process.
// Usage: node bench/verify-cost.mjs [--jobs 100000] [--rounds 2]
import { parseArgs } from 'node:util';
import { dump } from '../dist/pipeline.js';
import { openStore } from '../dist/store/open.js';
import { ensureStore, median } from './lib.mjs';

const { values } = parseArgs({ options: { jobs: { type: 'string', default: '100000' }, rounds: { type: 'string', default: '2' } } });
const path = ensureStore(`jobs${values.jobs}`, ['--jobs', values.jobs, '--seed', '1']);

async function once(verify) {
  const store = await openStore(path);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let keys = 0;
  let bytes = 0;
  const s = dump({ store, checkpoint: true, maxreqs: 2, ignoreFailedRead: false, format: 'pax', filter: 'none', stdout: false, now: 0, uid: 0, gid: 0, verify, onEntries: (b) => (keys += b.length) });
  for await (const c of s) bytes += c.length; // archive bytes consumed in memory: no disk noise
  const cpu = process.cpuUsage(cpu0);
  await store.close();
  return { keys, bytes, wall: (performance.now() - t0) / 1000, cpu: (cpu.user + cpu.system) / 1e6 };
}

const on = [];
const off = [];
for (let r = 0; r < Number(values.rounds); r++) {
  off.push(await once(false));
  on.push(await once(true));
  console.error(`round ${r + 1}: off ${off.at(-1).cpu.toFixed(2)} s cpu, on ${on.at(-1).cpu.toFixed(2)} s cpu`);
}
const cOn = median(on.map((x) => x.cpu));
const cOff = median(off.map((x) => x.cpu));
console.log(`| ${values.jobs} jobs, ${on[0].keys} keys | verify off ${cOff.toFixed(2)} s CPU | verify on ${cOn.toFixed(2)} s CPU | cost ${(((cOn - cOff) / cOff) * 100).toFixed(1)}% |`);
