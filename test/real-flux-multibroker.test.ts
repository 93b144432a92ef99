/**
 * A real four-broker flux-core instance (--test-size=4): rank 0 holds the content store;
 * a client of rank 3 sends its content.load / content.store to rank 3, which forwards
 * them over the overlay (rank 3 -> 1 -> 0), and its rank-0 requests (checkpoint-get,
 * content-backing.*) are routed there. What we archive or restore through rank 3 must be
 * what we do through rank 0, to the byte.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireFlux, startInstance, type Instance } from './helpers/flux.js';
import { expectSameTar, fluxCore, nowSec, ours, populate, type Content } from './helpers/flux-content.js';
import { startTap, type Tap } from './helpers/flux-tap.js';
import { tempDir } from './helpers/paths.js';

requireFlux();
const tmp = tempDir('real-flux-multi-');
let inst: Instance;
let rank3: string;
let tap: Tap;
let content: Content;
let n = 0;

async function dump(who: typeof ours | typeof fluxCore, uri: string, args: string[]) {
  const out = join(tmp.dir, `d${++n}.tar`);
  const from = tap.requests.length;
  const t0 = nowSec();
  const r = await who.dump(['-q', ...args, out], inst.env({ FLUX_URI: uri }));
  const window: [number, number] = [t0, nowSec()];
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return { buf: readFileSync(out), window, sent: tap.requests.slice(from) };
}

beforeAll(async () => {
  inst = await startInstance({ statedir: join(tmp.dir, 'state'), size: 4 });
  content = populate(inst);
  inst.run(['kvs', 'sync']); // a checkpoint of all of it
  rank3 = inst.run(['exec', '-r', '3', 'flux', 'getattr', 'local-uri']).stdout.trim();
  expect(rank3).not.toBe(inst.uri);
  tap = await startTap(rank3);
}, 120_000);

afterAll(async () => {
  await tap?.close();
  await inst?.stop().catch(() => undefined);
  tmp.cleanup();
});

describe('through rank 3 of a --test-size=4 instance', () => {
  it('--checkpoint: the same archive as through rank 0, byte for byte, at every --maxreqs', async () => {
    const rank0 = await dump(ours, inst.uri, ['--checkpoint', '--maxreqs=2']);
    for (const args of [['--maxreqs=1'], ['--maxreqs=2'], ['--maxreqs=64'], ['--maxreqs=1000'], ['--no-cache', '--maxreqs=64']]) {
      const r3 = await dump(ours, tap.uri, ['--checkpoint', ...args]);
      expect(r3.buf.equals(rank0.buf), args.join(' ')).toBe(true);
      const noCache = args[0] === '--no-cache';
      expect(r3.sent[0]).toMatchObject({ topic: noCache ? 'content-backing.checkpoint-get' : 'content.checkpoint-get', nodeid: 0, errnum: 0 });
      const loads = r3.sent.slice(1);
      expect(loads.length).toBeGreaterThan(100);
      // loads go to rank 3 itself (its cache asks upstream) or, bypassing caches, to rank 0
      expect(loads.every((q) => q.topic === (noCache ? 'content-backing.load' : 'content.load') && q.nodeid === (noCache ? 0 : 0xffffffff) && q.errnum === 0)).toBe(true);
    }
    // and flux-core's own dump through rank 3 agrees
    const theirs = await dump(fluxCore, tap.uri, ['--checkpoint', '--maxreqs=2']);
    expectSameTar(rank0.buf, theirs.buf);
  }, 60_000);

  it('the current root: rank 3 equals rank 0, and flux dump through rank 3', async () => {
    const rank0 = await dump(ours, inst.uri, ['--maxreqs=64']);
    const r3 = await dump(ours, tap.uri, ['--maxreqs=64']);
    const theirs = await dump(fluxCore, tap.uri, ['--maxreqs=2']);
    expect(r3.sent[0]).toMatchObject({ topic: 'kvs.getroot', errnum: 0 });
    expectSameTar(r3.buf, theirs.buf, { mtimeWindow: { ours: r3.window, theirs: theirs.window } });
    // ours both times: everything but the dump time stamped on each entry
    const stamp = (b: Buffer, w: [number, number]) => {
      const c = Buffer.from(b);
      for (let off = 0; off + 512 <= c.length && c[off] !== 0; ) {
        const size = parseInt(c.subarray(off + 124, off + 136).toString().replace(/\0.*$/, '').trim() || '0', 8);
        const mtime = parseInt(c.subarray(off + 136, off + 148).toString().replace(/\0.*$/, '').trim(), 8);
        expect(mtime).toBeGreaterThanOrEqual(w[0]);
        expect(mtime).toBeLessThanOrEqual(w[1]);
        c.fill(0, off + 136, off + 156);
        off += 512 + Math.ceil(size / 512) * 512;
      }
      return c;
    };
    expect(stamp(r3.buf, r3.window).equals(stamp(rank0.buf, rank0.window))).toBe(true);
    expect(rank0.buf.length).toBeGreaterThan(5_000_000);
  }, 60_000);

  it('restore --key through rank 3: the blobs reach rank 0; the root equals flux restore through rank 0', async () => {
    const archive = join(tmp.dir, 'src.tar');
    inst.run(['dump', '-q', archive]);
    const theirs = await fluxCore.restore(['-q', '--key=fc', archive], inst.env());
    expect(theirs.status).toBe(0);
    const from = tap.requests.length;
    const r = await ours.restore(['-q', '--key=r3', archive], inst.env({ FLUX_URI: tap.uri }));
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const sent = tap.requests.slice(from);
    expect(sent.filter((q) => q.topic === 'content.store').length).toBeGreaterThan(100);
    expect(sent.filter((q) => q.topic === 'content.flush')).toMatchObject([{ nodeid: 0, errnum: 0 }]);
    const tree = (k: string) => inst.run(['kvs', 'get', '--treeobj', k]).stdout;
    expect(tree('r3')).toBe(tree('fc'));
    const get = (prefix: string) => inst.run(['kvs', 'get', ...content.values.map((k) => prefix + k)]).stdout;
    expect(get('r3.')).toBe(get(''));
  }, 60_000);
});
