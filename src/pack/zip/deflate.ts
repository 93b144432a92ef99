/**
 * Member codecs for the zip writer: raw DEFLATE and CRC-32, picked once at load.
 *
 * Raw deflate: node:zlib where it exists (Node, Deno), else fflate (browsers). For KVS
 * values (100-2000 bytes) the cost of `deflateRawSync` is mostly setting up and tearing
 * down a zlib stream per call (~45k calls/s here), so the default codec keeps ONE zlib
 * stream and resets it between members (~70k/s, the speed of zlib itself). That reuses
 * node's internal handle (`_handle.writeSync`, the call `deflateRawSync` makes itself);
 * it is feature-detected and self-tested at load, and anything unexpected falls back to
 * `deflateRawSync`.
 *
 * CRC-32: node:zlib's `crc32` (Node >= 20.15, Deno) else a table-driven one.
 */

/** Raw deflate of one member. The inline codecs return a view that is valid only until
 * their next call: copy it (the writer does) before compressing the next member. */
export type DeflateRaw = (data: Uint8Array) => Uint8Array;
export type Crc32 = (data: Uint8Array) => number;

/** libarchive's (and zlib's) default level. */
export const DEFAULT_LEVEL = 6;

/** Members above this go through the one-shot API (it streams its output). */
const REUSE_MAX_INPUT = 1 << 20;

interface ZlibModule {
  deflateRawSync(data: Uint8Array, opts: { level: number }): Uint8Array;
  inflateRawSync(data: Uint8Array): Uint8Array;
  createDeflateRaw(opts: { level: number }): unknown;
  crc32?: (data: Uint8Array, value?: number) => number;
  constants: { Z_FINISH: number };
}

/** The internals of a node zlib stream that `deflateRawSync` itself drives. */
interface ZlibHandleOwner {
  _handle?: {
    writeSync(flush: number, input: Uint8Array, inOff: number, inLen: number, out: Uint8Array, outOff: number, outLen: number): void;
    reset(): void;
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

/** One long-lived zlib stream, reset after each member; null if the internals differ. */
function reusedZlibDeflate(z: ZlibModule, level: number): DeflateRaw | null {
  const stream = z.createDeflateRaw({ level }) as ZlibHandleOwner;
  const handle = stream._handle;
  const state = stream._writeState;
  if (!handle || typeof handle.writeSync !== 'function' || typeof handle.reset !== 'function' || !state) return null;
  let out = new Uint8Array(1 << 16);
  const oneShot = (data: Uint8Array): Uint8Array => z.deflateRawSync(data, { level });
  const deflate: DeflateRaw = (data) => {
    if (data.length > REUSE_MAX_INPUT) return oneShot(data);
    const bound = deflateBound(data.length);
    if (out.length < bound) out = new Uint8Array(Math.max(bound, out.length * 2));
    handle.writeSync(z.constants.Z_FINISH, data, 0, data.length, out, 0, out.length);
    const availOut = state[0]!;
    const availIn = state[1]!;
    handle.reset();
    // avail_out == 0 could mean the stream has not finished; the bound makes it unlikely.
    if (availIn !== 0 || availOut === 0) return oneShot(data);
    return out.subarray(0, out.length - availOut);
  };
  // Self-test: the round trip must give back the input, twice (the reset must work).
  const probe = new TextEncoder().encode('{"probe":"flux-dump zip self-test","n":[1,1,2,3,5,8,13,21]}'.repeat(3));
  for (let i = 0; i < 2; i++) {
    const back = z.inflateRawSync(deflate(probe).slice());
    if (back.length !== probe.length || back.some((b, j) => b !== probe[j])) return null;
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
