/**
 * Blobrefs (RFC 10): `<hash>-<lowercase hex digest>`. Stores and the wire use the raw
 * digest; trees and checkpoints use the string.
 */
import { FluxError } from './errors.js';

export type HashType = 'sha1' | 'sha256';

export const DIGEST_SIZE: Record<HashType, number> = { sha1: 20, sha256: 32 };

const HEX = '0123456789abcdef';
const HEX_PAIRS: string[] = Array.from({ length: 256 }, (_, i) => HEX[i >> 4]! + HEX[i & 15]!);

export function toHex(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += HEX_PAIRS[bytes[i]!];
  return s;
}

/** Value of a lowercase hex digit, or -1 (blobrefs are lowercase, RFC 10). */
export function hexNibble(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

export function fromHex(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length >> 1);
  for (let i = 0; i < out.length; i++) {
    const hi = hexNibble(hex.charCodeAt(2 * i));
    const lo = hexNibble(hex.charCodeAt(2 * i + 1));
    if (hi < 0 || lo < 0) throw new FluxError(`invalid hex digest: ${hex}`, 'EINVAL');
    out[i] = (hi << 4) | lo;
  }
  return out;
}

export interface ParsedBlobref {
  hash: HashType;
  digest: Uint8Array;
}

/** Parse and validate a blobref string; throws FluxError naming it when malformed. */
export function parseBlobref(ref: string): ParsedBlobref {
  const dash = ref.indexOf('-');
  const hash = ref.slice(0, dash);
  if (dash < 0 || (hash !== 'sha1' && hash !== 'sha256')) {
    throw new FluxError(`invalid blobref: ${ref}`, 'EINVAL');
  }
  const hex = ref.slice(dash + 1);
  if (hex.length !== DIGEST_SIZE[hash] * 2) throw new FluxError(`invalid blobref: ${ref}`, 'EINVAL');
  try {
    return { hash, digest: fromHex(hex) };
  } catch {
    throw new FluxError(`invalid blobref: ${ref}`, 'EINVAL');
  }
}

/**
 * Decodes the digest of a `hash`-type blobref into out[at, at + digest size) without
 * allocating; false when the blobref is malformed or of another hash type.
 */
export function digestInto(ref: string, hash: HashType, out: Uint8Array, at = 0): boolean {
  const start = hash.length + 1;
  const size = DIGEST_SIZE[hash];
  if (ref.length !== start + 2 * size || at + size > out.length || !ref.startsWith(hash) || ref.charCodeAt(hash.length) !== 45) return false;
  for (let i = 0; i < size; i++) {
    const hi = hexNibble(ref.charCodeAt(start + 2 * i));
    const lo = hexNibble(ref.charCodeAt(start + 2 * i + 1));
    if (hi < 0 || lo < 0) return false;
    out[at + i] = (hi << 4) | lo;
  }
  return true;
}

const BLOBREF = /^(?:sha1-[0-9a-f]{40}|sha256-[0-9a-f]{64})$/;

/** Cheap validity check (no allocation), for validating tree objects in bulk. */
export function isBlobref(ref: string): boolean {
  return BLOBREF.test(ref);
}

export function formatBlobref(hash: HashType, digest: Uint8Array): string {
  return `${hash}-${toHex(digest)}`;
}

export function isHashType(s: string): s is HashType {
  return s === 'sha1' || s === 'sha256';
}
