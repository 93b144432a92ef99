/**
 * JS side of asm/lz4.ts: LZ4 block decode/encode in WASM, plugged into the switchable
 * codec of src/store/lz4.ts by installWasmLz4(). Memory layout, grown only when a larger
 * block arrives (growing detaches views, so they are refreshed):
 *
 *   heapBase | input (block or raw bytes) | output (declared size, or bound(n))
 */
import { FluxError } from '../errors.js';
import { lz4, lz4Bound, lz4DecodeBlockIntoTS, lz4DecodeBlockTS, lz4EncodeBlockTS, maxDecodedSize } from '../store/lz4.js';
import { WASM_BASE64 } from './generated/lz4.wasm.js';
import { align16, ensureMemory, instantiateEmbedded, instantiateEmbeddedSync } from './load.js';

interface Lz4Exports {
  memory: WebAssembly.Memory;
  heapBase(): number;
  bound(n: number): number;
  decode(src: number, srcLen: number, dst: number, dstLen: number): number;
  encode(src: number, n: number, dst: number, cap: number): number;
}

/** Same wording as the reference decoder, so an error reads the same either way. */
const DECODE_ERRORS: Record<number, string> = {
  [-1]: 'truncated literal length',
  [-2]: 'literals run past the end of the block',
  [-3]: 'literals overflow the declared size',
  [-4]: 'truncated match offset',
  [-5]: 'match offset out of range',
  [-6]: 'truncated match length',
  [-7]: 'match overflows the declared size',
};

/**
 * Blocks or outputs above this go to the TS codec: the WASM ABI returns lengths as i32
 * and a 32-bit memory must hold input and output together.
 */
export const WASM_LZ4_MAX_BYTES = 1 << 30;

export { maxDecodedSize };

function malformed(why: string): never {
  throw new FluxError(`corrupt LZ4 block: ${why}`, 'EPROTO');
}

/** A declared size the block cannot have is refused before anything is allocated. */
function checkDeclared(src: Uint8Array, size: number): void {
  if (!Number.isSafeInteger(size) || size < 0) malformed(`invalid declared size ${size}`);
  if (size > maxDecodedSize(src.length)) malformed(`declared size ${size} is impossible for a ${src.length}-byte block`);
}

export class WasmLz4 {
  readonly #x: Lz4Exports;
  readonly #base: number;
  #u8: Uint8Array;

  constructor(instance: WebAssembly.Instance) {
    this.#x = instance.exports as unknown as Lz4Exports;
    this.#base = align16(this.#x.heapBase());
    this.#u8 = new Uint8Array(this.#x.memory.buffer);
  }

  static async load(): Promise<WasmLz4> {
    return new WasmLz4(await instantiateEmbedded(WASM_BASE64));
  }

  static loadSync(): WasmLz4 {
    return new WasmLz4(instantiateEmbeddedSync(WASM_BASE64));
  }

  /**
   * Makes room for input and output; returns the output address. Reading
   * `memory.buffer` costs a runtime call, so the capacity is tracked here and the view
   * is refreshed only after this codec grows the memory (nothing else does).
   */
  #reserve(inLen: number, outLen: number): number {
    const out = align16(this.#base + inLen);
    if (out + outLen > this.#u8.length) {
      ensureMemory(this.#x.memory, out + outLen);
      this.#u8 = new Uint8Array(this.#x.memory.buffer);
    }
    return out;
  }

  /** Decodes a block that must expand to exactly `size` bytes; FluxError if it does not. */
  decode(src: Uint8Array, size: number): Uint8Array {
    checkDeclared(src, size);
    if (src.length + size > WASM_LZ4_MAX_BYTES) return lz4DecodeBlockTS(src, size);
    const at = this.#decodeInWasm(src, size);
    return this.#u8.slice(at, at + size);
  }

  /** As decode(), written into dst[to..to+size] instead of a new array. */
  decodeInto(src: Uint8Array, size: number, dst: Uint8Array, to: number): void {
    checkDeclared(src, size);
    if (src.length + size > WASM_LZ4_MAX_BYTES) return lz4DecodeBlockIntoTS(src, size, dst, to);
    const at = this.#decodeInWasm(src, size);
    dst.set(this.#u8.subarray(at, at + size), to);
  }

  /** Decodes into WASM memory; returns where the `size` bytes are. */
  #decodeInWasm(src: Uint8Array, size: number): number {
    const dst = this.#reserve(src.length, size);
    this.#u8.set(src, this.#base);
    const r = this.#x.decode(this.#base, src.length, dst, size);
    if (r < 0) malformed(DECODE_ERRORS[r] ?? `error ${r}`);
    if (r !== size) malformed(`decoded ${r} bytes, expected ${size}`);
    return dst;
  }

  /** Encodes one block (any LZ4 block decoder, liblz4 included, accepts it). */
  encode(src: Uint8Array): Uint8Array {
    const cap = lz4Bound(src.length);
    if (src.length + cap > WASM_LZ4_MAX_BYTES) return lz4EncodeBlockTS(src);
    const dst = this.#reserve(src.length, cap);
    this.#u8.set(src, this.#base);
    const r = this.#x.encode(this.#base, src.length, dst, cap);
    if (r < 0) throw new Error(`LZ4 encode failed (${r})`); // bound() mismatch: a bug
    return this.#u8.slice(dst, dst + r);
  }
}

let installed: WasmLz4 | undefined;

/** Loads the WASM codec and makes it the active `lz4.decode`/`lz4.encode`. Idempotent. */
export async function installWasmLz4(): Promise<WasmLz4> {
  installed ??= await WasmLz4.load();
  const codec = installed;
  lz4.decode = (src, size) => codec.decode(src, size);
  lz4.decodeInto = (src, size, dst, at) => codec.decodeInto(src, size, dst, at);
  lz4.encode = (src) => codec.encode(src);
  return codec;
}

/** Puts the pure-TS reference codec back (tests, benchmarks). */
export function uninstallWasmLz4(): void {
  lz4.decode = lz4DecodeBlockTS;
  lz4.decodeInto = lz4DecodeBlockIntoTS;
  lz4.encode = lz4EncodeBlockTS;
}
