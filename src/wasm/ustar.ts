/**
 * JS side of asm/ustar.ts: tar headers for a batch of entries in one WASM call. The TS
 * side only lays out metadata: it writes each entry's fields into a fixed-size record and
 * its path/link target as UTF-8 into linear memory; the module writes every header byte.
 * Output is byte-identical to entryHeaderTS in src/pack/tar/header.ts.
 *
 * Chunk layout in linear memory (grown when a bigger chunk arrives):
 *   heapBase | entry records (count * 56) | offsets ((count + 1) * 4) | UTF-8 strings | output
 */
import { FluxError } from '../errors.js';
import { WASM_BASE64 } from './generated/ustar.wasm.js';
import { align16, ensureMemory, instantiateEmbedded, instantiateEmbeddedSync } from './load.js';

/** The fields a header needs (ArchiveEntry plus the body size). */
export interface HeaderFields {
  path: string;
  linkTarget: string;
  type: 'file' | 'symlink';
  size: number;
  mode: number;
  mtime: number;
  uid: number;
  gid: number;
}

/** HeaderFields, or an ArchiveEntry-like object whose size is its data's length. */
export type HeaderSource = HeaderFields | (Omit<HeaderFields, 'size'> & { data: Uint8Array });

export interface PackedHeaders {
  /** All header bytes, entry after entry. */
  bytes: Uint8Array;
  /** offsets[i]..offsets[i+1] are entry i's header bytes; offsets.length = entries + 1. */
  offsets: Uint32Array;
}

interface UstarExports {
  memory: WebAssembly.Memory;
  heapBase(): number;
  entrySize(): number;
  pack(entries: number, count: number, out: number, outCap: number, offsets: number): number;
}

// Entry record field offsets (asm/ustar.ts E_*), in bytes.
const E_PATH = 0;
const E_PATH_LEN = 4;
const E_LINK = 8;
const E_LINK_LEN = 12;
const E_TYPE = 16;
const E_MODE = 20;
const E_SIZE = 24;
const E_MTIME = 32;
const E_UID = 40;
const E_GID = 48;

/** Entries per WASM call; bounds the memory a huge batch needs. */
export const PACK_CHUNK = 4096;

/** Most header bytes an entry can take, given its UTF-8 path and link lengths. */
function entryBound(pathBytes: number, linkBytes: number): number {
  return 3 * 512 + pathBytes + linkBytes + 200;
}

const encoder = new TextEncoder();

/**
 * Bytes TextEncoder produces for `s`: a surrogate pair is 4, a lone surrogate becomes
 * U+FFFD (3), as in the reference packer's utf8().
 */
function utf8ByteLength(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

function badField(e: HeaderSource, field: string, value: unknown): never {
  throw new FluxError(`cannot write a tar header for ${e.path}: invalid ${field} ${String(value)}`, 'EINVAL');
}

export class WasmUstar {
  readonly #x: UstarExports;
  readonly #base: number;
  readonly #entrySize: number;
  #u8: Uint8Array;
  #u32: Uint32Array;
  #f64: Float64Array;

  constructor(instance: WebAssembly.Instance) {
    this.#x = instance.exports as unknown as UstarExports;
    this.#base = align16(this.#x.heapBase());
    this.#entrySize = this.#x.entrySize();
    this.#u8 = new Uint8Array(this.#x.memory.buffer);
    this.#u32 = new Uint32Array(this.#x.memory.buffer);
    this.#f64 = new Float64Array(this.#x.memory.buffer);
  }

  static async load(): Promise<WasmUstar> {
    return new WasmUstar(await instantiateEmbedded(WASM_BASE64));
  }

  static loadSync(): WasmUstar {
    return new WasmUstar(instantiateEmbeddedSync(WASM_BASE64));
  }

  #reserve(bytes: number): void {
    if (bytes > this.#u8.length) {
      ensureMemory(this.#x.memory, bytes);
      const buf = this.#x.memory.buffer;
      this.#u8 = new Uint8Array(buf);
      this.#u32 = new Uint32Array(buf);
      this.#f64 = new Float64Array(buf);
    }
  }

  /** Header bytes of every entry, in order, in a fresh buffer the caller owns. */
  packHeaders(entries: readonly HeaderSource[]): PackedHeaders {
    if (entries.length <= PACK_CHUNK) {
      const { bytes, offsets } = this.#packChunk(entries, 0, entries.length);
      return { bytes: bytes.slice(), offsets: offsets.slice() };
    }
    const parts: PackedHeaders[] = [];
    let total = 0;
    for (let from = 0; from < entries.length; from += PACK_CHUNK) {
      const part = this.#packChunk(entries, from, Math.min(entries.length, from + PACK_CHUNK));
      parts.push({ bytes: part.bytes.slice(), offsets: part.offsets.slice() });
      total += part.bytes.length;
    }
    const bytes = new Uint8Array(total);
    const offsets = new Uint32Array(entries.length + 1);
    let at = 0;
    let i = 0;
    for (const part of parts) {
      bytes.set(part.bytes, at);
      const n = part.offsets.length - 1;
      for (let k = 0; k < n; k++) offsets[i + k] = at + part.offsets[k]!;
      at += part.bytes.length;
      i += n;
    }
    offsets[entries.length] = at;
    return { bytes, offsets };
  }

  /**
   * Like packHeaders, without the copy: `bytes` and `offsets` are views into the module's
   * memory, valid only until the next call on this packer. For a caller that copies the
   * headers out at once (the tar writer's Chunker does): allocating a fresh output per
   * batch cost 4-5x the packing itself (large ArrayBuffers are mmap'd and drive GCs).
   * At most PACK_CHUNK entries.
   */
  packHeadersTransient(entries: readonly HeaderSource[]): PackedHeaders {
    if (entries.length > PACK_CHUNK) throw new RangeError(`packHeadersTransient: ${entries.length} entries > ${PACK_CHUNK}`);
    return this.#packChunk(entries, 0, entries.length);
  }

  #packChunk(entries: readonly HeaderSource[], from: number, to: number): PackedHeaders {
    const count = to - from;
    const es = this.#entrySize;
    const table = this.#base;
    const offsets = align16(table + count * es);
    const stringsAt = align16(offsets + (count + 1) * 4);
    this.#reserve(stringsAt);
    let u32 = this.#u32;
    const f64 = this.#f64;
    // Pass 1: numbers into the records; all strings into one (one encodeInto is ~3x
    // faster than one per string).
    let all = '';
    for (let i = from; i < to; i++) {
      const e = entries[i]!;
      const symlink = e.type === 'symlink';
      if (!symlink && e.type !== 'file') badField(e, 'type', e.type);
      const size = (e as { size?: number }).size ?? (e as { data: Uint8Array }).data.length;
      if (!Number.isSafeInteger(size) || size < 0) badField(e, 'size', size);
      if (!Number.isSafeInteger(e.mtime)) badField(e, 'mtime', e.mtime);
      if (!Number.isSafeInteger(e.uid)) badField(e, 'uid', e.uid);
      if (!Number.isSafeInteger(e.gid)) badField(e, 'gid', e.gid);
      if (!Number.isInteger(e.mode)) badField(e, 'mode', e.mode);
      const r = table + (i - from) * es;
      const w = r >>> 2;
      u32[w + E_PATH_LEN / 4] = e.path.length; // UTF-16 units for now
      u32[w + E_LINK_LEN / 4] = symlink ? e.linkTarget.length : 0;
      u32[w + E_TYPE / 4] = symlink ? 1 : 0;
      u32[w + E_MODE / 4] = e.mode >>> 0;
      const d = r >>> 3;
      f64[d + E_SIZE / 8] = size;
      f64[d + E_MTIME / 8] = e.mtime;
      f64[d + E_UID / 8] = e.uid;
      f64[d + E_GID / 8] = e.gid;
      all += symlink ? e.path + e.linkTarget : e.path;
    }
    const out = align16(stringsAt + 3 * all.length); // UTF-8 takes <= 3 bytes per UTF-16 unit
    const outCap = count * entryBound(0, 0) + 3 * all.length; // entryBound is linear in the lengths
    this.#reserve(out + outCap);
    u32 = this.#u32;
    // One encodeInto for all strings; they lie back to back in entry order, so only their
    // UTF-8 lengths are missing: the UTF-16 lengths when everything was ASCII (the usual
    // case), else counted per string. (Encoding each string on its own cost 1-10 us per
    // call into WASM memory.)
    const written = encoder.encodeInto(all, this.#u8.subarray(stringsAt, out)).written;
    let p = stringsAt;
    for (let i = from; i < to; i++) {
      const w = (table + (i - from) * es) >>> 2;
      if (written !== all.length) {
        const e = entries[i]!;
        u32[w + E_PATH_LEN / 4] = utf8ByteLength(e.path);
        if (e.type === 'symlink') u32[w + E_LINK_LEN / 4] = utf8ByteLength(e.linkTarget);
      }
      u32[w + E_PATH / 4] = p;
      p += u32[w + E_PATH_LEN / 4]!;
      u32[w + E_LINK / 4] = p;
      p += u32[w + E_LINK_LEN / 4]!;
    }
    // A lone high surrogate at the end of one string and a lone low one at the start of
    // the next encode as one pair in `all`: then the lengths do not add up. Encode each
    // string separately (rare: only for invalid UTF-16).
    if (p - stringsAt !== written) {
      for (let i = from; i < to; i++) {
        const w = (table + (i - from) * es) >>> 2;
        const e = entries[i]!;
        encoder.encodeInto(e.path, this.#u8.subarray(u32[w + E_PATH / 4]!, u32[w + E_LINK / 4]!));
        if (e.type === 'symlink') encoder.encodeInto(e.linkTarget, this.#u8.subarray(u32[w + E_LINK / 4]!));
      }
    }
    const total = this.#x.pack(table, count, out, outCap, offsets);
    if (total < 0) throw new Error(`ustar pack: output bound too small (${total})`); // a bug, not bad input
    return {
      bytes: this.#u8.subarray(out, out + total),
      offsets: u32.subarray(offsets >>> 2, (offsets >>> 2) + count + 1),
    };
  }
}

let shared: WasmUstar | undefined;

/** Loads the WASM packer once (the async path; packHeaders loads synchronously if needed). */
export async function initWasmUstar(): Promise<WasmUstar> {
  shared ??= await WasmUstar.load();
  return shared;
}

/** Header bytes of a batch of entries: one WASM call per PACK_CHUNK entries. */
export function packHeaders(entries: readonly HeaderSource[]): PackedHeaders {
  shared ??= WasmUstar.loadSync();
  return shared.packHeaders(entries);
}

/**
 * Drop-in for the tar writer's `headerPacking.packer` (src/pack/tar/writer.ts): one WASM
 * call per batch. The returned headers are views into the packer's memory, valid until
 * the next call: TarWriter.write copies each into its Chunker right away, which is what
 * makes skipping the copy here safe. Batches above PACK_CHUNK entries are copied.
 */
export function wasmHeaderPacker(batch: readonly HeaderSource[]): Uint8Array[] {
  shared ??= WasmUstar.loadSync();
  const { bytes, offsets } = batch.length <= PACK_CHUNK ? shared.packHeadersTransient(batch) : shared.packHeaders(batch);
  const views = new Array<Uint8Array>(batch.length);
  for (let i = 0; i < batch.length; i++) views[i] = bytes.subarray(offsets[i]!, offsets[i + 1]!);
  return views;
}
