#!/usr/bin/env node
// Generate a job-shaped Flux content.sqlite: the Quick start sample and benchmark stores.
// Usage: scripts/gen-store --out DIR/content.sqlite [--jobs N] [--seed S] [--hash sha1|sha256]
//                          [--appends K] [--size-factor F]
import { parseArgs } from 'node:util';
import { genStore } from '../dist/gen/gen-store.js';
import { installWasmLz4 } from '../dist/wasm/lz4.js';

const { values } = parseArgs({
  options: {
    out: { type: 'string', default: 'sample/content.sqlite' },
    jobs: { type: 'string', default: '200' },
    seed: { type: 'string', default: '1' },
    hash: { type: 'string', default: 'sha1' },
    appends: { type: 'string', default: '1' },
    'size-factor': { type: 'string', default: '1' },
    timestamp: { type: 'string', default: '1795690510.5299776' },
  },
});
await installWasmLz4(); // LZ4 blocks via the WASM core
const t0 = performance.now();
const r = genStore({
  out: values.out,
  jobs: Number(values.jobs),
  seed: Number(values.seed),
  hash: values.hash,
  shape: { appends: Number(values.appends), sizeFactor: Number(values['size-factor']) },
  timestamp: Number(values.timestamp),
});
const s = (performance.now() - t0) / 1000;
console.error(
  `gen-store: ${values.out}: ${r.keys} keys, ${r.blobs} blobs, ${(r.bytes / 1e6).toFixed(1)} MB in ${s.toFixed(1)} s ` +
    `(${Math.round(r.keys / s)} keys/s), root ${r.rootref}`,
);
