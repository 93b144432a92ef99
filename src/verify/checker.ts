/**
 * The walk's blob checker: hashes each batch of loaded blobs with the store's hash and
 * compares against the blobrefs they were loaded by.
 */
import { DIGEST_SIZE, formatBlobref, fromHex, type HashType } from '../blobref.js';
import type { BlobChecker } from '../walk/walk.js';

/** Any batch hasher: concatenated digests of `blobs`. */
export interface BatchHasher {
  digestMany(blobs: readonly Uint8Array[]): Uint8Array;
  digest(blob: Uint8Array): Uint8Array;
}

async function nodeCryptoHasher(hash: HashType): Promise<BatchHasher> {
  const { createHash } = await import('node:crypto');
  const size = DIGEST_SIZE[hash];
  const digest = (b: Uint8Array) => new Uint8Array(createHash(hash).update(b).digest());
  return {
    digest,
    digestMany(blobs) {
      const out = new Uint8Array(blobs.length * size);
      blobs.forEach((b, i) => out.set(digest(b), i * size));
      return out;
    },
  };
}

export const hasherFactory: { make: (hash: HashType) => Promise<BatchHasher> } = { make: nodeCryptoHasher };

export async function makeChecker(hash: HashType): Promise<BlobChecker> {
  const hasher = await hasherFactory.make(hash);
  const size = DIGEST_SIZE[hash];
  const prefix = hash.length + 1;
  return {
    check(refs, blobs) {
      const digests = hasher.digestMany(blobs);
      const ok = new Uint8Array(refs.length);
      for (let i = 0; i < refs.length; i++) {
        const ref = refs[i]!;
        if (!ref.startsWith(hash) || ref.length !== prefix + 2 * size) continue;
        const want = fromHex(ref.slice(prefix));
        let same = 1;
        for (let j = 0; j < size; j++) {
          if (want[j] !== digests[i * size + j]) {
            same = 0;
            break;
          }
        }
        ok[i] = same;
      }
      return ok;
    },
    blobrefOf(blob) {
      return formatBlobref(hash, hasher.digest(blob));
    },
  };
}
