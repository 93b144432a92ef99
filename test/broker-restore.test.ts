/**
 * Restore into a running instance through LiveRestoreTarget, driven the way restore()
 * drives a RestoreTarget (value blobs hashed and handed over in groups of --maxreqs, in
 * archive order; then directories bottom-up; then the root), against the broker
 * simulator. The driver here builds the tree from shared tree-object helpers so the
 * test does not lean on restore's internals. The RPC sequence must be flux-core's (the
 * restore-key capture), the root flux-core's, and --checkpoint must refuse while the KVS
 * runs.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { encodeMessage, payloadText, type FluxMessage } from '../src/broker/codec.js';
import { LiveRestoreTarget, type LiveRestoreOptions } from '../src/broker/restore-target.js';
import { FluxError } from '../src/errors.js';
import { openStore } from '../src/store/open.js';
import type { ContentStore } from '../src/store/source.js';
import { encodeTreeObj, makeDir, makeDirref, makeSymlink, makeVal, makeValref, type TreeObj } from '../src/walk/treeobj.js';
import { BrokerPeer, type PeerOptions } from './peer/broker-peer.js';
import { decodeChunks, loadCapture } from './peer/capture.js';
import { SMALL } from './helpers/paths.js';
import { readTar } from './helpers/tar.js';

const SMALL_TAR = join(SMALL, 'small.tar');
const RESTORED_ROOT = 'sha1-7ac6c1decd1ada8735dc9794d25346df66aadcf8';
/** Values shorter than a blobref string are stored inline (flux-formats.md section 7). */
const INLINE_MAX = 72;

let small: ContentStore;
beforeAll(async () => {
  small = await openStore(join(SMALL, 'small.sqlite'));
  return () => small.close();
});

const peers: BrokerPeer[] = [];
afterEach(async () => {
  for (const p of peers.splice(0)) await p.stop();
});
async function startPeer(opts: PeerOptions): Promise<BrokerPeer> {
  const p = await BrokerPeer.start(opts);
  peers.push(p);
  return p;
}

interface Dir {
  entries: Map<string, Dir | TreeObj>;
}

/** A restore of `archive` (a tar) through `t`: the root blobref and the newest mtime. */
async function restoreInto(t: LiveRestoreTarget, archive: string, maxreqs: number): Promise<{ rootref: string; maxMtime: number }> {
  const hash = (b: Uint8Array) => new Uint8Array(createHash(t.hashType).update(b).digest());
  const storeBlobs = async (blobs: Uint8Array[]): Promise<string[]> => {
    const refs: string[] = [];
    for (let start = 0; start < blobs.length; start += maxreqs) {
      const group = blobs.slice(start, start + maxreqs);
      const digests = group.map(hash);
      await t.putDigested(new Uint8Array(Buffer.concat(digests)), group);
      refs.push(...digests.map((d) => `${t.hashType}-${Buffer.from(d).toString('hex')}`));
    }
    return refs;
  };
  const members = readTar(readFileSync(archive)).members.filter((m) => m.typeflag === '0' || m.typeflag === '2');
  const refs = await storeBlobs(members.filter((m) => m.typeflag === '0' && m.data.length >= INLINE_MAX).map((m) => m.data));
  const root: Dir = { entries: new Map() };
  let r = 0;
  for (const m of members) {
    const parts = m.name.split('/');
    let dir = root;
    for (const p of parts.slice(0, -1)) {
      if (!dir.entries.has(p)) dir.entries.set(p, { entries: new Map() });
      dir = dir.entries.get(p) as Dir;
    }
    const ns = m.linkname.indexOf('::');
    const leaf =
      m.typeflag === '2'
        ? ns < 0
          ? makeSymlink(m.linkname)
          : makeSymlink(m.linkname.slice(ns + 2), m.linkname.slice(0, ns))
        : m.data.length >= INLINE_MAX
          ? makeValref([refs[r++]!])
          : makeVal(m.data);
    dir.entries.set(parts.at(-1)!, leaf);
  }
  const maxMtime = Math.max(...members.map((m) => m.mtime));
  // bottom-up: a directory is stored after everything under it
  const storeDir = async (d: Dir): Promise<string> => {
    const out = new Map<string, TreeObj>();
    for (const [name, child] of d.entries) out.set(name, 'entries' in child ? makeDirref(await storeDir(child)) : child);
    return (await storeBlobs([encodeTreeObj(makeDir(out))]))[0]!;
  };
  return { rootref: await storeDir(root), maxMtime };
}

const shape = (m: FluxMessage) => Buffer.from(encodeMessage({ ...m, matchtag: 1 }, true)).toString('hex');
const topics = (p: BrokerPeer) => p.requests().map((m) => `${m.topic}@${m.aux1 === 0xffffffff ? 'any' : m.aux1}`);

function open(peer: BrokerPeer, opts: LiveRestoreOptions): Promise<LiveRestoreTarget> {
  return LiveRestoreTarget.open(peer.uri, opts);
}

describe('restore --key', () => {
  it('sends what flux-core sent (after attr.get), commits the root and flushes', async () => {
    const peer = await startPeer({ store: small });
    const t = await open(peer, { maxreqs: 256 });
    try {
      const { rootref } = await restoreInto(t, SMALL_TAR, 256);
      expect(rootref).toBe(RESTORED_ROOT);
      const committed = await t.commit('restored', rootref);
      await t.flush();
      expect(committed.rootref).toBe(peer.root);
      const theirs = decodeChunks(loadCapture('restore-key').chunks.c2s);
      const ours = peer.requests();
      expect(ours[0]!.topic).toBe('attr.get');
      expect(ours.slice(1).map(shape)).toEqual(theirs.map(shape));
      expect(peer.requests('content.store').length).toBe(4);
      expect(peer.flushes).toBe(1);
      // the instance now has the restored tree at "restored", beside its old keys
      const root = JSON.parse(new TextDecoder().decode(peer.blob(Buffer.from(peer.root!.slice(5), 'hex'))!)) as { data: Record<string, { data: string[] }> };
      expect(root.data.restored!.data).toEqual([RESTORED_ROOT]);
      expect(Object.keys(root.data).length).toBeGreaterThan(1);
    } finally {
      await t.close();
    }
  });

  it('keeps at most --maxreqs stores in flight, and resolves a group only when all of it is stored', async () => {
    const peer = await startPeer({ store: small });
    const t = await open(peer, { maxreqs: 2 });
    // from now on the broker answers only in pairs: more than 2 out at once would show in
    // maxOutstanding, fewer would hang
    peer.opts.holdResponses = 2;
    peer.maxOutstanding = 0;
    try {
      const blobs = Array.from({ length: 10 }, (_, i) => new Uint8Array(100).fill(i));
      const digests = new Uint8Array(Buffer.concat(blobs.map((b) => createHash('sha1').update(b).digest())));
      const done = t.putDigested(digests, blobs);
      expect(t.pending).toBe(10);
      await done;
      expect(t.pending).toBe(0);
      expect(peer.maxOutstanding).toBe(2);
      expect(peer.stored.size).toBe(10);
    } finally {
      await t.close();
    }
  });
});

describe('restore --checkpoint', () => {
  it('refuses while the KVS runs', async () => {
    const peer = await startPeer({ store: small });
    const err = await open(peer, { checkpoint: true }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FluxError);
    expect((err as Error).message).toBe('please unload kvs module before using --checkpoint');
    expect(topics(peer)).toEqual(['kvs.getroot@any']);
  });

  it('stores, flushes, then writes the checkpoint', async () => {
    const peer = await startPeer({ root: null, checkpoints: [] });
    const t = await open(peer, { checkpoint: true, maxreqs: 2 });
    try {
      const { rootref, maxMtime } = await restoreInto(t, SMALL_TAR, 2);
      await t.flush();
      await t.putCheckpoint({ version: 1, rootref, sequence: 0, timestamp: maxMtime });
      expect(topics(peer)).toEqual([
        'kvs.getroot@any',
        'attr.get@any',
        ...Array(4).fill('content.store@any'),
        'content.flush@0',
        'content.checkpoint-put@0',
      ]);
      expect(payloadText(peer.requests().at(-1)!.payload)).toBe(`{"value":{"version":1,"rootref":"${RESTORED_ROOT}","sequence":0,"timestamp":1795690510.0}}`);
      expect(peer.checkpoints[0]!.rootref).toBe(RESTORED_ROOT);
    } finally {
      await t.close();
    }
  });

  it('--no-cache goes to content-backing on rank 0 and does not flush', async () => {
    const peer = await startPeer({ root: null, checkpoints: [] });
    const t = await open(peer, { checkpoint: true, noCache: true });
    try {
      const { rootref } = await restoreInto(t, SMALL_TAR, 256);
      await t.flush();
      await t.putCheckpoint({ version: 1, rootref, sequence: 0, timestamp: 1 });
      expect(topics(peer)).toEqual([
        'kvs.getroot@any',
        'attr.get@any',
        ...Array(4).fill('content-backing.store@0'),
        'content-backing.checkpoint-put@0',
      ]);
    } finally {
      await t.close();
    }
  });
});

describe('failures', () => {
  it('a refused store rejects the group with its message', async () => {
    const peer = await startPeer({ root: null, inject: (req) => (req.topic === 'content.store' ? { errnum: 27 } : undefined) });
    const t = await open(peer, {});
    try {
      await expect(restoreInto(t, SMALL_TAR, 256)).rejects.toThrow('error storing a blob of 100 bytes: File too large');
      await expect(t.flush()).rejects.toThrow('File too large');
    } finally {
      await t.close();
    }
  });

  it('a broker whose digests are not the ones we computed is an error', async () => {
    const peer = await startPeer({ root: null, attrHash: 'sha256' });
    const t = await open(peer, {});
    try {
      expect(t.hashType).toBe('sha256');
      await expect(restoreInto(t, SMALL_TAR, 256)).rejects.toThrow(/broker returned a 20-byte digest/);
    } finally {
      await t.close();
    }
  });

  it('an unknown content.hash is refused at open', async () => {
    const peer = await startPeer({ root: null, attrHash: 'md5' });
    await expect(open(peer, {})).rejects.toThrow('unsupported content.hash "md5"');
  });

  it('digest bytes that do not match the blob count are refused', async () => {
    const peer = await startPeer({ root: null });
    const t = await open(peer, {});
    try {
      await expect(t.putDigested(new Uint8Array(19), [Uint8Array.of(1)])).rejects.toThrow('putDigested: 19 digest bytes for 1 blobs');
    } finally {
      await t.close();
    }
  });
});
