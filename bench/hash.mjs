#!/usr/bin/env node
// sha1/sha256 throughput, side by side in one process (run `npm run build` first):
//   MB/s on 1 MiB blobs and blobs/s on 300-byte blobs, for
//   - ours, WASM batch (WasmSha.digestMany, 1000 blobs per call; forced WASM even for 1 MiB)
//   - ours, Digester (getDigester: WASM batch for small blobs, node:crypto for large)
//   - node:crypto createHash per blob
//   - hash-wasm 4.x, one reused hasher (init/update/digest per blob)
// Then the blobs a dump verifies: every value blob of the job-shaped generator
// (src/gen/jobs.ts) in batches of 1024, as the walk hands them over: Digester.digestMany
// vs node:crypto per blob (the walk's fallback checker) vs hash-wasm.
// Usage: node --expose-gc bench/hash.mjs [--rounds N] [--ms N]
import { createHash } from 'node:crypto';
import { createSHA1, createSHA256 } from 'hash-wasm';
import { generateJobs } from '../dist/gen/jobs.js';
import { getDigester, initWasm } from '../dist/verify/digest.js';
import { WasmSha } from '../dist/wasm/sha.js';
import { fmt, measure, randomBytes } from './hash-util.mjs';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const rounds = arg('--rounds', 9);
const minMs = arg('--ms', 300);

await initWasm();
const SMALL = 300;
const SMALL_COUNT = 1000;
const big = randomBytes(1 << 20, 3);
const pool = randomBytes(SMALL * SMALL_COUNT, 4);
const small = Array.from({ length: SMALL_COUNT }, (_, i) => pool.subarray(i * SMALL, (i + 1) * SMALL));

const rows = [];
for (const hash of ['sha1', 'sha256']) {
  const wasm = await WasmSha.load(hash);
  const digester = getDigester(hash);
  const hw = hash === 'sha1' ? await createSHA1() : await createSHA256();
  // Every case must produce node:crypto's digests.
  const want = createHash(hash).update(big).digest('hex');
  if (Buffer.from(wasm.digest(big)).toString('hex') !== want) throw new Error(`${hash}: WASM digest mismatch`);
  hw.init();
  hw.update(big);
  if (hw.digest('hex') !== want) throw new Error(`${hash}: hash-wasm digest mismatch`);

  const mb = measure(
    [
      { name: 'ours WASM', run: () => (wasm.digest(big), 1) },
      { name: 'ours Digester', run: () => (digester.digest(big), 1) },
      { name: 'node:crypto', run: () => (createHash(hash).update(big).digest(), 1) },
      {
        name: 'hash-wasm',
        run: () => {
          hw.init();
          hw.update(big);
          hw.digest('binary');
          return 1;
        },
      },
    ],
    { rounds, minMs },
  );
  const perBlob = measure(
    [
      { name: 'ours WASM', run: () => (wasm.digestMany(small), SMALL_COUNT) },
      { name: 'ours Digester', run: () => (digester.digestMany(small), SMALL_COUNT) },
      {
        name: 'ours WASM one call per blob',
        run: () => {
          for (const b of small) wasm.digest(b);
          return SMALL_COUNT;
        },
      },
      {
        name: 'node:crypto',
        run: () => {
          for (const b of small) createHash(hash).update(b).digest();
          return SMALL_COUNT;
        },
      },
      {
        name: 'hash-wasm',
        run: () => {
          for (const b of small) {
            hw.init();
            hw.update(b);
            hw.digest('binary');
          }
          return SMALL_COUNT;
        },
      },
    ],
    { rounds, minMs },
  );
  const nodeSmall = perBlob.get('node:crypto');
  const hwBig = mb.get('hash-wasm');
  for (const [name, rate] of perBlob) {
    rows.push({ hash, name, mbs: mb.get(name), big: mb.get(name) && mb.get(name) / hwBig, blobs: rate, small: rate / nodeSmall });
  }
}

console.log(`node ${process.version}, rounds=${rounds}, ${minMs} ms each, median`);
console.log('| hash | implementation | 1 MiB MB/s | vs hash-wasm | 300 B blobs/s | vs node:crypto |');
console.log('|---|---|---:|---:|---:|---:|');
for (const r of rows) {
  const big = r.mbs === undefined ? '–' : fmt(r.mbs * 1.048576);
  const bigRatio = r.big === undefined ? '–' : `${fmt(r.big, 2)}x`;
  console.log(`| ${r.hash} | ${r.name} | ${big} | ${bigRatio} | ${fmt(r.blobs)} | ${fmt(r.small, 2)}x |`);
}

// ---------------------------------------------------------------- job-shaped blobs
const enc = new TextEncoder();
const jobBlobs = [];
for (const job of generateJobs(3000, 7, { appends: 10, sizeFactor: 1 })) {
  for (const v of job.values) for (const p of v.parts) jobBlobs.push(enc.encode(p));
}
const jobBytes = jobBlobs.reduce((n, b) => n + b.length, 0);
const BATCH = 1024;
const batches = [];
for (let i = 0; i < jobBlobs.length; i += BATCH) batches.push(jobBlobs.slice(i, i + BATCH));
console.log(`\njob-shaped value blobs: ${jobBlobs.length} blobs, mean ${fmt(jobBytes / jobBlobs.length)} B, batches of ${BATCH}`);
console.log('| hash | implementation | blobs/s | MB/s | vs node:crypto |');
console.log('|---|---|---:|---:|---:|');
for (const hash of ['sha1', 'sha256']) {
  const digester = getDigester(hash);
  const hw = hash === 'sha1' ? await createSHA1() : await createSHA256();
  const all = (f) => () => {
    for (const b of batches) f(b);
    return jobBlobs.length;
  };
  const r = measure(
    [
      { name: 'ours Digester.digestMany', run: all((b) => digester.digestMany(b)) },
      { name: 'node:crypto per blob', run: all((b) => b.forEach((x) => createHash(hash).update(x).digest())) },
      {
        name: 'hash-wasm per blob',
        run: all((b) =>
          b.forEach((x) => {
            hw.init();
            hw.update(x);
            hw.digest('binary');
          }),
        ),
      },
    ],
    { rounds, minMs },
  );
  const base = r.get('node:crypto per blob');
  for (const [name, rate] of r) {
    console.log(`| ${hash} | ${name} | ${fmt(rate)} | ${fmt((rate * jobBytes) / jobBlobs.length / 1e6)} | ${fmt(rate / base, 2)}x |`);
  }
}
