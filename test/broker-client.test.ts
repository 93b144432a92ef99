/**
 * The broker client and BrokerStore against the simulator on a real unix socket: every
 * RPC (request bytes as flux-core sends them, replies, errors worded as flux-core words
 * them), many requests in flight with responses out of order, lost connections.
 */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { formatBlobref } from '../src/blobref.js';
import { BrokerClient, BrokerError } from '../src/broker/client.js';
import { encodeMessage, FLAG_NORESPONSE, MSGTYPE_REQUEST, NODEID_ANY, payloadText, type FluxMessage } from '../src/broker/codec.js';
import { BrokerStore } from '../src/broker/store.js';
import { FluxError, MissingBlobError } from '../src/errors.js';
import { openStore } from '../src/store/open.js';
import { loadBlob, type ContentStore } from '../src/store/source.js';
import { BrokerPeer, ENOENT, ENOSYS, EPERM, type PeerOptions } from './peer/broker-peer.js';
import { decodeChunks, loadCapture } from './peer/capture.js';
import { SMALL } from './helpers/paths.js';

const SMALL_DB = join(SMALL, 'small.sqlite');
const SMALL_ROOT = 'sha1-f9c7c282fa96c6824b9ba9c806e9eb376c3c5c5b';
const EMPTY_BLOB = 'sha1-da39a3ee5e6b4b0d3255bfef95601890afd80709';
const sha1 = (b: Uint8Array) => formatBlobref('sha1', new Uint8Array(createHash('sha1').update(b).digest()));
const text = (m: FluxMessage) => payloadText(m.payload);
const hex = (b: Uint8Array | undefined) => Buffer.from(b ?? []).toString('hex');

let offline: ContentStore;
beforeAll(async () => {
  offline = await openStore(SMALL_DB);
});
afterAll(async () => {
  await offline.close();
});

const peers: BrokerPeer[] = [];
const stores: BrokerStore[] = [];
afterEach(async () => {
  for (const s of stores.splice(0)) await s.close();
  for (const p of peers.splice(0)) await p.stop();
});

async function peerAndStore(opts: PeerOptions = {}, storeOpts: ConstructorParameters<typeof BrokerStore>[1] = {}) {
  const peer = await BrokerPeer.start({ store: offline, ...opts });
  peers.push(peer);
  const store = await BrokerStore.open(peer.uri, storeOpts);
  stores.push(store);
  return { peer, store };
}

/** A request as flux-core would send it, for byte comparison (matchtag as given). */
function requestBytes(m: FluxMessage): string {
  return hex(encodeMessage(m, true));
}

describe('connecting', () => {
  it('accepts after a 0 handshake byte', async () => {
    const { peer, store } = await peerAndStore();
    expect(store.location).toBe(peer.uri);
    expect(peer.connections).toBe(1);
  });

  it('reports a refusing handshake byte as the errno it is', async () => {
    const peer = await BrokerPeer.start({ handshake: EPERM });
    peers.push(peer);
    await expect(BrokerClient.connect(peer.uri)).rejects.toThrow(`cannot connect to ${peer.uri}: the broker refused the connection: Operation not permitted`);
  });

  it('reports EOF before the handshake as a rejection', async () => {
    const peer = await BrokerPeer.start({ handshake: 'close' });
    peers.push(peer);
    await expect(BrokerClient.connect(peer.uri)).rejects.toThrow(`cannot connect to ${peer.uri}: the broker closed the connection`);
  });

  it('names the socket when nothing listens there', async () => {
    await expect(BrokerClient.connect('local:///nonexistent/flux/local')).rejects.toThrow(
      'cannot connect to local:///nonexistent/flux/local: No such file or directory',
    );
    await expect(BrokerClient.connect('ssh://host/run/flux/local')).rejects.toThrow('only local:// broker URIs are supported');
  });

  it('openStore routes local:// URIs to the broker client, with its options', async () => {
    const peer = await BrokerPeer.start({ store: offline });
    peers.push(peer);
    const s = await openStore(peer.uri, { noCache: true });
    try {
      expect(s).toBeInstanceOf(BrokerStore);
      expect((s as BrokerStore).noCache).toBe(true);
      expect(await s.load(SMALL_ROOT)).toEqual(await loadBlob(offline, SMALL_ROOT));
      expect(peer.requests().map((m) => m.topic)).toEqual(['content-backing.load']);
    } finally {
      await s.close();
    }
    await expect(openStore('ssh://login1/run/flux/local')).rejects.toThrow('ssh://login1/run/flux/local: only local:// broker URIs are supported');
  });
});

describe('kvs.getroot', () => {
  it('sends flux-core request bytes and returns the rootref; the hash type follows it', async () => {
    const { peer, store } = await peerAndStore();
    expect(() => store.hashType).toThrow(/hash type read before a root was fetched/);
    expect(await store.currentRoot()).toBe(SMALL_ROOT);
    expect(store.hashType).toBe('sha1');
    const [req] = peer.requests();
    const captured = decodeChunks(loadCapture('dump-live-maxreqs1').chunks.c2s)[0]!;
    expect(requestBytes({ ...req!, matchtag: 1 })).toBe(requestBytes(captured));
  });

  it('uses the namespace it is given', async () => {
    const { peer, store } = await peerAndStore({}, { namespace: 'other' });
    await expect(store.currentRoot()).rejects.toThrow('error fetching current KVS root: Operation not supported');
    expect(text(peer.requests()[0]!)).toBe('{"namespace":"other","flags":0}');
  });

  it('words a missing KVS module as flux-core does', async () => {
    const { store } = await peerAndStore({ root: null });
    const err = await store.currentRoot().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FluxError);
    expect((err as FluxError).message).toBe('error fetching current KVS root: No service matching kvs.getroot is registered');
    expect((err as FluxError).code).toBe('ENOSYS');
  });
});

describe('checkpoint-get', () => {
  it('returns checkpoints newest first (array reply)', async () => {
    const older = { version: 1, rootref: SMALL_ROOT, sequence: 12, timestamp: 1795690000.5 };
    const newer = { version: 1, rootref: SMALL_ROOT, sequence: 13, timestamp: 1795690510.5299776 };
    const { peer, store } = await peerAndStore({ checkpoints: [newer, older] });
    expect(await store.checkpoints()).toEqual([newer, older]);
    const [req] = peer.requests();
    const captured = decodeChunks(loadCapture('dump-checkpoint').chunks.c2s)[0]!;
    expect(requestBytes({ ...req!, matchtag: 1 })).toBe(requestBytes(captured));
  });

  it('accepts the older single-object reply', async () => {
    const { store } = await peerAndStore({ legacyCheckpointReply: true });
    expect(await store.checkpoints()).toEqual([{ version: 1, rootref: SMALL_ROOT, sequence: 13, timestamp: 1795690510.5299776 }]);
  });

  it('ENOENT means no checkpoints; other errors are worded', async () => {
    const { store } = await peerAndStore({ checkpoints: [] });
    expect(await store.checkpoints()).toEqual([]);
    const { store: s2 } = await peerAndStore({ inject: () => ({ errnum: EPERM }) });
    await expect(s2.checkpoints()).rejects.toThrow('error fetching checkpoints: Operation not permitted');
  });

  it('--no-cache asks content-backing on rank 0', async () => {
    const { peer, store } = await peerAndStore({}, { noCache: true });
    await store.checkpoints();
    const [req] = peer.requests();
    expect(req!.topic).toBe('content-backing.checkpoint-get');
    expect(req!.aux1).toBe(0);
    expect(req!.payload).toBeUndefined();
  });
});

describe('content.load', () => {
  it('sends the raw digest and returns the raw blob', async () => {
    const { peer, store } = await peerAndStore();
    const blob = await store.load(SMALL_ROOT);
    expect(sha1(blob)).toBe(SMALL_ROOT);
    const [req] = peer.requests();
    expect(req!.topic).toBe('content.load');
    expect(req!.aux1).toBe(NODEID_ANY);
    expect(req!.flags).toBe(0x0b);
    expect(hex(req!.payload)).toBe(SMALL_ROOT.slice(5));
  });

  it('an empty blob travels as no payload at all', async () => {
    const { store } = await peerAndStore();
    expect((await store.load(EMPTY_BLOB)).length).toBe(0);
  });

  it('a missing blob rejects with MissingBlobError; other errors keep their errno and message', async () => {
    const { store } = await peerAndStore({
      inject: (req) => (hex(req.payload) === SMALL_ROOT.slice(5) ? { errnum: EPERM, message: 'Request denied by policy' } : undefined),
    });
    const missing = 'sha1-0000000000000000000000000000000000000000';
    const err = await store.load(missing).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(MissingBlobError);
    expect((err as Error).message).toBe(`${missing}: No such file or directory`);
    const denied = await store.load(SMALL_ROOT).catch((e: unknown) => e);
    expect(denied).not.toBeInstanceOf(MissingBlobError);
    expect((denied as FluxError).message).toBe(`content.load ${SMALL_ROOT}: Request denied by policy`);
    expect((denied as FluxError).code).toBe('EPERM');
  });

  it('--no-cache loads through content-backing.load on nodeid 0', async () => {
    const { peer, store } = await peerAndStore({}, { noCache: true });
    await store.load(SMALL_ROOT);
    const [req] = peer.requests();
    expect(req!.topic).toBe('content-backing.load');
    expect(req!.aux1).toBe(0);
  });
});

describe('many requests on one socket', () => {
  it('keeps hundreds in flight, matches shuffled responses by matchtag', async () => {
    const refs: string[] = [];
    // every blob small.sqlite has, 30 times over; the peer answers all 270 at once, shuffled
    for (const row of await allRefs()) for (let i = 0; i < 30; i++) refs.push(row);
    const { peer, store } = await peerAndStore({ reorder: 'shuffle', holdResponses: refs.length, seed: 7 });
    const pending = refs.map((r) => store.load(r));
    expect(store.client.inflight).toBe(refs.length);
    const blobs = await Promise.all(pending);
    blobs.forEach((b, i) => expect(sha1(b)).toBe(refs[i]));
    expect(peer.maxOutstanding).toBe(refs.length);
    expect(store.client.inflight).toBe(0);
    // responses really left in another order than the requests came
    const inOrder = Array.from({ length: refs.length }, (_, i) => i + 1);
    expect(peer.sent).not.toEqual(inOrder);
    expect([...peer.sent].sort((a, b) => a - b)).toEqual(inOrder);
  });

  it('the simulator answers requests read together in one write, none before its latency', async () => {
    const latencyMs = 3;
    const { peer, store } = await peerAndStore({ latencyMs });
    const sent = performance.now();
    const answered = await Promise.all(Array.from({ length: 32 }, () => store.load(SMALL_ROOT).then(() => performance.now())));
    // one write per chunk of requests read (the client wrote all 32 in one turn)...
    expect(peer.count).toBe(32);
    expect(peer.writes).toBe(peer.reads);
    // ...and never sooner than the injected latency after the request left
    for (const t of answered) expect(t - sent).toBeGreaterThanOrEqual(latencyMs);
    expect(peer.outstandingMs).toBeGreaterThanOrEqual(32 * latencyMs);
    expect(peer.outstanding).toBe(0);
  });

  it('reuses matchtags from a free list', async () => {
    const { peer, store } = await peerAndStore();
    for (let i = 0; i < 50; i++) await store.load(SMALL_ROOT);
    const tags = new Set(peer.requests().map((m) => m.matchtag));
    expect([...tags]).toEqual([1]);
    await Promise.all(Array.from({ length: 40 }, () => store.load(SMALL_ROOT)));
    expect(Math.max(...peer.requests().map((m) => m.matchtag))).toBe(40);
  });

  it('a connection cut fails every request in flight, and later ones, with one clear error', async () => {
    const { store } = await peerAndStore({ holdResponses: 1000, inject: (_r, n) => (n === 30 ? 'drop' : undefined) });
    const results = await Promise.allSettled(Array.from({ length: 50 }, () => store.load(SMALL_ROOT)));
    expect(results.every((r) => r.status === 'rejected')).toBe(true);
    const msg = ((results[0] as PromiseRejectedResult).reason as Error).message;
    // With requests still unread by the peer, the kernel resets the socket and its reason is appended.
    expect(msg).toMatch(new RegExp(`^lost connection to the Flux broker at ${store.location.replace(/[/.]/g, '\\$&')}(: Connection reset by peer)?$`));
    await expect(store.load(SMALL_ROOT)).rejects.toThrow(msg);
  });

  it('a cut in the middle of a response says so', async () => {
    const { store } = await peerAndStore({ inject: (_r, n) => (n === 2 ? 'truncate' : undefined) });
    expect(sha1(await store.load(SMALL_ROOT))).toBe(SMALL_ROOT);
    await expect(store.load(SMALL_ROOT)).rejects.toThrow(`lost connection to the Flux broker at ${store.location} in the middle of a message`);
  });
});

describe('writes (restore)', () => {
  it('content.store returns blobrefs in order, pipelined up to maxreqs', async () => {
    const { peer, store } = await peerAndStore({ holdResponses: 8, reorder: 'reverse' }, { maxreqs: 8 });
    const blobs = Array.from({ length: 40 }, (_, i) => new TextEncoder().encode(`blob number ${i} `.repeat(i + 1)));
    const refs = await store.storeMany(blobs);
    expect(refs).toEqual(blobs.map(sha1));
    expect(peer.maxOutstanding).toBe(8);
    expect(peer.stored.size).toBe(40);
    for (const m of peer.requests()) {
      expect(m.topic).toBe('content.store');
      expect(m.aux1).toBe(NODEID_ANY);
    }
  });

  it('--no-cache stores through content-backing.store on rank 0 and skips content.flush', async () => {
    const { peer, store } = await peerAndStore({}, { noCache: true });
    expect(await store.storeMany([Uint8Array.of(1, 2, 3)])).toEqual([sha1(Uint8Array.of(1, 2, 3))]);
    await store.flush();
    expect(peer.requests().map((m) => [m.topic, m.aux1])).toEqual([['content-backing.store', 0]]);
  });

  it('a refused store is an error naming the size', async () => {
    const { store } = await peerAndStore({ inject: () => ({ errnum: 27 }) });
    await expect(store.storeMany([new Uint8Array(5000)])).rejects.toThrow('error storing a blob of 5000 bytes: File too large');
  });

  it('content.flush as flux-core sends it; ENOSYS without a backing store', async () => {
    const { peer, store } = await peerAndStore();
    await store.flush();
    expect(peer.flushes).toBe(1);
    const captured = decodeChunks(loadCapture('restore-key').chunks.c2s).at(-1)!;
    expect(requestBytes({ ...peer.requests()[0]!, matchtag: 1 })).toBe(requestBytes(captured));
    const { store: s2 } = await peerAndStore({ backing: false });
    await expect(s2.flush()).rejects.toThrow('error flushing content cache: content backing store is not loaded');
  });

  it('checkpoint-put sends {"value":ckpt} with a real timestamp on rank 0', async () => {
    const { peer, store } = await peerAndStore();
    const ck = { version: 1, rootref: SMALL_ROOT, sequence: 0, timestamp: 1795690510 };
    await store.putCheckpoint(ck);
    const [req] = peer.requests();
    expect(req!.topic).toBe('content.checkpoint-put');
    expect(req!.aux1).toBe(0);
    expect(text(req!)).toBe(`{"value":{"version":1,"rootref":"${SMALL_ROOT}","sequence":0,"timestamp":1795690510.0}}`);
    expect(peer.checkpoints[0]).toEqual(ck);
    expect(await store.checkpoints()).toEqual([ck, expect.objectContaining({ sequence: 13 })]);
    const { peer: p2, store: s2 } = await peerAndStore({}, { noCache: true });
    await s2.putCheckpoint(ck);
    expect(p2.requests()[0]!.topic).toBe('content-backing.checkpoint-put');
  });

  it('kvs.commit sends the captured bytes and moves the root', async () => {
    const { peer, store } = await peerAndStore();
    const restored = 'sha1-7ac6c1decd1ada8735dc9794d25346df66aadcf8';
    const seq = peer.rootseq;
    const r = await store.commit('restored', restored);
    const captured = decodeChunks(loadCapture('restore-key').chunks.c2s).find((m) => m.topic === 'kvs.commit')!;
    expect(requestBytes({ ...peer.requests()[0]!, matchtag: 1 })).toBe(requestBytes(captured));
    expect(r.rootseq).toBe(seq + 1);
    expect(r.rootref).toBe(peer.root);
    const root = JSON.parse(new TextDecoder().decode(peer.blob(Buffer.from(r.rootref.slice(5), 'hex'))!)) as { data: Record<string, unknown> };
    expect(root.data.restored).toEqual({ data: [restored], type: 'dirref', ver: 1 });
    expect(root.data.x).toBeDefined(); // the old keys are still there
  });

  it('--checkpoint refuses while kvs.getroot answers anything but ENOSYS', async () => {
    const { store: running } = await peerAndStore();
    await expect(running.assertKvsUnloaded()).rejects.toThrow('please unload kvs module before using --checkpoint');
    const { store: denied } = await peerAndStore({ inject: () => ({ errnum: EPERM }) });
    await expect(denied.assertKvsUnloaded()).rejects.toThrow('please unload kvs module before using --checkpoint');
    const { store: stopped } = await peerAndStore({ root: null });
    await expect(stopped.assertKvsUnloaded()).resolves.toBeUndefined();
  });

  it('attr.get content.hash gives the hash type', async () => {
    const { peer, store } = await peerAndStore({ hashType: 'sha256', root: null });
    expect(await store.resolveHashType()).toBe('sha256');
    expect(store.hashType).toBe('sha256');
    const captured = decodeChunks(loadCapture('getattr-content-hash').chunks.c2s)[0]!;
    expect(requestBytes({ ...peer.requests()[0]!, matchtag: 1 })).toBe(requestBytes(captured));
    const digest = await store.storeMany([Uint8Array.of(7)]);
    expect(digest[0]).toMatch(/^sha256-[0-9a-f]{64}$/);
  });
});

describe('state-machine.sd-notify', () => {
  it('goes out as a no-response request with matchtag 0, as captured', async () => {
    const { peer, store } = await peerAndStore();
    const n = store.sdNotifier();
    n.status('flux-dump(1) has archived 1 keys');
    n.status('flux-dump(1) has archived 13 keys', true);
    await n.flush();
    await waitFor(() => peer.sdNotify.length === 2);
    expect(peer.sdNotify).toEqual(['flux-dump(1) has archived 1 keys', 'flux-dump(1) has archived 13 keys']);
    const [req] = peer.requests();
    expect(req!.flags & FLAG_NORESPONSE).toBe(FLAG_NORESPONSE);
    expect(req!.matchtag).toBe(0);
    const captured = decodeChunks(loadCapture('dump-sd-notify').chunks.c2s).find((m) => m.topic === 'state-machine.sd-notify')!;
    expect(requestBytes(req!)).toBe(requestBytes(captured));
    expect(store.client.inflight).toBe(0);
  });
});

describe('error responses', () => {
  it('carry the message when there is one, else strerror(errnum)', async () => {
    const peer = await BrokerPeer.start({
      inject: (req) => (req.topic === 'a' ? { errnum: ENOENT } : req.topic === 'b' ? { errnum: ENOSYS, message: 'nope' } : undefined),
    });
    peers.push(peer);
    const c = await BrokerClient.connect(peer.uri);
    try {
      const a = await c.request('a').catch((e: unknown) => e);
      expect(a).toBeInstanceOf(BrokerError);
      expect((a as BrokerError).message).toBe('No such file or directory');
      expect((a as BrokerError).errnum).toBe(ENOENT);
      expect((a as BrokerError).code).toBe('ENOENT');
      await expect(c.request('b')).rejects.toThrow('nope');
      await expect(c.request('no.such.service')).rejects.toThrow('No service matching no.such.service is registered');
      expect(peer.requests().every((m) => m.type === MSGTYPE_REQUEST)).toBe(true);
    } finally {
      await c.close();
    }
  });
});

async function allRefs(): Promise<string[]> {
  // every blob reachable in small.sqlite: walk its tree objects
  const seen = new Set<string>();
  const todo = [SMALL_ROOT];
  while (todo.length) {
    const ref = todo.pop()!;
    if (seen.has(ref)) continue;
    seen.add(ref);
    const blob = await loadBlob(offline, ref);
    const textOf = new TextDecoder().decode(blob);
    if (!textOf.startsWith('{"data"')) continue;
    for (const m of textOf.matchAll(/"(sha1-[0-9a-f]{40})"/g)) todo.push(m[1]!);
  }
  expect(seen.size).toBe(9); // 4 directories, x, v60, and w's 3 appended blobs
  return [...seen];
}

async function waitFor(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 2));
  expect(cond()).toBe(true);
}
