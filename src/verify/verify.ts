/**
 * Blob verification: does a blob hash to the blobref it was loaded by? Compares the hex
 * digits of the blobref with the raw digest in place (no hex string or parsed digest per
 * blob), and hashes a whole batch of loaded blobs in one Digester.digestMany call.
 */
import { formatBlobref, hexNibble } from '../blobref.js';
import { CorruptBlobError } from '../errors.js';
import { getDigester, initWasm, type Digester } from './digest.js';
import type { HashType } from '../blobref.js';

/**
 * True when `blobref` is `<hash>-<hex>` for exactly these digest bytes
 * (`digests[offset .. offset + size)`). A blobref of another hash type never matches.
 */
export function blobrefMatches(blobref: string, hash: HashType, digests: Uint8Array, offset: number, size: number): boolean {
  const start = hash.length + 1;
  if (blobref.length !== start + 2 * size || !blobref.startsWith(hash) || blobref.charCodeAt(hash.length) !== 45 /* - */) {
    return false;
  }
  for (let i = 0; i < size; i++) {
    const hi = hexNibble(blobref.charCodeAt(start + 2 * i));
    const lo = hexNibble(blobref.charCodeAt(start + 2 * i + 1));
    if (hi < 0 || lo < 0 || ((hi << 4) | lo) !== digests[offset + i]) return false;
  }
  return true;
}

/** Does `blob` hash to `blobref` under the digester's hash? */
export function verifyBlob(digester: Digester, blobref: string, blob: Uint8Array): boolean {
  return blobrefMatches(blobref, digester.hashType, digester.digest(blob), 0, digester.digestSize);
}

/**
 * Batch form: ok[i] = 1 when blobs[i] hashes to blobrefs[i], else 0. All blobs are hashed
 * in one digestMany call (small ones in WASM batches, large ones by node:crypto).
 */
export function verifyBlobs(digester: Digester, blobrefs: readonly string[], blobs: readonly Uint8Array[]): Uint8Array {
  if (blobrefs.length !== blobs.length) {
    throw new RangeError(`verifyBlobs: ${blobrefs.length} blobrefs for ${blobs.length} blobs`);
  }
  const size = digester.digestSize;
  const digests = digester.digestMany(blobs);
  const ok = new Uint8Array(blobs.length);
  for (let i = 0; i < blobs.length; i++) {
    ok[i] = blobrefMatches(blobrefs[i]!, digester.hashType, digests, i * size, size) ? 1 : 0;
  }
  return ok;
}

/**
 * ok[i] = 1 when blobs[i] hashes to expected[i*size, (i+1)*size): the walk's form, which
 * keeps raw digests and never makes blobref strings for blobs that match.
 */
export function verifyDigests(digester: Digester, expected: Uint8Array, blobs: readonly Uint8Array[]): Uint8Array {
  const size = digester.digestSize;
  if (expected.length !== blobs.length * size) {
    throw new RangeError(`verifyDigests: ${expected.length} digest bytes for ${blobs.length} blobs`);
  }
  const digests = digester.digestMany(blobs);
  const ok = new Uint8Array(blobs.length);
  for (let i = 0; i < blobs.length; i++) {
    let same = 1;
    const base = i * size;
    for (let j = 0; j < size; j++) {
      if (digests[base + j] !== expected[base + j]) {
        same = 0;
        break;
      }
    }
    ok[i] = same;
  }
  return ok;
}

export interface BlobMismatch {
  index: number;
  /** The blobref the blob was loaded by. */
  expected: string;
  /** The blobref its bytes really have. */
  actual: string;
}

/** The blobs that do not hash to their blobrefs, with both blobrefs for the error message. */
export function findMismatches(digester: Digester, blobrefs: readonly string[], blobs: readonly Uint8Array[]): BlobMismatch[] {
  const ok = verifyBlobs(digester, blobrefs, blobs);
  const bad: BlobMismatch[] = [];
  for (let i = 0; i < ok.length; i++) {
    if (ok[i] === 0) {
      bad.push({ index: i, expected: blobrefs[i]!, actual: formatBlobref(digester.hashType, digester.digest(blobs[i]!)) });
    }
  }
  return bad;
}

/** Checks loaded blobs against the digests they were loaded by (the walk's verifier). */
export interface BlobVerifier {
  /**
   * ok[i] = 1 when blobs[i] hashes to digests[i*size, (i+1)*size) (size: the store's
   * digest size). One call per batch (WASM batch hashing).
   */
  check(digests: Uint8Array, blobs: readonly Uint8Array[]): Uint8Array;
  /** The blobref a blob really has (for error messages). */
  blobrefOf(blob: Uint8Array): string;
}

/**
 * The one place loaded blobs are verified: results[i] was loaded by digest i of
 * `digests` (`size` bytes each); a blob that does not hash to it becomes a
 * CorruptBlobError in place. Errors stay as they are.
 */
export function markCorrupt(v: BlobVerifier, digests: Uint8Array, size: number, results: (Uint8Array | Error)[]): void {
  const loaded: Uint8Array[] = [];
  const at: number[] = [];
  let allLoaded = true;
  for (let i = 0; i < results.length; i++) {
    const r = results[i]!;
    if (r instanceof Uint8Array) {
      loaded.push(r);
      at.push(i);
    } else allLoaded = false;
  }
  if (loaded.length === 0) return;
  let expected = digests.subarray(0, results.length * size);
  if (!allLoaded) {
    expected = new Uint8Array(loaded.length * size);
    at.forEach((i, j) => expected.set(digests.subarray(i * size, (i + 1) * size), j * size));
  }
  const ok = v.check(expected, loaded);
  for (let j = 0; j < loaded.length; j++) {
    if (!ok[j]) results[at[j]!] = new CorruptBlobError(`content does not match, it hashes to ${v.blobrefOf(loaded[j]!)}`);
  }
}

/** Loads the WASM core (once) and returns a verifier for stores using `hash`. */
export async function createBlobVerifier(hash: HashType): Promise<BlobVerifier> {
  await initWasm();
  const digester = getDigester(hash);
  return {
    check: (digests, blobs) => verifyDigests(digester, digests, blobs),
    blobrefOf: (blob) => formatBlobref(hash, digester.digest(blob)),
  };
}
