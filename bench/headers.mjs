#!/usr/bin/env node
// Tar header packing, headers/s, side by side in one process, one batch per call:
//   - WASM wasmHeaderPacker: what the tar writer plugs in (views into WASM memory, which the
//     writer copies into its chunk buffer)
//   - WASM packHeaders: the same plus a fresh caller-owned copy of each batch's bytes
//   - TS entryHeaderTS per entry (the reference packer the tar writer uses without WASM)
// Two workloads: dump-shaped entries (job keys from src/gen/jobs.ts, plain ustar) and a
// pax-heavy mix (UTF-8 names, long paths and link targets, big sizes, post-2038 mtimes).
// Run `npm run build` first. Usage: node --expose-gc bench/headers.mjs [--batch N] [--rounds N] [--ms N]
import { generateJobs } from '../dist/gen/jobs.js';
import { entryHeaderTS } from '../dist/pack/tar/header.js';
import { initWasmUstar, packHeaders, wasmHeaderPacker } from '../dist/wasm/ustar.js';
import { fmt, measure } from './hash-util.mjs';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const batch = arg('--batch', 1000);
const rounds = arg('--rounds', 5);
const minMs = arg('--ms', 300);
await initWasmUstar();

const meta = { mode: 0o644, mtime: 1_700_000_000, uid: 1000, gid: 1000 };
const dumpShaped = [];
for (const job of generateJobs(Math.ceil(batch / 7), 1, { appends: 1, sizeFactor: 1 })) {
  for (const v of job.values) {
    const size = v.parts.reduce((n, p) => n + p.length, 0);
    dumpShaped.push({ path: ['job', ...job.dirs, ...v.key].join('/'), linkTarget: '', type: 'file', size, ...meta });
  }
}
dumpShaped.length = batch;
const paxHeavy = dumpShaped.map((e, i) => {
  switch (i % 5) {
    case 0: return { ...e, path: e.path.replace('job', 'jöb') };
    case 1: return { ...e, path: `${e.path}/${'deep/'.repeat(40)}leaf` };
    case 2: return { ...e, type: 'symlink', linkTarget: `ns::${'x.'.repeat(80)}y`, size: 0 };
    case 3: return { ...e, size: 2 ** 34 + i, mtime: 2 ** 32 + i };
    default: return e;
  }
});

// Both implementations must agree before we time them.
for (const entries of [dumpShaped, paxHeavy]) {
  const { bytes, offsets } = packHeaders(entries);
  entries.forEach((e, i) => {
    if (!Buffer.from(bytes.subarray(offsets[i], offsets[i + 1])).equals(Buffer.from(entryHeaderTS(e)))) throw new Error(`mismatch on ${e.path}`);
  });
}

console.log(`node ${process.version}; batches of ${batch} entries; rounds=${rounds}, ${minMs} ms each, median`);
console.log('| workload | WASM wasmHeaderPacker headers/s | WASM packHeaders (copy) headers/s | TS headers/s | packer / TS | packHeaders / TS |');
console.log('|---|---:|---:|---:|---:|---:|');
for (const [name, entries] of [['dump-shaped (ustar only)', dumpShaped], ['pax-heavy mix (60% pax)', paxHeavy]]) {
  const r = measure(
    [
      { name: 'packer', run: () => (wasmHeaderPacker(entries), entries.length) },
      { name: 'copy', run: () => (packHeaders(entries), entries.length) },
      {
        name: 'ts',
        run: () => {
          for (const e of entries) entryHeaderTS(e);
          return entries.length;
        },
      },
    ],
    { rounds, minMs },
  );
  const ts = r.get('ts');
  console.log(`| ${name} | ${fmt(r.get('packer'))} | ${fmt(r.get('copy'))} | ${fmt(ts)} | ${fmt(r.get('packer') / ts, 2)}x | ${fmt(r.get('copy') / ts, 2)}x |`);
}
