/**
 * The opt-in load measurement behind bench/maxreqs.mjs (FLUXDUMP_STATS): the numbers
 * themselves, and the CLI writing one JSON line per store for an offline store and for
 * a live dump through the broker peer, nothing without the variable.
 */
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { LoadStats, loadStatsTo } from '../src/store/load-stats.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { settingsFromEnv } from '../src/cli/settings.js';
import { openStore } from '../src/store/open.js';
import { DUMP_CLI, ROOT, run, tempDir } from './helpers/paths.js';
import { peerPool, runLive } from './peer/live-cli.js';

const SAMPLE = join(ROOT, 'sample/content.sqlite'); // 704 keys, 2,545 blob loads
const t = tempDir('load-stats-');
afterAll(() => t.cleanup());
let n = 0;
const file = (name: string) => join(t.dir, `${n++}-${name}`);
const pool = peerPool();
afterEach(async () => {
  vi.useRealTimers();
  await pool.stopAll();
});

describe('LoadStats', () => {
  it('time-weighted requests in flight, maximum, latency quantiles', () => {
    let now = 0;
    const s = new LoadStats('test', () => now);
    // 0..10 ms: 2 in flight; 10..20 ms: 1; latencies 10 ms and 20 ms
    const a = s.begin();
    const b = s.begin();
    now = 10;
    s.end(a, 1, 100);
    now = 20;
    s.end(b, 3, 50);
    // 99 more of 1 ms each, one at a time, from 20 to 119 ms
    for (let i = 0; i < 99; i++) {
      const c = s.begin();
      now += 1;
      s.end(c, 1, 1);
    }
    const sum = s.summary();
    expect(sum).toMatchObject({ source: 'test', requests: 101, blobs: 103, bytes: 249, maxInflight: 2, spanMs: 119 });
    expect(sum.meanInflight).toBeCloseTo((2 * 10 + 1 * 10 + 99) / 119, 2);
    expect(sum.p50Ms).toBeGreaterThan(0.97);
    expect(sum.p50Ms).toBeLessThan(1.03); // 1 ms, within the histogram's ~3%
    expect(sum.p99Ms).toBeGreaterThan(9.7);
    expect(sum.p99Ms).toBeLessThan(10.3); // the 100th of 101 sorted: 10 ms
    expect(sum.meanMs).toBeCloseTo((10 + 20 + 99) / 101, 2);
  });

  it('nothing without the variable', async () => {
    expect(settingsFromEnv({}).statsFile).toBeUndefined();
    expect(settingsFromEnv({ FLUXDUMP_STATS: '' }).statsFile).toBeUndefined();
    expect(loadStatsTo(undefined, 'x')).toBeUndefined();
    const store = await openStore(SAMPLE);
    try {
      // no wrapper: the store itself
      expect(store).toBeInstanceOf(SqliteStore);
      const measured = await openStore(SAMPLE, { statsFile: file('unused.json') });
      expect(measured).not.toBeInstanceOf(SqliteStore);
      await measured.close();
    } finally {
      await store.close();
    }
  });
});

describe('the CLI with FLUXDUMP_STATS', () => {
  it('offline: one line, load calls as requests, every blob and byte counted', () => {
    const stats = file('offline.jsonl');
    const r = run(DUMP_CLI, ['-q', '--checkpoint', `--store=${SAMPLE}`, file('o.tar')], { env: { FLUXDUMP_STATS: stats } });
    expect(r.status).toBe(0);
    const lines = readFileSync(stats, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(1);
    const s = JSON.parse(lines[0]!);
    expect(s).toMatchObject({ source: 'sqlite', blobs: 2545, bytes: 609101 });
    expect(s.requests).toBeGreaterThan(0);
    expect(s.requests).toBeLessThan(2545); // batches
    expect(s.maxInflight).toBeGreaterThanOrEqual(1);
  });

  it('set but empty: nothing written anywhere', () => {
    const dir = join(t.dir, 'cwd');
    mkdirSync(dir);
    const r = run(DUMP_CLI, ['-q', '--checkpoint', `--store=${SAMPLE}`, join(t.dir, 'n.tar')], { env: { FLUXDUMP_STATS: '' }, cwd: dir });
    expect(r.status).toBe(0);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('live: one request per blob, never more in flight than --maxreqs', async () => {
    const store = await openStore(SAMPLE);
    try {
      const peer = await pool.start({ store, latencyMs: 0.2 });
      for (const maxreqs of [1, 8]) {
        const stats = file(`live-${maxreqs}.jsonl`);
        const r = await runLive(DUMP_CLI, peer.uri, ['-q', '--checkpoint', `--maxreqs=${maxreqs}`, file('l.tar')], { FLUXDUMP_STATS: stats });
        expect(r.stderr).toBe('');
        const s = JSON.parse(readFileSync(stats, 'utf8'));
        expect(s.source).toBe('broker');
        // every content.load plus the checkpoint lookup (a small JSON answer)
        expect(s.requests).toBe(2545 + 1);
        expect(s.bytes).toBeGreaterThan(609101);
        expect(s.maxInflight).toBeLessThanOrEqual(maxreqs);
        if (maxreqs > 1) expect(s.maxInflight).toBeGreaterThan(1);
        expect(s.p50Ms).toBeGreaterThan(0.1);
      }
    } finally {
      await store.close();
    }
  });
});
