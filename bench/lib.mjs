// Shared helpers for benchmarks: run a command under /usr/bin/time for wall time and peak RSS.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
export const OUT = join(ROOT, 'bench/out');

/** Run argv, return { wall (s), rssMiB, stderr }; throws on failure. */
export function timed(argv, opts = {}) {
  const t0 = performance.now();
  const r = spawnSync('/usr/bin/time', ['-f', 'RSS=%M CPU=%U+%S', ...argv], { encoding: 'utf8', maxBuffer: 1 << 28, ...opts });
  const wall = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed (${r.status}): ${r.stderr}`);
  const m = /RSS=(\d+)/.exec(r.stderr);
  const c = /CPU=([\d.]+)\+([\d.]+)/.exec(r.stderr);
  const cpu = c ? Number(c[1]) + Number(c[2]) : NaN;
  return { wall, cpu, rssMiB: m ? Number(m[1]) / 1024 : NaN, stderr: r.stderr, stdout: r.stdout };
}

/** Generate a job store once and reuse it. */
export function ensureStore(name, args) {
  const path = join(OUT, name, 'content.sqlite');
  if (!existsSync(path)) {
    const r = spawnSync(process.execPath, [join(ROOT, 'scripts/gen-store.mjs'), '--out', path, ...args], { stdio: 'inherit' });
    if (r.status !== 0) throw new Error('gen-store failed');
  }
  return path;
}

export function size(path) {
  return statSync(path).size;
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/**
 * argv prefix that runs a CLI the way its installed bin runs: the environment settings
 * and node flags of its shebang (`#!/usr/bin/env -S NAME=VALUE node --flag`), then the
 * script. Settings go through env(1) as the shebang does, so they apply from exec on
 * (glibc reads MALLOC_ARENA_MAX before any JavaScript runs).
 */
export function nodeCli(script) {
  const first = readFileSync(script, 'utf8').split('\n', 1)[0];
  const m = /^#!\/usr\/bin\/env -S (.*)$/.exec(first);
  if (!m) return [process.execPath, script];
  const words = m[1].trim().split(/\s+/);
  const node = words.indexOf('node');
  const settings = words.slice(0, node);
  const flags = words.slice(node + 1);
  return [...(settings.length > 0 ? ['/usr/bin/env', ...settings] : []), process.execPath, ...flags, script];
}
