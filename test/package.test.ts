/**
 * What `npm pack` puts in the package (package.json "files"): the built CLIs and library,
 * the WebAssembly they load, the modprobe task files, the user docs; no tests, benches,
 * sources, scripts or source maps. And the installed package needs nothing from the
 * devDependencies: every package the shipped code imports is a dependency.
 * Run with --ignore-scripts: packing otherwise runs `prepare` (a full build).
 * docs/install.md shows the install itself (npm install -g of the tarball).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROOT } from './helpers/paths.js';

interface PackJson {
  name: string;
  version: string;
  files: { path: string; size: number }[];
}

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  bin: Record<string, string>;
  exports: Record<string, string>;
  types: string;
  dependencies: Record<string, string>;
};
let files: string[] = [];

beforeAll(() => {
  const r = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8', maxBuffer: 1 << 26 });
  expect(r.status, r.stderr).toBe(0);
  const [packed] = JSON.parse(r.stdout) as PackJson[];
  expect(packed!.name).toBe('fluxdump');
  files = packed!.files.map((f) => f.path);
}, 120_000);

/** The files a checkout has under `dir` (recursively), relative to the root. */
function filesUnder(dir: string): string[] {
  return (readdirSync(join(ROOT, dir), { recursive: true, withFileTypes: true }) as import('node:fs').Dirent[])
    .filter((d) => d.isFile())
    .map((d) => join(d.parentPath ?? (d as unknown as { path: string }).path, d.name).slice(ROOT.length + 1));
}

describe('npm pack', () => {
  it('has both CLIs, the library entry and its types', () => {
    for (const target of [...Object.values(pkg.bin), ...Object.values(pkg.exports), pkg.types]) {
      expect(files).toContain(target.replace(/^\.\//, ''));
    }
    expect(files).toContain('dist/cli/flux-dump.js');
    expect(files).toContain('dist/cli/flux-restore.js');
  });

  it('has the WebAssembly: the AssemblyScript modules and the xz encoder', () => {
    const asm = readdirSync(join(ROOT, 'asm')).filter((f) => f.endsWith('.ts')).map((f) => f.slice(0, -3));
    expect(asm.length).toBeGreaterThan(0);
    for (const name of asm) expect(files).toContain(`dist/wasm/generated/${name}.wasm.js`);
    expect(files).toContain('vendor/lzma-wasm32-wasi/lzma.wasm32-wasi.wasm');
    expect(files).toContain('vendor/lzma-wasm32-wasi/LICENSE');
  });

  it('has every modprobe task file of the checkout', () => {
    expect(existsSync(join(ROOT, 'modprobe')), 'modprobe/ is part of the product').toBe(true);
    const tasks = filesUnder('modprobe');
    expect(tasks.length).toBeGreaterThan(0);
    for (const f of tasks) expect(files).toContain(f);
  });

  it('has the README, the license and the user docs', () => {
    for (const f of ['README.md', 'LICENSE', 'package.json', 'docs/install.md', 'docs/dependencies.md']) expect(files).toContain(f);
  });

  it('has no tests, benches, sources, scripts, samples, CI or source maps', () => {
    const unwanted = files.filter((f) => /^(test|bench|src|asm|scripts|sample|build|\.ci|node_modules)\//.test(f) || f.endsWith('.map') || /^(tsconfig|vitest\.config)/.test(f));
    expect(unwanted).toEqual([]);
  });

  it('the shipped code imports only dependencies and Node built-ins', () => {
    const builtins = new Set(builtinModules);
    const imported = new Set<string>();
    for (const f of files.filter((p) => p.endsWith('.js'))) {
      const text = readFileSync(join(ROOT, f), 'utf8');
      for (const m of text.matchAll(/(?:\bfrom\s*|\bimport\s*\(\s*|\brequire\s*\(\s*)['"]([^'"./][^'"]*)['"]/g)) {
        const spec = m[1]!;
        if (spec.startsWith('node:') || builtins.has(spec)) continue;
        imported.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!);
      }
    }
    expect(imported.size).toBeGreaterThan(3);
    const missing = [...imported].filter((name) => !(name in pkg.dependencies));
    expect(missing).toEqual([]);
    // and the other way round: no dependency that nothing shipped imports
    const unused = Object.keys(pkg.dependencies).filter((name) => !imported.has(name));
    expect(unused).toEqual([]);
  });
});
