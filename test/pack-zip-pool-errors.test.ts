/**
 * A worker failure during a zip dump: one FluxError line naming the members, the dump
 * stops, and no archive is left under the final name (nor a temporary beside it). The
 * failure is real: the third deflate task reaches the real worker corrupted (its fields
 * claim a megabyte more than the task carries), and the worker's RangeError comes back
 * across the thread boundary through the writer and the pipeline to the file sink.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FluxError } from '../src/errors.js';
import { genStore, type GenOptions } from '../src/gen/gen-store.js';
import { closePool } from '../src/compress/pool.js';
import type { TaskRunner } from '../src/pack/format.js';
import { dump, poolTasks } from '../src/pipeline.js';
import { fileSink } from '../src/sink/file.js';
import { pipeOut } from '../src/sink/pipe.js';
import { openStore } from '../src/store/open.js';
import { tempDir } from './helpers/paths.js';

const calls = { n: 0 };
/** The real pool, as the pipeline hands it to zip, with the third batch task corrupted on its way. */
const real = poolTasks();
const tasks: TaskRunner = {
  run: (filename, name, task, transfer) => {
    if (name !== 'deflateBatch' || ++calls.n !== 3) return real.run(filename, name, task, transfer);
    const t = task as { fields: Uint32Array };
    const fields = t.fields.slice();
    fields[0] = fields[0]! + (1 << 20); // member 0's body size
    return real.run(filename, name, { ...t, fields }, transfer);
  },
  prewarm: real.prewarm,
};

const t = tempDir('zip-pool-err-');
const store = join(t.dir, 'store', 'content.sqlite');
afterAll(async () => {
  await closePool();
  t.cleanup();
});

describe('a worker failure in a zip dump', () => {
  beforeAll(() => {
    genStore({ out: store, jobs: 2000, seed: 4, hash: 'sha1', shape: { appends: 1, sizeFactor: 1 }, timestamp: 1795690510.5 } as GenOptions);
  });

  it('surfaces as one FluxError line and leaves no archive', async () => {
    const out = join(t.dir, 'out', 'dump.zip');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(join(t.dir, 'out'));
    const opened = await openStore(store);
    let error: unknown;
    try {
      const bytes = dump({ store: opened, checkpoint: true, maxreqs: 2, ignoreFailedRead: false, format: 'zip', filter: 'none', stdout: false, now: 0, uid: 0, gid: 0, tasks });
      await pipeOut(bytes, fileSink(out)).catch((err: unknown) => (error = err));
    } finally {
      await opened.close();
    }
    expect(calls.n).toBeGreaterThanOrEqual(3);
    expect(error).toBeInstanceOf(FluxError);
    const message = (error as FluxError).message;
    expect(message).toMatch(/^zip: deflating \d+ members, \S+ to \S+ on the worker pool failed: zip batch: member 0 runs past the packed input/);
    expect(message).not.toContain('\n');
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(join(t.dir, 'out'))).toEqual([]);
  });
});
