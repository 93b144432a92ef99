/**
 * Member codecs for the zip writer: raw DEFLATE and CRC-32, picked once at load.
 *
 * Raw deflate: node:zlib where it exists (Node, Deno), else fflate (browsers). For KVS
 * values (100-2000 bytes) the cost of `deflateRawSync` is mostly setting up and tearing
 * down a zlib stream per call (~45k calls/s), so the default codec keeps ONE zlib
 * stream and resets it between members (~70k/s, the speed of zlib itself). That reuses
 * node's internal handle (`_handle.writeSync`, the call `deflateRawSync` makes itself);
 * it is feature-detected and self-tested at load, and anything unexpected falls back to
 * `deflateRawSync`.
 *
 * Every member's bytes must depend on that member alone: the worker pool deflates
 * batches on whichever thread is free, and the archive must not depend on which. A
 * reset zlib stream does not give that. Node's zlib (Chromium's) hashes 4 bytes where
 * zlib's match finder needs 3, so near the end of a member it reads a byte or so past
 * the input, from the window, which deflateReset does not clear: the previous member's
 * bytes. ~1 in 25,000 KVS values came out a byte or two different after a reset than
 * from a fresh stream (whose window Chromium's zlib zeroes). So after each member the
 * reused stream "washes" the window: at level 0 (stored blocks, which only memcpy their
 * input into the window) it takes as many zero bytes as the member wrote there, plus
 * slack, and is reset again. Its output is then exactly `deflateRawSync`'s, whatever
 * came before (self-tested at load with a pair that differs without the wash), for ~6%
 * more time rather than the ~40% a fresh stream per member costs.
 *
 * CRC-32: node:zlib's `crc32` (Node >= 20.15, Deno) else a table-driven one.
 */

/** Raw deflate of one member. The inline codecs return a view that is valid only until
 * their next call: copy it (the writer does) before compressing the next member. */
export type DeflateRaw = (data: Uint8Array) => Uint8Array;
export type Crc32 = (data: Uint8Array) => number;

/** libarchive's (and zlib's) default level. */
export const DEFAULT_LEVEL = 6;

/**
 * Zero bytes washed in past a member's end: the bytes the match finder can read past its
 * input (a few; MIN_LOOKAHEAD, 262, in zlib's terms) with room to spare.
 */
const WASH_SLACK = 512;
/**
 * Members above this go through the one-shot API. A level-0 block copies at most one
 * window (32 KiB) of its input into the window, so only members that, washed, fit in it
 * can be washed clean; above that the stream set-up is small next to the deflate.
 */
const REUSE_MAX_INPUT = (1 << 15) - WASH_SLACK;

interface ZlibModule {
  deflateRawSync(data: Uint8Array, opts: { level: number }): Uint8Array;
  inflateRawSync(data: Uint8Array): Uint8Array;
  createDeflateRaw(opts: { level: number }): unknown;
  crc32?: (data: Uint8Array, value?: number) => number;
  constants: { Z_FINISH: number; Z_DEFAULT_STRATEGY: number };
}

/** The internals of a node zlib stream that `deflateRawSync` and `params()` drive. */
interface ZlibHandleOwner {
  _handle?: {
    writeSync(flush: number, input: Uint8Array, inOff: number, inLen: number, out: Uint8Array, outOff: number, outLen: number): void;
    reset(): void;
    params(level: number, strategy: number): void;
  };
  _writeState?: Uint32Array;
}

const zlib: ZlibModule | null = await import('node:zlib').then(
  (m) => m as unknown as ZlibModule,
  () => null,
);

// ---------------------------------------------------------------- CRC-32

const CRC_TABLE = /* @__PURE__ */ (() => {
  const t = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  return t;
})();

/** CRC-32 (ISO 3309, as zip and gzip use it), table-driven; the portable fallback. */
export function crc32Table(data: Uint8Array): number {
  let c = -1;
  for (let i = 0; i < data.length; i++) c = CRC_TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}

export const crc32: Crc32 = typeof zlib?.crc32 === 'function' ? (d) => zlib.crc32!(d) >>> 0 : crc32Table;

// ---------------------------------------------------------------- deflate

/** Upper bound of raw deflate output (zlib's deflateBound for stored fallback, generous). */
function deflateBound(n: number): number {
  return n + (n >>> 12) + (n >>> 14) + (n >>> 25) + 64;
}

/** Level of the wash: stored blocks, which copy their input into the window as is. */
const WASH_LEVEL = 0;

/**
 * Member pairs whose second member deflates differently after the first unless the
 * window is washed (found by search against node 20's zlib): the self-test's probes.
 */
const HISTORY_PROBES: readonly (readonly [string, string])[] = [
  ['a'.repeat(22), 'ababab'],
  ['b'.repeat(23), 'abcabca'],
];

/**
 * One long-lived zlib stream, reset and washed after each member (see the top of this
 * file); null if the internals differ or the self-test fails.
 */
function reusedZlibDeflate(z: ZlibModule, level: number): DeflateRaw | null {
  const stream = z.createDeflateRaw({ level }) as ZlibHandleOwner;
  const handle = stream._handle;
  const state = stream._writeState;
  if (!handle || typeof handle.writeSync !== 'function' || typeof handle.reset !== 'function' || typeof handle.params !== 'function' || !state) {
    return null;
  }
  const { Z_FINISH, Z_DEFAULT_STRATEGY } = z.constants;
  let out = new Uint8Array(1 << 16);
  // Never written: the wash input.
  const zeros = new Uint8Array(REUSE_MAX_INPUT + WASH_SLACK);
  const oneShot = (data: Uint8Array): Uint8Array => z.deflateRawSync(data, { level });
  /**
   * Leave zeros wherever the last member (`n` bytes of input) put bytes in the window.
   * The wash's own output is discarded: it goes to `out` after offset `from`, so the
   * member's bytes before it stay intact.
   */
  const wash = (n: number, from: number): void => {
    handle.params(WASH_LEVEL, Z_DEFAULT_STRATEGY);
    handle.writeSync(Z_FINISH, zeros, 0, n + WASH_SLACK, out, from, out.length - from);
    handle.reset();
    handle.params(level, Z_DEFAULT_STRATEGY);
  };
  const deflate: DeflateRaw = (data) => {
    if (data.length > REUSE_MAX_INPUT) return oneShot(data);
    // Room for the member and, after it, the wash's stored blocks.
    const bound = deflateBound(data.length) + deflateBound(data.length + WASH_SLACK);
    if (out.length < bound) out = new Uint8Array(Math.max(bound, out.length * 2));
    handle.writeSync(Z_FINISH, data, 0, data.length, out, 0, out.length);
    const availOut = state[0]!;
    const availIn = state[1]!;
    handle.reset();
    // avail_out == 0 could mean the stream has not finished; the bound makes it unlikely.
    const finished = availIn === 0 && availOut !== 0;
    const length = finished ? out.length - availOut : 0;
    wash(data.length, length);
    return finished ? out.subarray(0, length) : oneShot(data);
  };
  // Self-test: round trips, and exactly the one-shot bytes after a member that would
  // leave its mark in an unwashed window.
  const enc = new TextEncoder();
  const probe = enc.encode('{"probe":"flux-dump zip self-test","n":[1,1,2,3,5,8,13,21]}'.repeat(3));
  for (let i = 0; i < 2; i++) {
    const back = z.inflateRawSync(deflate(probe).slice());
    if (back.length !== probe.length || back.some((b, j) => b !== probe[j])) return null;
  }
  for (const [before, member] of HISTORY_PROBES) {
    deflate(enc.encode(before));
    const m = enc.encode(member);
    const got = deflate(m);
    const want = oneShot(m);
    if (got.length !== want.length || got.some((b, j) => b !== want[j])) return null;
  }
  return deflate;
}

function safeReused(z: ZlibModule, level: number): DeflateRaw | null {
  try {
    return reusedZlibDeflate(z, level);
  } catch {
    return null;
  }
}

type CodecKind = 'zlib-reused' | 'zlib-oneshot' | 'fflate';
const codecs = new Map<number, { deflate: DeflateRaw; kind: CodecKind }>();

let fflateDeflate: ((data: Uint8Array, opts: { level: number }) => Uint8Array) | null = null;
if (!zlib) {
  const fflate = await import('fflate');
  fflateDeflate = (data, opts) => fflate.deflateSync(data, { level: opts.level as 6 });
}

function codecFor(level: number): { deflate: DeflateRaw; kind: CodecKind } {
  let codec = codecs.get(level);
  if (!codec) {
    const reused = zlib ? safeReused(zlib, level) : null;
    if (reused) codec = { deflate: reused, kind: 'zlib-reused' };
    else if (zlib) codec = { deflate: (d) => zlib.deflateRawSync(d, { level }), kind: 'zlib-oneshot' };
    else codec = { deflate: (d) => fflateDeflate!(d, { level }), kind: 'fflate' };
    codecs.set(level, codec);
  }
  return codec;
}

/** The inline raw-deflate codec at `level` (0-9), created once per level. */
export function inlineDeflateRaw(level = DEFAULT_LEVEL): DeflateRaw {
  return codecFor(level).deflate;
}

/** Which implementation `inlineDeflateRaw` uses here, for benchmarks and the README. */
export function inlineDeflateKind(level = DEFAULT_LEVEL): CodecKind {
  return codecFor(level).kind;
}

/** fflate's raw deflate, exported so tests can check the fallback against zlib. */
export async function fflateDeflateRaw(level = DEFAULT_LEVEL): Promise<DeflateRaw> {
  const fflate = await import('fflate');
  return (d) => fflate.deflateSync(d, { level: level as 6 });
}
