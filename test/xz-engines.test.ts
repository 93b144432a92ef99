/**
 * The two xz encoders behind `.tar.xz` (src/compress/codecs.ts): the native @napi-rs/lzma
 * addon where it loads, the same encoder compiled to WebAssembly where it does not.
 * - in process: both write the same bytes for the same chunk, and `xz` accepts them;
 * - flux-dump on a generated store (xz chunks on the worker pool) with the native addon
 *   made unloadable (NAPI_RS_NATIVE_LIBRARY_PATH, the addon loader's own override, set to
 *   a missing file): it falls back to WASM, the archive equals the native one, `xz -t`
 *   accepts it, and flux-restore gets the generator's root back;
 * - FLUXDUMP_XZ_ENGINE forces an engine, and a bad value is a one-line error;
 * - Deno without --allow-ffi writes the same .tar.xz (WASM); with the ffi scope that
 *   `npm run deno:dump` grants it loads the native addon.
 * scripts/test-setup.sh installs the native binding where npm skipped it (Node 20).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { autoXzEngine, loadXz, XZ_ENGINE_ENV } from '../src/compress/codecs.js';
import { denoBinary, denoCommand, denoEnv, denoPermissions, RUN_FLAGS } from '../scripts/deno-run.mjs';
import { DUMP_CLI, RESTORE_CLI, ROOT, tempDir } from './helpers/paths.js';
import { readSqliteStore } from './restore-helpers.js';

const t = tempDir('fluxdump-xz-engines-');
afterAll(() => t.cleanup());

const GEN = join(t.dir, 'gen', 'content.sqlite');
/** The native addon's loader takes this path instead of the platform binding. */
const NO_NATIVE = { NAPI_RS_NATIVE_LIBRARY_PATH: join(t.dir, 'no-such-binding.node') };

function node(cli: string, args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, [cli, ...args], { env: { ...process.env, FLUX_URI: '', [XZ_ENGINE_ENV]: '', ...env }, encoding: 'utf8' });
  return { status: r.status, stderr: r.stderr };
}

function xz(args: string[], input?: Uint8Array) {
  const r = spawnSync('xz', args, { input, maxBuffer: 1 << 28 });
  if (r.error) throw new Error(`xz: ${r.error.message} (scripts/test-setup.sh installs xz-utils)`);
  return r;
}

const out = (name: string) => join(t.dir, name);

beforeAll(() => {
  // ~2.2 MB of tar: one 4 MiB xz chunk, past the inline threshold, so it goes to the pool
  const g = spawnSync(process.execPath, [join(ROOT, 'scripts/gen-store.mjs'), '--jobs', '250', '--seed', '7', '--out', GEN], { encoding: 'utf8' });
  expect(g.status, g.stderr).toBe(0);
  const runs: [string, Record<string, string>][] = [
    ['native.tar.xz', { [XZ_ENGINE_ENV]: 'native' }],
    ['fallback.tar.xz', NO_NATIVE],
    ['forced-wasm.tar.xz', { [XZ_ENGINE_ENV]: 'wasm' }],
    ['plain.tar', {}],
  ];
  for (const [name, env] of runs) {
    const r = node(DUMP_CLI, ['-q', '--store', GEN, '--checkpoint', out(name)], env);
    expect(r.stderr, name).toBe('');
    expect(r.status, name).toBe(0);
  }
}, 240_000);

describe('in process', () => {
  it('auto picks the native addon here (the test setup installs it where npm skipped it)', async () => {
    expect(await autoXzEngine(), 'run `node scripts/xz-native.mjs`').toBe('native');
  });

  const text = new TextEncoder().encode(JSON.stringify(Array.from({ length: 20_000 }, (_, i) => ({ id: i, state: i % 3 ? 'run' : 'done' }))));
  const inputs: [string, Uint8Array][] = [
    ['empty', new Uint8Array(0)],
    ['one byte', new Uint8Array([42])],
    ['JSON text', text],
    ['random bytes', randomBytes(300_000)],
  ];

  it.each(inputs)('%s: WASM writes the native bytes, and xz decodes them back', async (_name, input) => {
    const [native, wasm] = await Promise.all([loadXz('native'), loadXz('wasm')]);
    const a = wasm(input);
    expect(Buffer.from(a).equals(Buffer.from(native(input)))).toBe(true);
    const back = xz(['-dc'], a);
    expect(back.status).toBe(0);
    expect(Buffer.compare(back.stdout, input)).toBe(0);
  });
});

describe('flux-dump', () => {
  it('falls back to WASM where the addon does not load: same archive as the native one', () => {
    const native = readFileSync(out('native.tar.xz'));
    expect(readFileSync(out('fallback.tar.xz')).equals(native)).toBe(true);
    expect(readFileSync(out('forced-wasm.tar.xz')).equals(native)).toBe(true);
  });

  it('the WASM archive is a valid xz of the plain tar dump', () => {
    expect(xz(['-t', out('fallback.tar.xz')]).status).toBe(0);
    const tar = xz(['-dc', out('fallback.tar.xz')]).stdout;
    expect(tar.length).toBeGreaterThan(2 << 20);
    expect(tar.equals(readFileSync(out('plain.tar')))).toBe(true);
  });

  it('flux-restore gets the same root from the WASM archive as from the plain tar', () => {
    const roots = ['fallback.tar.xz', 'plain.tar'].map((name) => {
      const store = out(`restored-${name}`);
      const r = node(RESTORE_CLI, ['-q', '--checkpoint', '--store', store, out(name)]);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
      const dump = readSqliteStore(join(store, 'content.sqlite'));
      expect(dump.objects.length).toBeGreaterThan(2000);
      return (JSON.parse(dump.checkpoints.at(-1)!) as { rootref: string }).rootref;
    });
    expect(roots[0]).toMatch(/^sha1-[0-9a-f]{40}$/);
    expect(roots[0]).toBe(roots[1]);
  });

  it(`${XZ_ENGINE_ENV}=native where the addon does not load: one line, exit 1, no archive`, () => {
    const r = node(DUMP_CLI, ['-q', '--store', GEN, '--checkpoint', out('never.tar.xz')], { ...NO_NATIVE, [XZ_ENGINE_ENV]: 'native' });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^flux-dump: FLUXDUMP_XZ_ENGINE=native: the native xz encoder does not load: [^\n]+\n$/);
    expect(existsSync(out('never.tar.xz'))).toBe(false);
  });

  it(`a bad ${XZ_ENGINE_ENV} is refused before any work`, () => {
    const r = node(DUMP_CLI, ['-q', '--store', GEN, '--checkpoint', out('bad.tar.xz')], { [XZ_ENGINE_ENV]: 'fast' });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe('flux-dump: FLUXDUMP_XZ_ENGINE=fast: use native, wasm or auto\n');
  });

  it('under Deno without --allow-ffi: the same .tar.xz', () => {
    const argv = denoCommand('flux-dump', ['-q', '--store', GEN, '--checkpoint', out('deno.tar.xz')]).filter((a: string) => !a.startsWith('--allow-ffi'));
    expect(argv.some((a: string) => a.includes('ffi'))).toBe(false);
    const r = spawnSync(argv[0]!, argv.slice(1), { env: denoEnv({ ...process.env, FLUX_URI: '', [XZ_ENGINE_ENV]: '' }), encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(readFileSync(out('deno.tar.xz')).equals(readFileSync(out('native.tar.xz')))).toBe(true);
  }, 120_000);
});

describe('under Deno', () => {
  const probe = (flags: string[]) => {
    const r = spawnSync(denoBinary(), ['run', ...RUN_FLAGS, ...flags, join(ROOT, 'test/xz-engine-probe.mjs')], { env: denoEnv({ ...process.env, [XZ_ENGINE_ENV]: '' }), encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    return r.stdout.trim();
  };
  const flags: string[] = denoPermissions('flux-dump');

  it('the ffi scope that npm run deno:dump grants loads the native addon, without a prompt', () => {
    expect(flags.some((f) => f.startsWith('--allow-ffi='))).toBe(true);
    expect(probe(flags)).toBe('native');
  }, 60_000);

  it('without --allow-ffi the WASM encoder runs, without a prompt', () => {
    expect(probe(flags.filter((f) => !f.startsWith('--allow-ffi')))).toBe('wasm');
  }, 60_000);
});
