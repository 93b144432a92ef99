/**
 * Live restores: the real CLI (dist/cli/flux-restore.js) with FLUX_URI (or
 * --store=local://) pointing at the broker simulator. --key must commit flux-core's root
 * at the key and store exactly the archive's objects; --checkpoint must refuse while the
 * KVS runs and otherwise flush, then write the checkpoint; the root must not depend on
 * --maxreqs or on the order the broker answers in; a cut connection is one clear line,
 * exit 1, and nothing committed or checkpointed.
 */
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { payloadText } from '../src/broker/codec.js';
import { openStore } from '../src/store/open.js';
import type { ContentStore } from '../src/store/source.js';
import { decodeTreeObj } from '../src/walk/treeobj.js';
import { BrokerPeer, type PeerOptions } from './peer/broker-peer.js';
import { peerPool, runLive } from './peer/live-cli.js';
import { decodeChunks, loadCapture } from './peer/capture.js';
import { RESTORE_CLI, SMALL, tempDir as sharedTempDir } from './helpers/paths.js';
import { cleanupTempDirs, makeTar, readSqliteStore, referenceRoot, tempDir, type TreeEntry } from './restore-helpers.js';

const SMALL_TAR = join(SMALL, 'small.tar');
const RESTORED_ROOT = 'sha1-7ac6c1decd1ada8735dc9794d25346df66aadcf8';
const SMALL_TIMESTAMP = 1795690510;
const ENOSYS = 38;

const restoreLive = (uri: string, args: string[], env?: Record<string, string>) => runLive(RESTORE_CLI, uri, args, env);
const pool = peerPool();
const startPeer = pool.start;
afterEach(async () => {
  await pool.stopAll();
  cleanupTempDirs();
});

let small: ContentStore;
beforeAll(async () => {
  small = await openStore(join(SMALL, 'small.sqlite'));
});
afterAll(async () => {
  await small.close();
});

const topics = (p: BrokerPeer) => p.requests().map((m) => `${m.topic}@${m.aux1 === 0xffffffff ? 'any' : m.aux1}`);
const hex = (b: Uint8Array | undefined) => Buffer.from(b ?? []).toString('hex');

/** The dirref the peer's current KVS root holds at top-level `key`. */
function committedAt(peer: BrokerPeer, key: string): string | undefined {
  const root = decodeTreeObj(peer.blob(Buffer.from(peer.root!.slice('sha1-'.length), 'hex'))!);
  if (root.type !== 'dir') throw new Error('root is not a directory');
  const ent = root.data.get(key);
  return ent?.type === 'dirref' ? ent.data[0] : undefined;
}

/** The blobrefs the broker answered content.store with in the restore-key capture. */
function capturedStores(): string[] {
  return decodeChunks(loadCapture('restore-key').chunks.s2c)
    .filter((m) => m.topic === 'content.store')
    .map((m) => `sha1-${hex(m.payload)}`);
}

/** A bigger archive: 40 directories of 6 values, most of them blobs (>= 72 bytes). */
function genEntries(): TreeEntry[] {
  const out: TreeEntry[] = [];
  for (let d = 0; d < 40; d++) {
    for (let k = 0; k < 6; k++) {
      const data = new TextEncoder().encode(`value ${d}.${k} `.repeat(k === 0 ? 1 : 12 + k));
      out.push({ path: `dir${d}/sub${d % 3}/key${k}`, kind: 'file', data, mtime: 1795690000 + d });
    }
  }
  return out;
}

describe('restore --key', () => {
  it('commits flux-core\'s root at the key, storing exactly the archive\'s 4 objects, then flushes', async () => {
    const peer = await startPeer({ store: small });
    const before = peer.root;
    const r = await restoreLive(peer.uri, ['--key=restored', SMALL_TAR]);
    // flux-core's lines: the count, then the snapshot going to the key
    expect(r.stderr.endsWith("\rflux-restore: restored 10 keys (4 blobs)\nflux-restore: writing snapshot sha1-7ac6c1de to KVS key 'restored'\n")).toBe(true);
    expect(r.stderr).not.toContain('checkpoint');
    expect(r.status).toBe(0);
    // flux-core's order (restore-key capture), after the attr.get for the hash
    expect(topics(peer)).toEqual(['attr.get@any', ...Array(4).fill('content.store@any'), 'kvs.commit@any', 'content.flush@0']);
    const stored = peer.requests('content.store').map((m) => `sha1-${createHash('sha1').update(m.payload!).digest('hex')}`);
    expect(new Set(stored)).toEqual(new Set(capturedStores()));
    expect(stored).toContain(RESTORED_ROOT);
    expect(committedAt(peer, 'restored')).toBe(RESTORED_ROOT);
    // the overlay holds the 4 restored objects and the commit's new root, nothing else
    expect(peer.root).not.toBe(before);
    expect([...peer.stored.keys()].map((h) => `sha1-${h}`).sort()).toEqual([...stored, peer.root!].sort());
    expect(peer.checkpoints.map((c) => c.rootref)).not.toContain(RESTORED_ROOT);
  });

  it('--store=local:// names the instance; --no-cache writes through content-backing, no flush; FLUX_KVS_NAMESPACE is used', async () => {
    const peer = await startPeer({ store: small });
    const r = await restoreLive('', ['-q', '--no-cache', '--key=a.b', `--store=${peer.uri}`, SMALL_TAR], { FLUX_KVS_NAMESPACE: 'primary' });
    expect(r).toEqual({ status: 0, stderr: '' });
    expect(topics(peer)).toEqual(['attr.get@any', ...Array(4).fill('content-backing.store@0'), 'kvs.commit@any']);
    expect(payloadText(peer.requests('kvs.commit')[0]!.payload)).toBe(
      `{"namespace":"primary","flags":0,"ops":[{"key":"a.b","flags":0,"dirent":{"ver":1,"type":"dirref","data":["${RESTORED_ROOT}"]}}]}`,
    );
    expect(peer.flushes).toBe(0);

    const other = await startPeer({ store: small });
    const bad = await restoreLive(other.uri, ['-q', '--key=x', SMALL_TAR], { FLUX_KVS_NAMESPACE: 'smurf' });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toBe('flux-restore: error updating x: Operation not supported\n');
    expect(payloadText(other.requests('kvs.commit')[0]!.payload)).toContain('"namespace":"smurf"');
  });

  it('--sd-notify goes to the broker, ending with the total', async () => {
    const peer = await startPeer({ store: small });
    const r = await restoreLive(peer.uri, ['-q', '--sd-notify', '--key=restored', SMALL_TAR]);
    expect(r).toEqual({ status: 0, stderr: '' });
    expect(peer.sdNotify.length).toBeGreaterThan(0);
    expect(peer.sdNotify.at(-1)).toBe('flux-restore(1) has restored 10 keys');
  });

  it('--key with an offline --store still needs a running instance, even with FLUX_URI set', async () => {
    const peer = await startPeer({ store: small });
    const r = await restoreLive(peer.uri, ['--key=restored', `--store=${tempDir()}`, SMALL_TAR]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^flux-restore: --key needs a running Flux instance \(FLUX_URI\)[^\n]*\n$/);
    expect(peer.count).toBe(0);
  });
});

describe('restore --checkpoint', () => {
  it('refuses while the KVS runs, before storing anything', async () => {
    const peer = await startPeer({ store: small });
    const before = peer.checkpoints.length;
    const r = await restoreLive(peer.uri, ['--checkpoint', SMALL_TAR]);
    expect(r).toEqual({ status: 1, stderr: 'flux-restore: please unload kvs module before using --checkpoint\n' });
    expect(topics(peer)).toEqual(['kvs.getroot@any']);
    expect(peer.checkpoints.length).toBe(before);
  });

  it('with kvs.getroot answering ENOSYS: stores, puts the checkpoint, then flushes; the newest checkpoint is the root', async () => {
    const peer = await startPeer({ store: small, inject: (req) => (req.topic === 'kvs.getroot' ? { errnum: ENOSYS } : undefined) });
    const older = peer.checkpoints.length;
    const r = await restoreLive(peer.uri, ['--checkpoint', '--hash=sha256', SMALL_TAR]);
    expect(r.status).toBe(0);
    expect(r.stderr).toContain(`flux-restore: ${peer.uri} uses sha1 (content.hash); ignoring --hash=sha256\n`);
    expect(r.stderr.endsWith('\rflux-restore: restored 10 keys (4 blobs)\nflux-restore: writing snapshot sha1-7ac6c1de to checkpoint for next KVS start\n')).toBe(true);
    expect(topics(peer)).toEqual(['kvs.getroot@any', 'attr.get@any', ...Array(4).fill('content.store@any'), 'content.checkpoint-put@0', 'content.flush@0']);
    expect(peer.checkpoints.length).toBe(older + 1);
    expect(peer.checkpoints[0]).toEqual({ version: 1, rootref: RESTORED_ROOT, sequence: 0, timestamp: SMALL_TIMESTAMP });
    expect(peer.requests('kvs.commit')).toEqual([]);
  });
});

describe('a bigger archive', () => {
  const entries = genEntries();
  const expected = referenceRoot(entries);
  // outlives the per-test temp dirs
  const dir = sharedTempDir('flux-restore-live-');
  const tar = join(dir.dir, 'gen.tar');
  afterAll(() => dir.cleanup());
  beforeAll(() => {
    writeFileSync(tar, makeTar(entries.map((e) => ({ path: e.path, data: e.kind === 'file' ? e.data : '', mtime: e.mtime }))));
  });

  it('--maxreqs 1 and 64 commit the same root, whatever order the broker answers in (and the same as offline)', async () => {
    const one = await startPeer({ store: small });
    const many = await startPeer({ store: small, reorder: 'shuffle', jitterMs: 0.3, seed: 5 });
    const r1 = await restoreLive(one.uri, ['-q', '--maxreqs=1', '--key=gen', tar]);
    const r64 = await restoreLive(many.uri, ['-q', '--maxreqs=64', '--key=gen', tar]);
    const offline = join(tempDir(), 'content.sqlite');
    const r0 = await restoreLive('', ['-q', '--checkpoint', `--store=${offline}`, tar]);
    for (const r of [r1, r64, r0]) expect(r).toEqual({ status: 0, stderr: '' });
    expect(committedAt(one, 'gen')).toBe(expected.root);
    expect(committedAt(many, 'gen')).toBe(expected.root);
    expect(readSqliteStore(offline).checkpoints[0]).toContain(expected.root);
    expect(one.requests('content.store').length).toBe(expected.objects);
    expect(many.requests('content.store').length).toBe(expected.objects);
    expect(one.maxOutstanding).toBe(1);
    expect(many.maxOutstanding).toBeGreaterThan(1);
    expect(many.maxOutstanding).toBeLessThanOrEqual(64);
  });

  it.each([
    { target: '--key=gen', peer: { store: small } as PeerOptions },
    { target: '--checkpoint', peer: { store: small, root: null } as PeerOptions },
  ])('a connection cut mid-restore ($target): one clear line, exit 1, nothing committed or checkpointed', async ({ target, peer: opts }) => {
    const peer = await startPeer({ ...opts, inject: (req) => (req.topic === 'content.store' && peer.requests('content.store').length === 60 ? 'drop' : undefined) });
    const root = peer.root;
    const checkpoints = peer.checkpoints.length;
    const r = await restoreLive(peer.uri, ['--maxreqs=8', target, tar]);
    expect(r.status).toBe(1);
    const last = r.stderr.split('\n').filter(Boolean).at(-1)!.split('\r').at(-1)!;
    expect(last).toMatch(new RegExp(`^flux-restore: error storing (a blob of \\d+ bytes|blob for \\S+): lost connection to the Flux broker at ${peer.uri.replace(/[/.]/g, '\\$&')}(: Connection reset by peer)?$`));
    expect(r.stderr.endsWith('\n')).toBe(true);
    expect(r.stderr).not.toMatch(/internal error|at .*\.js:\d+/);
    expect(peer.requests('content.store').length).toBe(60);
    expect(peer.requests('kvs.commit')).toEqual([]);
    expect(peer.requests('content.checkpoint-put')).toEqual([]);
    expect(peer.root).toBe(root);
    expect(peer.checkpoints.length).toBe(checkpoints);
  });
});
