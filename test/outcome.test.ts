/**
 * runMain() owns a run's exit status (src/cli/run.ts): these drive it in a child process
 * with mains that end in each of the ways a real dump can, and check that only a main
 * that finished says 0.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { ROOT, tempDir } from './helpers/paths.js';

const t = tempDir('fluxdump-outcome-');
afterAll(t.cleanup);

function runScript(name: string, body: string): { status: number | null; stderr: string } {
  const file = join(t.dir, `${name}.mjs`);
  writeFileSync(file, `import { runMain } from ${JSON.stringify(join(ROOT, 'dist/cli/run.js'))};\n${body}\n`);
  const r = spawnSync(process.execPath, [file], { encoding: 'utf8', timeout: 20_000 });
  return { status: r.status, stderr: r.stderr };
}

describe('runMain decides the exit status', () => {
  test('a main that settles only through an unref\'d handle still gets its own status', () => {
    // The shape of the bug: the last thing a failed dump awaited (a worker's termination)
    // did not hold the event loop, so Node exited 0 with main still pending.
    const r = runScript('unref', `
      runMain('prog', () => new Promise((resolve) => { setTimeout(() => resolve(7), 200).unref(); }));
    `);
    expect(r.status).toBe(7);
    expect(r.stderr).toBe('');
  });

  test('a failure reported through an unref\'d handle is reported, not exit 0', () => {
    const r = runScript('unref-fail', `
      runMain('prog', () => new Promise((_, reject) => { setTimeout(() => reject(new Error('disk on fire')), 200).unref(); }));
    `);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe('prog: internal error: disk on fire\n');
  });

  test('something else exiting 0 while main runs is turned into exit 1 with one line', () => {
    const r = runScript('stray-exit', `
      runMain('prog', () => new Promise(() => { setTimeout(() => process.exit(0), 50); }));
    `);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe('prog: internal error: exiting before the run finished; its output is incomplete\n');
  });

  test('an exception nobody catches ends the run with exit 1 and one line, no stack', () => {
    const r = runScript('uncaught', `
      runMain('prog', () => new Promise(() => { setTimeout(() => { throw new Error('boom'); }, 50); }));
    `);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe('prog: internal error: boom\n');
  });

  test('an unhandled rejection while main runs is exit 1, even if main later says 0', () => {
    const r = runScript('rejection', `
      runMain('prog', () => new Promise((resolve) => { Promise.reject(new Error('lost write')); setTimeout(() => resolve(0), 100); }));
    `);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe('prog: internal error: lost write\n');
  });

  test('a main that finishes says 0, and the process does not linger', () => {
    const r = runScript('ok', `runMain('prog', async () => 0);`);
    expect(r.status).toBe(0);
    expect(r.stderr).toBe('');
  });
});
