/**
 * Job-shaped KVS content, deterministic for a seed: keys and value sizes modelled on
 * real Flux jobs (see the fixtures): job/<FLUID dothex as 4 levels>/{eventlog, jobspec,
 * R, J, guest/exec/eventlog, guest/input, guest/output}, plus a few top-level keys.
 */

/** mulberry32: tiny, fast, good enough for test data. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface GenValue {
  /** Path components below the job directory. */
  key: string[];
  /** One element per append (a valref of several blobs); a single element otherwise. */
  parts: string[];
}

export interface GenJob {
  /** FLUID dothex components, e.g. ['0000','0004','b200','0000']. */
  dirs: string[];
  values: GenValue[];
}

export interface JobShape {
  /** Appends per eventlog (1 = a restored store; live stores have ~10). */
  appends: number;
  /** Multiply value sizes (big-values shape). */
  sizeFactor: number;
}

const EVENTS = ['submit', 'validate', 'depend', 'priority', 'alloc', 'start', 'finish', 'release', 'free', 'clean'];
const USERS = ['alice', 'bob', 'carol', 'dave', 'erin'];

function pick<T>(rnd: () => number, xs: readonly T[]): T {
  return xs[Math.floor(rnd() * xs.length)]!;
}

const WORDS = ['node', 'core', 'gpu', 'rank', 'task', 'slot', 'exec', 'shell', 'env', 'path'];
const NUMBERS = 1000;

/**
 * Every filler piece, `word + number + sep`, as bytes: filler() copies pieces instead of
 * concatenating strings (a 1 KiB value of ~130 string pieces cost ~10 us to build and
 * flatten). Each piece sits in its own 12-byte slot, so one is copied with two 32-bit
 * stores and one byte store whatever its length (the bytes past its end are overwritten
 * by the next piece or cut off).
 */
interface Pieces {
  words: Uint32Array;
  length: Uint8Array;
}

const PIECE_SLOT = 12;
/** The slots are read as host-order words: write them back in the same order. */
const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;
/** Longest piece ('shell999.'); it fits in a slot's first 9 bytes. */

function makePieces(sep: string): Pieces {
  const count = WORDS.length * NUMBERS;
  const words = new Uint32Array((count * PIECE_SLOT) / 4);
  const bytes = new Uint8Array(words.buffer);
  const length = new Uint8Array(count);
  let k = 0;
  for (const w of WORDS) {
    for (let n = 0; n < NUMBERS; n++, k++) {
      const text = w + n.toString() + sep;
      for (let i = 0; i < text.length; i++) bytes[k * PIECE_SLOT + i] = text.charCodeAt(i);
      length[k] = text.length;
    }
  }
  return { words, length };
}

const SPACED = makePieces(' ');
const DOTTED = makePieces('.');
const SLAB_BYTES = 4 << 20;

/**
 * Appends ASCII text to slabs; a value is the bytes between begin() and end(). A slab is
 * never rewritten (earlier values stay valid); a value that outgrows it moves to a new one.
 */
export class TextOut {
  #buf = new Uint8Array(SLAB_BYTES);
  #view = new DataView(this.#buf.buffer);
  #at = 0;
  #start = 0;

  begin(): void {
    this.#start = this.#at;
  }

  /** Bytes written since begin(). */
  get length(): number {
    return this.#at - this.#start;
  }

  end(): Uint8Array {
    return this.#buf.subarray(this.#start, this.#at);
  }

  #reserve(n: number): void {
    if (this.#at + n <= this.#buf.length) return;
    const used = this.#at - this.#start;
    const next = new Uint8Array(Math.max(SLAB_BYTES, 2 * (used + n)));
    next.set(this.#buf.subarray(this.#start, this.#at));
    this.#buf = next;
    this.#view = new DataView(next.buffer);
    this.#start = 0;
    this.#at = used;
  }

  /** ASCII text (templates, numbers). */
  text(s: string): void {
    this.#reserve(s.length);
    const buf = this.#buf;
    let at = this.#at;
    for (let i = 0; i < s.length; i++) buf[at++] = s.charCodeAt(i);
    this.#at = at;
  }

  /**
   * `n` characters of filler: pieces drawn (word, then number: two draws) while fewer
   * than `n` characters are written, then cut to `n`.
   */
  filler(rnd: () => number, n: number, pieces: Pieces = SPACED): void {
    const limit = Math.max(0, Math.trunc(n));
    this.#reserve(limit + PIECE_SLOT);
    const view = this.#view;
    const { words, length } = pieces;
    const begin = this.#at;
    let at = begin;
    while (at - begin < n) {
      const w = Math.floor(rnd() * WORDS.length);
      const k = w * NUMBERS + Math.floor(rnd() * NUMBERS);
      const slot = k * (PIECE_SLOT / 4);
      view.setUint32(at, words[slot]!, HOST_LITTLE_ENDIAN);
      view.setUint32(at + 4, words[slot + 1]!, HOST_LITTLE_ENDIAN);
      view.setUint8(at + 8, HOST_LITTLE_ENDIAN ? words[slot + 2]! : words[slot + 2]! >>> 24);
      at += length[k]!;
    }
    this.#at = begin + limit;
  }
}

function fluidDothex(id: bigint): string[] {
  const hex = id.toString(16).padStart(16, '0');
  return [hex.slice(0, 4), hex.slice(4, 8), hex.slice(8, 12), hex.slice(12, 16)];
}

/** An eventlog, one line per name; returns each line's end (relative to begin()). */
function eventlog(out: TextOut, rnd: () => number, t0: number, names: readonly string[], extra: number): number[] {
  let t = t0;
  const ends: number[] = [];
  out.begin();
  for (const name of names) {
    t += rnd() * 2;
    // the context draws before the timestamp is written, as the text is assembled
    const userid = name === 'submit' ? 1000 + Math.floor(rnd() * 50) : 0;
    out.text(`{"timestamp":${t.toFixed(7)},"name":"${name}","context":`);
    if (name === 'submit') out.text(`{"userid":${userid},"urgency":16,"flags":0,"version":1}`);
    else {
      out.text('{"note":"');
      out.filler(rnd, extra);
      out.text('"}');
    }
    out.text('}\n');
    ends.push(out.length);
  }
  return ends;
}

/**
 * Blob ends for a value of lines ending at `ends`, cut into `appends` blobs as
 * `flux kvs put --append` would leave it: the first blob holds the lines that do not get
 * one of their own, then one line per blob.
 */
export function appendCuts(ends: readonly number[], appends: number): number[] {
  if (appends <= 1 || ends.length <= 1) return [ends[ends.length - 1] ?? 0];
  return ends.slice(ends.length - Math.min(appends, ends.length));
}

function cut(value: Uint8Array, ends: readonly number[]): Uint8Array[] {
  const parts: Uint8Array[] = [];
  let start = 0;
  for (const end of ends) {
    parts.push(value.subarray(start, end));
    start = end;
  }
  return parts;
}

export interface GenBytesValue {
  key: string[];
  /** One element per append (a valref of several blobs); a single element otherwise. */
  parts: Uint8Array[];
}

export interface GenBytesJob {
  dirs: string[];
  values: GenBytesValue[];
}

const EXEC_EVENTS = ['init', 'starting', 'shell.init', 'complete', 'done'];
const GUEST_INPUT = `{"type":"header","version":1,"encoding":{"stdin":"UTF-8"},"count":{"stdin":1},"options":{}}\n`;

/**
 * The jobs as bytes, written into `out`'s slabs (the values stay valid after later jobs
 * are generated). Same content as generateJobs.
 */
export function* generateJobBytes(count: number, seed: number, shape: JobShape, out = new TextOut()): Generator<GenBytesJob> {
  const rnd = prng(seed);
  let ms = 1_700_000_000_000n - 1_600_000_000_000n; // ms since the Flux epoch of the instance
  let t = 1_700_000_000;
  const f = shape.sizeFactor;
  const whole = (): Uint8Array[] => [out.end()];
  for (let i = 0; i < count; i++) {
    ms += BigInt(1 + Math.floor(rnd() * 50));
    t += rnd() * 5;
    const id = (ms << 24n) | BigInt(Math.floor(rnd() * 1024));
    const user = pick(rnd, USERS);

    out.begin();
    out.text(`{"resources":[{"type":"slot","count":${1 + Math.floor(rnd() * 8)},"with":[{"type":"core","count":1}],"label":"task"}],"tasks":[{"command":["`);
    out.filler(rnd, 20 * f);
    out.text(`"],"slot":"task","count":{"per_slot":1}}],"attributes":{"system":{"duration":0,"cwd":"/home/${user}","environment":{"PATH":"`);
    out.filler(rnd, 200 * f);
    out.text('"}}},"version":1}');
    const jobspec = whole();

    out.begin();
    const rank = Math.floor(rnd() * 64);
    const core = Math.floor(rnd() * 31);
    out.text(`{"version":1,"execution":{"R_lite":[{"rank":"${rank}","children":{"core":"0-${core}"}}],"starttime":${t.toFixed(1)},"expiration":${(t + 3600).toFixed(1)},"nodelist":["node${Math.floor(rnd() * 64)}"]}}`);
    const R = whole();

    out.begin();
    out.filler(rnd, Math.floor((900 + rnd() * 900) * f), DOTTED);
    const J = whole();

    out.begin();
    const outputLength = Math.floor(rnd() * 400 * f);
    out.text('{"version":1,"type":"output","data":{"stream":"stdout","rank":"0","data":"');
    out.filler(rnd, outputLength);
    out.text('"}}\n');
    const output = whole();

    const mainLog = eventlog(out, rnd, t, EVENTS, 20 * f);
    const eventlogParts = cut(out.end(), appendCuts(mainLog, shape.appends));
    const execLog = eventlog(out, rnd, t, EXEC_EVENTS, 10 * f);
    const execParts = cut(out.end(), appendCuts(execLog, shape.appends));
    out.begin();
    out.text(GUEST_INPUT);
    const input = whole();

    yield {
      dirs: fluidDothex(id),
      values: [
        { key: ['eventlog'], parts: eventlogParts },
        { key: ['jobspec'], parts: jobspec },
        { key: ['R'], parts: R },
        { key: ['J'], parts: J },
        { key: ['guest', 'exec', 'eventlog'], parts: execParts },
        { key: ['guest', 'input'], parts: input },
        { key: ['guest', 'output'], parts: output },
      ],
    };
  }
}

/** The jobs as text (all ASCII): for benchmarks that want strings. */
export function* generateJobs(count: number, seed: number, shape: JobShape): Generator<GenJob> {
  const ascii = new TextDecoder('latin1');
  const latin1 = (b: Uint8Array) => ascii.decode(b);
  for (const job of generateJobBytes(count, seed, shape)) {
    yield { dirs: job.dirs, values: job.values.map((v) => ({ key: v.key, parts: v.parts.map(latin1) })) };
  }
}

/** A few top-level keys every system instance has. */
export function topLevelValues(seed: number): GenValue[] {
  const rnd = prng(seed ^ 0x5eed);
  return [
    { key: ['resource', 'R'], parts: [`{"version":1,"execution":{"R_lite":[{"rank":"0-63","children":{"core":"0-31"}}],"nodelist":["node[0-63]"]}}`] },
    { key: ['resource', 'eventlog'], parts: [`{"timestamp":1700000000.0,"name":"resource-define","context":{"method":"configuration"}}\n`] },
    { key: ['checkpoint', 'job-manager'], parts: [`{"version":1,"max_jobid":${Math.floor(rnd() * 1e9)},"queue":[]}`] },
    { key: ['version'], parts: ['1'] },
  ];
}
