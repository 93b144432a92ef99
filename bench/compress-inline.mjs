// Where inline compression beats the pool: for each codec, the cost of a cold pool (start
// 2 workers, load the codec, run one tiny task), a warm pool round trip, and the inline
// compression speed. Each cold measurement runs in a fresh process.
//
//   npm run build:ts && node bench/compress-inline.mjs [--reps 5]
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { kvsTar } from './compress-data.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const DIST = join(HERE, '../dist/compress');

async function probe(codec) {
  const { compressOnPool, closePool } = await import(join(DIST, 'pool.js'));
  const { getCompressor } = await import(join(DIST, 'codecs.js'));
  const t0 = performance.now();
  await Promise.all([compressOnPool(codec, new ArrayBuffer(100), 100, 2), compressOnPool(codec, new ArrayBuffer(100), 100, 2)]);
  const cold = performance.now() - t0;
  const t1 = performance.now();
  for (let i = 0; i < 20; i++) await compressOnPool(codec, new ArrayBuffer(100), 100, 2);
  const warm = (performance.now() - t1) / 20;
  const data = kvsTar(4 << 20, { seed: 1 });
  const compress = await getCompressor(codec);
  const t2 = performance.now();
  const tl = performance.now();
  compress(data.subarray(0, 1000)); // load cost is not per byte
  const load = performance.now() - tl;
  const t3 = performance.now();
  compress(data);
  const mbps = data.length / 1e6 / ((performance.now() - t3) / 1000);
  await closePool();
  console.log(JSON.stringify({ cold, warm, load: load + (t3 - t2 - load), mbps }));
}

if (process.argv[2] === '--probe') await probe(process.argv[3]);
else {
  const i = process.argv.indexOf('--reps');
  const reps = i >= 0 ? Number(process.argv[i + 1]) : 5;
  console.log('| codec | cold pool, 2 workers (ms) | warm round trip (ms) | inline MB/s | break-even vs cold pool |');
  console.log('|---|---|---|---|---|');
  for (const codec of ['gzip', 'bzip2', 'xz']) {
    const runs = [];
    for (let r = 0; r < reps; r++) {
      const out = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--probe', codec], { encoding: 'utf8' });
      runs.push(JSON.parse(out.stdout));
    }
    const med = (k) => runs.map((x) => x[k]).sort((a, b) => a - b)[Math.floor(runs.length / 2)];
    const breakEven = (med('cold') / 1000) * med('mbps') * 1e6;
    console.log(`| ${codec} | ${med('cold').toFixed(0)} | ${med('warm').toFixed(2)} | ${med('mbps').toFixed(1)} | ${(breakEven / 2 ** 20).toFixed(2)} MiB |`);
  }
}
