/**
 * A Flux broker simulator for tests and benchmarks: serves the local-connector protocol
 * on a real unix socket (in a temp dir) from one of our offline stores, plus an in-memory
 * writable overlay (content.store, checkpoints, kvs.commit) so restores and commits can
 * land on it. Knobs: per-request latency (sub-millisecond too), response reordering,
 * jitter, dropped or truncated connections, error injection, a refusing handshake.
 *
 * RPCs: kvs.getroot, kvs.commit, content[-backing].load/store/checkpoint-get/checkpoint-put,
 * content.flush, attr.get, state-machine.sd-notify; anything else answers ENOSYS the way
 * the broker does ("No service matching X is registered").
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DIGEST_SIZE, formatBlobref, parseBlobref, toHex, type HashType } from '../../src/blobref.js';
import {
  encodedLength,
  encodeInto,
  encodeMessage,
  FLAG_NORESPONSE,
  jsonPayload,
  MessageReader,
  MSGTYPE_REQUEST,
  MSGTYPE_RESPONSE,
  NODEID_ANY,
  payloadText,
  textPayload,
  type FluxMessage,
} from '../../src/broker/codec.js';
import { checkpointFromJson, formatCheckpoint, type Checkpoint } from '../../src/store/checkpoint.js';
import type { ContentStore } from '../../src/store/source.js';
import { decodeTreeObj, encodeTreeObj, fromJson, makeDir, makeDirref, type DirObj, type TreeObj } from '../../src/walk/treeobj.js';

export const ENOENT = 2;
export const EPERM = 1;
export const EFBIG = 27;
export const ENOSYS = 38;
export const EPROTO = 71;
export const EINVAL = 22;
export const EHOSTUNREACH = 113;

/** What to do with one request instead of answering it normally. */
export type Injection =
  | { errnum: number; message?: string }
  /** close the connection without answering */
  | 'drop'
  /** write the first half of the real response, then close */
  | 'truncate'
  /** never answer */
  | 'ignore';

export interface PeerOptions {
  /** Offline store the blobs (and default checkpoints) come from. */
  store?: ContentStore;
  /** Blobs by hex digest, on top of the store (e.g. from a capture). */
  blobs?: Map<string, Uint8Array>;
  /** Default: the store's hash, else sha1. */
  hashType?: HashType;
  /** What attr.get content.hash answers, when it should lie about hashType (error tests). */
  attrHash?: string;
  /** KVS root of `primary`; null: KVS module not loaded. Default: newest checkpoint's root. */
  root?: string | null;
  rootseq?: number;
  /** Newest first. Default: the store's. */
  checkpoints?: Checkpoint[];
  /** Answer checkpoint-get with one object, as brokers before the array reply did. */
  legacyCheckpointReply?: boolean;
  /** false: no backing store, content.flush answers ENOSYS. Default true. */
  backing?: boolean;
  /** Delay before each response, in ms (fractions honoured). */
  latencyMs?: number;
  /** Extra random delay per response, 0..jitterMs. */
  jitterMs?: number;
  /** Hold responses until this many are waiting, then release them together (test determinism). */
  holdResponses?: number;
  /** Permute each batch of responses that become ready together. */
  reorder?: 'none' | 'reverse' | 'shuffle';
  seed?: number;
  /** Handshake byte: 0 accept, an errno refuses; 'close' closes without one. */
  handshake?: number | 'close';
  /** Called for every request (n counts requests across connections, from 1). */
  inject?: (req: FluxMessage, n: number) => Injection | undefined;
  /** Observe requests as they arrive (after logging, before answering). */
  onRequest?: (req: FluxMessage, n: number) => void;
  /** Keep a copy of every request in `log` (default true; benchmarks turn it off). */
  keepLog?: boolean;
  /**
   * Load every blob reachable from the root and the checkpoints into memory at start, as
   * a broker's content cache holds them: loads then cost a Map lookup, not a SQLite read
   * and an LZ4 decode (benchmarks measure the client, not our offline reader).
   */
  cache?: boolean;
}

interface Pending {
  due: number;
  conn: Conn;
  resp: FluxMessage;
  /** 'truncate': half the bytes, then close. */
  truncate: boolean;
  /** Which request this answers (its number, from 1). */
  n: number;
}

interface Conn {
  id: number;
  socket: Socket;
  reader: MessageReader;
}

/** Deterministic PRNG (mulberry32) so reordering is reproducible. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class RpcError extends Error {
  constructor(
    readonly errnum: number,
    readonly text?: string,
  ) {
    super(text ?? `errno ${errnum}`);
  }
}

const EMPTY = new Uint8Array(0);
const LOAD_TOPICS = new Set(['content.load', 'content-backing.load']);

export class BrokerPeer {
  readonly uri: string;
  readonly dir: string;
  readonly hashType: HashType;
  /** Every request received, in arrival order, with the connection it came on. */
  readonly log: { conn: number; msg: FluxMessage }[] = [];
  /** Responses in the order they were written, as request numbers (1 = first request received). */
  readonly sent: number[] = [];
  /** state-machine.sd-notify statuses received. */
  readonly sdNotify: string[] = [];
  /** Blobs written through content[-backing].store, by hex digest. */
  readonly stored = new Map<string, Uint8Array>();
  flushes = 0;
  /** Requests answered later than they arrived: now, and the most at any time. */
  outstanding = 0;
  maxOutstanding = 0;
  /**
   * Integral of `outstanding` over time (request-milliseconds) since the last reset:
   * divided by the data phase it is the mean number in flight. (The per-arrival mean
   * below reads ~N/2 for a window of N written at once, however long they stay.)
   */
  outstandingMs = 0;
  /** Requests received. */
  count = 0;
  /** Sum over requests of the responses outstanding when each arrived (mean = sum / count). */
  outstandingSum = 0;
  /** Socket reads that carried requests (requests / reads = how many arrive together). */
  reads = 0;
  /** Socket writes of responses (responses / writes = how many leave together). */
  writes = 0;
  /** performance.now() of the first request, the first content load, and the last response written. */
  firstRequestAt = 0;
  firstLoadAt = 0;
  lastResponseAt = 0;
  root: string | null;
  rootseq: number;
  checkpoints: Checkpoint[];
  opts: PeerOptions;

  readonly #server: Server;
  readonly #conns = new Set<Conn>();
  readonly #blobs: Map<string, Uint8Array>;
  readonly #queue: Pending[] = [];
  #qhead = 0;
  /** The armed wake-up for #pump (a timer or an immediate), and how to call it off. */
  #timer: { cancel(): void } | null = null;
  #n = 0;
  #nextConn = 1;
  /** performance.now() when the chunk being parsed was read. */
  #arrival = 0;
  /** When `outstanding` last changed. */
  #changedAt = 0;
  readonly #rand: () => number;

  private constructor(dir: string, server: Server, opts: PeerOptions, hashType: HashType, root: string | null, checkpoints: Checkpoint[]) {
    this.dir = dir;
    this.uri = `local://${join(dir, 'local')}`;
    this.#server = server;
    this.opts = opts;
    this.hashType = hashType;
    this.root = root;
    this.rootseq = opts.rootseq ?? 1;
    this.checkpoints = checkpoints;
    this.#blobs = opts.blobs ?? new Map();
    this.#rand = prng(opts.seed ?? 1);
  }

  static async start(opts: PeerOptions = {}): Promise<BrokerPeer> {
    const dir = mkdtempSync(join(tmpdir(), 'flux-peer-'));
    const checkpoints = opts.checkpoints ?? (opts.store ? await opts.store.checkpoints() : []);
    const root = opts.root !== undefined ? opts.root : (checkpoints[0]?.rootref ?? null);
    const hashType = opts.hashType ?? opts.store?.hashType ?? (root ? parseBlobref(root).hash : 'sha1');
    const server = createServer();
    const peer = new BrokerPeer(dir, server, opts, hashType, root, checkpoints);
    if (opts.cache) peer.#cacheReachable();
    server.on('connection', (s) => peer.#accept(s));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(join(dir, 'local'), () => resolve());
    });
    return peer;
  }

  /** Connections currently open. */
  get connections(): number {
    return this.#conns.size;
  }

  /** Zero the counters (between benchmark runs on one peer). */
  resetStats(): void {
    this.#n = 0;
    this.count = 0;
    this.maxOutstanding = this.outstanding;
    this.reads = 0;
    this.writes = 0;
    this.outstandingSum = 0;
    this.outstandingMs = 0;
    this.#changedAt = performance.now();
    this.firstRequestAt = 0;
    this.firstLoadAt = 0;
    this.lastResponseAt = 0;
  }

  /** Requests of one topic, in arrival order. */
  requests(topic?: string): FluxMessage[] {
    return this.log.map((l) => l.msg).filter((m) => topic === undefined || m.topic === topic);
  }

  /** Close every client connection now (a broker going away). */
  dropAll(): void {
    for (const c of this.#conns) c.socket.destroy();
  }

  async stop(): Promise<void> {
    this.dropAll();
    this.#timer?.cancel();
    this.#timer = null;
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    rmSync(this.dir, { recursive: true, force: true });
  }

  // ------------------------------------------------------------------ connections

  #accept(socket: Socket): void {
    const hs = this.opts.handshake ?? 0;
    if (hs === 'close') {
      socket.destroy();
      return;
    }
    socket.write(Uint8Array.of(hs));
    if (hs !== 0) {
      socket.end();
      return;
    }
    const conn: Conn = { id: this.#nextConn++, socket, reader: new MessageReader() };
    this.#conns.add(conn);
    socket.on('close', () => this.#conns.delete(conn));
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => {
      this.reads++;
      // Every request in this chunk had arrived by now: their latency counts from here,
      // so a window of requests written together is answered together (one timer, one
      // write), not trickled out as each one's handling finishes.
      this.#arrival = performance.now();
      try {
        conn.reader.push(chunk, (m) => this.#onRequest(conn, m));
      } catch {
        socket.destroy(); // unparseable: a real broker drops such a client too
      }
    });
  }

  #onRequest(conn: Conn, req: FluxMessage): void {
    if (conn.socket.destroyed) return;
    const n = ++this.#n;
    this.count = n;
    if (n === 1) this.firstRequestAt = performance.now();
    if (this.firstLoadAt === 0 && req.topic !== undefined && LOAD_TOPICS.has(req.topic)) this.firstLoadAt = performance.now();
    this.outstandingSum += this.outstanding;
    if (this.opts.keepLog !== false) this.log.push({ conn: conn.id, msg: copyMessage(req) });
    this.opts.onRequest?.(req, n);
    if (req.type !== MSGTYPE_REQUEST) return;
    const inj = this.opts.inject?.(req, n);
    if (inj === 'drop') {
      conn.socket.destroy();
      return;
    }
    if (inj === 'ignore') return;
    let resp: FluxMessage | null;
    if (inj && typeof inj === 'object') resp = this.#error(req, inj.errnum, inj.message);
    else {
      try {
        resp = this.#handle(req);
      } catch (err) {
        resp = err instanceof RpcError ? this.#error(req, err.errnum, err.text) : this.#error(req, EPROTO, (err as Error).message);
      }
    }
    if (!resp || req.flags & FLAG_NORESPONSE) return;
    const latency = (this.opts.latencyMs ?? 0) + (this.opts.jitterMs ? this.#rand() * this.opts.jitterMs : 0);
    this.#schedule({ due: this.#arrival + latency, conn, resp, truncate: inj === 'truncate', n });
  }

  // ------------------------------------------------------------------ response timing

  /** `outstanding` changes by delta at `now`. */
  #track(now: number, delta: number): void {
    this.outstandingMs += this.outstanding * (now - this.#changedAt);
    this.#changedAt = now;
    this.outstanding += delta;
    if (this.outstanding > this.maxOutstanding) this.maxOutstanding = this.outstanding;
  }

  #schedule(p: Pending): void {
    this.#track(this.#arrival, 1);
    // Constant latency keeps arrival order; jitter needs a sorted insert.
    let i = this.#queue.length;
    while (i > this.#qhead && this.#queue[i - 1]!.due > p.due) i--;
    if (i === this.#queue.length) this.#queue.push(p);
    else this.#queue.splice(i, 0, p);
    this.#arm();
  }

  #arm(): void {
    if (this.#timer || this.#qhead >= this.#queue.length) return;
    if (this.#queue.length - this.#qhead < (this.opts.holdResponses ?? 0)) return;
    const wait = this.#queue[this.#qhead]!.due - performance.now();
    // A timer of n ms fires anywhere from n to n+1 ms late (libuv keeps time in whole
    // ms), so a 1 ms timer after 0.4 ms of handling answered 1.4-2.4 ms after arrival:
    // the injected latency grew with the batch and penalised deep windows. Sleep only
    // while at least 2 ms remain, to 1 ms short of the due time, and poll the loop
    // (spinning) for the rest, so answers leave within a few us of due.
    if (wait >= 2) {
      const t = setTimeout(this.#pump, Math.floor(wait) - 1);
      this.#timer = { cancel: () => clearTimeout(t) };
    } else {
      const t = setImmediate(this.#pump);
      this.#timer = { cancel: () => clearImmediate(t) };
    }
  }

  readonly #pump = (): void => {
    this.#timer = null;
    const now = performance.now();
    const ready: Pending[] = [];
    const hold = (this.opts.holdResponses ?? 0) > 0;
    while (this.#qhead < this.#queue.length && (hold || this.#queue[this.#qhead]!.due <= now)) ready.push(this.#queue[this.#qhead++]!);
    if (this.#qhead > 1024 && this.#qhead * 2 > this.#queue.length) {
      this.#queue.splice(0, this.#qhead);
      this.#qhead = 0;
    }
    this.#permute(ready);
    this.#track(now, -ready.length);
    // One write per connection per batch: responses encoded back to back into one buffer.
    const batches = new Map<Conn, Pending[]>();
    for (const p of ready) {
      if (p.conn.socket.destroyed) continue;
      if (this.opts.keepLog !== false) this.sent.push(p.n);
      let b = batches.get(p.conn);
      if (!b) batches.set(p.conn, (b = []));
      b.push(p);
    }
    for (const [conn, list] of batches) {
      const cut = list.findIndex((p) => p.truncate);
      const whole = cut < 0 ? list : list.slice(0, cut);
      let size = 0;
      for (const p of whole) size += encodedLength(p.resp);
      const out = new Uint8Array(size);
      let off = 0;
      for (const p of whole) off = encodeInto(p.resp, out, off);
      if (size > 0) {
        conn.socket.write(out);
        this.writes++;
      }
      if (cut >= 0) {
        // half of the response, then the connection goes away
        const bytes = encodeMessage(list[cut]!.resp);
        conn.socket.write(bytes.subarray(0, bytes.length >> 1));
        conn.socket.destroySoon();
      }
    }
    if (ready.length > 0) this.lastResponseAt = now;
    this.#arm();
  };

  #permute(ready: Pending[]): void {
    const mode = this.opts.reorder ?? 'none';
    if (mode === 'reverse') ready.reverse();
    else if (mode === 'shuffle') {
      for (let i = ready.length - 1; i > 0; i--) {
        const j = Math.floor(this.#rand() * (i + 1));
        [ready[i], ready[j]] = [ready[j]!, ready[i]!];
      }
    }
  }

  // ------------------------------------------------------------------ RPCs

  #respond(req: FluxMessage, payload?: Uint8Array): FluxMessage {
    return { type: MSGTYPE_RESPONSE, flags: 0, userid: 0, rolemask: 5, aux1: 0, matchtag: req.matchtag, route: req.route ?? [], topic: req.topic, payload };
  }

  #error(req: FluxMessage, errnum: number, message?: string): FluxMessage {
    return { ...this.#respond(req, message === undefined ? undefined : textPayload(message)), aux1: errnum };
  }

  #json(req: FluxMessage): Record<string, unknown> {
    const text = payloadText(req.payload);
    try {
      const v = JSON.parse(text) as unknown;
      if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
    } catch {
      /* fall through */
    }
    throw new RpcError(EPROTO, 'Protocol error');
  }

  #rank0(req: FluxMessage): void {
    if (req.aux1 !== 0 && req.aux1 !== NODEID_ANY) throw new RpcError(EHOSTUNREACH, 'No route to host');
  }

  #handle(req: FluxMessage): FluxMessage | null {
    switch (req.topic) {
      case 'kvs.getroot':
        return this.#getroot(req);
      case 'kvs.commit':
        return this.#commit(req);
      case 'content.load':
        return this.#respond(req, this.#load(req));
      case 'content-backing.load':
        this.#rank0(req);
        return this.#respond(req, this.#load(req));
      case 'content.store':
        return this.#respond(req, this.#store(req));
      case 'content-backing.store':
        this.#rank0(req);
        return this.#respond(req, this.#store(req));
      case 'content.checkpoint-get':
      case 'content-backing.checkpoint-get':
        this.#rank0(req);
        return this.#checkpointGet(req);
      case 'content.checkpoint-put':
      case 'content-backing.checkpoint-put': {
        this.#rank0(req);
        const ck = checkpointFromJson(this.#json(req).value, 'checkpoint-put');
        this.checkpoints = [ck, ...this.checkpoints].slice(0, 5);
        return this.#respond(req);
      }
      case 'content.flush':
        this.#rank0(req);
        if (this.opts.backing === false) throw new RpcError(ENOSYS, 'content backing store is not loaded');
        this.flushes++;
        return this.#respond(req);
      case 'state-machine.sd-notify':
        this.sdNotify.push(String(this.#json(req).status));
        return null;
      case 'attr.get': {
        const name = this.#json(req).name;
        if (name !== 'content.hash') throw new RpcError(ENOENT);
        return this.#respond(req, textPayload(`{"value":"${this.opts.attrHash ?? this.hashType}","flags":1}`));
      }
      default:
        throw new RpcError(ENOSYS, `No service matching ${req.topic} is registered`);
    }
  }

  #getroot(req: FluxMessage): FluxMessage {
    if (this.root === null) throw new RpcError(ENOSYS, 'No service matching kvs.getroot is registered');
    const ns = this.#json(req).namespace;
    if (ns !== 'primary') throw new RpcError(95, 'Operation not supported');
    return this.#respond(req, textPayload(`{"owner":0,"rootseq":${this.rootseq},"rootref":"${this.root}","flags":0,"namespace":"primary"}`));
  }

  #checkpointGet(req: FluxMessage): FluxMessage {
    if (this.checkpoints.length === 0) throw new RpcError(ENOENT);
    const text = this.opts.legacyCheckpointReply
      ? `{"value":${formatCheckpoint(this.checkpoints[0]!)}}`
      : `{"value":[${this.checkpoints.map(formatCheckpoint).join(',')}]}`;
    return this.#respond(req, textPayload(text));
  }

  /** A blob by raw digest: the overlay first, then the offline store. */
  #load(req: FluxMessage): Uint8Array {
    const digest = req.payload ?? EMPTY;
    const blob = this.blob(digest);
    if (!blob) throw new RpcError(ENOENT, 'No such file or directory');
    return blob;
  }

  blob(digest: Uint8Array): Uint8Array | undefined {
    if (digest.length !== 20 && digest.length !== 32) throw new RpcError(EPROTO, 'Protocol error');
    const hex = toHex(digest);
    const mine = this.stored.get(hex) ?? this.#blobs.get(hex);
    if (mine) return mine;
    const store = this.opts.store;
    // Offline stores answer a batch at once: the peer serves blobs synchronously.
    if (!store || digest.length !== DIGEST_SIZE[store.hashType]) return undefined;
    const r = store.loadBatch(digest, 1);
    return Array.isArray(r) && r[0] instanceof Uint8Array ? r[0] : undefined;
  }

  #store(req: FluxMessage): Uint8Array {
    return this.put(req.payload ?? EMPTY);
  }

  #cacheReachable(): void {
    const todo = [this.root, ...this.checkpoints.map((c) => c.rootref)].filter((r): r is string => r !== null);
    const seen = new Set<string>();
    while (todo.length > 0) {
      const ref = todo.pop()!;
      if (seen.has(ref)) continue;
      seen.add(ref);
      const digest = parseBlobref(ref).digest;
      const blob = this.blob(digest);
      if (!blob) continue;
      this.#blobs.set(toHex(digest), blob);
      let obj: TreeObj;
      try {
        obj = decodeTreeObj(blob);
      } catch {
        continue; // a value blob
      }
      const visit = (o: TreeObj) => {
        if (o.type === 'dirref' || o.type === 'valref') todo.push(...o.data);
        else if (o.type === 'dir') for (const child of o.data.values()) visit(child);
      };
      visit(obj);
    }
  }

  /** Store a blob in the overlay; its raw digest. */
  put(blob: Uint8Array): Uint8Array {
    const digest = new Uint8Array(createHash(this.hashType).update(blob).digest());
    this.stored.set(toHex(digest), blob.slice());
    return digest;
  }

  putObj(obj: TreeObj): string {
    return formatBlobref(this.hashType, this.put(encodeTreeObj(obj)));
  }

  #dir(ref: string): DirObj {
    const blob = this.blob(parseBlobref(ref).digest);
    if (!blob) throw new RpcError(ENOENT, `missing directory ${ref}`);
    const obj = decodeTreeObj(blob);
    if (obj.type !== 'dir') throw new RpcError(ENOTDIR_ERRNO, `${ref} is not a directory`);
    return obj;
  }

  /** Set `path` (components) to `dirent` under the directory `ref`; the new directory's ref. */
  #setPath(ref: string | null, path: string[], dirent: TreeObj | null): string {
    const dir = ref ? this.#dir(ref) : makeDir();
    const entries = new Map(dir.data);
    const [head, ...rest] = path;
    if (rest.length === 0) {
      if (dirent) entries.set(head!, dirent);
      else entries.delete(head!);
    } else {
      const child = entries.get(head!);
      let childRef: string | null = null;
      if (child?.type === 'dirref') childRef = child.data[0]!;
      else if (child?.type === 'dir') childRef = this.putObj(child);
      entries.set(head!, makeDirref(this.#setPath(childRef, rest, dirent)));
    }
    return this.putObj(makeDir(entries));
  }

  #commit(req: FluxMessage): FluxMessage {
    if (this.root === null) throw new RpcError(ENOSYS, 'No service matching kvs.commit is registered');
    const body = this.#json(req);
    if (body.namespace !== 'primary') throw new RpcError(95, 'Operation not supported');
    if (!Array.isArray(body.ops)) throw new RpcError(EPROTO, 'Protocol error');
    this.commitOps(body.ops as { key: string; dirent: unknown }[]);
    return this.#respond(req, textPayload(`{"rootref":"${this.root}","rootseq":${this.rootseq}}`));
  }

  /** Apply KVS ops (key with `.` separators, dirent or null to unlink): a new root. */
  commitOps(ops: readonly { key: string; dirent: unknown }[]): string {
    let root = this.root;
    for (const op of ops) {
      const dirent = op.dirent === null ? null : fromJson(op.dirent);
      if (op.dirent !== null && dirent === null) throw new RpcError(EINVAL, 'Invalid argument');
      const path = String(op.key).split('.').filter(Boolean);
      if (path.length === 0) throw new RpcError(EINVAL, 'Invalid argument');
      root = this.#setPath(root, path, dirent);
    }
    this.root = root;
    this.rootseq++;
    return root!;
  }

  /** A raw JSON payload helper for tests that talk to the peer directly. */
  static json(v: unknown): Uint8Array {
    return jsonPayload(v);
  }
}

const ENOTDIR_ERRNO = 20;

/** The reader's messages are views into socket chunks; the log keeps its own bytes. */
function copyMessage(m: FluxMessage): FluxMessage {
  return { ...m, route: m.route?.map((r) => r.slice()), payload: m.payload?.slice() };
}
