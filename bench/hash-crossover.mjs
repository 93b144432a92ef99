#!/usr/bin/env node
// Where should a blob leave the WASM batch for node:crypto? For each size, time per blob of
//   - the WASM batch: WasmSha.digestMany over ~1 MiB of equal blobs (copy in + hash + copy out)
//   - node:crypto:    createHash(h).update(blob).digest() per blob
// measured interleaved in one process. The smallest size from which node:crypto stays
// faster is the crossover; CRYPTO_MIN_BYTES in src/verify/digest.ts cites this bench.
// Usage: node --expose-gc bench/hash-crossover.mjs [--rounds N] [--ms N]   (after `npm run build`)
import { createHash } from 'node:crypto';
import { WasmSha } from '../dist/wasm/sha.js';
import { CRYPTO_MIN_BYTES } from '../dist/verify/digest.js';
import { fmt, measure, randomBytes } from './hash-util.mjs';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const rounds = arg('--rounds', 5);
const minMs = arg('--ms', 150);
const SIZES = [64, 128, 256, 384, 512, 768, 1024, 1536, 2048, 3072, 4096, 6144, 8192, 16384, 65536];
const pool = randomBytes(1 << 21, 9);

console.log(`node ${process.version}, rounds=${rounds}, ${minMs} ms each, median; ns per blob`);
for (const hash of ['sha1', 'sha256']) {
  const wasm = await WasmSha.load(hash);
  const rows = [];
  let crossover;
  for (const size of SIZES) {
    const count = Math.max(16, Math.floor((1 << 20) / size));
    const blobs = Array.from({ length: count }, (_, i) => pool.subarray(i * 7, i * 7 + size));
    const r = measure(
      [
        { name: 'wasm', run: () => (wasm.digestMany(blobs), count) },
        {
          name: 'crypto',
          run: () => {
            for (const b of blobs) createHash(hash).update(b).digest();
            return count;
          },
        },
      ],
      { rounds, minMs, warmupMs: 200 },
    );
    const wasmNs = 1e9 / r.get('wasm');
    const cryptoNs = 1e9 / r.get('crypto');
    rows.push({ size, wasmNs, cryptoNs });
    if (cryptoNs < wasmNs) crossover ??= size;
    else crossover = undefined; // must stay faster from here on
  }
  console.log(`\n${hash} (CRYPTO_MIN_BYTES now ${CRYPTO_MIN_BYTES[hash]}; measured crossover: ${crossover ?? '> ' + SIZES.at(-1)})`);
  console.log('| size | WASM batch ns/blob | node:crypto ns/blob | crypto/WASM time |');
  console.log('|---:|---:|---:|---:|');
  for (const { size, wasmNs, cryptoNs } of rows) {
    console.log(`| ${size} | ${fmt(wasmNs)} | ${fmt(cryptoNs)} | ${fmt(cryptoNs / wasmNs, 2)} |`);
  }
}
