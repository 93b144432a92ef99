#!/usr/bin/env node
// flux-restore --checkpoint of one archive through the library, with the SQLite store on a
// worker thread and in-process, in whichever runtime runs this file: under Deno the
// worker's messaging costs more than it saves (src/runtime-pool.ts, storeWorkerByDefault).
// Usage: node bench/deno-restore-phases.mjs ARCHIVE OUTDIR
//        npx deno run -A bench/deno-restore-phases.mjs ARCHIVE OUTDIR
import { rmSync } from 'node:fs';
import { restore } from '../dist/restore/index.js';
import { runtimeLabel } from '../dist/runtime.js';

const [input, out] = typeof Deno === 'object' ? Deno.args : process.argv.slice(2);
if (!input || !out) throw new Error('usage: deno-restore-phases.mjs ARCHIVE OUTDIR');
for (const storeWorker of [true, false]) {
  rmSync(out, { recursive: true, force: true });
  const t0 = performance.now();
  await restore({ input, store: out, checkpoint: true, storeWorker, quiet: true });
  console.log(`${runtimeLabel()} storeWorker=${storeWorker}: ${((performance.now() - t0) / 1000).toFixed(2)} s`);
}
rmSync(out, { recursive: true, force: true });
