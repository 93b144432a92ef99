/**
 * JS side of asm/sha1.ts and asm/sha256.ts (one ABI for both). Linear memory layout,
 * fixed once at construction (one memory.grow):
 *
 *   heapBase | state (192) | digests (BATCH_MAX_BLOBS * digestSize) | table (BATCH_MAX_BLOBS * 8) | data window (WINDOW_BYTES)
 *
 * A batch copies each blob into the data window and its (address, length) into the table,
 * then makes ONE call; blobs larger than the window stream through init/update/final.
 */
import { align16, ensureMemory, instantiateEmbedded, instantiateEmbeddedSync } from './load.js';
import { WASM_BASE64 as SHA1_WASM } from './generated/sha1.wasm.js';
import { WASM_BASE64 as SHA256_WASM } from './generated/sha256.wasm.js';
import type { HashType } from '../blobref.js';

export interface ShaExports {
  memory: WebAssembly.Memory;
  heapBase(): number;
  digestSize(): number;
  stateSize(): number;
  batch(table: number, count: number, out: number): void;
  one(p: number, len: number, out: number): void;
  init(st: number): void;
  update(st: number, p: number, len: number): void;
  final(st: number, out: number): void;
}

/** Most blobs hashed per WASM call; also bounded by WINDOW_BYTES of blob data. */
export const BATCH_MAX_BLOBS = 4096;
/** Bytes of blob data per call: the batch window, and the chunk size for streaming. */
export const WINDOW_BYTES = 1 << 20;

const EMBEDDED: Record<HashType, string> = { sha1: SHA1_WASM, sha256: SHA256_WASM };

/** An incremental hash; its state lives in JS between calls, so any number may be open. */
export interface Hasher {
  update(chunk: Uint8Array): Hasher;
  digest(): Uint8Array;
}

export class WasmSha {
  readonly hashType: HashType;
  readonly digestSize: number;
  readonly #x: ShaExports;
  readonly #stateSize: number;
  readonly #state: number;
  readonly #out: number;
  readonly #table: number;
  readonly #data: number;
  #u8: Uint8Array;
  #u32: Uint32Array;
  /** Blob index of each row of the pending batch (rows skip the blobs routed elsewhere). */
  readonly #rowBlob = new Int32Array(BATCH_MAX_BLOBS);

  constructor(hashType: HashType, instance: WebAssembly.Instance) {
    this.hashType = hashType;
    this.#x = instance.exports as unknown as ShaExports;
    this.digestSize = this.#x.digestSize();
    this.#stateSize = this.#x.stateSize();
    this.#state = align16(this.#x.heapBase());
    this.#out = align16(this.#state + this.#stateSize);
    this.#table = align16(this.#out + BATCH_MAX_BLOBS * this.digestSize);
    this.#data = align16(this.#table + BATCH_MAX_BLOBS * 8);
    ensureMemory(this.#x.memory, this.#data + WINDOW_BYTES);
    this.#u8 = new Uint8Array(this.#x.memory.buffer);
    this.#u32 = new Uint32Array(this.#x.memory.buffer);
  }

  static async load(hashType: HashType): Promise<WasmSha> {
    return new WasmSha(hashType, await instantiateEmbedded(EMBEDDED[hashType]));
  }

  static loadSync(hashType: HashType): WasmSha {
    return new WasmSha(hashType, instantiateEmbeddedSync(EMBEDDED[hashType]));
  }

  digest(blob: Uint8Array): Uint8Array {
    if (blob.length > WINDOW_BYTES) return this.hasher().update(blob).digest();
    this.#u8.set(blob, this.#data);
    this.#x.one(this.#data, blob.length, this.#out);
    return this.#u8.slice(this.#out, this.#out + this.digestSize);
  }

  /**
   * Writes the digest of every blob no longer than `maxBytes` to `out` at
   * `index * digestSize`, in as few WASM calls as the window allows; other slots are left
   * untouched (the caller hashes those elsewhere). Returns how many blobs were skipped.
   */
  digestManyInto(blobs: readonly Uint8Array[], out: Uint8Array, maxBytes = Infinity): number {
    const ds = this.digestSize;
    const u8 = this.#u8;
    const u32 = this.#u32;
    const tableRow = this.#table >>> 2;
    const dataEnd = this.#data + WINDOW_BYTES;
    const rowBlob = this.#rowBlob;
    let skipped = 0;
    let count = 0;
    let p = this.#data;
    const flush = () => {
      this.#x.batch(this.#table, count, this.#out);
      const first = rowBlob[0]!;
      if (rowBlob[count - 1] === first + count - 1) {
        // The batch was a contiguous run of blobs: one copy.
        out.set(u8.subarray(this.#out, this.#out + count * ds), first * ds);
      } else {
        for (let r = 0; r < count; r++) {
          const src = this.#out + r * ds;
          out.set(u8.subarray(src, src + ds), rowBlob[r]! * ds);
        }
      }
      count = 0;
      p = this.#data;
    };
    for (let i = 0; i < blobs.length; i++) {
      const blob = blobs[i]!;
      const n = blob.length;
      if (n > maxBytes) {
        skipped++;
        continue;
      }
      if (n > WINDOW_BYTES) {
        if (count > 0) flush(); // streaming reuses the data window
        out.set(this.hasher().update(blob).digest(), i * ds);
        continue;
      }
      if (count === BATCH_MAX_BLOBS || p + n > dataEnd) flush();
      u8.set(blob, p);
      u32[tableRow + 2 * count] = p;
      u32[tableRow + 2 * count + 1] = n;
      rowBlob[count++] = i;
      p = (p + n + 7) & ~7; // 8-aligned rows: aligned loads in the compress loop
    }
    if (count > 0) flush();
    return skipped;
  }

  digestMany(blobs: readonly Uint8Array[]): Uint8Array {
    const out = new Uint8Array(blobs.length * this.digestSize);
    this.digestManyInto(blobs, out);
    return out;
  }

  /** Incremental hashing, for blobs larger than the window or arriving in pieces. */
  hasher(): Hasher {
    const sha = this;
    const x = this.#x;
    const st = this.#state;
    const saved = new Uint8Array(this.#stateSize);
    x.init(st);
    saved.set(this.#u8.subarray(st, st + this.#stateSize));
    let done = false;
    return {
      update(chunk: Uint8Array): Hasher {
        if (done) throw new Error('Hasher.update after digest');
        const u8 = sha.#u8;
        u8.set(saved, st);
        for (let off = 0; off < chunk.length; off += WINDOW_BYTES) {
          const piece = chunk.subarray(off, Math.min(chunk.length, off + WINDOW_BYTES));
          u8.set(piece, sha.#data);
          x.update(st, sha.#data, piece.length);
        }
        saved.set(u8.subarray(st, st + saved.length));
        return this;
      },
      digest(): Uint8Array {
        if (done) throw new Error('Hasher.digest called twice');
        done = true;
        sha.#u8.set(saved, st);
        x.final(st, sha.#out);
        return sha.#u8.slice(sha.#out, sha.#out + sha.digestSize);
      },
    };
  }
}
