#!/usr/bin/env node
// Live dump throughput: flux-dump --checkpoint through the broker simulator (a separate
// process serving a generated content.sqlite over a unix socket) against the offline
// dump of the same store, for --maxreqs 1..256 and injected per-request latencies.
// Two clocks: wall time of the whole CLI run (process start-up included), and the data
// phase as the peer sees it (first request in to last response out), which is what
// --maxreqs changes; keys/s and ratios are given for both. "In flight" is the peer's mean
// number of requests outstanding over the data phase (time-weighted); "response writes" is
// how many socket writes the peer made (about one per round trip of the window).
//
// Usage: node bench/broker.mjs [--jobs 10000] [--latencies 0,0.1,1] [--maxreqs 1,2,4,...,256] [--runs 1]
// Needs dist/ built (npx tsc -p tsconfig.json); builds the peer into bench/out/peer-build.
import { spawn, spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { ensureStore, median, nodeCli, OUT, ROOT, timed } from './lib.mjs';

const { values } = parseArgs({
  options: {
    jobs: { type: 'string', default: '10000' },
    latencies: { type: 'string', default: '0,0.1,1' },
    maxreqs: { type: 'string', default: '1,2,4,8,16,32,64,128,256' },
    runs: { type: 'string', default: '1' },
  },
});
const jobs = values.jobs;
const latencies = values.latencies.split(',').map(Number);
const maxreqsList = values.maxreqs.split(',').map(Number);
const runs = Number(values.runs);
const CLI = join(ROOT, 'dist/cli/flux-dump.js');
const PEER = join(OUT, 'peer-build/test/peer/main.js');
const tar = join(OUT, 'broker-dump.tar');

const store = ensureStore(`jobs${jobs}`, ['--jobs', jobs, '--seed', '1']);
const build = spawnSync('npx', ['tsc', '-p', join(ROOT, 'test/peer/tsconfig.json')], { cwd: ROOT, stdio: 'inherit' });
if (build.status !== 0) console.error('peer build reported type errors (emitted anyway)');

function dumpOnce(argv, env) {
  rmSync(tar, { force: true });
  // As the installed bin runs it (node flags from its shebang).
  const r = timed([...nodeCli(CLI), ...argv, tar], { env: { ...process.env, NOTIFY_SOCKET: '', ...env } });
  return { wall: r.wall, keys: Number(/archived (\d+) keys\n/.exec(r.stderr)?.[1]) };
}

async function measure(argv, env, peer) {
  const rs = [];
  for (let i = 0; i < runs; i++) {
    if (peer) peer.command('reset');
    const r = dumpOnce(argv, env);
    if (peer) {
      const st = JSON.parse(await peer.ask('stats'));
      r.phase = st.phaseMs / 1000;
      r.inflight = st.meanInflight ?? NaN; // older peers do not count these
      r.writes = st.writes ?? NaN;
    }
    rs.push(r);
  }
  const mid = (f) => (peer ? median(rs.map(f)) : NaN);
  return { wall: median(rs.map((r) => r.wall)), phase: mid((r) => r.phase), inflight: mid((r) => r.inflight), writes: mid((r) => r.writes), keys: rs[0].keys };
}

async function startPeer(latency) {
  const child = spawn(process.execPath, [PEER, '--store', store, '--latency', String(latency)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const rl = createInterface({ input: child.stdout });
  const waiters = [];
  rl.on('line', (line) => waiters.shift()?.(line));
  const next = () => new Promise((resolve) => waiters.push(resolve));
  const ready = await Promise.race([next(), new Promise((_, reject) => child.once('exit', (code) => reject(new Error(`peer exited ${code}`))))]);
  if (!ready.startsWith('READY ')) throw new Error(ready);
  const uri = ready.slice(6);
  return {
    uri,
    command: (cmd) => child.stdin.write(`${cmd}\n`),
    ask: (cmd) => {
      const p = next();
      child.stdin.write(`${cmd}\n`);
      return p;
    },
    stop: () =>
      new Promise((resolve) => {
        child.once('exit', resolve);
        child.stdin.end();
      }),
  };
}

const offline = await measure(['--store', store, '--checkpoint'], {});
console.error(`offline: ${offline.keys} keys in ${offline.wall.toFixed(2)} s`);
const rows = [];
for (const latency of latencies) {
  const peer = await startPeer(latency);
  let base;
  for (const m of maxreqsList) {
    const r = await measure(['--checkpoint', `--maxreqs=${m}`], { FLUX_URI: peer.uri }, peer);
    if (r.keys !== offline.keys) throw new Error(`live dump archived ${r.keys} keys, offline ${offline.keys}`);
    base ??= r;
    rows.push({ latency, m, ...r, vs1: base.wall / r.wall, phaseVs1: base.phase / r.phase, vsOffline: offline.wall / r.wall });
    console.error(`latency ${latency} ms, maxreqs ${m}: wall ${r.wall.toFixed(2)} s, data phase ${r.phase.toFixed(2)} s, ${r.inflight.toFixed(1)} in flight on average`);
  }
  await peer.stop();
}

console.log(`\nStore: ${jobs} jobs, ${offline.keys} keys; offline --checkpoint dump ${offline.wall.toFixed(2)} s (${Math.round(offline.keys / offline.wall).toLocaleString('en')} keys/s); median of ${runs} run(s).\n`);
console.log(
  '| latency | --maxreqs | wall | keys/s (wall) | wall vs --maxreqs=1 | wall vs offline | data phase | keys/s (phase) | phase vs --maxreqs=1 | in flight (mean over time) | response writes |',
);
console.log('|---|---|---|---|---|---|---|---|---|---|---|');
for (const r of rows) {
  console.log(
    `| ${r.latency} ms | ${r.m} | ${r.wall.toFixed(2)} s | ${Math.round(r.keys / r.wall).toLocaleString('en')} | ${r.vs1.toFixed(1)}x | ${r.vsOffline.toFixed(2)}x ` +
      `| ${r.phase.toFixed(3)} s | ${Math.round(r.keys / r.phase).toLocaleString('en')} | ${r.phaseVs1.toFixed(1)}x | ${r.inflight.toFixed(1)} | ${r.writes} |`,
  );
}
const at1 = rows.filter((r) => r.latency === 1);
const one = at1.find((r) => r.m === 1);
const sixtyfour = at1.find((r) => r.m === 64);
if (one && sixtyfour) {
  const wall = one.wall / sixtyfour.wall;
  const phase = one.phase / sixtyfour.phase;
  console.log(`\n1 ms latency, --maxreqs=64 vs --maxreqs=1: ${wall.toFixed(1)}x wall, ${phase.toFixed(1)}x data phase (requirement: >= 30x)`);
}
