/**
 * Flux message codec for the local connector (RFC 3 encoding as flux-core 0.88 puts it on
 * the unix socket; flux-formats.md section 8). Pure functions over Uint8Array, no I/O.
 *
 * On the socket each message is
 *   magic 0xffee0012 (4 bytes, sender's host order) | length (4 bytes, big-endian) | frames
 * and frames are
 *   [route frames..., empty delimiter]  if ROUTE
 *   [topic, no NUL]                     if TOPIC
 *   [payload]                           if PAYLOAD (JSON: compact + NUL; raw: exact bytes)
 *   PROTO (20 bytes)                    always, last
 * each prefixed by a 1-byte size (< 255) or 0xFF + a 4-byte big-endian size.
 */
import { FluxError } from '../errors.js';

export const MESSAGE_MAGIC = 0xffee0012;
/** magic + length */
export const HEADER_SIZE = 8;

export const MSGTYPE_REQUEST = 0x01;
export const MSGTYPE_RESPONSE = 0x02;
export const MSGTYPE_EVENT = 0x04;
export const MSGTYPE_CONTROL = 0x08;

export const FLAG_TOPIC = 0x01;
export const FLAG_PAYLOAD = 0x02;
export const FLAG_NORESPONSE = 0x04;
export const FLAG_ROUTE = 0x08;
export const FLAG_UPSTREAM = 0x10;
export const FLAG_PRIVATE = 0x20;
export const FLAG_STREAMING = 0x40;
/** Flags the encoder derives from which parts a message has. */
const PRESENCE_FLAGS = FLAG_TOPIC | FLAG_PAYLOAD | FLAG_ROUTE;

export const NODEID_ANY = 0xffffffff;
export const USERID_UNKNOWN = 0xffffffff;

// PROTO frame layout (big-endian integers)
export const PROTO_SIZE = 20;
export const PROTO_MAGIC = 0x8e;
export const PROTO_VERSION = 0x01;
const P_MAGIC = 0;
const P_VERSION = 1;
const P_TYPE = 2;
const P_FLAGS = 3;
const P_USERID = 4;
const P_ROLEMASK = 8;
const P_AUX1 = 12;
const P_MATCHTAG = 16;

/** Frame sizes below this take one byte; the rest 0xFF + 4 bytes. */
const SMALL_FRAME_LIMIT = 0xff;

export interface FluxMessage {
  /** MSGTYPE_* */
  type: number;
  /** FLAG_*; TOPIC/PAYLOAD/ROUTE are re-derived from the parts when encoding. */
  flags: number;
  userid: number;
  rolemask: number;
  /** nodeid of a request (NODEID_ANY = any), errnum of a response. */
  aux1: number;
  matchtag: number;
  /** Present (possibly empty) iff the ROUTE flag is set. */
  route?: Uint8Array[] | undefined;
  topic?: string | undefined;
  payload?: Uint8Array | undefined;
}

/** The byte order this host writes the magic in (flux-core writes host order). */
export const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

export class WireError extends FluxError {
  constructor(message: string) {
    super(`broker protocol error: ${message}`, 'EPROTO');
    this.name = 'WireError';
  }
}

const enc = new TextEncoder();
const dec = new TextDecoder();
/** Topics repeat (millions of content.load): encode each string once. */
const topicCache = new Map<string, Uint8Array>();

function topicBytes(topic: string): Uint8Array {
  let b = topicCache.get(topic);
  if (!b) {
    b = enc.encode(topic);
    if (topicCache.size < 256) topicCache.set(topic, b);
  }
  return b;
}

function frameHeaderSize(len: number): number {
  return len < SMALL_FRAME_LIMIT ? 1 : 5;
}

function putU32(out: Uint8Array, off: number, v: number): void {
  out[off] = v >>> 24;
  out[off + 1] = (v >>> 16) & 0xff;
  out[off + 2] = (v >>> 8) & 0xff;
  out[off + 3] = v & 0xff;
}

function getU32(b: Uint8Array, off: number): number {
  return ((b[off]! << 24) | (b[off + 1]! << 16) | (b[off + 2]! << 8) | b[off + 3]!) >>> 0;
}

function writeFrameHeader(out: Uint8Array, off: number, len: number): number {
  if (len < SMALL_FRAME_LIMIT) {
    out[off] = len;
    return off + 1;
  }
  out[off] = 0xff;
  putU32(out, off + 1, len);
  return off + 5;
}

/** An empty payload is no payload frame at all (flux-core never sends an empty one). */
function realPayload(m: FluxMessage): Uint8Array | undefined {
  return m.payload !== undefined && m.payload.length > 0 ? m.payload : undefined;
}

/** Bytes `m` takes on the socket, 8-byte header included. */
export function encodedLength(m: FluxMessage): number {
  let n = HEADER_SIZE + 1 + PROTO_SIZE;
  if (m.route) {
    for (const r of m.route) n += frameHeaderSize(r.length) + r.length;
    n += 1; // empty delimiter
  }
  if (m.topic !== undefined) {
    const t = topicBytes(m.topic).length;
    n += frameHeaderSize(t) + t;
  }
  const payload = realPayload(m);
  if (payload) n += frameHeaderSize(payload.length) + payload.length;
  return n;
}

/**
 * Write `m` into `out` at `off` (room for encodedLength(m) bytes is the caller's job);
 * returns the offset after it. With `skipPayload` the payload bytes are left out (the
 * caller sends them from its own buffer) and the PROTO frame is not written either: the
 * return value is then where the payload would start.
 */
export function encodeInto(m: FluxMessage, out: Uint8Array, off: number, littleEndianMagic = HOST_LITTLE_ENDIAN, skipPayload = false): number {
  const payload = realPayload(m);
  const total = encodedLength(m);
  if (littleEndianMagic) {
    out[off] = 0x12;
    out[off + 1] = 0x00;
    out[off + 2] = 0xee;
    out[off + 3] = 0xff;
  } else putU32(out, off, MESSAGE_MAGIC);
  putU32(out, off + 4, total - HEADER_SIZE);
  off += HEADER_SIZE;
  if (m.route) {
    for (const r of m.route) {
      off = writeFrameHeader(out, off, r.length);
      out.set(r, off);
      off += r.length;
    }
    out[off++] = 0;
  }
  if (m.topic !== undefined) {
    const t = topicBytes(m.topic);
    off = writeFrameHeader(out, off, t.length);
    out.set(t, off);
    off += t.length;
  }
  if (payload) {
    off = writeFrameHeader(out, off, payload.length);
    if (skipPayload) return off;
    out.set(payload, off);
    off += payload.length;
  }
  return writeProto(out, off, m, messageFlags(m));
}

function messageFlags(m: FluxMessage): number {
  return (m.flags & ~PRESENCE_FLAGS) | (m.route ? FLAG_ROUTE : 0) | (m.topic !== undefined ? FLAG_TOPIC : 0) | (realPayload(m) ? FLAG_PAYLOAD : 0);
}

/** The PROTO frame (size byte + 20 bytes) at `off`; returns the offset after it. */
function writeProto(out: Uint8Array, off: number, m: FluxMessage, flags: number): number {
  out[off] = PROTO_SIZE;
  const p = off + 1;
  out[p + P_MAGIC] = PROTO_MAGIC;
  out[p + P_VERSION] = PROTO_VERSION;
  out[p + P_TYPE] = m.type;
  out[p + P_FLAGS] = flags;
  putU32(out, p + P_USERID, m.userid >>> 0);
  putU32(out, p + P_ROLEMASK, m.rolemask >>> 0);
  putU32(out, p + P_AUX1, m.aux1 >>> 0);
  putU32(out, p + P_MATCHTAG, m.matchtag >>> 0);
  return p + PROTO_SIZE;
}

/**
 * Encode one message with its 8-byte socket header. When `split` is true the payload is
 * not copied: the result is [everything before the payload, payload, PROTO frame], for a
 * vectored write of big blobs.
 */
export function encodeMessageParts(m: FluxMessage, littleEndianMagic = HOST_LITTLE_ENDIAN, split = false): Uint8Array[] {
  const payload = realPayload(m);
  if (!split || !payload) {
    const out = new Uint8Array(encodedLength(m));
    encodeInto(m, out, 0, littleEndianMagic);
    return [out];
  }
  const head = new Uint8Array(encodedLength(m) - payload.length - 1 - PROTO_SIZE);
  encodeInto(m, head, 0, littleEndianMagic, true);
  const proto = new Uint8Array(1 + PROTO_SIZE);
  writeProto(proto, 0, m, messageFlags(m));
  return [head, payload, proto];
}

/** One message, header included, as one array. */
export function encodeMessage(m: FluxMessage, littleEndianMagic = HOST_LITTLE_ENDIAN): Uint8Array {
  return encodeMessageParts(m, littleEndianMagic)[0]!;
}

// Frame cursor of decodeBody (module scratch: no tuple per frame).
let frameStart = 0;
let frameLen = 0;

/** Read the frame at `off` (which must end by `end`); sets frameStart/frameLen, returns the next offset. */
function nextFrame(body: Uint8Array, off: number, end: number): number {
  if (off >= end) return -1;
  let len = body[off]!;
  off += 1;
  if (len === 0xff) {
    if (off + 4 > end) throw new WireError('truncated frame size');
    len = getU32(body, off);
    off += 4;
  }
  if (off + len > end) throw new WireError(`frame of ${len} bytes overruns the message`);
  frameStart = off;
  frameLen = len;
  return off + len;
}

/**
 * Decode the frames of one message (the bytes after the 8-byte header). Route, topic and
 * payload are views into `body`, not copies. The PROTO frame is last and has a fixed
 * size, so its flags are read first and tell which frames come before it.
 */
export function decodeBody(body: Uint8Array): FluxMessage {
  const end = body.length - 1 - PROTO_SIZE;
  if (end < 0 || body[end] !== PROTO_SIZE) throw new WireError('message has no PROTO frame');
  const p = end + 1;
  if (body[p + P_MAGIC] !== PROTO_MAGIC || body[p + P_VERSION] !== PROTO_VERSION) {
    throw new WireError(`bad PROTO frame (magic 0x${body[p]!.toString(16)}, version ${body[p + 1]})`);
  }
  const flags = body[p + P_FLAGS]!;
  const m: FluxMessage = {
    type: body[p + P_TYPE]!,
    flags,
    userid: getU32(body, p + P_USERID),
    rolemask: getU32(body, p + P_ROLEMASK),
    aux1: getU32(body, p + P_AUX1),
    matchtag: getU32(body, p + P_MATCHTAG),
  };
  let off = 0;
  if (flags & FLAG_ROUTE) {
    const route: Uint8Array[] = [];
    for (;;) {
      off = nextFrame(body, off, end);
      if (off < 0) throw new WireError('route stack has no delimiter');
      if (frameLen === 0) break;
      route.push(body.subarray(frameStart, frameStart + frameLen));
    }
    m.route = route;
  }
  if (flags & FLAG_TOPIC) {
    off = nextFrame(body, off, end);
    if (off < 0) throw new WireError('TOPIC flag without a topic frame');
    m.topic = topicString(body, frameStart, frameLen);
  }
  if (flags & FLAG_PAYLOAD) {
    off = nextFrame(body, off, end);
    if (off < 0) throw new WireError('PAYLOAD flag without a payload frame');
    m.payload = body.subarray(frameStart, frameStart + frameLen);
  }
  if (off !== end) throw new WireError(`unexpected frames before PROTO (flags 0x${flags.toString(16)})`);
  return m;
}

/** Topics repeat: reuse the string when the bytes match the last one seen. */
let lastTopicBytes = new Uint8Array(0);
let lastTopic = '';

function topicString(b: Uint8Array, start: number, len: number): string {
  if (len === lastTopicBytes.length) {
    let same = true;
    for (let i = 0; i < len; i++) {
      if (b[start + i] !== lastTopicBytes[i]) {
        same = false;
        break;
      }
    }
    if (same) return lastTopic;
  }
  lastTopicBytes = b.slice(start, start + len);
  lastTopic = dec.decode(lastTopicBytes);
  return lastTopic;
}

/** Read the 8-byte socket header: body length, and the magic's byte order. */
export function decodeHeader(b: Uint8Array, off: number): { length: number; littleEndianMagic: boolean } {
  const length = headerLength(b, off);
  return { length, littleEndianMagic: magicWasLittleEndian };
}

/** Byte order of the magic headerLength() read last. */
let magicWasLittleEndian = HOST_LITTLE_ENDIAN;

function headerLength(b: Uint8Array, off: number): number {
  const magic = getU32(b, off);
  if (magic === 0x1200eeff) magicWasLittleEndian = true;
  else if (magic === MESSAGE_MAGIC) magicWasLittleEndian = false;
  else throw new WireError(`bad message magic 0x${magic.toString(16).padStart(8, '0')}`);
  const length = getU32(b, off + 4);
  if (length < 1 + PROTO_SIZE) throw new WireError(`message length ${length} is too short`);
  return length;
}

/**
 * A message body split across chunks is gathered into a buffer of its exact size when it
 * declares at most this many bytes. A bigger one starts here and doubles as its bytes
 * arrive: a length field that lies (up to 4 GiB) costs memory only for bytes received.
 */
const EXACT_BODY_MAX = 16 << 20;

/**
 * Incremental reader of the socket byte stream. A chunk holding whole messages is
 * decoded in place (messages are views into it); a message split across chunks is
 * gathered once into a buffer of its exact size (beyond EXACT_BODY_MAX, one that grows
 * to it). No buffer grows by concatenation.
 */
export class MessageReader {
  /** Partial socket header (< 8 bytes seen). */
  #head = new Uint8Array(HEADER_SIZE);
  #headFill = 0;
  /** Body of the message being gathered; #bodyLength is its declared size. */
  #body: Uint8Array | null = null;
  #bodyLength = 0;
  #bodyFill = 0;
  /** Byte order of the last magic read (for byte-exact re-encoding in tests). */
  littleEndianMagic = HOST_LITTLE_ENDIAN;

  /** Bytes held for a message not yet complete. */
  get pending(): number {
    return this.#headFill + this.#bodyFill;
  }

  /** Feed bytes; `emit` is called for each complete message, in order. */
  push(chunk: Uint8Array, emit: (m: FluxMessage) => void): void {
    let off = 0;
    const n = chunk.length;
    while (off < n) {
      if (this.#body) {
        const take = Math.min(this.#bodyLength - this.#bodyFill, n - off);
        if (this.#bodyFill + take > this.#body.length) this.#grow(this.#bodyFill + take);
        this.#body.set(chunk.subarray(off, off + take), this.#bodyFill);
        this.#bodyFill += take;
        off += take;
        if (this.#bodyFill === this.#bodyLength) {
          const body = this.#body;
          this.#body = null;
          this.#bodyFill = 0;
          emit(decodeBody(body));
        }
        continue;
      }
      if (this.#headFill > 0 || n - off < HEADER_SIZE) {
        const take = Math.min(HEADER_SIZE - this.#headFill, n - off);
        this.#head.set(chunk.subarray(off, off + take), this.#headFill);
        this.#headFill += take;
        off += take;
        if (this.#headFill < HEADER_SIZE) return;
        this.#headFill = 0;
        this.#startBody(headerLength(this.#head, 0));
        continue;
      }
      const length = headerLength(chunk, off);
      this.littleEndianMagic = magicWasLittleEndian;
      off += HEADER_SIZE;
      if (n - off >= length) {
        // Whole message in this chunk: decode in place (views into the chunk).
        emit(decodeBody(chunk.subarray(off, off + length)));
        off += length;
      } else {
        this.#startBody(length);
      }
    }
  }

  #startBody(length: number): void {
    this.littleEndianMagic = magicWasLittleEndian;
    this.#body = new Uint8Array(Math.min(length, EXACT_BODY_MAX));
    this.#bodyLength = length;
    this.#bodyFill = 0;
  }

  /** Room for at least `need` bytes of the body being gathered (never past its length). */
  #grow(need: number): void {
    const body = this.#body!;
    const bigger = new Uint8Array(Math.min(this.#bodyLength, Math.max(need, body.length * 2)));
    bigger.set(body.subarray(0, this.#bodyFill));
    this.#body = bigger;
  }
}

// JSON payloads: compact JSON followed by one NUL byte.

export function jsonPayload(value: unknown): Uint8Array {
  return textPayload(JSON.stringify(value));
}

/** A JSON text already serialised (to control key order), NUL-terminated. */
export function textPayload(json: string): Uint8Array {
  const b = enc.encode(json);
  const out = new Uint8Array(b.length + 1);
  out.set(b);
  return out;
}

/** The text of a NUL-terminated string payload (error messages, JSON). */
export function payloadText(p: Uint8Array | undefined): string {
  if (!p || p.length === 0) return '';
  const end = p[p.length - 1] === 0 ? p.length - 1 : p.length;
  return dec.decode(p.subarray(0, end));
}

export function parseJsonPayload(p: Uint8Array | undefined, what: string): unknown {
  const text = payloadText(p);
  if (text === '') throw new WireError(`${what}: response has no payload`);
  try {
    return JSON.parse(text);
  } catch {
    throw new WireError(`${what}: response payload is not valid JSON`);
  }
}
