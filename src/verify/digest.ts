/**
 * Content digests for blobrefs (RFC 10): sha1 (Flux's default) and sha256.
 *
 * Two engines, each where it is fastest:
 * - the AssemblyScript WASM core (src/wasm/sha.ts) hashes MANY small blobs per call, so a
 *   300-byte KVS value costs no JS->native crossing of its own;
 * - node:crypto, where the runtime has it (Node, Deno), uses the CPU's SHA instructions
 *   and wins on large blobs despite its per-call cost.
 * Blobs of at least CRYPTO_MIN_BYTES[hash] go to node:crypto, smaller ones to the WASM
 * batch. node:crypto is optional: without it (browsers) everything runs in WASM.
 */
import { DIGEST_SIZE, formatBlobref, type HashType } from '../blobref.js';
import { FluxError } from '../errors.js';
import { WasmSha, type Hasher } from '../wasm/sha.js';

export type { Hasher } from '../wasm/sha.js';

export interface Digester {
  hashType: HashType;
  digestSize: number;
  /** Digest of one blob (raw bytes, digestSize long). */
  digest(blob: Uint8Array): Uint8Array;
  /** Concatenated digests, blobs.length * digestSize bytes, in input order. */
  digestMany(blobs: readonly Uint8Array[]): Uint8Array;
  /** Incremental hashing of one message arriving in pieces. */
  hasher(): Hasher;
}

/**
 * Smallest blob routed to node:crypto instead of the WASM batch, per hash: where the WASM
 * batch's time per blob (copy in + hash) meets createHash's (a fixed ~2-2.5 us per call,
 * then SHA-NI speed). Measured with `node --expose-gc bench/hash-crossover.mjs` (numbers in
 * bench/results/wasm.md): sha1 breaks even at 3-6 KiB (node:crypto/WASM time per blob
 * 0.85-1.18 at 4096 B, under 0.82 at 6144 B), sha256 at 768 B-1 KiB (1.25 and more at
 * 768 B, 0.84 and less at 1024 B). The cost is flat near the crossover, so
 * these need not be exact.
 */
export const CRYPTO_MIN_BYTES: Record<HashType, number> = { sha1: 4096, sha256: 1024 };

/** The slice of node:crypto we use, so the module can be absent. */
interface NodeCrypto {
  createHash(algorithm: string): { update(data: Uint8Array): { digest(): Uint8Array } };
}

let nodeCrypto: NodeCrypto | null | undefined; // undefined: not looked up yet
const wasm: Partial<Record<HashType, WasmSha>> = {};
const digesters: Partial<Record<HashType, Digester>> = {};
let initPromise: Promise<void> | undefined;

/** node:crypto if the runtime has it, found synchronously (Node >= 20.16, Deno 2). */
function cryptoSync(): NodeCrypto | null {
  if (nodeCrypto === undefined) {
    const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
    const mod = proc?.getBuiltinModule?.('node:crypto') as NodeCrypto | undefined;
    nodeCrypto = mod && typeof mod.createHash === 'function' ? mod : null;
  }
  return nodeCrypto;
}

/**
 * Finds node:crypto ahead of time only where it cannot be found synchronously later:
 * where it can, it is loaded on the first blob big enough to need it. Loading it costs
 * ~17 ms, a twentieth of a small store's dump, and most stores have no such blob.
 */
async function loadCrypto(): Promise<void> {
  const proc = (globalThis as { process?: { getBuiltinModule?: unknown } }).process;
  if (typeof proc?.getBuiltinModule === 'function') return;
  try {
    const mod = (await import('node:crypto')) as unknown as NodeCrypto;
    if (typeof mod.createHash === 'function') nodeCrypto = mod;
  } catch {
    nodeCrypto = null; // no node:crypto here (browser): WASM does everything
  }
}

/** Loads the WASM hash modules and looks for node:crypto. Idempotent. */
export function initWasm(): Promise<void> {
  initPromise ??= (async () => {
    const [sha1, sha256] = await Promise.all([WasmSha.load('sha1'), WasmSha.load('sha256'), loadCrypto()]);
    wasm.sha1 = sha1;
    wasm.sha256 = sha256;
    delete digesters.sha1; // replace any node:crypto-only digester handed out earlier
    delete digesters.sha256;
  })();
  return initPromise;
}

function cryptoDigest(crypto: NodeCrypto, hash: HashType, blob: Uint8Array): Uint8Array {
  const d = crypto.createHash(hash).update(blob).digest();
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
}

function cryptoHasher(crypto: NodeCrypto, hash: HashType): Hasher {
  const h = crypto.createHash(hash) as unknown as { update(d: Uint8Array): unknown; digest(): Uint8Array };
  return {
    update(chunk) {
      h.update(chunk);
      return this;
    },
    digest() {
      const d = h.digest();
      return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
    },
  };
}

/**
 * WASM for small blobs, node:crypto (when present) for large ones. node:crypto is looked
 * up on the first large blob (`nodeCrypto` undefined: not yet; null: absent).
 */
function hybridDigester(sha: WasmSha): Digester {
  const hash = sha.hashType;
  const ds = sha.digestSize;
  const cutoff = nodeCrypto === null ? Infinity : CRYPTO_MIN_BYTES[hash] - 1;
  const large = (blob: Uint8Array): Uint8Array => {
    const crypto = cryptoSync();
    return crypto === null ? sha.digest(blob) : cryptoDigest(crypto, hash, blob);
  };
  return {
    hashType: hash,
    digestSize: ds,
    digest(blob) {
      return blob.length > cutoff ? large(blob) : sha.digest(blob);
    },
    digestMany(blobs) {
      const out = new Uint8Array(blobs.length * ds);
      const skipped = sha.digestManyInto(blobs, out, cutoff);
      if (skipped > 0) {
        for (let i = 0; i < blobs.length; i++) {
          if (blobs[i]!.length > cutoff) out.set(large(blobs[i]!), i * ds);
        }
      }
      return out;
    },
    hasher() {
      const crypto = cryptoSync();
      return crypto === null ? sha.hasher() : cryptoHasher(crypto, hash);
    },
  };
}

function cryptoDigester(crypto: NodeCrypto, hash: HashType): Digester {
  const ds = DIGEST_SIZE[hash];
  return {
    hashType: hash,
    digestSize: ds,
    digest: (blob) => cryptoDigest(crypto, hash, blob),
    digestMany(blobs) {
      const out = new Uint8Array(blobs.length * ds);
      for (let i = 0; i < blobs.length; i++) out.set(cryptoDigest(crypto, hash, blobs[i]!), i * ds);
      return out;
    },
    hasher: () => cryptoHasher(crypto, hash),
  };
}

/**
 * The digester for `hash`. After `await initWasm()` it is the WASM + node:crypto hybrid.
 * Before, it is node:crypto alone if the runtime has it, else the WASM module compiled
 * synchronously (fine in Node and Deno; browsers should await initWasm first).
 */
export function getDigester(hash: HashType): Digester {
  let d = digesters[hash];
  if (d !== undefined) return d;
  const sha = wasm[hash];
  if (sha !== undefined) {
    d = hybridDigester(sha);
    digesters[hash] = d;
    return d;
  }
  const crypto = cryptoSync();
  if (crypto !== null) return cryptoDigester(crypto, hash); // not cached: initWasm upgrades
  if (hash !== 'sha1' && hash !== 'sha256') throw new FluxError(`unsupported hash type: ${String(hash)}`);
  wasm[hash] = WasmSha.loadSync(hash);
  return getDigester(hash);
}

/** The blobref of one blob, e.g. `sha1-...`. */
export function blobref(hash: HashType, blob: Uint8Array): string {
  return formatBlobref(hash, getDigester(hash).digest(blob));
}
