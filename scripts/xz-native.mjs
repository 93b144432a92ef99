#!/usr/bin/env node
// Makes the native xz encoder (@napi-rs/lzma's prebuilt addon for this platform) load in
// this checkout, where npm skipped it.
//
// @napi-rs/lzma lists one prebuilt binding per platform as optional dependencies, and
// each binding declares `engines.node: ^22.20 || ^24.12 || >=25`. npm skips an optional
// dependency whose engines range excludes the running Node, so on Node 20 it installs
// no binding at all (with only an EBADENGINE warning about @napi-rs/lzma itself).
// flux-dump then compresses .tar.xz with the same encoder compiled to WebAssembly,
// which writes the same bytes more slowly. The addon itself runs on Node 20: asked for
// by name, npm installs it with a warning.
//
//   node scripts/xz-native.mjs          install the binding if the addon does not load
//   node scripts/xz-native.mjs --check  only say whether it loads (exit 1 if not)
//
// `npm test` runs this (scripts/test-setup.sh) so that both engines are tested. The next
// `npm install` or `npm ci` removes the binding again (it is not in package.json: a
// dependency on one platform's binary would stop npm installing fluxdump on the others).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/** The binding package @napi-rs/lzma looks for on this platform, or null if it has none. */
export function bindingName(platform = process.platform, arch = process.arch, musl = isMusl()) {
  const triples = {
    'linux-x64': musl ? 'linux-x64-musl' : 'linux-x64-gnu',
    'linux-arm64': musl ? 'linux-arm64-musl' : 'linux-arm64-gnu',
    'linux-arm': 'linux-arm-gnueabihf',
    'linux-ppc64': 'linux-ppc64-gnu',
    'linux-s390x': 'linux-s390x-gnu',
    'linux-riscv64': 'linux-riscv64-gnu',
    'darwin-x64': 'darwin-x64',
    'darwin-arm64': 'darwin-arm64',
    'win32-x64': 'win32-x64-msvc',
    'win32-arm64': 'win32-arm64-msvc',
    'win32-ia32': 'win32-ia32-msvc',
    'freebsd-x64': 'freebsd-x64',
  };
  const triple = triples[`${platform}-${arch}`];
  return triple ? `@napi-rs/lzma-${triple}` : null;
}

function isMusl() {
  if (process.platform !== 'linux') return false;
  const report = process.report?.getReport?.();
  return !(report && report.header && report.header.glibcVersionRuntime);
}

/** Whether the native addon loads here, and if not, why. */
export async function nativeLoads() {
  try {
    const { xz } = await import('@napi-rs/lzma');
    xz.compressSync(new Uint8Array(1));
    return { ok: true };
  } catch (err) {
    return { ok: false, reason: String(err?.message ?? err).split('\n')[0] };
  }
}

async function main(argv) {
  const check = argv.includes('--check');
  const before = await nativeLoads();
  if (before.ok) {
    process.stdout.write('xz-native: the native xz encoder loads\n');
    return 0;
  }
  if (check) {
    process.stdout.write(`xz-native: the native xz encoder does not load (${before.reason}); flux-dump uses WebAssembly\n`);
    return 1;
  }
  const name = bindingName();
  if (!name) {
    process.stderr.write(`xz-native: @napi-rs/lzma has no prebuilt binding for ${process.platform}-${process.arch}; flux-dump uses WebAssembly\n`);
    return 1;
  }
  // The binding must be the wrapper's exact version (its loader checks).
  const version = JSON.parse(readFileSync(join(ROOT, 'node_modules/@napi-rs/lzma/package.json'), 'utf8')).version;
  const spec = `${name}@${version}`;
  process.stderr.write(`xz-native: installing ${spec} (npm skipped it: ${before.reason})\n`);
  execFileSync('npm', ['install', '--no-save', '--no-audit', '--no-fund', '--ignore-scripts', spec], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  // A fresh process: this one has cached the failed import.
  const after = execFileSync(process.execPath, [fileURLToPath(import.meta.url), '--check'], { cwd: ROOT, encoding: 'utf8' });
  process.stdout.write(after);
  return 0;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err) => {
      process.stderr.write(`xz-native: ${String(err?.message ?? err).split('\n')[0]}\n`);
      process.exit(1);
    },
  );
}
