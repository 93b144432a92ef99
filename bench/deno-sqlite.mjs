#!/usr/bin/env node
// The SQLite binding alone, in whichever runtime runs this file: better-sqlite3 under
// Node, node:sqlite under Deno, doing what SqliteWriter does per restored blob (16-row
// INSERT OR IGNORE statements of a 20-byte digest, a size and a ~300-byte object).
// Usage: node bench/deno-sqlite.mjs [ROWS]   /   npx deno run -A bench/deno-sqlite.mjs [ROWS]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqlite, sqliteBinding } from '../dist/store-write/sqlite-binding.js';
import { runtimeLabel } from '../dist/runtime.js';

const rows = Number((typeof Deno === 'object' ? Deno.args : process.argv.slice(2))[0] ?? 200_000);
const PER = 16;
const dir = mkdtempSync(join(tmpdir(), 'fluxdump-sqlite-bench-'));
try {
  const db = openSqlite(join(dir, 'content.sqlite'), { create: true });
  db.exec('PRAGMA journal_mode=OFF');
  db.exec('PRAGMA synchronous=OFF');
  db.exec('CREATE TABLE objects(  hash BLOB PRIMARY KEY,  size INT,  object BLOB,  epoch INT DEFAULT 0)');
  const many = db.prepare('INSERT OR IGNORE INTO objects (hash, size, object) VALUES ' + Array(PER).fill('(CAST(? AS TEXT), ?, ?)').join(', '));
  const digests = new Uint8Array(rows * 20);
  for (let i = 0; i < digests.length; i++) digests[i] = (i * 2654435761) >>> 24;
  for (let r = 0; r < rows; r++) new DataView(digests.buffer).setUint32(r * 20, r);
  const object = new Uint8Array(300).fill(42);
  const params = [];
  const t0 = performance.now();
  db.exec('BEGIN');
  for (let r = 0; r < rows; r++) {
    params.push(digests.subarray(r * 20, r * 20 + 20), -1, object);
    if (params.length === PER * 3) {
      many.run(...params);
      params.length = 0;
    }
  }
  db.exec('COMMIT');
  const s = (performance.now() - t0) / 1000;
  const n = db.prepare('SELECT count(*) AS n FROM objects').get().n;
  db.close();
  console.log(`${runtimeLabel()} ${sqliteBinding()}: ${n} rows in ${s.toFixed(2)} s = ${Math.round(n / s).toLocaleString('en')} rows/s`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
