/**
 * Synthetic KVS shapes for scale and tuning runs, deterministic for a seed, keys in tree
 * order: very wide directories, deep paths, big values, values of many appends.
 *
 * A value is text lines, `{"key":I,"seq":J,"data":"..."}\n`, about LINE_BYTES each, so
 * every blob is unique (each line names its key and position) and compresses like text.
 * `appends` cuts the value into blobs as `flux kvs put --append` does (the first blob
 * holds what is left, then one line per blob); the content never depends on it, so a
 * restore of an appended store (one blob per value) equals the appends=1 store.
 */
import { appendCuts, prng } from './jobs.js';

export type Layout = 'wide' | 'deep';

export type SizeSpec =
  | { kind: 'fixed'; bytes: number }
  | { kind: 'uniform'; min: number; max: number }
  | { kind: 'lognormal'; median: number; sigma: number; max: number };

export interface SyntheticShape {
  layout: Layout;
  /** Keys (archive entries) to generate. */
  keys: number;
  /** wide: keys per directory (>= keys: one directory holds them all). */
  width: number;
  /** deep: path components per key, the top directory and the value included (>= 3). */
  depth: number;
  /** deep: children per directory where the paths branch (2..36). */
  fanout: number;
  valueSize: SizeSpec;
  /** Blobs per value (1: one blob, or inline below 72 bytes). */
  appends: number;
  /** Name of the top-level directory. */
  top: string;
}

/** Nominal line length of a value, bytes. */
export const LINE_BYTES = 128;
/** Values shorter than this are a prefix and filler instead of lines. */
const MIN_LINE_BYTES = 96;
/** Largest value size a spec may produce (Flux's usual --size-limit is 100M). */
export const MAX_VALUE_BYTES = 1 << 30;
/** Text the value data is cut from. */
const POOL_BYTES = 1 << 16;
const DIGITS = '0123456789abcdefghijklmnopqrstuvwxyz';
/** End of a line: closes the data string and the object. */
const CLOSE = new TextEncoder().encode('"}\n');

const UNITS: Record<string, number> = { '': 1, k: 1024, K: 1024, m: 1 << 20, M: 1 << 20, g: 1 << 30, G: 1 << 30 };

/** `300`, `4k`, `1.5M` -> bytes. */
export function parseBytes(s: string): number {
  const m = /^(\d+(?:\.\d+)?)([kKmMgG]?)$/.exec(s.trim());
  if (!m) throw new Error(`not a size: ${JSON.stringify(s)} (use e.g. 300, 4k, 1.5M)`);
  const n = Math.round(Number(m[1]) * UNITS[m[2]!]!);
  if (n > MAX_VALUE_BYTES) throw new Error(`size ${s} is over the ${MAX_VALUE_BYTES}-byte limit`);
  return n;
}

/**
 * Value size distribution: `N` (fixed), `MIN-MAX` (uniform), or `logn:MEDIAN[:SIGMA[:MAX]]`
 * (lognormal, sigma 1 by default: most values near the median, a long tail of big ones).
 */
export function parseSizeSpec(spec: string): SizeSpec {
  if (spec.startsWith('logn:')) {
    const [median, sigma, max] = spec.slice(5).split(':');
    const s: SizeSpec = {
      kind: 'lognormal',
      median: parseBytes(median ?? ''),
      sigma: sigma === undefined ? 1 : Number(sigma),
      max: max === undefined ? 64 << 20 : parseBytes(max),
    };
    if (!(s.sigma >= 0 && s.sigma <= 4)) throw new Error(`lognormal sigma must be in 0..4: ${spec}`);
    return s;
  }
  const range = /^([^-]+)-([^-]+)$/.exec(spec);
  if (range) {
    const s: SizeSpec = { kind: 'uniform', min: parseBytes(range[1]!), max: parseBytes(range[2]!) };
    if (s.min > s.max) throw new Error(`empty size range: ${spec}`);
    return s;
  }
  return { kind: 'fixed', bytes: parseBytes(spec) };
}

function sizeSampler(spec: SizeSpec, rnd: () => number): () => number {
  switch (spec.kind) {
    case 'fixed':
      return () => spec.bytes;
    case 'uniform':
      return () => spec.min + Math.floor(rnd() * (spec.max - spec.min + 1));
    case 'lognormal': {
      const mu = Math.log(spec.median);
      return () => {
        // Box-Muller; 1 - rnd() keeps the log argument in (0, 1]
        const z = Math.sqrt(-2 * Math.log(1 - rnd())) * Math.cos(2 * Math.PI * rnd());
        return Math.min(spec.max, Math.round(Math.exp(mu + spec.sigma * z)));
      };
    }
  }
}

/** Deterministic filler text, JSON-safe: words and numbers. */
function makePool(rnd: () => number): Uint8Array {
  const words = ['node', 'core', 'gpu', 'rank', 'task', 'slot', 'exec', 'shell', 'env', 'path', 'mem', 'job'];
  let s = '';
  while (s.length < POOL_BYTES) s += words[Math.floor(rnd() * words.length)]! + Math.floor(rnd() * 10000).toString() + ' ';
  return new TextEncoder().encode(s.slice(0, POOL_BYTES));
}

export interface SyntheticKey {
  path: string[];
  value: Uint8Array;
  /** End offsets of the value's blobs (one element: one blob). */
  cuts: number[];
}

/**
 * Builds values: text lines written straight into bytes (ASCII only, so the string
 * pieces are encoded with encodeInto at the right offset).
 */
class ValueMaker {
  readonly #pool: Uint8Array;
  readonly #rnd: () => number;
  readonly #enc = new TextEncoder();
  readonly #appends: number;

  constructor(rnd: () => number, appends: number) {
    this.#rnd = rnd;
    this.#pool = makePool(rnd);
    this.#appends = appends;
  }

  #fill(out: Uint8Array, at: number, n: number): void {
    const off = Math.floor(this.#rnd() * (POOL_BYTES - n));
    out.set(this.#pool.subarray(off, off + n), at);
  }

  make(key: number, size: number): { value: Uint8Array; cuts: number[] } {
    const out = new Uint8Array(size);
    if (size < MIN_LINE_BYTES) {
      const head = this.#enc.encodeInto(`${key}:`, out).written;
      if (head < size) this.#fill(out, head, size - head);
      return { value: out, cuts: [size] };
    }
    const lines = Math.max(1, Math.floor(size / LINE_BYTES));
    const base = Math.floor(size / lines);
    let extra = size - base * lines; // first `extra` lines are one byte longer
    const ends: number[] = [];
    let at = 0;
    for (let j = 0; j < lines; j++) {
      const len = base + (extra > 0 ? 1 : 0);
      if (extra > 0) extra--;
      const head = this.#enc.encodeInto(`{"key":${key},"seq":${j},"data":"`, out.subarray(at)).written;
      this.#fill(out, at + head, len - head - CLOSE.length);
      out.set(CLOSE, at + len - CLOSE.length);
      at += len;
      ends.push(at);
    }
    return { value: out, cuts: appendCuts(ends, this.#appends) };
  }
}

function pad(n: number, width: number): string {
  return n.toString().padStart(width, '0');
}

export function checkShape(s: SyntheticShape): void {
  if (!Number.isSafeInteger(s.keys) || s.keys < 1) throw new Error(`keys must be a positive integer: ${s.keys}`);
  if (!Number.isSafeInteger(s.width) || s.width < 1) throw new Error(`width must be a positive integer: ${s.width}`);
  if (!Number.isSafeInteger(s.appends) || s.appends < 1) throw new Error(`appends must be a positive integer: ${s.appends}`);
  if (s.layout === 'deep') {
    if (!Number.isSafeInteger(s.depth) || s.depth < 3) throw new Error(`depth must be at least 3: ${s.depth}`);
    if (!Number.isSafeInteger(s.fanout) || s.fanout < 2 || s.fanout > DIGITS.length) throw new Error(`fanout must be in 2..${DIGITS.length}: ${s.fanout}`);
    // one base-`fanout` digit per component below the top directory
    if (s.fanout ** (s.depth - 1) < s.keys) throw new Error(`${s.keys} keys do not fit in depth ${s.depth} with fanout ${s.fanout}`);
  }
}

/** wide: TOP/dDDDD/kKKKKKKK, `width` keys per directory. */
function widePath(s: SyntheticShape, i: number, keyDigits: number, dirDigits: number): string[] {
  return [s.top, 'd' + pad(Math.floor(i / s.width), dirDigits), 'k' + pad(i, keyDigits)];
}

/**
 * deep: TOP/nX/nX/.../vX, `depth` components: the key number's base-`fanout` digits, one
 * per level (leading zeros make a chain of single-child directories above the fan-out).
 */
function deepPath(s: SyntheticShape, i: number): string[] {
  const path: string[] = new Array(s.depth);
  path[0] = s.top;
  let n = i;
  for (let level = s.depth - 1; level >= 1; level--) {
    const digit = DIGITS[n % s.fanout]!;
    n = Math.floor(n / s.fanout);
    path[level] = (level === s.depth - 1 ? 'v' : 'n') + digit;
  }
  return path;
}

export function* syntheticKeys(s: SyntheticShape, seed: number): Generator<SyntheticKey> {
  checkShape(s);
  const rnd = prng(seed);
  const values = new ValueMaker(rnd, s.appends);
  const size = sizeSampler(s.valueSize, rnd);
  const keyDigits = String(s.keys - 1).length;
  const dirDigits = String(Math.floor((s.keys - 1) / Math.min(s.width, s.keys))).length;
  for (let i = 0; i < s.keys; i++) {
    const path = s.layout === 'wide' ? widePath(s, i, keyDigits, dirDigits) : deepPath(s, i);
    const { value, cuts } = values.make(i, size());
    yield { path, value, cuts };
  }
}
