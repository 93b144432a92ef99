#!/usr/bin/env node
/**
 * Hot-path lookup speed of the pure-TypeScript SQLite reader vs better-sqlite3, same run,
 * same ~100 MB Flux-schema database (hash bound as TEXT, as Flux does).
 *
 *   npm run build:ts && node bench/sqlite-file.mjs [--objects N] [--lookups N]
 *
 * Measures one content-store load: autoindex lookup by raw digest + row fetch, on a warm
 * page cache, random order. Also a full scan of `objects`. Prints CPU ns/op and the ratio.
 */
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteFile } from '../dist/store/sqlite-file.js';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(name);
  return i < 0 ? dflt : Number(process.argv[i + 1]);
};
const OBJECTS = arg('--objects', 100_000);
const LOOKUPS = arg('--lookups', 200_000);
const ROUNDS = 5;

function rng(seed) {
  let x = seed | 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}
const rand = rng(2024);
function bytes(n) {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (rand() * 256) | 0;
  return b;
}

const dir = mkdtempSync(join(tmpdir(), 'bench-sqlite-file-'));
const path = join(dir, 'content.sqlite');
try {
  const t0 = performance.now();
  const w = new Database(path);
  w.exec(`CREATE TABLE objects(hash BLOB PRIMARY KEY, size INT, object BLOB, epoch INT DEFAULT 0);
          CREATE TABLE checkpt_v2(id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, value TEXT);`);
  const ins = w.prepare('INSERT INTO objects(hash, size, object) VALUES (CAST(? AS TEXT), ?, ?)');
  const hashes = [];
  w.transaction(() => {
    for (let i = 0; i < OBJECTS; i++) {
      const h = bytes(20);
      const n = (rand() * 2000) | 0;
      ins.run(h, n < 256 ? -1 : n, bytes(n));
      hashes.push(h);
    }
  })();
  w.close();
  const mb = statSync(path).size / 1e6;
  console.log(`db: ${OBJECTS} objects, ${mb.toFixed(1)} MB, built in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  const order = Array.from({ length: LOOKUPS }, () => hashes[(rand() * hashes.length) | 0]);
  const theirs = new Database(path, { readonly: true });
  const stmt = theirs.prepare('SELECT size, object FROM objects WHERE hash = CAST(? AS TEXT)');
  const ours = SqliteFile.open(path, { cachePages: 40_000 });
  const RAW = { rawText: ['hash'] };

  let sink = 0;
  const runOurs = (keys = order) => {
    for (const h of keys) {
      const id = ours.indexLookupText('sqlite_autoindex_objects_1', h);
      const row = ours.getRow('objects', id, RAW);
      sink += row[2] === null ? 0 : row[2].length;
    }
  };
  const runTheirs = (keys = order) => {
    for (const h of keys) {
      const row = stmt.get(h);
      sink += row.object === null ? 0 : row.object.length;
    }
  };
  // CPU time (user + system, this process), not wall time: the bench machine is shared
  // and wall time mostly measures the other tenants. Every timed loop does LOOKUPS ops.
  const time = (fn) => {
    const c = process.cpuUsage();
    fn();
    const d = process.cpuUsage(c);
    return ((d.user + d.system) * 1e3) / LOOKUPS;
  };
  // Warm both caches (OS page cache and ours), then alternate rounds.
  runOurs();
  runTheirs();
  const a = [];
  const b = [];
  for (let r = 0; r < ROUNDS; r++) {
    a.push(time(runOurs));
    b.push(time(runTheirs));
  }
  const med = (xs) => [...xs].sort((x, y) => x - y)[xs.length >> 1];
  const oa = med(a);
  const ob = med(b);
  console.log(`lookup+row  ours ${oa.toFixed(0)} ns/op   better-sqlite3 ${ob.toFixed(0)} ns/op   ours/theirs ${(oa / ob).toFixed(2)}`);

  // Split of our time, and a hot set (1000 keys, so the CPU caches hold the pages).
  const ids = order.map((h) => ours.indexLookupText('sqlite_autoindex_objects_1', h));
  const ix = med([0, 1, 2].map(() => time(() => order.forEach((h) => ours.indexLookupText('sqlite_autoindex_objects_1', h)))));
  const gr = med([0, 1, 2].map(() => time(() => ids.forEach((id) => ours.getRow('objects', id, RAW)))));
  console.log(`  of which  indexLookupText ${ix.toFixed(0)} ns   getRow ${gr.toFixed(0)} ns`);
  const hot = order.slice(0, 1000);
  const hotOrder = order.map((_, i) => hot[i % 1000]);
  const ha = med([0, 1, 2].map(() => time(() => runOurs(hotOrder))));
  const hb = med([0, 1, 2].map(() => time(() => runTheirs(hotOrder))));
  console.log(`hot 1k keys ours ${ha.toFixed(0)} ns/op   better-sqlite3 ${hb.toFixed(0)} ns/op   ours/theirs ${(ha / hb).toFixed(2)}`);

  const scanOurs = () => {
    let n = 0;
    for (const r of ours.scan('objects', RAW)) n += r.values[2] === null ? 0 : r.values[2].length;
    return n;
  };
  const scanTheirs = () => {
    let n = 0;
    for (const r of theirs.prepare('SELECT hash, size, object, epoch FROM objects').raw(true).iterate()) n += r[2] === null ? 0 : r[2].length;
    return n;
  };
  const sa = [];
  const sb = [];
  const cpuMs = (fn) => {
    const c = process.cpuUsage();
    sink += fn();
    const d = process.cpuUsage(c);
    return (d.user + d.system) / 1e3;
  };
  for (let r = 0; r < 3; r++) {
    sa.push(cpuMs(scanOurs));
    sb.push(cpuMs(scanTheirs));
  }
  console.log(
    `full scan   ours ${med(sa).toFixed(0)} ms (${(mb / (med(sa) / 1000)).toFixed(0)} MB/s)   better-sqlite3 ${med(sb).toFixed(0)} ms   ours/theirs ${(med(sa) / med(sb)).toFixed(2)}`,
  );

  // Cold-ish: a fresh reader per 1000 lookups (page cache empty, OS cache warm).
  const cold = SqliteFile.open(path, { cachePages: 2000 });
  const coldMs = cpuMs(() => {
    for (const h of order.slice(0, 20_000)) cold.getRow('objects', cold.indexLookupText('sqlite_autoindex_objects_1', h), RAW);
    return 0;
  });
  console.log(`default 2000-page cache, 20k random lookups: ${((coldMs * 1e6) / 20_000).toFixed(0)} ns/op`);
  cold.close();
  ours.close();
  theirs.close();
  if (sink === 42) console.log('');
} finally {
  rmSync(dir, { recursive: true, force: true });
}
