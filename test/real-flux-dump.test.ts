/**
 * flux-dump against a real flux-core 0.88 broker: our live dump through FLUX_URI, flux-core's
 * own `flux dump` against the same instance, and our offline dump of the statedir once the
 * instance has stopped, compared byte for byte (see expectSameTar for the differences
 * flux-core's output is allowed).
 *
 * Every request type we send to a broker (src/broker/store.ts) reaches a real one in these
 * tests, through a recording tap that notes the broker's answer; each file's "coverage"
 * test checks its share. Request (nodeid) -> file: test.
 *   kvs.getroot (any)                    dump: "equals flux dump at --maxreqs ...",
 *                                        "a namespace other than primary";
 *                                        restore: "with the KVS loaded" (answered ENOSYS
 *                                        in "with the KVS unloaded")
 *   content.load (any)                   dump: every current-root and --checkpoint test;
 *                                        multibroker: through rank 3
 *   content-backing.load (0)             dump: "--no-cache ..."; multibroker: "--checkpoint ..."
 *   content.checkpoint-get (0)           dump: "the newest checkpoint, live ..."
 *   content-backing.checkpoint-get (0)   dump: "the newest checkpoint, live ..." (--no-cache)
 *   state-machine.sd-notify (any, no response)
 *                                        dump: "--sd-notify ..."; restore: "flux kvs get
 *                                        reads every key back ..." (--sd-notify)
 *   attr.get content.hash (any)          restore: every restore
 *   content.store (any)                  restore: "flux kvs get reads every key back ...";
 *                                        multibroker: "restore --key through rank 3"
 *   content-backing.store (0)            restore: "--no-cache writes through ..."
 *   content.flush (0)                    restore: "flux kvs get reads every key back ...",
 *                                        "with the KVS unloaded ..." (and refused in "--key:
 *                                        committed, but the flush fails")
 *   kvs.commit (any)                     restore: "flux kvs get reads every key back ..."
 *   content.checkpoint-put (0)           restore: "with the KVS unloaded ..."
 *   content-backing.checkpoint-put (0)   restore: "with the KVS unloaded ..." (--no-cache)
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FLUX, flux, requireFlux, startInstance, type Instance } from './helpers/flux.js';
import { expectSameTar, fluxCore, nowSec, ours, populate, runAsync, type Content } from './helpers/flux-content.js';
import { startTap, topicsSeen, type Tap, type TapRequest } from './helpers/flux-tap.js';
import { DUMP_CLI, tempDir } from './helpers/paths.js';
import { readTar } from './helpers/tar.js';

requireFlux();
const tmp = tempDir('real-flux-dump-');
const statedir = join(tmp.dir, 'state');
let inst: Instance;
let tap: Tap;
let content: Content;
let stopped = false;
/** Requests our dumps sent (not flux-core's), for the coverage check at the end. */
const oursSent: TapRequest[] = [];
let n = 0;

/** Environment for a client talking to the instance through the tap. */
const viaTap = (extra: NodeJS.ProcessEnv = {}) => inst.env({ FLUX_URI: tap.uri, ...extra });

/** `-q` unless `quiet` is false (stderr is then returned: the progress lines). */
async function dumpOurs(args: string[], extra: NodeJS.ProcessEnv = {}, quiet = true) {
  const out = join(tmp.dir, `ours-${++n}.tar`);
  const from = tap.requests.length;
  const t0 = nowSec();
  const r = await ours.dump([...(quiet ? ['-q'] : []), ...args, out], viaTap(extra));
  const window: [number, number] = [t0, nowSec()];
  oursSent.push(...tap.requests.slice(from));
  if (quiet) expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return { buf: readFileSync(out), window, sent: tap.requests.slice(from), stderr: r.stderr };
}

async function dumpFluxCore(args: string[], extra: NodeJS.ProcessEnv = {}, quiet = true) {
  const out = join(tmp.dir, `theirs-${++n}.tar`);
  const from = tap.requests.length;
  const t0 = nowSec();
  const r = await fluxCore.dump([...(quiet ? ['-q'] : []), ...args, out], viaTap(extra));
  const window: [number, number] = [t0, nowSec()];
  if (quiet) expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return { buf: readFileSync(out), window, sent: tap.requests.slice(from), stderr: r.stderr };
}

const rootref = (ns?: string) => inst.run(['kvs', 'getroot', '-b'], ns ? { env: { FLUX_KVS_NAMESPACE: ns } } : {}).stdout.trim();

beforeAll(async () => {
  inst = await startInstance({ statedir });
  content = populate(inst, { jobs: 4 });
  tap = await startTap(inst.uri);
}, 120_000);

afterAll(async () => {
  await tap?.close();
  if (inst && !stopped) await inst.stop().catch(() => undefined);
  tmp.cleanup();
});

describe('live dump of the current root', () => {
  it('equals flux dump at --maxreqs 1, 2, 64 and 1000', async () => {
    const root = rootref();
    for (const maxreqs of [1, 2, 64, 1000]) {
      const theirs = await dumpFluxCore([`--maxreqs=${maxreqs}`]);
      const mine = await dumpOurs([`--maxreqs=${maxreqs}`]);
      // flux-core archives in completion order once several loads are in flight
      const entries = expectSameTar(mine.buf, theirs.buf, { unordered: maxreqs >= 8, mtimeWindow: { ours: mine.window, theirs: theirs.window } });
      expect(entries).toBeGreaterThan(content.values.length + Object.keys(content.symlinks).length);
      expect(mine.sent.filter((r) => r.topic === 'kvs.getroot')).toEqual([
        { topic: 'kvs.getroot', nodeid: 0xffffffff, noresponse: false, payload: '{"namespace":"primary","flags":0}', errnum: 0 },
      ]);
      expect(mine.sent.every((r) => r.errnum === 0)).toBe(true);
    }
    expect(rootref()).toBe(root); // one root throughout: the archives are of the same tree
    const names = readTar((await dumpOurs([])).buf).members.map((m) => m.name);
    for (const k of [...content.values, ...Object.keys(content.symlinks)]) expect(names).toContain(k.replaceAll('.', '/'));
    expect(names.some((k) => k.startsWith('job/'))).toBe(true); // the instance's own jobs
  }, 60_000);

  it('--no-cache: content-backing.load on rank 0, the same archive as flux dump --no-cache', async () => {
    for (const maxreqs of [2, 64]) {
      const theirs = await dumpFluxCore(['--no-cache', `--maxreqs=${maxreqs}`]);
      const mine = await dumpOurs(['--no-cache', `--maxreqs=${maxreqs}`]);
      expectSameTar(mine.buf, theirs.buf, { mtimeWindow: { ours: mine.window, theirs: theirs.window } });
      const loads = mine.sent.filter((r) => r.topic.endsWith('.load'));
      expect(loads.length).toBeGreaterThan(100);
      expect(loads.every((r) => r.topic === 'content-backing.load' && r.nodeid === 0 && r.errnum === 0)).toBe(true);
    }
  }, 30_000);

  it('a namespace other than primary (FLUX_KVS_NAMESPACE)', async () => {
    const env = { FLUX_KVS_NAMESPACE: 'ns1' };
    const theirs = await dumpFluxCore([], env);
    const mine = await dumpOurs([], env);
    expectSameTar(mine.buf, theirs.buf, { mtimeWindow: { ours: mine.window, theirs: theirs.window } });
    expect(readTar(mine.buf).members.map((m) => m.name).sort()).toEqual(content.nsValues.map((k) => k.replaceAll('.', '/')).sort());
    expect(mine.sent[0]).toMatchObject({ topic: 'kvs.getroot', payload: '{"namespace":"ns1","flags":0}', errnum: 0 });
  }, 30_000);

  it('--sd-notify: progress goes to the broker as flux-core sends it, never to NOTIFY_SOCKET', async () => {
    // A datagram socket where systemd would listen: neither dump may write to it live.
    const sock = join(tmp.dir, 'notify.sock');
    const got = join(tmp.dir, 'notify.got');
    const listener = spawn(FLUX, ['python', '-c', `
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind(sys.argv[1])
open(sys.argv[1] + '.ready', 'w').close()
s.settimeout(0.2)
with open(sys.argv[2], 'ab') as f:
    while True:
        try: f.write(s.recv(65536) + b'\\n'); f.flush()
        except socket.timeout: pass
`, sock, got], { stdio: 'ignore' });
    try {
      while (!existsSync(`${sock}.ready`)) await new Promise((r) => setTimeout(r, 50));
      const env = { NOTIFY_SOCKET: sock };
      const theirs = await dumpFluxCore(['--sd-notify'], env, false);
      const mine = await dumpOurs(['--sd-notify'], env, false);
      // the progress on stderr too, byte for byte
      expect(theirs.stderr).toMatch(/^\rflux-dump: archived 1 keys.*\rflux-dump: archived \d+ keys\n$/s);
      expect(mine.stderr).toBe(theirs.stderr);
      expectSameTar(mine.buf, theirs.buf, { mtimeWindow: { ours: mine.window, theirs: theirs.window } });
      const statuses = (sent: TapRequest[]) => sent.filter((r) => r.topic === 'state-machine.sd-notify').map((r) => r.payload);
      const theirStatus = statuses(theirs.sent);
      const ourStatus = statuses(mine.sent);
      const keys = readTar(mine.buf).members.filter((m) => m.typeflag !== 'x').length; // not pax headers
      // flux-core: one fire-and-forget request per progress report (1-9, every 100), the total last
      expect(theirStatus.at(-1)).toBe(`{"status":"flux-dump(1) has archived ${keys} keys"}`);
      expect(theirStatus.length).toBeGreaterThan(10);
      expect(ourStatus).toEqual(theirStatus);
      expect(mine.sent.filter((r) => r.topic === 'state-machine.sd-notify').every((r) => r.noresponse && r.nodeid === 0xffffffff)).toBe(true);
      // the broker took them: the connection stayed healthy and everything else answered
      expect(mine.sent.filter((r) => !r.noresponse).every((r) => r.errnum === 0)).toBe(true);
    } finally {
      listener.kill();
    }
    expect(existsSync(got) ? readFileSync(got, 'utf8') : '').toBe('');
  }, 30_000);

  it('keys committed while the dump runs are not in its archive', async () => {
    // flux-core's archive on stdout (padded as libarchive pads a stream), before any change
    const t1 = nowSec();
    const fc = await fluxCore.dump(['-q', '-'], viaTap());
    expect(fc.status).toBe(0);
    const before = { buf: fc.stdout, window: [t1, nowSec()] as [number, number] };
    // Our dump to a pipe nobody reads yet: once it reports progress it has its root, and it
    // cannot finish (the archive is several MB) while the KVS changes under it.
    const out = join(tmp.dir, 'during.tar');
    const t0 = nowSec();
    const child = spawn(process.execPath, [DUMP_CLI, '--maxreqs=1', '-'], { env: viaTap(), stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.pause();
    let err = '';
    await new Promise<void>((resolve, reject) => {
      child.stderr.on('data', (d: Buffer) => {
        err += d.toString();
        if (/archived \d+ keys/.test(err)) resolve();
      });
      child.on('exit', () => reject(new Error(`dump ended early: ${err}`)));
    });
    for (let i = 0; i < 5; i++) inst.run(['kvs', 'put', `during.k${i}=${i}`, `data.d0.k0=changed ${i}`]);
    inst.run(['kvs', 'unlink', '-R', 'data.d1']);
    expect(child.exitCode).toBe(null); // still mid-dump: the puts above happened during it
    const chunks: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => chunks.push(d));
    child.stdout.resume();
    const status = await new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    expect(status).toBe(0);
    const buf = Buffer.concat(chunks);
    writeFileSync(out, buf);
    const names = readTar(buf).members.map((m) => m.name);
    expect(names.filter((k) => k.startsWith('during/'))).toEqual([]);
    expect(names).toContain('data/d1/k1');
    // the tree as it was when the dump began, byte for byte
    expectSameTar(buf, before.buf, { mtimeWindow: { ours: [t0, nowSec()], theirs: before.window } });
    expect(inst.run(['kvs', 'get', 'during.k4']).stdout).toBe('4\n');
  }, 30_000);
});

describe('--checkpoint with the KVS unloaded, then offline after the instance stopped', () => {
  let live: Buffer;

  it('the newest checkpoint, live: equals flux dump --checkpoint (with and without cache)', async () => {
    inst.run(['module', 'remove', 'kvs']); // writes the final checkpoint
    // without a KVS, both refuse a current-root dump in the same words
    const a = await fluxCore.dump(['-q', join(tmp.dir, 'x.tar')], viaTap());
    const b = await ours.dump(['-q', join(tmp.dir, 'y.tar')], viaTap());
    expect(a.stderr).toBe('flux-dump: error fetching current KVS root: No service matching kvs.getroot is registered\n');
    expect(b.stderr).toBe(a.stderr);
    expect([a.status, b.status]).toEqual([1, 1]);
    for (const args of [['--maxreqs=1'], ['--maxreqs=1000'], ['--no-cache', '--maxreqs=64']]) {
      const theirs = await dumpFluxCore(['--checkpoint', ...args]);
      const mine = await dumpOurs(['--checkpoint', ...args]);
      // the checkpoint's timestamp stamps blob entries: no window, exact
      expectSameTar(mine.buf, theirs.buf, { unordered: args[0] === '--maxreqs=1000' });
      const ckpt = args.includes('--no-cache') ? 'content-backing.checkpoint-get' : 'content.checkpoint-get';
      expect(mine.sent[0]).toMatchObject({ topic: ckpt, nodeid: 0, errnum: 0 });
      expect(mine.sent.some((r) => r.topic === 'kvs.getroot')).toBe(false);
      live ??= mine.buf;
    }
    // the tree as the last commits left it
    const names = readTar(live).members.map((m) => m.name);
    expect(names).toContain('during/k4');
    expect(names).not.toContain('data/d1/k1');
  }, 60_000);

  it('offline --store STATEDIR --checkpoint equals the live dump and flux-core\'s dump of the stopped statedir', async () => {
    await inst.stop();
    stopped = true;
    const out = join(tmp.dir, 'offline.tar');
    const r = await runAsync(process.execPath, [DUMP_CLI, '-q', '--checkpoint', '--store', statedir, out], { ...process.env, FLUX_URI: '' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const offline = readFileSync(out);
    // same checkpoint, same user: identical to the byte, inline entries included
    expect(offline.equals(live)).toBe(true);
    // flux-core's best offline: a minimal instance over the statedir
    const theirs = join(tmp.dir, 'minimal.tar');
    const script = `flux module load content && flux module load content-sqlite && flux dump -q --checkpoint ${theirs}; rc=$?; flux module remove content-sqlite; flux module remove content; exit $rc`;
    const m = flux(['start', '-Sbroker.rc1_path=', '-Sbroker.rc3_path=', `-Sstatedir=${statedir}`, 'bash', '-c', script]);
    expect(m.status, m.stderr).toBe(0);
    expectSameTar(offline, readFileSync(theirs));
  }, 60_000);
});

describe('coverage', () => {
  it('every request type our dump sends reached the real broker and was answered', () => {
    const seen = topicsSeen(oursSent);
    for (const t of ['kvs.getroot@any', 'content.load@any', 'content-backing.load@0', 'content.checkpoint-get@0', 'content-backing.checkpoint-get@0', 'state-machine.sd-notify@any']) {
      expect(seen.has(t), t).toBe(true);
    }
    expect(oursSent.filter((r) => !r.noresponse && r.errnum !== 0)).toEqual([]);
  });
});
