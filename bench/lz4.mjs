#!/usr/bin/env node
// LZ4 block decode/encode MB/s (of uncompressed bytes) on realistic KVS blobs, side by side
// in one process: ours (WASM), the pure-TS reference (src/store/lz4.ts), lz4js 0.2.
// Blobs: every value of the job-shaped generator (src/gen/jobs.ts) of >= 256 bytes, which
// is what content-sqlite stores LZ4-compressed. Run `npm run build` first.
// Usage: node --expose-gc bench/lz4.mjs [--jobs N] [--rounds N] [--ms N]
import lz4js from 'lz4js';
import { generateJobs } from '../dist/gen/jobs.js';
import { lz4DecodeBlockTS, lz4EncodeBlockTS } from '../dist/store/lz4.js';
import { WasmLz4 } from '../dist/wasm/lz4.js';
import { fmt, measure } from './hash-util.mjs';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const jobs = arg('--jobs', 3000);
const rounds = arg('--rounds', 5);
const minMs = arg('--ms', 300);
const LZ4_MIN = 256; // content-sqlite compresses blobs of at least this size

const enc = new TextEncoder();
const blobs = [];
for (const job of generateJobs(jobs, 1, { appends: 1, sizeFactor: 1 })) {
  for (const v of job.values) for (const p of v.parts) if (p.length >= LZ4_MIN) blobs.push(enc.encode(p));
}
const rawBytes = blobs.reduce((n, b) => n + b.length, 0);
const codec = await WasmLz4.load();
const blocks = blobs.map((b) => codec.encode(b));
const packedBytes = blocks.reduce((n, b) => n + b.length, 0);

// Every decoder must reproduce the blobs from our blocks (and ours from theirs).
// lz4js needs its hash table cleared per block (its own compress() does so); stale
// entries from another blob make it emit invalid blocks.
const lzjsTable = new Uint32Array(1 << 16);
const lzjsEncode = (b) => {
  lzjsTable.fill(0);
  const dst = new Uint8Array(lz4js.compressBound(b.length));
  const n = lz4js.compressBlock(b, dst, 0, b.length, lzjsTable);
  return dst.subarray(0, n);
};
const lzjsDecode = (block, size) => {
  const dst = new Uint8Array(size);
  lz4js.decompressBlock(block, dst, 0, block.length, 0);
  return dst;
};
for (let i = 0; i < blobs.length; i += 97) {
  const want = Buffer.from(blobs[i]);
  for (const got of [lz4DecodeBlockTS(blocks[i], blobs[i].length), lzjsDecode(blocks[i], blobs[i].length), codec.decode(lzjsEncode(blobs[i]), blobs[i].length)]) {
    if (!want.equals(got)) throw new Error(`decoder mismatch on blob ${i}`);
  }
}

const size = (i) => blobs[i].length;
const all = (f) => () => {
  for (let i = 0; i < blocks.length; i++) f(i);
  return rawBytes;
};
const decode = measure(
  [
    { name: 'ours WASM', run: all((i) => codec.decode(blocks[i], size(i))) },
    { name: 'TS reference', run: all((i) => lz4DecodeBlockTS(blocks[i], size(i))) },
    { name: 'lz4js', run: all((i) => lzjsDecode(blocks[i], size(i))) },
  ],
  { rounds, minMs },
);
const encode = measure(
  [
    { name: 'ours WASM', run: all((i) => codec.encode(blobs[i])) },
    { name: 'TS reference', run: all((i) => lz4EncodeBlockTS(blobs[i])) },
    { name: 'lz4js', run: all((i) => lzjsEncode(blobs[i])) },
  ],
  { rounds, minMs },
);
const ratio = (f) => rawBytes / blobs.reduce((n, b) => n + f(b).length, 0);
const ratios = { 'ours WASM': rawBytes / packedBytes, 'TS reference': ratio(lz4EncodeBlockTS), lz4js: ratio(lzjsEncode) };

console.log(`node ${process.version}; ${blobs.length} blobs of >= ${LZ4_MIN} B from ${jobs} generated jobs, ${fmt(rawBytes / 1e6, 1)} MB, mean ${fmt(rawBytes / blobs.length)} B; rounds=${rounds}, ${minMs} ms each, median`);
console.log('| implementation | decode MB/s | vs lz4js | encode MB/s | vs lz4js | ratio |');
console.log('|---|---:|---:|---:|---:|---:|');
for (const name of decode.keys()) {
  const d = decode.get(name) / 1e6;
  const e = encode.get(name) / 1e6;
  console.log(
    `| ${name} | ${fmt(d)} | ${fmt(d / (decode.get('lz4js') / 1e6), 2)}x | ${fmt(e)} | ${fmt(e / (encode.get('lz4js') / 1e6), 2)}x | ${fmt(ratios[name], 2)} |`,
  );
}
