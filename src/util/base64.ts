/**
 * RFC 4648 base64 with '=' padding, as Flux writes `val` data. Uses the runtime's
 * Buffer when there is one (Node, Deno's node compat) because it is native and fast.
 */
import { Buffer } from 'node:buffer';

export function base64Encode(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

const B64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Strict decode: rejects characters outside the alphabet and bad lengths. */
export function base64Decode(s: string): Uint8Array | null {
  if (s.length % 4 !== 0 || !B64.test(s)) return null;
  const b = Buffer.from(s, 'base64');
  return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
}
