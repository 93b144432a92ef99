/**
 * Live dumps: the real CLI (dist/cli/flux-dump.js) with FLUX_URI pointing at the broker
 * simulator. The request sequence of a --maxreqs=1 dump must be what flux-core 0.88 sent
 * in the captures (topics, flags, nodeid, payloads, in order; only matchtags may differ),
 * errors must read as flux-core prints them, and the archive must be the same whatever
 * the broker does with response order. Plus a cut connection and snapshot consistency.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { encodeMessage, FLAG_NORESPONSE, parseJsonPayload, payloadText, type FluxMessage } from '../src/broker/codec.js';
import { BrokerStore } from '../src/broker/store.js';
import { checkpointFromJson } from '../src/store/checkpoint.js';
import { genStore } from '../src/gen/gen-store.js';
import { openStore } from '../src/store/open.js';
import type { ContentStore } from '../src/store/source.js';
import { makeVal } from '../src/walk/treeobj.js';
import type { PeerOptions } from './peer/broker-peer.js';
import { peerPool, runLive } from './peer/live-cli.js';
import { decodeChunks, loadCapture, servedBlobs, WIRE, type Capture } from './peer/capture.js';
import { DUMP_CLI, SMALL, tempDir } from './helpers/paths.js';
import { readTar, type TarMember } from './helpers/tar.js';

const SMALL_DB = join(SMALL, 'small.sqlite');
const t = tempDir('flux-live-');
afterAll(() => t.cleanup());
let n = 0;
const out = (name: string) => join(t.dir, `${n++}-${name}`);

const dumpLive = (uri: string, args: string[], env?: Record<string, string>) => runLive(DUMP_CLI, uri, args, env);
const pool = peerPool();
const startPeer = pool.start;
afterEach(pool.stopAll);

let small: ContentStore;
beforeAll(async () => {
  small = await openStore(SMALL_DB);
});
afterAll(async () => {
  await small.close();
});

/** A request with its matchtag normalised, as bytes: everything else must match. */
const shape = (m: FluxMessage) => Buffer.from(encodeMessage({ ...m, matchtag: m.matchtag === 0 ? 0 : 1 }, true)).toString('hex');
const describeReq = (m: FluxMessage) => `${m.topic} nodeid=${m.aux1} flags=0x${m.flags.toString(16)} ${Buffer.from(m.payload ?? []).toString('hex').slice(0, 16)}`;

/** The broker state a capture shows: the blobs it served, its root, its checkpoints. */
function peerStateFrom(c: Capture): PeerOptions {
  const blobs = servedBlobs(c);
  for (const [hex, blob] of blobs) expect(createHash('sha1').update(blob).digest('hex')).toBe(hex);
  const resps = decodeChunks(c.chunks.s2c);
  const getroot = resps.find((m) => m.topic === 'kvs.getroot' && m.aux1 === 0);
  const ckget = resps.find((m) => m.topic === 'content.checkpoint-get' && m.aux1 === 0);
  const root = getroot ? ((parseJsonPayload(getroot.payload, 'getroot') as { rootref: string }).rootref) : null;
  const checkpoints = ckget ? (parseJsonPayload(ckget.payload, 'ckpt') as { value: unknown[] }).value.map((v) => checkpointFromJson(v, 'capture')) : [];
  return { blobs, root, checkpoints, rootseq: 16 };
}

function entries(file: string): { name: string; type: string; data: string; link: string }[] {
  return readTar(readFileSync(file))
    .members.filter((m: TarMember) => m.typeflag !== 'x')
    .map((m) => ({ name: m.name, type: m.typeflag, data: Buffer.from(m.data).toString('hex'), link: m.linkname }));
}

function noTemporaries(file: string): void {
  expect(existsSync(file)).toBe(false);
  const dir = join(file, '..');
  const base = file.slice(dir.length + 1);
  expect(readdirSync(dir).filter((f) => f.includes(base))).toEqual([]);
}

describe('request sequence against the real captures (--maxreqs=1)', () => {
  const CASES = [
    { capture: 'dump-live-maxreqs1', args: [] as string[], keys: 13 },
    { capture: 'dump-live-nocache', args: ['--no-cache'], keys: 13 },
    // the newest checkpoint is older than the live root: two keys fewer
    { capture: 'dump-checkpoint', args: ['--checkpoint'], keys: 11 },
  ];
  it.each(CASES)('$capture', async ({ capture, args, keys }) => {
    const c = loadCapture(capture);
    const peer = await startPeer(peerStateFrom(c));
    const file = out('live.tar');
    const r = await dumpLive(peer.uri, ['--maxreqs=1', ...args, file]);
    expect(r.stderr.endsWith(`\rflux-dump: archived ${keys} keys\n`)).toBe(true);
    expect(r.status).toBe(0);
    const theirs = decodeChunks(c.chunks.c2s);
    const ours = peer.requests();
    expect(ours.map(describeReq)).toEqual(theirs.map(describeReq));
    expect(ours.map(shape)).toEqual(theirs.map(shape));
    // and the archive holds what flux-core archived from the same instance
    if (keys === 13) expect(entries(file)).toEqual(entries(join(WIRE, 'dump-live-maxreqs1.tar')));
    else expect(entries(file).length).toBe(keys);
  });

  it('dump-sd-notify: same loads; every status ours sends is one flux-core sent, ending with the total', async () => {
    const c = loadCapture('dump-sd-notify');
    const peer = await startPeer(peerStateFrom(c));
    const r = await dumpLive(peer.uri, ['--maxreqs=1', '--sd-notify', '-q', out('sd.tar')]);
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
    const theirs = decodeChunks(c.chunks.c2s);
    const isNotify = (m: FluxMessage) => m.topic === 'state-machine.sd-notify';
    expect(peer.requests().filter((m) => !isNotify(m)).map(shape)).toEqual(theirs.filter((m) => !isNotify(m)).map(shape));
    const ourNotes = peer.requests().filter(isNotify);
    const theirNotes = theirs.filter(isNotify);
    for (const m of ourNotes) {
      expect(m.flags & FLAG_NORESPONSE).toBe(FLAG_NORESPONSE);
      expect(theirNotes.map(shape)).toContain(shape(m));
    }
    expect(ourNotes.length).toBeGreaterThanOrEqual(2);
    expect(payloadText(ourNotes.at(-1)!.payload)).toBe('{"status":"flux-dump(1) has archived 13 keys"}');
    expect(peer.sdNotify.at(-1)).toBe('flux-dump(1) has archived 13 keys');
  });
});

describe('errors as flux-core prints them', () => {
  it('no KVS module', async () => {
    const c = loadCapture('error-no-kvs');
    const peer = await startPeer({ root: null });
    const file = out('nokvs.tar');
    const r = await dumpLive(peer.uri, [file]);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe('flux-dump: error fetching current KVS root: No service matching kvs.getroot is registered\n');
    expect(peer.requests().map(shape)).toEqual(decodeChunks(c.chunks.c2s).map(shape));
    noTemporaries(file);
  });

  it('no checkpoint', async () => {
    const c = loadCapture('error-no-checkpoint');
    const peer = await startPeer({ root: null, checkpoints: [] });
    const file = out('nockpt.tar');
    const r = await dumpLive(peer.uri, ['--checkpoint', file]);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe('flux-dump: error fetching checkpoints: No such file or directory\n');
    expect(peer.requests().map(shape)).toEqual(decodeChunks(c.chunks.c2s).map(shape));
    noTemporaries(file);
  });

  it('a dangling valref (content.load answers ENOENT)', async () => {
    const c = loadCapture('error-dangling-valref');
    const peer = await startPeer({ ...peerStateFrom(c), rootseq: 1 });
    const file = out('dangling.tar');
    const r = await dumpLive(peer.uri, ['--maxreqs=1', file]);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe('flux-dump: bad/a: missing blobref 0: No such file or directory\n');
    expect(peer.requests().map(shape)).toEqual(decodeChunks(c.chunks.c2s).map(shape));
    noTemporaries(file);
    // and under --ignore-failed-read it is reported and skipped
    const skip = await dumpLive(peer.uri, ['--maxreqs=1', '--ignore-failed-read', file]);
    expect(skip.status).toBe(0);
    expect(skip.stderr).toContain('flux-dump: bad/a: missing blobref 0: No such file or directory\n');
  });

  it('nothing listening at FLUX_URI', async () => {
    const r = await dumpLive('local:///nonexistent/dir/local', [out('x.tar')]);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe('flux-dump: cannot connect to local:///nonexistent/dir/local: No such file or directory\n');
  });

  it('FLUX_KVS_NAMESPACE selects the namespace of the root', async () => {
    const peer = await startPeer({ store: small });
    const r = await dumpLive(peer.uri, [out('ns.tar')], { FLUX_KVS_NAMESPACE: 'job-1234' });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe('flux-dump: error fetching current KVS root: Operation not supported\n');
    expect(payloadText(peer.requests()[0]!.payload)).toBe('{"namespace":"job-1234","flags":0}');
  });
});

describe('small.sqlite served live', () => {
  it('--checkpoint through the broker is byte-identical to the offline --checkpoint dump', async () => {
    const peer = await startPeer({ store: small });
    const live = out('live-ckpt.tar');
    const offline = out('offline-ckpt.tar');
    const [a, b] = await Promise.all([
      dumpLive(peer.uri, ['--checkpoint', live]),
      dumpLive('', ['--store', SMALL_DB, '--checkpoint', offline]),
    ]);
    expect(a.status).toBe(0);
    expect(b.status).toBe(0);
    expect(a.stderr).toBe(b.stderr);
    expect(Buffer.compare(readFileSync(live), readFileSync(offline))).toBe(0);
  });

  it('the current root, live, equals the offline --checkpoint dump entry for entry', async () => {
    const peer = await startPeer({ store: small, reorder: 'shuffle', jitterMs: 0.5 });
    const live = out('live.tar');
    const offline = out('offline.tar');
    const [a, b] = await Promise.all([dumpLive(peer.uri, ['--maxreqs=4', live]), dumpLive('', ['--store', SMALL_DB, '--checkpoint', offline])]);
    expect(a.status).toBe(0);
    expect(b.status).toBe(0);
    expect(entries(live)).toEqual(entries(offline));
    expect(entries(live).length).toBe(10);
    expect(peer.requests('kvs.getroot').length).toBe(1);
  });
});

describe('a generated store, many requests in flight', () => {
  let gen: ContentStore;
  let keys = 0;
  beforeAll(async () => {
    const path = join(t.dir, 'gen', 'content.sqlite');
    keys = genStore({ out: path, jobs: 30, seed: 3, hash: 'sha1', shape: { appends: 3, sizeFactor: 1 }, timestamp: 1795690510.25 }).keys;
    gen = await openStore(path);
  });
  afterAll(async () => {
    await gen.close();
  });

  it('out-of-order responses at --maxreqs=64 give the same bytes as --maxreqs=1 and as offline', async () => {
    const peer = await startPeer({ store: gen, reorder: 'shuffle', jitterMs: 0.3, seed: 11 });
    const one = out('one.tar');
    const many = out('many.tar');
    const offline = out('gen-offline.tar');
    const r1 = await dumpLive(peer.uri, ['--checkpoint', '--maxreqs=1', one]);
    const loadsAt1 = peer.requests('content.load').length;
    const r64 = await dumpLive(peer.uri, ['--checkpoint', '--maxreqs=64', many]);
    const r0 = await dumpLive('', ['--store', gen.location, '--checkpoint', offline]);
    for (const r of [r1, r64, r0]) {
      expect(r.status).toBe(0);
      expect(r.stderr).toContain(`archived ${keys} keys\n`);
    }
    expect(peer.maxOutstanding).toBeGreaterThan(1);
    expect(peer.requests('content.load').length).toBe(2 * loadsAt1);
    // the broker answered out of order (responses to later requests overtook earlier ones)...
    const overtakes = peer.sent.filter((req, i) => i > 0 && req < peer.sent[i - 1]!).length;
    expect(overtakes).toBeGreaterThan(10);
    // ...and it does not show
    expect(Buffer.compare(readFileSync(one), readFileSync(many))).toBe(0);
    expect(Buffer.compare(readFileSync(one), readFileSync(offline))).toBe(0);
  });

  it('--maxreqs=8 sends the loads of --maxreqs=1 in the same order, never more than 8 at once', async () => {
    const peer = await startPeer({ store: gen, reorder: 'shuffle', jitterMs: 0.5, seed: 5 });
    const loads = () => peer.requests('content.load').map((m) => Buffer.from(m.payload!).toString('hex'));
    expect((await dumpLive(peer.uri, ['--checkpoint', '--maxreqs=1', out('seq1.tar')])).status).toBe(0);
    expect(peer.maxOutstanding).toBe(1);
    const one = loads();
    peer.resetStats();
    expect((await dumpLive(peer.uri, ['--checkpoint', '--maxreqs=8', out('seq8.tar')])).status).toBe(0);
    expect(peer.maxOutstanding).toBe(8);
    expect(loads().slice(one.length)).toEqual(one);
  });

  it('a connection cut mid-dump: one clear line, exit 1, no archive under the final name', async () => {
    const peer = await startPeer({ store: gen, inject: (req) => (peer.requests('content.load').length === 120 && req.topic === 'content.load' ? 'drop' : undefined) });
    const file = out('cut.tar');
    const r = await dumpLive(peer.uri, ['--maxreqs=8', file]);
    expect(r.status).toBe(1);
    const lines = r.stderr.split('\n').filter(Boolean);
    const last = lines.at(-1)!.split('\r').at(-1)!;
    // A peer that closes with our requests still unread resets the socket: the kernel's reason is then appended.
    expect(last).toMatch(new RegExp(`^flux-dump: \\S+: lost connection to the Flux broker at ${peer.uri.replace(/[/.]/g, '\\$&')}(: Connection reset by peer)?$`));
    expect(r.stderr.endsWith('\n')).toBe(true);
    expect(r.stderr).not.toMatch(/internal error|at .*\.js:\d+/);
    noTemporaries(file);
  });

  it('a response truncated mid-message is reported as such', async () => {
    const peer = await startPeer({ store: gen, inject: (req) => (req.topic === 'content.load' && peer.requests('content.load').length === 50 ? 'truncate' : undefined) });
    const file = out('trunc.tar');
    const r = await dumpLive(peer.uri, ['--maxreqs=2', file]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/lost connection to the Flux broker at \S+ in the middle of a message(: Connection reset by peer)?\n$/);
    noTemporaries(file);
  });

  it('snapshot consistency: a commit landing while the dump runs does not appear in it', async () => {
    let committer: BrokerStore | undefined;
    let committed: Promise<unknown> | undefined;
    const peer = await startPeer({
      store: gen,
      latencyMs: 1,
      onRequest: (req) => {
        // another client commits once the dump has its root and is walking
        if (req.topic === 'content.load' && !committed && peer.requests('content.load').length === 20) {
          committed = committer!.commit('late-arrival', peer.putObj({ type: 'dir', data: new Map([['x', makeVal(new TextEncoder().encode('new'))]]) }));
        }
      },
    });
    committer = await BrokerStore.open(peer.uri);
    try {
      const before = peer.root;
      const file = out('snap.tar');
      const r = await dumpLive(peer.uri, ['--maxreqs=4', file]);
      expect(r.status).toBe(0);
      await committed;
      // the commit did land in the middle of the dump
      const commitAt = peer.log.findIndex((l) => l.msg.topic === 'kvs.commit');
      const lastLoad = peer.log.map((l) => l.msg.topic).lastIndexOf('content.load');
      expect(commitAt).toBeGreaterThan(0);
      expect(commitAt).toBeLessThan(lastLoad);
      expect(peer.root).not.toBe(before);
      const names = entries(file).map((e) => e.name);
      expect(names.length).toBe(keys);
      expect(names.some((k) => k.startsWith('late-arrival'))).toBe(false);
      // a dump started afterwards sees it
      const after = out('after.tar');
      expect((await dumpLive(peer.uri, ['--maxreqs=4', after])).status).toBe(0);
      expect(entries(after).map((e) => e.name)).toContain('late-arrival/x');
    } finally {
      await committer.close();
    }
  });
});
