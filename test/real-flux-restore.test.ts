/**
 * flux-restore into a real flux-core 0.88 broker, next to flux-core's own `flux restore`
 * of the same archive (flux-core's dump of production-like content): the same root
 * objects, every key read back with `flux kvs get`, and its error messages word for word.
 *
 * Every request type our restore sends reaches the real broker here, through a tap: the
 * list, with the test covering each, is at the top of real-flux-dump.test.ts.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireFlux, startInstance, type Instance } from './helpers/flux.js';
import { BIG_SIZES, fluxCore, ours, populate, type Content } from './helpers/flux-content.js';
import { startTap, topicsSeen, type Tap, type TapRequest } from './helpers/flux-tap.js';
import { tempDir } from './helpers/paths.js';

requireFlux();
const tmp = tempDir('real-flux-restore-');
const ENOSYS = 38;
let inst: Instance;
/** A minimal instance: content cache and KVS, no backing store. */
let bare: Instance;
let tap: Tap;
let content: Content;
/** flux-core's archive of the primary namespace. */
let archive: string;
/** `flux kvs get` of every value, as the original keys hold them. */
let expected: string;
const oursSent: TapRequest[] = [];

const viaTap = (extra: NodeJS.ProcessEnv = {}) => inst.env({ FLUX_URI: tap.uri, ...extra });

async function restoreOurs(args: string[], env: NodeJS.ProcessEnv = viaTap()) {
  const from = tap.requests.length;
  const r = await ours.restore(args, env);
  const sent = tap.requests.slice(from);
  oursSent.push(...sent);
  return { ...r, sent };
}

const getAll = (prefix: string, keys: readonly string[], i: Instance = inst) => i.run(['kvs', 'get', ...keys.map((k) => prefix + k)]).stdout;
const treeobj = (key: string) => inst.run(['kvs', 'get', '--treeobj', key]).stdout;
const getroot = () => inst.run(['kvs', 'getroot', '-b']).stdout.trim();

beforeAll(async () => {
  [inst, bare] = await Promise.all([
    startInstance({ statedir: join(tmp.dir, 'state') }),
    startInstance({ statedir: join(tmp.dir, 'bare'), args: ['-Sbroker.rc1_path=', '-Sbroker.rc3_path='] }),
  ]);
  bare.run(['module', 'load', 'content']);
  bare.run(['module', 'load', 'kvs']);
  content = populate(inst);
  archive = join(tmp.dir, 'src.tar');
  inst.run(['dump', '-q', archive]);
  expected = getAll('', content.values);
  tap = await startTap(inst.uri);
}, 120_000);

afterAll(async () => {
  await tap?.close();
  await Promise.all([inst?.stop().catch(() => undefined), bare?.stop().catch(() => undefined)]);
  tmp.cleanup();
});

describe('--key into a running instance', () => {
  it('flux kvs get reads every key back; the same root object as flux restore --key', async () => {
    const theirs = await fluxCore.restore(['--sd-notify', '--key=fc', archive], viaTap());
    const fcStatus = tap.requests.filter((r) => r.topic === 'state-machine.sd-notify').map((r) => r.payload);
    const r = await restoreOurs(['--sd-notify', '--key=r', archive]);
    expect(theirs.status).toBe(0);
    expect(r.status).toBe(0);
    // stderr byte for byte, but for the blob counts of progress lines before the last:
    // flux-core counts a blob when the broker has answered its store, so those vary
    const counts = (s: string) => s.replace(/\(\d+ blobs\)(?=\r)/g, '(N blobs)');
    expect(counts(r.stderr)).toBe(counts(theirs.stderr).replace("KVS key 'fc'", "KVS key 'r'"));
    expect(r.stderr).toMatch(/\rflux-restore: restored \d+ keys \(\d+ blobs\)\nflux-restore: writing snapshot sha1-[0-9a-f]{8} to KVS key 'r'\n$/);
    expect(treeobj('r')).toBe(treeobj('fc'));
    expect(getAll('r.', content.values)).toBe(expected);
    const links = Object.keys(content.symlinks);
    expect(inst.run(['kvs', 'readlink', ...links.map((l) => `r.${l}`)]).stdout).toBe(Object.values(content.symlinks).map((t) => `${t}\n`).join(''));
    // a symlink into another namespace resolves there
    expect(inst.run(['kvs', 'get', 'r.links.ns']).stdout).toBe('target in ns\n');
    // the appended values came back as one value each (a valref of many blobs)
    expect(JSON.parse(inst.run(['kvs', 'get', '--treeobj', 'app.log']).stdout).data.length).toBeGreaterThan(10);
    expect(inst.run(['kvs', 'get', 'r.app.log']).stdout).toBe(inst.run(['kvs', 'get', 'app.log']).stdout);
    expect(r.sent.map((q) => q.topic).filter((t, i, a) => a.indexOf(t) === i)).toEqual(['attr.get', 'content.store', 'state-machine.sd-notify', 'kvs.commit', 'content.flush']);
    expect(r.sent.filter((q) => !q.noresponse).every((q) => q.errnum === 0)).toBe(true);
    // --sd-notify: the broker is told what flux-core tells it
    const ourStatus = r.sent.filter((q) => q.topic === 'state-machine.sd-notify').map((q) => q.payload);
    // 1-9, every 100, then the total: one fire-and-forget request each
    expect(fcStatus.at(-1)).toMatch(/^\{"status":"flux-restore\(1\) has restored \d+ keys"\}$/);
    expect(fcStatus.length).toBeGreaterThan(10);
    expect(ourStatus).toEqual(fcStatus);
  }, 60_000);

  it('--no-cache writes through content-backing.store on rank 0 (no flush); --maxreqs 1: the same root', async () => {
    const r = await restoreOurs(['-q', '--no-cache', '--maxreqs=1', '--key=nc', archive]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(treeobj('nc')).toBe(treeobj('fc'));
    expect(getAll('nc.', content.values)).toBe(expected);
    const stores = r.sent.filter((q) => q.topic.endsWith('.store'));
    expect(stores.length).toBeGreaterThan(100);
    expect(stores.every((q) => q.topic === 'content-backing.store' && q.nodeid === 0 && q.errnum === 0)).toBe(true);
    expect(r.sent.some((q) => q.topic === 'content.flush')).toBe(false);
  }, 30_000);

  it('--size-limit skips bigger values as flux restore does, in the same words', async () => {
    const limit = BIG_SIZES[1]! + 1; // the two biggest values are over it
    const theirs = await fluxCore.restore(['-q', `--size-limit=${limit}`, '--key=fcl', archive], viaTap());
    const r = await restoreOurs(['-q', `--size-limit=${limit}`, '--key=sl', archive]);
    expect(r.status).toBe(theirs.status);
    expect(r.status).toBe(0);
    expect(r.stderr).toBe(theirs.stderr);
    expect(r.stderr.split('\n').filter(Boolean)).toHaveLength(2);
    expect(treeobj('sl')).toBe(treeobj('fcl'));
    expect(inst.run(['kvs', 'get', 'sl.big.b2'], { allowFail: true }).status).not.toBe(0);
    expect(getAll('sl.', ['big.b0', 'big.b1', 'data.d3.k3'])).toBe(getAll('', ['big.b0', 'big.b1', 'data.d3.k3']));
  }, 30_000);
});

describe('--checkpoint', () => {
  it('with the KVS loaded: refused before anything is stored, in flux-core\'s words', async () => {
    const theirs = await fluxCore.restore(['-q', '--checkpoint', archive], viaTap());
    const r = await restoreOurs(['-q', '--checkpoint', archive]);
    expect(theirs.stderr).toBe('flux-restore: please unload kvs module before using --checkpoint\n');
    expect(r.stderr).toBe(theirs.stderr);
    expect([r.status, theirs.status]).toEqual([1, 1]);
    expect(r.sent.map((q) => q.topic)).toEqual(['kvs.getroot']);
  }, 30_000);

  it('with the KVS unloaded: the checkpoint becomes the root the KVS serves when loaded again', async () => {
    inst.run(['module', 'remove', 'kvs']);
    // --key without a KVS: refused at the commit, in the same words
    const k1 = await fluxCore.restore(['-q', '--key=x', archive], viaTap());
    const k2 = await restoreOurs(['-q', '--key=x', archive]);
    expect(k1.stderr).toBe('flux-restore: error updating x: No service matching kvs.commit is registered\n');
    expect(k2.stderr).toBe(k1.stderr);
    expect([k1.status, k2.status]).toEqual([1, 1]);

    const theirs = await fluxCore.restore(['-q', '--checkpoint', archive], viaTap());
    expect(theirs.status).toBe(0);
    inst.run(['module', 'load', 'kvs']);
    const fcRoot = getroot();
    expect(getAll('', content.values)).toBe(expected);
    inst.run(['kvs', 'put', 'scribble=1']); // a later root, so that ours must replace it
    inst.run(['module', 'remove', 'kvs']);

    for (const extra of [[], ['--no-cache']]) {
      const r = await restoreOurs(['-q', ...extra, '--checkpoint', archive]);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      const put = extra.length ? 'content-backing.checkpoint-put' : 'content.checkpoint-put';
      expect(r.sent[0]).toMatchObject({ topic: 'kvs.getroot', errnum: ENOSYS });
      expect(r.sent.filter((q) => q.topic.includes('checkpoint-put'))).toMatchObject([{ topic: put, nodeid: 0, errnum: 0 }]);
      // flux-core's order: the checkpoint, then the flush (none with --no-cache)
      expect(r.sent.map((q) => q.topic).slice(r.sent.findIndex((q) => q.topic === put))).toEqual(extra.length ? [put] : [put, 'content.flush']);
      inst.run(['module', 'load', 'kvs']);
      expect(getroot()).toBe(fcRoot);
      expect(getAll('', content.values)).toBe(expected);
      expect(inst.run(['kvs', 'get', 'scribble'], { allowFail: true }).status).not.toBe(0);
      const links = Object.keys(content.symlinks);
      expect(inst.run(['kvs', 'readlink', ...links]).stdout).toBe(Object.values(content.symlinks).map((t) => `${t}\n`).join(''));
      inst.run(['kvs', 'put', 'scribble=2']);
      inst.run(['module', 'remove', 'kvs']);
    }
    inst.run(['module', 'load', 'kvs']);
  }, 60_000);
});

describe('an instance without backing store (content cache and KVS only)', () => {
  const bareEnv = () => bare.env();

  it('--checkpoint: the broker refuses the checkpoint; flux-core\'s words and exit status', async () => {
    bare.run(['module', 'remove', 'kvs']);
    try {
      const words = [
        /^flux-restore: error updating checkpoint: checkpoint put unavailable, no backing store\n$/,
        // --no-cache: the first value's store is refused, naming its key
        /^flux-restore: error storing blob for \S+: No service matching content-backing.store is registered\n$/,
      ];
      for (const [i, extra] of [[], ['--no-cache']].entries()) {
        const theirs = await fluxCore.restore(['-q', ...extra, '--checkpoint', archive], bareEnv());
        const r = await ours.restore(['-q', ...extra, '--checkpoint', archive], bareEnv());
        expect(theirs.stderr).toMatch(words[i]!);
        expect(r.stderr).toBe(theirs.stderr);
        expect([r.status, theirs.status]).toEqual([1, 1]);
      }
    } finally {
      bare.run(['module', 'load', 'kvs']);
    }
  }, 30_000);

  it('--key: committed, but the flush fails: flux-core\'s message; we exit 1 where it exits 0', async () => {
    const theirs = await fluxCore.restore(['-q', '--key=fc', archive], bareEnv());
    const r = await ours.restore(['-q', '--key=r', archive], bareEnv());
    expect(theirs.stderr).toBe('flux-restore: error flushing content cache: Function not implemented\n');
    expect(r.stderr).toBe(theirs.stderr);
    expect(theirs.status).toBe(0);
    expect(r.status).toBe(1); // a restore whose blobs may not be durable is a failure
    // the commit itself went through on both
    expect(bare.run(['kvs', 'get', '--treeobj', 'r']).stdout).toBe(bare.run(['kvs', 'get', '--treeobj', 'fc']).stdout);
    expect(getAll('r.', content.values.slice(0, 50), bare)).toBe(getAll('', content.values.slice(0, 50)));
  }, 30_000);
});

describe('coverage', () => {
  it('every request type our restore sends reached the real broker', () => {
    const seen = topicsSeen(oursSent);
    for (const t of [
      'attr.get@any',
      'content.store@any',
      'content-backing.store@0',
      'content.flush@0',
      'kvs.commit@any',
      'kvs.getroot@any',
      'content.checkpoint-put@0',
      'content-backing.checkpoint-put@0',
      'state-machine.sd-notify@any',
    ]) {
      expect(seen.has(t), t).toBe(true);
    }
    for (const t of ['content.store', 'content-backing.store', 'content.flush', 'content.checkpoint-put', 'content-backing.checkpoint-put']) {
      expect(oursSent.some((q) => q.topic === t && q.errnum === 0), t).toBe(true);
    }
  });
});
