#!/usr/bin/env node
// Generate a Flux content.sqlite: the Quick start sample, benchmark and scale stores.
// Deterministic for a seed; memory stays flat at millions of keys.
//
// Usage: scripts/gen-store --out DIR/content.sqlite [--shape S] [--keys K | --jobs N]
//                          [--seed S] [--hash sha1|sha256] [shape options]
// Shapes (keys counted = archive entries):
//   jobs     (default) production-shaped: real Flux job keys (7 per job plus 4 top-level
//            keys) written as a running instance writes them, commit by commit: eventlogs
//            of 10 blobs, guest namespaces, ~65% of the objects garbage (docs/generator.md).
//            --keys K makes whole jobs, at least K keys. --running N (jobs at once, 32),
//            --burst B (jobs submitted in the same ms, mean 2.5), --burst-gap G (ms
//            between bursts; default from --jobs), --merge-ms M (primary commits
//            merged within M ms, 0.3), --checkpoint-every C (5000 commits)
//   flat     the same keys written once in tree order, one blob per value, no garbage:
//            --appends A (eventlog blobs, default 1), --size-factor F (value sizes x F)
//   wide     every key in one directory (--width W: W keys per directory)
//   deep     paths of --depth D components (32), branching --fanout F ways (16)
//   big      big values: --value-size default logn:256k:1, 256 keys per directory
//   appends  values of --appends A blobs (100), one 128-byte line each, as
//            `flux kvs put --append` leaves them
// Values (all but jobs): --value-size N | MIN-MAX | logn:MEDIAN[:SIGMA[:MAX]]
//   (sizes take k/M/G suffixes; default logn:256:1, or appends x 128 bytes), --appends A
// SQLite is written by a worker thread for stores of 200,000 keys and up (--worker: always,
// --inline: never); the file is the same either way.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { genStore, jobsForKeys, SHAPES, syntheticPreset } from '../dist/gen/gen-store.js';
import { installWasmLz4 } from '../dist/wasm/lz4.js';
import { initWasm } from '../dist/verify/digest.js';

const { values: v } = parseArgs({
  options: {
    out: { type: 'string', default: 'sample/content.sqlite' },
    shape: { type: 'string', default: 'jobs' },
    keys: { type: 'string' },
    jobs: { type: 'string' },
    seed: { type: 'string', default: '1' },
    hash: { type: 'string', default: 'sha1' },
    appends: { type: 'string' },
    'size-factor': { type: 'string' },
    running: { type: 'string' },
    burst: { type: 'string' },
    'burst-gap': { type: 'string' },
    'merge-ms': { type: 'string' },
    'checkpoint-every': { type: 'string' },
    width: { type: 'string' },
    depth: { type: 'string' },
    fanout: { type: 'string' },
    'value-size': { type: 'string' },
    timestamp: { type: 'string', default: '1795690510.5299776' },
    inline: { type: 'boolean', default: false },
    worker: { type: 'boolean', default: false },
    quiet: { type: 'boolean', short: 'q', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (v.help) {
  // the comment block at the top of this file is the usage text
  const text = readFileSync(new URL(import.meta.url), 'utf8').split('\n');
  const usage = text.slice(1, text.findIndex((l) => l.startsWith('import'))).map((l) => l.replace(/^\/\/ ?/, ''));
  process.stdout.write(usage.join('\n').trim() + '\n');
  process.exit(0);
}

function fail(msg) {
  console.error(`gen-store: ${msg}`);
  process.exit(2);
}
const num = (name) => {
  if (v[name] === undefined) return undefined;
  const n = Number(v[name]);
  if (!Number.isFinite(n) || n < 0) fail(`--${name} must be a non-negative number: ${v[name]}`);
  return n;
};
if (!SHAPES.includes(v.shape)) fail(`unknown shape ${v.shape} (one of ${SHAPES.join(', ')})`);
if (v.hash !== 'sha1' && v.hash !== 'sha256') fail(`--hash must be sha1 or sha256: ${v.hash}`);
const common = { out: v.out, seed: num('seed'), hash: v.hash, timestamp: num('timestamp'), worker: v.inline ? false : v.worker ? true : undefined };
let opts;
try {
  const liveFlags = ['running', 'burst', 'burst-gap', 'merge-ms', 'checkpoint-every'];
  if (v.shape !== 'jobs') for (const f of liveFlags) if (v[f] !== undefined) fail(`--${f} is for the jobs shape`);
  if (v.shape === 'jobs' || v.shape === 'flat') {
    if (v.keys !== undefined && v.jobs !== undefined) fail('give --keys or --jobs, not both');
    const jobs = v.keys !== undefined ? jobsForKeys(num('keys')) : (num('jobs') ?? 200);
    if (v.shape === 'flat') opts = { ...common, jobs, shape: { appends: num('appends') ?? 1, sizeFactor: num('size-factor') ?? 1 } };
    else {
      for (const f of ['appends', 'size-factor']) if (v[f] !== undefined) fail(`--${f} is for --shape flat (the jobs shape's eventlogs grow by commits)`);
      const live = { running: num('running'), burst: num('burst'), burstGapMs: num('burst-gap'), mergeMs: num('merge-ms'), checkpointEvery: num('checkpoint-every') };
      for (const k of Object.keys(live)) if (live[k] === undefined) delete live[k];
      if (live.running === 0 || (live.burst !== undefined && live.burst < 1) || live.checkpointEvery === 0) fail('--running and --checkpoint-every must be positive, --burst at least 1');
      opts = { ...common, jobs, live };
    }
  } else {
    if (v.jobs !== undefined) fail(`--jobs is for the jobs shape; use --keys with --shape ${v.shape}`);
    const synthetic = syntheticPreset(v.shape, num('keys') ?? 100000, {
      width: num('width'),
      depth: num('depth'),
      fanout: num('fanout'),
      valueSize: v['value-size'],
      appends: num('appends'),
    });
    opts = { ...common, synthetic };
  }
} catch (err) {
  fail(err.message);
}

await Promise.all([installWasmLz4(), initWasm()]); // LZ4 blocks and batch hashing via the WASM cores
const t0 = performance.now();
let r;
try {
  r = genStore(opts);
} catch (err) {
  fail(err.message);
}
const s = (performance.now() - t0) / 1000;
if (!v.quiet) {
  console.error(
    `gen-store: ${v.out}: ${v.shape}, ${r.keys} keys, ${r.rows} objects (${r.blobs} blobs, ${(r.bytes / 1e6).toFixed(1)} MB) ` +
      `in ${s.toFixed(1)} s (${Math.round(r.keys / s)} keys/s; finishing ${(r.finishMs / 1000).toFixed(1)} s, index ${(r.indexMs / 1000).toFixed(1)} s), root ${r.rootref}`,
  );
}
