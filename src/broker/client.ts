/**
 * A Flux client over the broker's local connector (`local:///path/to/socket`): one unix
 * stream socket, a one-byte handshake, then RPCs matched to responses by matchtag, any
 * number in flight at once (that is what --maxreqs means live).
 *
 * Requests issued in one turn of the event loop go out in one write (queued until a
 * microtask later). Matchtags come from a free list, so they stay small and the
 * pending table is a dense array.
 */
import { connect, type Socket } from 'node:net';
import { FluxError } from '../errors.js';
import {
  encodedLength,
  encodeInto,
  encodeMessageParts,
  FLAG_NORESPONSE,
  HOST_LITTLE_ENDIAN,
  MessageReader,
  MSGTYPE_REQUEST,
  MSGTYPE_RESPONSE,
  NODEID_ANY,
  payloadText,
  USERID_UNKNOWN,
  type FluxMessage,
} from './codec.js';
import { errnoName, errnoNumber, strerror } from './errno.js';
import { loadStatsTo, type LoadStats } from '../store/load-stats.js';

export const LOCAL_SCHEME = 'local://';
/** Payloads this big are written from the caller's buffer instead of being copied. */
const SPLIT_PAYLOAD = 16 << 10;
/** Small requests are encoded one after another into buffers of this size. */
const OUT_BUFFER = 64 << 10;
const EMPTY = new Uint8Array(0);
/** How long close() waits for the broker to close its end after ours. */
const CLOSE_GRACE_MS = 2000;
const NO_ROUTE: Uint8Array[] = [];

/** An error response: errnum plus the broker's message (or strerror when it sent none). */
export class BrokerError extends FluxError {
  readonly errnum: number;
  readonly topic: string;

  constructor(errnum: number, message: string, topic: string) {
    super(message, errnoName(errnum));
    this.name = 'BrokerError';
    this.errnum = errnum;
    this.topic = topic;
  }
}

/** `local:///run/flux/local` -> `/run/flux/local`. */
export function socketPath(uri: string): string {
  if (!uri.startsWith(LOCAL_SCHEME)) throw new FluxError(`${uri}: only local:// broker URIs are supported`, 'EINVAL');
  const path = uri.slice(LOCAL_SCHEME.length);
  if (path === '') throw new FluxError(`${uri}: URI has no socket path`, 'EINVAL');
  return path;
}

/** Node's socket error as flux-core would print it (strerror text). */
function describe(err: NodeJS.ErrnoException): string {
  const n = err.code ? errnoNumber(err.code) : undefined;
  return n !== undefined ? strerror(n) : err.message;
}

interface Pending {
  /** With the message, or (raw) with its payload. */
  resolve: (v: never) => void;
  reject: (e: unknown) => void;
  topic: string;
  raw: boolean;
  /** Turns an error response into what the caller wants thrown. */
  mapError: ((e: BrokerError) => unknown) | undefined;
  /** When it was sent (only with FLUXDUMP_STATS). */
  t0: number;
}

export class BrokerClient {
  readonly uri: string;
  readonly #socket: Socket;
  readonly #reader = new MessageReader();
  /** Indexed by matchtag. */
  readonly #pending: (Pending | undefined)[] = [];
  readonly #freeTags: number[] = [];
  #nextTag = 1;
  #inflight = 0;
  /** Outgoing bytes: [outStart, outEnd) is queued for the next write, before it is written. */
  #out = new Uint8Array(OUT_BUFFER);
  #outStart = 0;
  #outEnd = 0;
  #flushQueued = false;
  /** Set once the connection is unusable; every later request fails with it. */
  #dead: FluxError | null = null;
  #reason = '';
  readonly #closed: Promise<void>;
  /** In-flight and latency measurement, with a statistics file only (FLUXDUMP_STATS, bench/maxreqs.mjs). */
  readonly #stats: LoadStats | undefined;

  private constructor(uri: string, socket: Socket, statsFile: string | undefined) {
    this.uri = uri;
    this.#socket = socket;
    this.#stats = loadStatsTo(statsFile, 'broker');
    this.#closed = new Promise((resolve) => socket.once('close', () => resolve()));
  }

  /**
   * Connect and wait for the broker's handshake byte (0 = accepted, else an errno).
   * `statsFile`: append request statistics to it at exit.
   */
  static connect(uri: string, opts: { statsFile?: string | undefined } = {}): Promise<BrokerClient> {
    let path: string;
    try {
      path = socketPath(uri);
    } catch (err) {
      return Promise.reject(err);
    }
    return new Promise((resolve, reject) => {
      const socket = connect({ path });
      const client = new BrokerClient(uri, socket, opts.statsFile);
      let handshook = false;
      socket.on('error', (err: NodeJS.ErrnoException) => {
        if (!handshook) return reject(new FluxError(`cannot connect to ${uri}: ${describe(err)}`, err.code ?? 'EIO'));
        client.#reason = describe(err);
      });
      socket.on('close', () => {
        if (!handshook) return reject(new FluxError(`cannot connect to ${uri}: the broker closed the connection`, 'ECONNREFUSED'));
        client.#fail(client.#lostError());
      });
      socket.on('data', (chunk: Buffer) => {
        // A plain Uint8Array view (no copy): blobs handed out are not Node Buffers.
        let bytes = new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length);
        if (!handshook) {
          const status = bytes[0]!;
          if (status !== 0) {
            socket.destroy();
            return reject(new FluxError(`cannot connect to ${uri}: the broker refused the connection: ${strerror(status)}`, errnoName(status)));
          }
          handshook = true;
          resolve(client);
          bytes = bytes.subarray(1);
          if (bytes.length === 0) return;
        }
        client.#onData(bytes);
      });
    });
  }

  /** Requests sent and not yet answered. */
  get inflight(): number {
    return this.#inflight;
  }

  /**
   * Send a request; resolves with the response, rejects with BrokerError for an error
   * response, or with a FluxError when the connection is lost first. A payload under
   * 16 KiB is copied before this returns (the caller may reuse its buffer); a bigger one
   * is written from the caller's buffer and must stay untouched.
   */
  request(topic: string, payload?: Uint8Array, nodeid = NODEID_ANY): Promise<FluxMessage> {
    return this.#request(topic, payload, nodeid, false);
  }

  /**
   * request(), resolving with just the response payload (empty when it has none); an
   * error response rejects with mapError(BrokerError) when given. One promise per call:
   * this is the hot path of a live dump.
   */
  requestPayload(topic: string, payload?: Uint8Array, nodeid = NODEID_ANY, mapError?: (e: BrokerError) => unknown): Promise<Uint8Array> {
    return this.#request(topic, payload, nodeid, true, mapError);
  }

  #request<T>(topic: string, payload: Uint8Array | undefined, nodeid: number, raw: boolean, mapError?: (e: BrokerError) => unknown): Promise<T> {
    if (this.#dead) return Promise.reject(this.#dead);
    const matchtag = this.#freeTags.pop() ?? this.#nextTag++;
    return new Promise<T>((resolve, reject) => {
      const t0 = this.#stats ? this.#stats.begin() : 0;
      this.#pending[matchtag] = { resolve: resolve as (v: never) => void, reject, topic, raw, mapError, t0 };
      this.#inflight++;
      this.#write({ type: MSGTYPE_REQUEST, flags: 0, userid: USERID_UNKNOWN, rolemask: 0, aux1: nodeid, matchtag, route: NO_ROUTE, topic, payload });
    });
  }

  /** Fire-and-forget request (NORESPONSE, matchtag 0). Dropped silently once the connection is gone. */
  send(topic: string, payload?: Uint8Array, nodeid = NODEID_ANY): void {
    if (this.#dead) return;
    this.#write({ type: MSGTYPE_REQUEST, flags: FLAG_NORESPONSE, userid: USERID_UNKNOWN, rolemask: 0, aux1: nodeid, matchtag: 0, route: NO_ROUTE, topic, payload });
  }

  /** Resolve once everything written so far has left our buffers. */
  async drain(): Promise<void> {
    if (this.#dead || this.#socket.destroyed) return;
    this.#flush();
    await new Promise<void>((resolve) => this.#socket.write(new Uint8Array(0), () => resolve()));
  }

  /** Flush pending writes and close; requests still in flight fail. */
  async close(): Promise<void> {
    if (!this.#socket.destroyed) {
      this.#flush();
      this.#socket.end();
      // The broker closes its side on our EOF; do not wait forever if it does not.
      const timer = setTimeout(() => this.#socket.destroy(), CLOSE_GRACE_MS);
      timer.unref?.();
      void this.#closed.then(() => clearTimeout(timer));
    }
    this.#fail(new FluxError(`connection to ${this.uri} closed`, 'ECONNRESET'));
    await this.#closed;
  }

  #write(m: FluxMessage): void {
    const payloadLen = m.payload?.length ?? 0;
    if (payloadLen >= SPLIT_PAYLOAD) {
      // What is queued goes first, then the big message straight from the caller's buffer.
      this.#flush();
      for (const p of encodeMessageParts(m, HOST_LITTLE_ENDIAN, true)) this.#socket.write(p);
      return;
    }
    const len = encodedLength(m);
    if (this.#outEnd + len > this.#out.length) {
      this.#flush();
      this.#out = new Uint8Array(Math.max(OUT_BUFFER, len));
      this.#outStart = this.#outEnd = 0;
    }
    this.#outEnd = encodeInto(m, this.#out, this.#outEnd);
    if (!this.#flushQueued) {
      this.#flushQueued = true;
      queueMicrotask(this.#flush);
    }
  }

  /**
   * One write for everything queued this turn. The bytes handed to the socket are never
   * touched again (it may hold on to them); later messages go after them in the buffer.
   */
  readonly #flush = (): void => {
    this.#flushQueued = false;
    if (this.#outEnd === this.#outStart) return;
    const bytes = this.#out.subarray(this.#outStart, this.#outEnd);
    this.#outStart = this.#outEnd;
    if (!this.#socket.destroyed) this.#socket.write(bytes);
  };

  #onData(bytes: Uint8Array): void {
    try {
      this.#reader.push(bytes, this.#onMessage);
    } catch (err) {
      // A framing error leaves the stream unparseable: give up on the connection.
      this.#fail(err instanceof FluxError ? new FluxError(`${this.uri}: ${err.message}`, err.code) : (err as Error));
      this.#socket.destroy();
    }
  }

  readonly #onMessage = (m: FluxMessage): void => {
    if (m.type !== MSGTYPE_RESPONSE) return; // events and the like: not subscribed, ignore
    const tag = m.matchtag;
    const p = this.#pending[tag];
    if (!p) return; // a response to nothing we sent
    this.#pending[tag] = undefined;
    this.#freeTags.push(tag);
    this.#inflight--;
    if (this.#stats) this.#stats.end(p.t0, 1, m.payload?.length ?? 0);
    if (m.aux1 !== 0) {
      const err = new BrokerError(m.aux1, payloadText(m.payload) || strerror(m.aux1), p.topic);
      p.reject(p.mapError ? p.mapError(err) : err);
    } else (p.resolve as (v: FluxMessage | Uint8Array) => void)(p.raw ? (m.payload ?? EMPTY) : m);
  };

  #lostError(): FluxError {
    const mid = this.#reader.pending > 0 ? ' in the middle of a message' : '';
    const why = this.#reason ? `: ${this.#reason}` : '';
    return new FluxError(`lost connection to the Flux broker at ${this.uri}${mid}${why}`, 'ECONNRESET');
  }

  /** Mark the connection dead and fail everything in flight with `err`. */
  #fail(err: FluxError | Error): void {
    if (this.#dead) return;
    this.#dead = err instanceof FluxError ? err : new FluxError(err.message, 'EIO');
    this.#stats?.abandon(this.#inflight);
    for (let tag = 0; tag < this.#pending.length; tag++) {
      const p = this.#pending[tag];
      if (!p) continue;
      this.#pending[tag] = undefined;
      p.reject(this.#dead);
    }
    this.#inflight = 0;
  }
}
