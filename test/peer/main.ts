/**
 * The broker simulator as its own process (benchmarks: client and broker on separate
 * event loops, as in real life). Prints `READY <uri>` once listening; stops on SIGTERM,
 * SIGINT or when stdin closes. Lines on stdin: `stats` prints one JSON line of counters
 * since the last `reset` (requests, socket reads and response writes, most outstanding
 * and the mean over time, ms from the first request to the last response: the dump's
 * data phase, without process start-up); `reset` zeroes them.
 *
 *   node bench/out/peer-build/test/peer/main.js --store PATH [--latency MS] [--jitter MS]
 *        [--reorder none|reverse|shuffle] [--no-cache-preload]
 *
 * By default every reachable blob is held in memory, as a broker's content cache would
 * hold it; --no-cache-preload reads each one from the store per request instead.
 */
import { parseArgs } from 'node:util';
import { openStore } from '../../src/store/open.js';
import { BrokerPeer } from './broker-peer.js';

const { values } = parseArgs({
  options: {
    store: { type: 'string' },
    latency: { type: 'string', default: '0' },
    jitter: { type: 'string', default: '0' },
    reorder: { type: 'string', default: 'none' },
    'no-cache-preload': { type: 'boolean', default: false },
  },
});
if (!values.store) {
  process.stderr.write('usage: main.js --store PATH [--latency MS] [--jitter MS] [--reorder none|reverse|shuffle]\n');
  process.exit(2);
}
const store = await openStore(values.store);
const peer = await BrokerPeer.start({
  store,
  latencyMs: Number(values.latency),
  jitterMs: Number(values.jitter),
  reorder: values.reorder as 'none' | 'reverse' | 'shuffle',
  keepLog: false,
  cache: !values['no-cache-preload'],
});
let stopping = false;
const stop = async () => {
  if (stopping) return;
  stopping = true;
  const mean = peer.count ? peer.outstandingSum / peer.count : 0;
  const phaseMs = peer.lastResponseAt - peer.firstRequestAt;
  const inflight = phaseMs > 0 ? peer.outstandingMs / phaseMs : 0;
  process.stderr.write(
    `peer: ${peer.count} requests, at most ${peer.maxOutstanding} outstanding, ${inflight.toFixed(1)} on average over time ` +
      `(${mean.toFixed(1)} on average as each request arrived)\n`,
  );
  await peer.stop();
  await store.close();
  process.exit(0);
};
process.on('SIGTERM', () => void stop());
process.on('SIGINT', () => void stop());
process.stdin.on('end', () => void stop());
let line = '';
process.stdin.on('data', (d: Buffer) => {
  line += d.toString();
  for (let nl = line.indexOf('\n'); nl >= 0; nl = line.indexOf('\n')) {
    const cmd = line.slice(0, nl).trim();
    line = line.slice(nl + 1);
    if (cmd === 'stats') {
      const phaseMs = peer.lastResponseAt - peer.firstRequestAt;
      const meanInflight = phaseMs > 0 ? peer.outstandingMs / phaseMs : 0;
      const loadPhaseMs = peer.firstLoadAt > 0 ? peer.lastResponseAt - peer.firstLoadAt : 0;
      const stats = { requests: peer.count, reads: peer.reads, writes: peer.writes, maxOutstanding: peer.maxOutstanding, meanInflight, phaseMs, loadPhaseMs };
      process.stdout.write(`${JSON.stringify(stats)}\n`);
    } else if (cmd === 'reset') peer.resetStats();
  }
});
process.stdout.write(`READY ${peer.uri}\n`);
