/** storeMany() of both offline writers: hash with the store's hash, store, return the blobrefs. */
import { formatBlobref, type HashType } from '../blobref.js';
import { getDigester } from '../verify/digest.js';

export function storeManyWith(store: { hashType: HashType; putDigested(digests: Uint8Array, blobs: readonly Uint8Array[]): void }, blobs: readonly Uint8Array[]): string[] {
  const d = getDigester(store.hashType);
  const digests = d.digestMany(blobs);
  store.putDigested(digests, blobs);
  const ds = d.digestSize;
  return blobs.map((_, i) => formatBlobref(store.hashType, digests.subarray(i * ds, (i + 1) * ds)));
}
