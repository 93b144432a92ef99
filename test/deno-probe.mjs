// Run under Deno by test/deno.test.ts (deno run ... test/deno-probe.mjs DIR): the parts
// of the Deno port that the CLIs do not show from outside. Prints one JSON object of
// observations; the test asserts on them. Uses the compiled dist/ like the CLIs.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { RUNTIME, runtimeLabel } from '../dist/runtime.js';
import { isBusyError, openSqlite, sqliteBinding, sqliteErrorCode } from '../dist/store-write/sqlite-binding.js';
import { closePool, compressOnPool, poolThreads } from '../dist/compress/pool.js';

const dir = Deno.args[0];
const out = { runtime: RUNTIME, label: runtimeLabel(), binding: sqliteBinding() };
const codeOf = (fn) => {
  try {
    fn();
    return 'no error';
  } catch (err) {
    return { code: sqliteErrorCode(err) ?? null, busy: isBusyError(err), message: String(err?.message) };
  }
};

// Transactions: a failing inner transaction rolls back to its savepoint only; a failing
// outer one rolls back everything; the return value passes through.
const path = join(dir, 'probe.sqlite');
const db = openSqlite(path, { create: true });
db.exec('CREATE TABLE t(x INT, b BLOB)');
const ins = db.prepare('INSERT INTO t (x, b) VALUES (?, ?)');
out.txReturn = db.transaction(() => {
  ins.run(1, null);
  try {
    db.transaction(() => {
      ins.run(2, null);
      throw new Error('inner');
    });
  } catch {
    /* expected */
  }
  ins.run(3, new Uint8Array([0, 1, 255]));
  return 'outer result';
});
try {
  db.transaction(() => {
    ins.run(4, null);
    throw new Error('outer');
  });
} catch {
  /* expected */
}
out.rows = db.prepare('SELECT x FROM t ORDER BY x').all().map((r) => r.x);
const blobRow = db.prepare('SELECT b FROM t WHERE x = ?').get(3);
out.blob = { isUint8Array: blobRow.b instanceof Uint8Array, bytes: [...blobRow.b] };
out.changes = db.prepare('UPDATE t SET x = x + 10 WHERE x < ?').run(100).changes;
out.missingRow = db.prepare('SELECT x FROM t WHERE x = ?').get(999) ?? null;
// Hold the database as a broker does, then try a second connection with no busy wait.
db.exec('PRAGMA locking_mode=EXCLUSIVE');
db.exec('BEGIN IMMEDIATE');
ins.run(5, null);
db.exec('COMMIT');
const db2 = openSqlite(path, { create: false, busyTimeoutMs: 0 });
out.locked = codeOf(() => db2.prepare('SELECT count(*) AS n FROM t').get());
db2.close();
db.close();

out.missingFile = codeOf(() => openSqlite(join(dir, 'absent.sqlite'), { create: false }));
const junk = join(dir, 'junk.sqlite');
writeFileSync(junk, 'this is not a database, only text, and long enough to have a header '.repeat(20));
out.notADatabase = codeOf(() => {
  const j = openSqlite(junk, { create: false });
  try {
    j.prepare('SELECT count(*) FROM sqlite_master').get();
  } finally {
    j.close();
  }
});

// The compression pool (piscina under Deno's node compatibility): one chunk of each codec.
const input = new Uint8Array(new SharedArrayBuffer(1 << 20));
for (let i = 0; i < input.length; i++) input[i] = (i * 7 + (i >> 10)) & 0xff;
const gz = await compressOnPool('gzip', input.buffer, input.length, 2);
out.pool = {
  threads: poolThreads(),
  gzipRoundTrip: Buffer.from(gunzipSync(gz)).equals(Buffer.from(input)),
  bzip2Magic: String.fromCharCode(...(await compressOnPool('bzip2', input.buffer, input.length, 2)).subarray(0, 3)),
  xzMagic: [...(await compressOnPool('xz', input.buffer, input.length, 2)).subarray(0, 6)],
};
await closePool();
out.pool.threadsAfterClose = poolThreads();

console.log(JSON.stringify(out));
