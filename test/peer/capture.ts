/**
 * The real broker traffic in ../shared/fixtures/flux-0.88/wire: raw chunks per direction
 * (`*.jsonl`), reassembled into the two byte streams, and the reference decoding
 * (`*.decoded.txt`) written independently of our codec.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MessageReader, type FluxMessage } from '../../src/broker/codec.js';
import { FIXTURES } from '../helpers/paths.js';

export const WIRE = join(FIXTURES, 'flux-0.88/wire');

export interface DecodedRef {
  magic: string;
  len: number;
  type: string;
  flags: string;
  userid: string;
  rolemask: number;
  aux1: number;
  matchtag: number;
  route: string[];
  topic: string;
  /** NUL-terminated payloads as text (NUL included), others as hex. */
  payload: string;
}

export interface Capture {
  name: string;
  handshake: number;
  /** Chunks as read from the socket, per direction (handshake byte removed). */
  chunks: { c2s: Uint8Array[]; s2c: Uint8Array[] };
  stream: { c2s: Uint8Array; s2c: Uint8Array };
  decoded: { c2s: DecodedRef[]; s2c: DecodedRef[] };
}

export function captureNames(): string[] {
  return readdirSync(WIRE)
    .filter((f) => f.endsWith('.jsonl'))
    .map((f) => f.slice(0, -'.jsonl'.length))
    .sort();
}

function concat(parts: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts));
}

export function loadCapture(name: string): Capture {
  const chunks = { c2s: [] as Uint8Array[], s2c: [] as Uint8Array[] };
  let handshake = -1;
  for (const line of readFileSync(join(WIRE, `${name}.jsonl`), 'utf8').split('\n')) {
    if (!line.trim()) continue;
    const { dir, hex } = JSON.parse(line) as { dir: 'c2s' | 's2c'; hex: string };
    let bytes = new Uint8Array(Buffer.from(hex, 'hex'));
    if (dir === 's2c' && handshake < 0) {
      handshake = bytes[0]!;
      bytes = bytes.subarray(1);
      if (bytes.length === 0) continue;
    }
    chunks[dir].push(bytes);
  }
  const decoded = { c2s: [] as DecodedRef[], s2c: [] as DecodedRef[] };
  let section: 'c2s' | 's2c' | null = null;
  for (const line of readFileSync(join(WIRE, `${name}.decoded.txt`), 'utf8').split('\n')) {
    if (line.startsWith('## client->broker')) section = 'c2s';
    else if (line.startsWith('## broker->client')) section = 's2c';
    else if (line.startsWith('{') && section) decoded[section].push(JSON.parse(line) as DecodedRef);
  }
  return { name, handshake, chunks, stream: { c2s: concat(chunks.c2s), s2c: concat(chunks.s2c) }, decoded };
}

/** Decode a direction's chunks as they were read (messages span and share chunks). */
export function decodeChunks(chunks: readonly Uint8Array[]): FluxMessage[] {
  const reader = new MessageReader();
  const out: FluxMessage[] = [];
  for (const c of chunks) reader.push(c, (m) => out.push(m));
  if (reader.pending !== 0) throw new Error(`${reader.pending} bytes of an incomplete message left`);
  return out;
}

/** Blobs served in a capture: request digest (hex) -> response payload, for content loads. */
export function servedBlobs(c: Capture): Map<string, Uint8Array> {
  const reqs = decodeChunks(c.chunks.c2s);
  const resps = decodeChunks(c.chunks.s2c);
  const out = new Map<string, Uint8Array>();
  // Responses carry the request's matchtag; with --maxreqs=1 they also come in order.
  const loads = reqs.filter((m) => m.topic === 'content.load' || m.topic === 'content-backing.load');
  const answers = resps.filter((m) => (m.topic === 'content.load' || m.topic === 'content-backing.load') && m.aux1 === 0);
  loads.forEach((req, i) => {
    const a = answers[i];
    if (a) out.set(Buffer.from(req.payload!).toString('hex'), a.payload ?? new Uint8Array(0));
  });
  return out;
}
