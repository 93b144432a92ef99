/** Paths to the shared fixtures (read in place) and the compiled CLIs. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const FIXTURES = resolve(ROOT, '../shared/fixtures');
export const SMALL = join(FIXTURES, 'flux-0.88/small');
export const CORE_TESTS = join(FIXTURES, 'flux-core-tests');
export const DUMP_CLI = join(ROOT, 'dist/cli/flux-dump.js');
export const RESTORE_CLI = join(ROOT, 'dist/cli/flux-restore.js');

export function tempDir(prefix = 'fluxdump-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface RunResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
}

export function run(cli: string, args: string[], opts: SpawnSyncOptions = {}): RunResult {
  const r = spawnSync(process.execPath, [cli, ...args], { maxBuffer: 1 << 30, ...opts, env: { ...process.env, FLUX_URI: '', ...opts.env } });
  return { status: r.status, signal: r.signal, stdout: r.stdout as Buffer, stderr: String(r.stderr) };
}

export function dumpCli(args: string[], opts: SpawnSyncOptions = {}): RunResult {
  return run(DUMP_CLI, args, opts);
}
