#!/usr/bin/env node
// The live transport alone: content.load of every blob of a generated store through the
// broker simulator (separate process), with W loads in flight on one socket and nothing
// done with the blobs. Separates what the protocol client costs from what the dump
// pipeline (walk, verify, tar) costs; bench/broker.mjs measures the whole dump.
//
// Usage: node bench/broker-rpc.mjs [--jobs 2000] [--latencies 0,0.1,1] [--maxreqs 1,2,...,256]
// Needs dist/ built; builds the peer into bench/out/peer-build.
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { ensureStore, OUT, ROOT } from './lib.mjs';

const { values } = parseArgs({
  options: {
    jobs: { type: 'string', default: '2000' },
    latencies: { type: 'string', default: '0,0.1,1' },
    maxreqs: { type: 'string', default: '1,2,4,8,16,32,64,128,256' },
  },
});
const store = ensureStore(`jobs${values.jobs}`, ['--jobs', values.jobs, '--seed', '1']);
spawnSync('npx', ['tsc', '-p', join(ROOT, 'test/peer/tsconfig.json')], { cwd: ROOT, stdio: 'inherit' });
const { BrokerStore } = await import(join(ROOT, 'dist/broker/store.js'));
const { openStore } = await import(join(ROOT, 'dist/store/open.js'));
const { loadBlob } = await import(join(ROOT, 'dist/store/source.js'));

// Every blobref reachable from the checkpoint, in walk (FIFO) order.
async function allRefs() {
  const s = await openStore(store);
  const [ck] = await s.checkpoints();
  const refs = [];
  const queue = [ck.rootref];
  const seen = new Set();
  const dec = new TextDecoder();
  while (queue.length) {
    const ref = queue.shift();
    if (seen.has(ref)) continue;
    seen.add(ref);
    refs.push(ref);
    const text = dec.decode(await loadBlob(s, ref));
    if (text.startsWith('{"data":{')) for (const m of text.matchAll(/"(sha(?:1|256)-[0-9a-f]+)"/g)) queue.push(m[1]);
  }
  await s.close();
  return refs;
}

async function startPeer(latency) {
  const child = spawn(process.execPath, [join(OUT, 'peer-build/test/peer/main.js'), '--store', store, '--latency', String(latency)], { stdio: ['pipe', 'pipe', 'ignore'] });
  const rl = createInterface({ input: child.stdout });
  const uri = await new Promise((resolve) => rl.once('line', (l) => resolve(l.slice(6))));
  return { uri, stop: () => new Promise((resolve) => (child.once('exit', resolve), child.stdin.end())) };
}

/** Load every ref with `window` in flight; seconds. */
async function loadAll(uri, refs, window) {
  const s = await BrokerStore.open(uri);
  const t0 = performance.now();
  let next = 0;
  let bytes = 0;
  const lane = async () => {
    while (next < refs.length) bytes += (await s.load(refs[next++])).length;
  };
  await Promise.all(Array.from({ length: window }, lane));
  const secs = (performance.now() - t0) / 1000;
  await s.close();
  return { secs, bytes };
}

const refs = await allRefs();
console.log(`\n${refs.length} blobs (${values.jobs} jobs)\n`);
console.log('| latency | in flight | time | loads/s | vs 1 in flight | client CPU per load |');
console.log('|---|---|---|---|---|---|');
for (const latency of values.latencies.split(',').map(Number)) {
  const peer = await startPeer(latency);
  let base;
  for (const w of values.maxreqs.split(',').map(Number)) {
    const c0 = process.cpuUsage();
    const r = await loadAll(peer.uri, refs, w);
    const c = process.cpuUsage(c0);
    base ??= r.secs;
    console.log(`| ${latency} ms | ${w} | ${r.secs.toFixed(2)} s | ${Math.round(refs.length / r.secs).toLocaleString('en')} | ${(base / r.secs).toFixed(1)}x | ${((c.user + c.system) / refs.length).toFixed(1)} µs |`);
  }
  await peer.stop();
}
