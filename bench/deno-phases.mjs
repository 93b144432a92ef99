#!/usr/bin/env node
// Where a plain .tar dump spends its time, in whichever runtime runs this file: the same
// library calls under `node` and under `deno run` (with flux-dump's permissions), so the
// gap between the runtimes can be pinned on a stage. Stages, each timed alone:
//   walk      Walker over the store (SQLite file reads, LZ4, tree decoding), verify off
//   verify    the same walk with blob verification on (as the CLI does)
//   dump      dump() to tar bytes, discarded (adds the tar writer and the web stream)
//   sink      dump() piped into the file sink the CLI uses
// Usage: node bench/deno-phases.mjs STORE [OUT.tar]
//        npx deno run -A bench/deno-phases.mjs STORE [OUT.tar]
import { rmSync } from 'node:fs';
import { dump, openStore, chooseRoot, Walker } from '../dist/index.js';
import { createBlobVerifier } from '../dist/verify/verify.js';
import { initCore } from '../dist/wasm/init.js';
import { fileSink } from '../dist/sink/file.js';
import { runtimeLabel } from '../dist/runtime.js';

const [storePath, outPath = '/tmp/fluxdump-deno-phases.tar'] = typeof Deno === 'object' ? Deno.args : process.argv.slice(2);
if (!storePath) throw new Error('usage: deno-phases.mjs STORE [OUT.tar]');
await initCore();

async function timeIt(name, fn) {
  const store = await openStore(storePath);
  const t0 = performance.now();
  const n = await fn(store);
  const s = (performance.now() - t0) / 1000;
  await store.close();
  return { name, s, n };
}

const meta = { mtime: 0, uid: 0, gid: 0, mode: 0o644 };
async function walkAll(store, verify) {
  const root = await chooseRoot(store, true, 0);
  const checker = verify ? await createBlobVerifier(store.hashType) : undefined;
  const walker = new Walker(store, { maxreqs: 2, ignoreFailedRead: false, meta, checker });
  let n = 0;
  for await (const batch of walker.walk(root.rootref)) n += batch.length;
  return n;
}
const dumpOpts = (store) => ({ store, checkpoint: true, maxreqs: 2, ignoreFailedRead: false, format: 'pax', filter: 'none', stdout: false, now: 0, uid: 0, gid: 0 });

const rows = [
  await timeIt('walk', (store) => walkAll(store, false)),
  await timeIt('verify', (store) => walkAll(store, true)),
  await timeIt('dump', async (store) => {
    let bytes = 0;
    await dump(dumpOpts(store)).pipeTo(new WritableStream({ write: (c) => void (bytes += c.length) }));
    return bytes;
  }),
  await timeIt('sink', async (store) => {
    rmSync(outPath, { force: true });
    await dump(dumpOpts(store)).pipeTo(fileSink(outPath));
    return 0;
  }),
];
console.log(`${runtimeLabel()}: ${rows.map((r) => `${r.name} ${r.s.toFixed(2)} s`).join(', ')} (${rows[0].n} keys, ${rows[2].n} bytes)`);
