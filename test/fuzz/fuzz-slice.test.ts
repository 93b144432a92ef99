/**
 * The CI slice of the fuzz suite: every target of scripts/fuzz.mjs (archive readers,
 * decompressors, the whole input stage, tree objects, both LZ4 decoders, the wire
 * decoder) for a fixed seed and a few hundred cases each, on the compiled code, with the
 * harness's per-case timeout and memory check. `npm run fuzz` runs 10,000 per target.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, ROOT } from '../reliability-restore.helpers.js';

const CASES = Number(process.env.FUZZ_CASES ?? 120);
const SEED = Number(process.env.FUZZ_SEED ?? 20240601);
const TARGETS = ['tar', 'cpio-odc', 'cpio-newc', 'zip', 'iso', 'gzip', 'bzip2', 'xz', 'archive', 'treeobj', 'lz4-ts', 'lz4-wasm', 'wire'];

interface Summary {
  targets: { target: string; cases: number; ok: number; expected: number; restarts: number; seeds: number }[];
  findings: { target: string; kind: string; case: number; message: string; stack: string }[];
}

beforeAll(ensureBuilt, 300_000);

describe('fuzz slice', () => {
  it(`${CASES} cases per target (seed ${SEED}): clean parses or documented errors only`, () => {
    const r = spawnSync(process.execPath, [join(ROOT, 'scripts/fuzz.mjs'), '--cases', String(CASES), '--seed', String(SEED), '--json'], {
      encoding: 'utf8',
      maxBuffer: 1 << 24,
    });
    expect(r.stderr).toBe('');
    const summary = JSON.parse(r.stdout) as Summary;
    const findings = summary.findings.map((f) => `${f.target} case ${f.case} (${f.kind}): ${f.message}\n${f.stack}`);
    expect(findings).toEqual([]);
    expect(r.status).toBe(0);
    expect(summary.targets.map((t) => t.target)).toEqual(TARGETS);
    for (const t of summary.targets) {
      // every case accounted for, and both outcomes reached: the seeds parse, mutations bite
      expect(`${t.target}: ${t.ok + t.expected}`).toBe(`${t.target}: ${CASES}`);
      expect(t.ok, t.target).toBeGreaterThan(0);
      expect(t.expected, t.target).toBeGreaterThan(0);
      expect(t.seeds, t.target).toBeGreaterThan(0);
    }
  }, 180_000);

  it('a case replays on its own from (target, seed, case)', () => {
    const run = () => spawnSync(process.execPath, [join(ROOT, 'scripts/fuzz.mjs'), '--targets', 'tar', '--seed', String(SEED), '--case', '17'], { encoding: 'utf8' });
    const a = run();
    expect(a.status).toBe(0);
    expect(a.stdout).toMatch(/^tar seed \d+ case 17: \d+ bytes from \S+\n(clean parse|documented error: .+)\n$/);
    expect(run().stdout).toBe(a.stdout);
  }, 60_000);
});
