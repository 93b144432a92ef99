#!/usr/bin/env node
// Shape statistics of a content.sqlite (Flux's content-sqlite schema): how many objects,
// how many the newest checkpoint reaches, per-job directories, keys and value blobs, the
// valref blob-count histogram, object sizes, and how live and garbage objects interleave
// in rowid order. Reads the whole objects table into memory: for stores up to a few
// million objects.
//
// Usage: node scripts/store-stats.mjs STORE/content.sqlite [--json]
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import { lz4 } from '../dist/store/lz4.js';

const { values: v, positionals } = parseArgs({ allowPositionals: true, options: { json: { type: 'boolean', default: false } } });
if (positionals.length !== 1) {
  console.error('usage: node scripts/store-stats.mjs STORE/content.sqlite [--json]');
  process.exit(2);
}
const path = positionals[0];

function fail(msg) {
  console.error(`store-stats: ${path}: ${msg}`);
  process.exit(1);
}

let db;
try {
  // Not read-only: a read-only connection to a WAL database leaves -wal/-shm files
  // behind; a writable one removes them at close (nothing is written).
  db = new Database(path, { fileMustExist: true });
} catch (err) {
  fail(err.message);
}
const tables = new Set(db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").pluck().all());
const ckptJson = tables.has('checkpt_v2')
  ? db.prepare('SELECT value FROM checkpt_v2 ORDER BY id DESC LIMIT 1').pluck().get()
  : tables.has('checkpt')
    ? db.prepare("SELECT value FROM checkpt WHERE key = 'kvs-primary'").pluck().get()
    : undefined;
if (ckptJson === undefined) fail('no checkpoint');
const ckpt = JSON.parse(ckptJson);
const hashName = ckpt.rootref.slice(0, ckpt.rootref.indexOf('-'));

/** rowid by hex digest; each object's bytes by rowid. */
const rowidOf = new Map();
const objects = [];
for (const [rowid, hash, size, object] of db.prepare('SELECT rowid, CAST(hash AS BLOB), size, object FROM objects ORDER BY rowid').raw().iterate()) {
  const bytes = object === null ? new Uint8Array(0) : size >= 0 ? lz4.decode(object, size) : object;
  rowidOf.set(Buffer.from(hash).toString('hex'), rowid);
  objects.push({ rowid, bytes });
}
db.close();
const byRowid = new Map(objects.map((o) => [o.rowid, o]));
const dec = new TextDecoder();
const DIR_TAIL = '},"type":"dir","ver":1}';
const isDir = (b) => b.length > 30 && b[0] === 0x7b && dec.decode(b.subarray(b.length - DIR_TAIL.length)) === DIR_TAIL;

const live = new Set();
const liveDirs = [];
const valueBlobs = new Set();
const blobCounts = new Map();
let keys = 0;
let jobs = 0;
let valueRefs = 0;
/** Sizes of the blobs valrefs name, repeats included (as the per-job blob count). */
const refSizes = [];
const rowid = (ref) => {
  const r = rowidOf.get(ref.slice(hashName.length + 1));
  if (r === undefined) fail(`missing object ${ref}`);
  return r;
};
const stack = [[rowid(ckpt.rootref), []]];
while (stack.length > 0) {
  const [id, path] = stack.pop();
  if (live.has(id) && path.length > 0) continue;
  live.add(id);
  const o = byRowid.get(id);
  liveDirs.push(o.bytes.length);
  const dir = JSON.parse(dec.decode(o.bytes));
  if (dir.type !== 'dir') fail(`${path.join('.') || 'root'} is not a directory`);
  for (const [name, e] of Object.entries(dir.data)) {
    if (e.type === 'dirref') stack.push([rowid(e.data[0]), [...path, name]]);
    else if (e.type === 'dir') fail(`inline directory at ${[...path, name].join('.')}`);
    else {
      keys++;
      if (name === 'jobspec' && path[0] === 'job') jobs++;
      if (e.type === 'valref') {
        blobCounts.set(e.data.length, (blobCounts.get(e.data.length) ?? 0) + 1);
        for (const ref of e.data) {
          const r = rowid(ref);
          live.add(r);
          valueBlobs.add(r);
          refSizes.push(byRowid.get(r).bytes.length);
          valueRefs++;
        }
      }
    }
  }
}

const quantile = (xs, q) => {
  if (xs.length === 0) return NaN;
  const s = Float64Array.from(xs).sort();
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
};
const allDirs = objects.filter((o) => isDir(o.bytes)).map((o) => o.bytes.length);
const valueSizes = refSizes;
const liveIds = objects.filter((o) => live.has(o.rowid)).map((o) => o.rowid);
const gaps = liveIds.slice(1).map((r, i) => r - liveIds[i]);
const stats = {
  objects: objects.length,
  reachable: live.size,
  garbagePct: 100 * (1 - live.size / objects.length),
  keys,
  jobs,
  perJob: jobs > 0 ? { dirs: liveDirs.length / jobs, keys: keys / jobs, valueBlobs: valueRefs / jobs, distinctValueBlobs: valueBlobs.size / jobs } : null,
  valrefBlobCounts: Object.fromEntries([...blobCounts].sort((a, b) => a[0] - b[0])),
  valueBlobBytes: { median: quantile(valueSizes, 0.5), p90: quantile(valueSizes, 0.9), max: Math.max(0, ...valueSizes) },
  dirBytes: { median: quantile(liveDirs, 0.5), p90: quantile(liveDirs, 0.9) },
  allDirBytes: { count: allDirs.length, median: quantile(allDirs, 0.5), p90: quantile(allDirs, 0.9) },
  liveRowidGap: { median: quantile(gaps, 0.5), p90: quantile(gaps, 0.9), p99: quantile(gaps, 0.99) },
  objectBytes: objects.reduce((n, o) => n + o.bytes.length, 0),
};
if (v.json) {
  console.log(JSON.stringify(stats, null, 2));
} else {
  const f = (x) => (Number.isInteger(x) ? x.toLocaleString('en') : x.toFixed(1));
  const pj = stats.perJob;
  console.log(`objects                      ${f(stats.objects)} (${(stats.objectBytes / 1e6).toFixed(1)} MB uncompressed)`);
  console.log(`reachable from newest ckpt   ${f(stats.reachable)}: ${stats.garbagePct.toFixed(1)}% garbage`);
  console.log(`keys                         ${f(keys)} (${f(jobs)} jobs)`);
  if (pj) console.log(`per job                      ${pj.dirs.toFixed(2)} dirs, ${pj.keys.toFixed(2)} keys, ${pj.valueBlobs.toFixed(2)} value blobs (${pj.distinctValueBlobs.toFixed(2)} distinct)`);
  console.log(`valrefs by blob count        ${Object.entries(stats.valrefBlobCounts).map(([n, c]) => `${n}: ${f(c)}`).join(', ')}`);
  console.log(`value blobs (bytes)          median ${f(stats.valueBlobBytes.median)}, p90 ${f(stats.valueBlobBytes.p90)}, max ${f(stats.valueBlobBytes.max)}`);
  console.log(`directories, live (bytes)    median ${f(stats.dirBytes.median)}, p90 ${f(stats.dirBytes.p90)}`);
  console.log(`directories, all (bytes)     ${f(stats.allDirBytes.count)}: median ${f(stats.allDirBytes.median)}, p90 ${f(stats.allDirBytes.p90)}`);
  console.log(`live rowid gaps              median ${f(stats.liveRowidGap.median)}, p90 ${f(stats.liveRowidGap.p90)}, p99 ${f(stats.liveRowidGap.p99)}`);
}
