#!/usr/bin/env node
// CPU of the walk alone: one build's Walker over one content.sqlite, in-process, with the
// load thread off, N times (the first includes JIT warm-up). For before/after checks of
// the load loop: run once per build, in separate processes.
// Usage: node bench/walk-cpu.mjs --root BUILD_ROOT --store content.sqlite [--walks 3]
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { ROOT } from './lib.mjs';

const { values } = parseArgs({ options: { root: { type: 'string', default: ROOT }, store: { type: 'string' }, walks: { type: 'string', default: '3' } } });
if (!values.store) throw new Error('--store content.sqlite is required');
const dist = (p) => pathToFileURL(join(resolve(values.root), 'dist', p)).href;
const { Walker } = await import(dist('walk/walk.js'));
const { SqliteStore } = await import(dist('store/sqlite.js'));
const { createBlobVerifier } = await import(dist('verify/verify.js'));
await (await import(dist('wasm/init.js'))).initCore();
for (let r = 1; r <= Number(values.walks); r++) {
  const s = await SqliteStore.open(values.store, { loadThread: false });
  const root = (await s.checkpoints())[0].rootref;
  const checker = await createBlobVerifier(s.hashType);
  const c0 = process.cpuUsage();
  let n = 0;
  for await (const batch of new Walker(s, { maxreqs: 2, ignoreFailedRead: false, meta: { mtime: 0, uid: 0, gid: 0, mode: 0o644 }, checker }).walk(root)) n += batch.length;
  const c = process.cpuUsage(c0);
  await s.close();
  console.log(`walk ${r}: ${n} keys, ${((c.user + c.system) / 1e6).toFixed(2)} CPU s`);
}
