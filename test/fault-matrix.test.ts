/**
 * The fault matrix (scripts/fault-cells.mjs) in the suite: every output format x the load
 * thread forced on and off x every fault, and restores into a full file system. Signals
 * go to dumps of a 3,000-job store (they land mid-run); write faults use a 300-job store,
 * because a dump writes its first byte only once the walk is past the directory levels. Each cell checks exit status, one error line naming the cause, no
 * OUTFILE, no temporary, a previous OUTFILE untouched. The riskiest cells (a failed write
 * while the load thread runs) repeat; `npm run stress:faults` runs them all 50 times on a
 * store of over 100 MiB.
 */
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
// @ts-expect-error: plain ESM shared with scripts/stress-faults.mjs
import { cellName, dumpCells, makeWorkspace, RESTORE_FAULTS, runDumpCell, runRestoreCell } from '../scripts/fault-cells.mjs';
import { generatedStore } from './helpers/faults.js';
import { DUMP_CLI, SMALL, tempDir } from './helpers/paths.js';

interface Cell { format?: string; loadThread?: boolean; fault: string }
interface Outcome { wrong: string | null; missed: boolean }

const t = tempDir('fluxdump-matrix-');
let ws: { full: string; disk: string; close(): void };
let store = '';
let smallStore = '';
let archive = '';
beforeAll(() => {
  store = generatedStore(t.dir);
  smallStore = generatedStore(t.dir, 300);
  ws = makeWorkspace(t.dir, 64);
  archive = join(t.dir, 'store.tar');
  const r = spawnSync(process.execPath, [DUMP_CLI, '-q', '--store', smallStore, '--checkpoint', archive], { encoding: 'utf8', env: { ...process.env, FLUX_URI: '' } });
  if (r.status !== 0) throw new Error(`dump for the restore cells: ${r.stderr}`);
});
afterAll(() => {
  ws?.close();
  t.cleanup();
});

/** Cells that were wrong before the outcome had one owner: repeated. */
const RISKY = /lt=1 (full-fs|dev-full|reader-exits)/;
const SIGNAL = /sig/;

describe('dump faults', () => {
  test.each((dumpCells() as Cell[]).map((c) => [cellName(c), c] as const))('%s', async (_name, cell) => {
    const reps = RISKY.test(cellName(cell)) ? 3 : 1;
    for (let i = 0; i < reps; i++) {
      const r = (await runDumpCell(cell, SIGNAL.test(cell.fault) ? store : smallStore, ws)) as Outcome;
      expect(r.wrong).toBeNull();
      // On this store a signal sent once the temporary exists lands mid-run.
      if (SIGNAL.test(cell.fault)) expect(r.missed).toBe(false);
    }
  }, 180_000);
});

describe('restore into a full file system', () => {
  test.each(RESTORE_FAULTS.map((f: string) => [f] as const))('%s', async (fault) => {
    const r = (await runRestoreCell({ fault }, archive, join(SMALL, 'small.tar'), ws)) as Outcome;
    expect(r.wrong).toBeNull();
  }, 180_000);
});
