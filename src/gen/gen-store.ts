/**
 * Write a job-shaped content.sqlite (Flux's schema, LZ4 blocks for blobs >= 256 bytes,
 * canonical tree objects, one checkpoint): the Quick start sample and benchmark stores.
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { formatBlobref, type HashType } from '../blobref.js';
import { formatCheckpoint } from '../store/checkpoint.js';
import { lz4 } from '../store/lz4.js';
import { makeVal, makeValref } from '../walk/treeobj.js';
import { utf8 } from '../util/bytes.js';
import { generateJobs, topLevelValues, type GenValue, type JobShape } from './jobs.js';
import { compareKeys, SortedTreeBuilder } from './sorted-tree.js';

export const FLUX_SCHEMA = [
  'CREATE TABLE objects(  hash BLOB PRIMARY KEY,  size INT,  object BLOB,  epoch INT DEFAULT 0)',
  'CREATE TABLE checkpt_v2(  id INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL,  value TEXT)',
];

/** Blobs of at least this many bytes are stored LZ4-compressed (content-sqlite's rule). */
export const LZ4_THRESHOLD = 256;
/** Values shorter than this are inline `val` objects (BLOBREF_MAX_STRING_SIZE). */
export const INLINE_MAX = 72;

export interface GenOptions {
  out: string;
  jobs: number;
  seed: number;
  hash: HashType;
  shape: JobShape;
  /** Checkpoint timestamp (seconds, real). */
  timestamp: number;
}

export interface GenResult {
  rootref: string;
  keys: number;
  blobs: number;
  bytes: number;
}

export function genStore(o: GenOptions): GenResult {
  if (existsSync(o.out)) rmSync(o.out);
  mkdirSync(dirname(o.out), { recursive: true });
  const db = new Database(o.out);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = OFF');
  for (const sql of FLUX_SCHEMA) db.exec(sql);
  const insert = db.prepare('INSERT OR IGNORE INTO objects (hash,size,object) VALUES (CAST(? AS TEXT),?,?)');
  let blobs = 0;
  let bytes = 0;
  const put = (blob: Uint8Array): string => {
    const digest = createHash(o.hash).update(blob).digest();
    const big = blob.length >= LZ4_THRESHOLD;
    insert.run(digest, big ? blob.length : -1, big ? lz4.encode(blob) : blob);
    blobs++;
    bytes += blob.length;
    return formatBlobref(o.hash, digest);
  };
  const tree = new SortedTreeBuilder(put);
  let keys = 0;
  const addValue = (path: string[], v: GenValue) => {
    const parts = v.parts.map(utf8);
    const total = parts.reduce((n, p) => n + p.length, 0);
    tree.add(path, parts.length === 1 && total < INLINE_MAX ? makeVal(parts[0]!) : makeValref(parts.map(put)));
    keys++;
  };
  const top = topLevelValues(o.seed).sort((a, b) => compareKeys(a.key, b.key));
  const before = top.filter((v) => compareKeys(v.key, ['job']) < 0);
  const after = top.filter((v) => compareKeys(v.key, ['job']) > 0);
  db.exec('BEGIN');
  for (const v of before) addValue(v.key, v);
  let n = 0;
  for (const job of generateJobs(o.jobs, o.seed, o.shape)) {
    const values = job.values.slice().sort((a, b) => compareKeys(a.key, b.key));
    for (const v of values) addValue(['job', ...job.dirs, ...v.key], v);
    if (++n % 5000 === 0) {
      db.exec('COMMIT');
      db.exec('BEGIN');
    }
  }
  for (const v of after) addValue(v.key, v);
  const rootref = tree.finish();
  db.exec('COMMIT');
  db.prepare('INSERT INTO checkpt_v2 (value) VALUES (?)').run(
    formatCheckpoint({ version: 1, rootref, sequence: 1, timestamp: o.timestamp }),
  );
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
  return { rootref, keys, blobs, bytes };
}
