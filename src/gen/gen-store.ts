/**
 * Write a generated content.sqlite (Flux's schema, LZ4 blocks for blobs >= 256 bytes,
 * canonical tree objects, one checkpoint): the Quick start sample, benchmark and scale
 * stores. Keys arrive in tree order, so the tree is built bottom-up with only the open
 * path in memory, and rows are appended (bulk-sqlite.ts): memory stays flat at any size.
 *
 * Shapes: `jobs` (production-shaped: real Flux job keys written commit by commit, with
 * the garbage a running instance leaves, src/gen/live.ts), `flat` (the same keys written
 * once, in tree order, no garbage: src/gen/jobs.ts) and the synthetic ones of
 * src/gen/synthetic.ts: `wide`, `deep`, `big`, `appends`.
 */
import type { HashType } from '../blobref.js';
import { encodeText, makeVal } from '../walk/treeobj.js';
import { SqliteRows, type RowSink } from './bulk-sqlite.js';
import { BlobWriter } from './blob-writer.js';
import { WorkerRows } from './worker-rows.js';
import { generateLive, LIVE_DEFAULTS, type LiveShape } from './live.js';
import { generateJobBytes, topLevelValues, type GenValue, type JobShape } from './jobs.js';
import { Slab } from './slab.js';
import { compareKeys, SortedTreeBuilder } from './sorted-tree.js';
import { checkShape, LINE_BYTES, parseSizeSpec, syntheticKeys, type SyntheticShape } from './synthetic.js';

export { LZ4_THRESHOLD } from './bulk-sqlite.js';
/** Values shorter than this are inline `val` objects (BLOBREF_MAX_STRING_SIZE). */
export const INLINE_MAX = 72;
/** Keys outside job/ in the jobs shape. */
export const JOBS_TOP_KEYS = 4;
/** Keys per job in the jobs shape. */
export const KEYS_PER_JOB = 7;
/** Stores this big get the SQLite worker by default. */
export const WORKER_MIN_KEYS = 200_000;
/** Synthetic keys whose value blobs are hashed in one batch. */
const KEY_BATCH = 64;

export const SHAPES = ['jobs', 'flat', 'wide', 'deep', 'big', 'appends'] as const;
export type ShapeName = (typeof SHAPES)[number];

interface GenCommon {
  out: string;
  seed: number;
  hash: HashType;
  /** Checkpoint timestamp (seconds, real). */
  timestamp: number;
  /**
   * Write SQLite in a worker thread, overlapping generation. Default: for stores of
   * WORKER_MIN_KEYS keys and up (below, starting the worker costs more than it saves).
   * The file is the same either way.
   */
  worker?: boolean;
}
/** The `flat` shape: job keys written once in tree order. */
export interface JobsGenOptions extends GenCommon {
  jobs: number;
  shape: JobShape;
}
/** The `jobs` shape: production-shaped, commit by commit (src/gen/live.ts). */
export interface LiveGenOptions extends GenCommon {
  jobs: number;
  live: Partial<LiveShape>;
}
export interface SyntheticGenOptions extends GenCommon {
  synthetic: SyntheticShape;
}
export type GenOptions = JobsGenOptions | LiveGenOptions | SyntheticGenOptions;

export interface GenResult {
  rootref: string;
  /** Values and symlinks: the entries a dump archives. */
  keys: number;
  /** Blobs referenced (values' blobs and directories), repeats included. */
  blobs: number;
  /** Their uncompressed bytes. */
  bytes: number;
  /** Distinct objects stored. */
  rows: number;
  /** Milliseconds: building the hash index, and finishing the file (index included). */
  indexMs: number;
  finishMs: number;
}

/** Jobs needed for at least `keys` keys in the jobs shape (whole jobs only). */
export function jobsForKeys(keys: number): number {
  return Math.max(0, Math.ceil((keys - JOBS_TOP_KEYS) / KEYS_PER_JOB));
}

export interface PresetOverrides {
  width?: number;
  depth?: number;
  fanout?: number;
  valueSize?: string;
  appends?: number;
}

/**
 * A synthetic shape from its preset and the caller's overrides.
 * - wide: every key in one directory (or `width` per directory), small values;
 * - deep: paths of `depth` (32) components branching `fanout` (16) ways at the bottom;
 * - big: values around 256 KiB with a long tail (lognormal), 256 keys per directory;
 * - appends: values of `appends` (100) blobs, one 128-byte line each, as
 *   `flux kvs put --append` leaves an eventlog; 256 keys per directory.
 * The value size defaults to `appends` lines when appends > 1.
 */
export function syntheticPreset(name: Exclude<ShapeName, 'jobs' | 'flat'>, keys: number, o: PresetOverrides = {}): SyntheticShape {
  const appends = o.appends ?? (name === 'appends' ? 100 : 1);
  const defaultSize = appends > 1 ? String(appends * LINE_BYTES) : name === 'big' ? 'logn:256k:1' : 'logn:256:1';
  const shape: SyntheticShape = {
    layout: name === 'deep' ? 'deep' : 'wide',
    keys,
    width: o.width ?? (name === 'wide' ? keys : 256),
    depth: o.depth ?? 32,
    fanout: o.fanout ?? 16,
    valueSize: parseSizeSpec(o.valueSize ?? defaultSize),
    appends,
    top: name,
  };
  checkShape(shape);
  return shape;
}

/** encodeText of a valref of refs[from..to) (blobrefs need no JSON escapes). */
function valrefText(refs: readonly string[], from: number, to: number): string {
  let s = '{"data":["' + refs[from]!;
  for (let i = from + 1; i < to; i++) s += '","' + refs[i]!;
  return s + '"],"type":"valref","ver":1}';
}

/** Stores values into `w` and `tree`; hashes each batch's blobs in one call. */
class ValueSink {
  readonly #w: BlobWriter;
  readonly #tree: SortedTreeBuilder;
  readonly #paths: string[][] = [];
  readonly #inline: (Uint8Array | null)[] = [];
  /** Per value: how many blobs it has in #blobs (0 when inline). */
  readonly #counts: number[] = [];
  readonly #blobs: Uint8Array[] = [];
  keys = 0;

  constructor(w: BlobWriter, tree: SortedTreeBuilder) {
    this.#w = w;
    this.#tree = tree;
  }

  /** A value made of `parts` (one per append); added to the tree at flush(). */
  add(path: string[], parts: Uint8Array[]): void {
    this.#paths.push(path);
    if (parts.length === 1 && parts[0]!.length < INLINE_MAX) {
      this.#inline.push(parts[0]!);
      this.#counts.push(0);
    } else {
      this.#inline.push(null);
      this.#counts.push(parts.length);
      for (const p of parts) this.#blobs.push(p);
    }
  }

  get pending(): number {
    return this.#paths.length;
  }

  flush(): void {
    const refs = this.#blobs.length > 0 ? this.#w.putMany(this.#blobs) : [];
    let r = 0;
    for (let i = 0; i < this.#paths.length; i++) {
      const n = this.#counts[i]!;
      this.#tree.addEncoded(this.#paths[i]!, n === 0 ? encodeText(makeVal(this.#inline[i]!)) : valrefText(refs, r, (r += n)));
    }
    this.keys += this.#paths.length;
    this.#paths.length = 0;
    this.#inline.length = 0;
    this.#counts.length = 0;
    this.#blobs.length = 0;
  }
}

function addJobs(o: JobsGenOptions, sink: ValueSink): void {
  const slab = new Slab();
  const encode = (v: GenValue) => v.parts.map((p) => slab.utf8(p));
  const top = topLevelValues(o.seed).sort((a, b) => compareKeys(a.key, b.key));
  for (const v of top) if (compareKeys(v.key, ['job']) < 0) sink.add(v.key, encode(v));
  sink.flush();
  for (const job of generateJobBytes(o.jobs, o.seed, o.shape)) {
    const values = job.values.slice().sort((a, b) => compareKeys(a.key, b.key));
    for (const v of values) sink.add(['job', ...job.dirs, ...v.key], v.parts);
    sink.flush();
  }
  for (const v of top) if (compareKeys(v.key, ['job']) > 0) sink.add(v.key, encode(v));
  sink.flush();
}

function addSynthetic(o: SyntheticGenOptions, sink: ValueSink): void {
  for (const k of syntheticKeys(o.synthetic, o.seed)) {
    const parts: Uint8Array[] = [];
    let start = 0;
    for (const end of k.cuts) {
      parts.push(k.value.subarray(start, end));
      start = end;
    }
    sink.add(k.path, parts);
    if (sink.pending === KEY_BATCH) sink.flush();
  }
  sink.flush();
}

export function genStore(o: GenOptions): GenResult {
  const keys = 'synthetic' in o ? o.synthetic.keys : o.jobs * KEYS_PER_JOB + JOBS_TOP_KEYS;
  // A live store has ~10 objects per key: its rows weigh like a flat store's 10x keys.
  const weight = 'live' in o ? 10 * keys : keys;
  const rows: RowSink = (o.worker ?? weight >= WORKER_MIN_KEYS) ? new WorkerRows(o.out) : new SqliteRows(o.out);
  const w = new BlobWriter(rows, o.hash);
  try {
    if ('live' in o) {
      const r = generateLive(w, o.jobs, o.seed, { ...LIVE_DEFAULTS, ...o.live });
      const st = w.finish(r.checkpoints);
      return { rootref: r.rootref, keys: r.keys, blobs: st.blobs, bytes: st.bytes, rows: st.rows, indexMs: st.indexMs, finishMs: st.finishMs };
    }
    const tree = new SortedTreeBuilder((blob) => w.put(blob));
    const sink = new ValueSink(w, tree);
    if ('synthetic' in o) addSynthetic(o, sink);
    else addJobs(o, sink);
    const rootref = tree.finish();
    const st = w.finish({ version: 1, rootref, sequence: 1, timestamp: o.timestamp });
    return { rootref, keys: sink.keys, blobs: st.blobs, bytes: st.bytes, rows: st.rows, indexMs: st.indexMs, finishMs: st.finishMs };
  } catch (err) {
    w.abort();
    throw err;
  }
}
