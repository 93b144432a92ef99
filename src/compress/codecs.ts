/**
 * One-shot chunk compressors: bytes in, one complete gzip member / bzip2 stream / xz
 * stream out. The chunked filters run these on the worker pool (worker.ts) and, for small
 * inputs, inline; concatenating their outputs gives a standard multi-member file.
 *
 * Every codec is loaded lazily and once per thread: the bzip2 WASM instance and the xz
 * encoder (native addon or WASM) cost start-up time and memory that a gzip-only dump
 * should not pay.
 */
import { fileURLToPath } from 'node:url';
import { FluxError } from '../errors.js';

export type Codec = 'gzip' | 'bzip2' | 'xz';

/** libarchive's default levels, which flux-dump inherits. */
export const GZIP_LEVEL = 6;
export const BZIP2_BLOCK_SIZE_100K = 9;
export const XZ_PRESET = 6;

/** A loaded compressor: synchronous, pure, returns a buffer the caller owns. */
export type ChunkCompressor = (input: Uint8Array) => Uint8Array;

/** gzip header fields we pin so the bytes never depend on the clock or the platform. */
const GZIP_MTIME_OFFSET = 4;
const GZIP_MTIME_SIZE = 4;
const GZIP_OS_OFFSET = 9;
/** RFC 1952 OS code 3 = Unix: what zlib writes on Unix and fflate always writes. */
export const GZIP_OS_UNIX = 3;

export type GzipEngine = 'node:zlib' | 'fflate';

/**
 * Fix the member header: MTIME 0 (no clocks in the pipeline; both engines already write 0
 * when not asked otherwise) and OS = Unix, whatever platform zlib was built for. Neither
 * field is covered by a checksum (we never set FHCRC).
 */
function pinGzipHeader(member: Uint8Array): Uint8Array {
  member.fill(0, GZIP_MTIME_OFFSET, GZIP_MTIME_OFFSET + GZIP_MTIME_SIZE);
  member[GZIP_OS_OFFSET] = GZIP_OS_UNIX;
  return member;
}

/** gzip with node:zlib (native zlib; about 4x fflate). Null where node:zlib is absent. */
async function loadNodeGzip(): Promise<ChunkCompressor | null> {
  let zlib: typeof import('node:zlib');
  try {
    zlib = await import('node:zlib');
  } catch {
    return null;
  }
  return (input) => {
    const out = zlib.gzipSync(input, { level: GZIP_LEVEL });
    return pinGzipHeader(new Uint8Array(out.buffer, out.byteOffset, out.byteLength));
  };
}

/** An upper bound of a gzip member's size (zlib's deflateBound plus header and trailer). */
function gzipBound(n: number): number {
  return Math.max(64 * 1024, n + (n >>> 12) + (n >>> 14) + (n >>> 25) + 64);
}

/** A compressor that runs off the calling thread and settles with the result. */
export type AsyncChunkCompressor = (input: Uint8Array) => Promise<Uint8Array>;

/**
 * gzip on libuv's thread pool (node:zlib's async API): native zlib, no worker isolate
 * per core and no message per chunk. Null where node:zlib is absent.
 */
export async function loadNodeGzipAsync(): Promise<AsyncChunkCompressor | null> {
  let zlib: typeof import('node:zlib');
  try {
    zlib = await import('node:zlib');
  } catch {
    return null;
  }
  if (typeof zlib.gzip !== 'function') return null;
  return (input) =>
    new Promise((resolve, reject) => {
      // One output buffer big enough for the whole member: with the default 16 KiB, zlib
      // comes back to this thread for every 16 KiB of output, and a busy walk then keeps
      // the compressing thread waiting (measured: ~15% slower than the worker pool).
      zlib.gzip(input, { level: GZIP_LEVEL, chunkSize: gzipBound(input.length) }, (err, out) => {
        if (err) reject(err);
        else resolve(pinGzipHeader(new Uint8Array(out.buffer, out.byteOffset, out.byteLength)));
      });
    });
}

/** gzip with fflate (pure JS): the fallback for runtimes without node:zlib. */
async function loadFflateGzip(): Promise<ChunkCompressor> {
  const { gzipSync } = await import('fflate');
  // mtime 0: fflate otherwise stamps Date.now() into the header.
  return (input) => pinGzipHeader(gzipSync(input, { level: GZIP_LEVEL, mtime: 0 }));
}

export async function loadGzip(engine?: GzipEngine): Promise<ChunkCompressor> {
  if (engine !== 'fflate') {
    const native = await loadNodeGzip();
    if (native) return native;
    if (engine === 'node:zlib') throw new Error('node:zlib is not available in this runtime');
  }
  return loadFflateGzip();
}

/**
 * The parts of the Emscripten module of bzip2-wasm we use. Its own wrapper class is not
 * used: it captures HEAPU8 before malloc, so the view is detached as soon as the heap
 * grows, and it defaults the output capacity to the input size (BZ_OUTBUFF_FULL on
 * incompressible data).
 */
interface Bzip2Module {
  HEAPU8: Uint8Array;
  _malloc(size: number): number;
  _free(ptr: number): void;
  getValue(ptr: number, type: 'i32'): number;
  setValue(ptr: number, value: number, type: 'i32'): void;
  _BZ2_bzBuffToBuffCompress(
    dest: number,
    destLenPtr: number,
    source: number,
    sourceLen: number,
    blockSize100k: number,
    verbosity: number,
    workFactor: number,
  ): number;
}

/** bzlib's documented default (also what `bzip2` uses). */
const BZIP2_WORK_FACTOR = 30;
const BZ_OK = 0;

/** bzlib's guarantee: output fits in 1% more than the input plus 600 bytes. */
export function bzip2Bound(inputLength: number): number {
  return inputLength + Math.ceil(inputLength / 100) + 600;
}

/**
 * Instantiate bzip2-wasm without letting it change the host. Its loader needs
 * `__dirname` and `require` as globals in Node and installs process-wide
 * 'uncaughtException' / 'unhandledRejection' handlers that rethrow: we provide the
 * globals only while it loads, then take back all of it.
 */
async function loadBzip2Module(): Promise<Bzip2Module> {
  const g = globalThis as Record<string, unknown>;
  const saved = { __dirname: Object.getOwnPropertyDescriptor(g, '__dirname'), require: Object.getOwnPropertyDescriptor(g, 'require') };
  const proc = g.process as NodeJS.EventEmitter | undefined;
  const events = ['uncaughtException', 'unhandledRejection'];
  const before = proc ? events.map((e) => proc.listeners(e)) : [];
  try {
    const { default: BZip2 } = await import('bzip2-wasm');
    const wrapper = new BZip2();
    await wrapper.init();
    return (wrapper as unknown as { wasmModule: Bzip2Module }).wasmModule;
  } finally {
    for (const key of ['__dirname', 'require'] as const) {
      const d = saved[key];
      if (d) Object.defineProperty(g, key, d);
      else delete g[key];
    }
    if (proc) {
      events.forEach((e, i) => {
        for (const l of proc.listeners(e)) if (!before[i]!.includes(l)) proc.removeListener(e, l as (...args: unknown[]) => void);
      });
    }
  }
}

/**
 * One bzip2 stream per call. Input and output regions in the WASM heap are allocated once
 * and reused (grown only if a bigger chunk comes), so the heap stops growing after the
 * first chunk; HEAPU8 is re-read after every call that may have grown it anyway (bzlib
 * mallocs its ~7.6 MB state per call).
 */
export async function loadBzip2(): Promise<ChunkCompressor> {
  const m = await loadBzip2Module();
  const lenPtr = m._malloc(4);
  let capacity = 0;
  let inPtr = 0;
  let outPtr = 0;
  const reserve = (n: number): void => {
    if (n <= capacity) return;
    if (capacity) {
      m._free(inPtr);
      m._free(outPtr);
    }
    capacity = n;
    inPtr = m._malloc(n);
    outPtr = m._malloc(bzip2Bound(n));
    if (!inPtr || !outPtr) throw new Error(`bzip2: cannot allocate ${n} bytes in the WASM heap`);
  };
  return (input) => {
    reserve(Math.max(input.length, 1));
    m.HEAPU8.set(input, inPtr);
    const bound = bzip2Bound(input.length);
    m.setValue(lenPtr, bound, 'i32');
    const rc = m._BZ2_bzBuffToBuffCompress(outPtr, lenPtr, inPtr, input.length, BZIP2_BLOCK_SIZE_100K, 0, BZIP2_WORK_FACTOR);
    if (rc !== BZ_OK) throw new Error(`bzip2: compression failed with code ${rc}`);
    const n = m.getValue(lenPtr, 'i32');
    return m.HEAPU8.slice(outPtr, outPtr + n);
  };
}

/**
 * Which xz encoder runs: the native @napi-rs/lzma addon (Rust lzma-rust2, prebuilt per
 * platform) where it loads, else the same encoder compiled to WebAssembly (xz-wasm.ts).
 * Both write the same bytes. `auto` is the product's behaviour; the other two exist for
 * tests and benchmarks.
 */
export type XzEngine = 'auto' | 'native' | 'wasm';

/**
 * The environment variable that forces an xz engine (`native` or `wasm`); read with the
 * other settings in src/cli/settings.ts, named here for messages. The engine then travels
 * with each compression task, so pool workers load the same one.
 */
export const XZ_ENGINE_ENV = 'FLUXDUMP_XZ_ENGINE';

interface DenoPermissions {
  querySync(d: { name: 'ffi'; path?: string }): { state: string };
}

/**
 * Under Deno, whether loading the native addon is allowed already: asking would put a
 * permission prompt on the user's terminal, and the WASM engine needs no permission.
 * Granted means --allow-ffi for everything, or for the directory that holds @napi-rs/lzma
 * and its platform binding side by side (what scripts/deno-run.mjs grants). Elsewhere
 * always true.
 */
function ffiGranted(): boolean {
  const perms = (globalThis as { Deno?: { permissions?: DenoPermissions } }).Deno?.permissions;
  if (typeof perms?.querySync !== 'function') return true;
  if (perms.querySync({ name: 'ffi' }).state === 'granted') return true;
  let scope: string;
  try {
    scope = fileURLToPath(new URL('..', import.meta.resolve('@napi-rs/lzma')));
  } catch {
    return false;
  }
  return perms.querySync({ name: 'ffi', path: scope }).state === 'granted';
}

/**
 * The native addon's compressor, or the reason it does not load: no binding installed for
 * this platform and Node version, or (Deno) no --allow-ffi.
 * `xz.compressSync` uses preset 6 with a CRC64 check, like `xz -6`; a test pins that it
 * equals `XzCompressor({preset: 6})`. It runs on the calling thread, unlike the
 * Compressor class whose finish() hops to another thread, so a pool worker is exactly
 * one core.
 */
async function loadNativeXz(): Promise<ChunkCompressor> {
  if (!ffiGranted()) throw new Error('xz: the native addon needs --allow-ffi under Deno');
  const { xz } = await import('@napi-rs/lzma');
  return (input) => {
    const out = xz.compressSync(input);
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  };
}

async function loadWasmXz(): Promise<ChunkCompressor> {
  const { loadXzWasm } = await import('./xz-wasm.js');
  const { xz } = await loadXzWasm();
  return (input) => {
    const out = xz.compressSync(input);
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  };
}

/** The xz engine that `auto` resolves to in this thread, once known (tests, benchmarks). */
let resolvedXzEngine: 'native' | 'wasm' | undefined;

export async function loadXz(engine: XzEngine = 'auto'): Promise<ChunkCompressor> {
  if (engine === 'wasm') return loadWasmXz();
  if (engine === 'native') {
    try {
      return await loadNativeXz();
    } catch (err) {
      // The addon's loader reports every path it tried over many lines.
      throw new FluxError(`${XZ_ENGINE_ENV}=native: the native xz encoder does not load: ${String((err as Error)?.message ?? err).split('\n')[0]}`);
    }
  }
  try {
    const native = await loadNativeXz();
    resolvedXzEngine = 'native';
    return native;
  } catch {
    const wasm = await loadWasmXz();
    resolvedXzEngine = 'wasm';
    return wasm;
  }
}

/** The engine `auto` picks in this runtime (loads it if not loaded yet). */
export async function autoXzEngine(): Promise<'native' | 'wasm'> {
  if (!resolvedXzEngine) await loadXz('auto');
  return resolvedXzEngine!;
}

const loaded = new Map<string, Promise<ChunkCompressor>>();

/** The compressor for `codec` in this thread (with the engine asked for), loaded on first use. */
export function getCompressor(codec: Codec, gzipEngine?: GzipEngine, xzEngine: XzEngine = 'auto'): Promise<ChunkCompressor> {
  const key = codec === 'gzip' ? `gzip:${gzipEngine ?? 'auto'}` : codec === 'xz' ? `xz:${xzEngine}` : codec;
  let p = loaded.get(key);
  if (!p) {
    p = codec === 'gzip' ? loadGzip(gzipEngine) : codec === 'bzip2' ? loadBzip2() : loadXz(xzEngine);
    loaded.set(key, p);
    p.catch(() => loaded.delete(key));
  }
  return p;
}
