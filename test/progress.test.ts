/**
 * flux-dump progress: flux-core's bytes when stderr is not a terminal; on a terminal the
 * same count line with keys/s and MB/s beside it, redrawn at most every 100 ms. The
 * terminal cases run the real CLI under a pseudo-terminal (script(1), util-linux).
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Progress, RATE_REDRAW_MS, type ProgressOptions } from '../src/cli/progress.js';
import type { ArchiveEntry } from '../src/walk/entry.js';
import { DUMP_CLI, ROOT, tempDir } from './helpers/paths.js';

const SAMPLE = join(ROOT, 'sample/content.sqlite'); // 704 keys
const t = tempDir('progress-');
afterAll(() => t.cleanup());

/** flux-core's progress for n keys: N < 10 or N % 100 == 0, then the final count. */
function fluxCore(n: number): string {
  let s = '';
  for (let i = 1; i <= n; i++) if (i < 10 || i % 100 === 0) s += `\rflux-dump: archived ${i} keys`;
  return s + `\rflux-dump: archived ${n} keys\n`;
}

function entry(path: string, size: number): ArchiveEntry {
  return { path, type: 'file', data: new Uint8Array(size), linkTarget: '', mode: 0o644, mtime: 0, uid: 0, gid: 0 };
}

/** A Progress writing into `out`, its clock under the test's control. */
function progress(opts: Partial<ProgressOptions>) {
  const out: string[] = [];
  const clock = { ms: 1000 };
  const p = new Progress({
    prog: 'flux-dump',
    quiet: false,
    verbose: false,
    text: (n) => `archived ${n} keys`,
    write: (s) => out.push(s),
    now: () => clock.ms,
    ...opts,
  });
  return { p, out, clock };
}

describe('not a terminal: flux-core bytes', () => {
  it('the count line at flux-core cadence, whatever the batches and the clock', () => {
    const { p, out, clock } = progress({ tty: false });
    let k = 0;
    for (const size of [1, 7, 250, 1000, 3]) {
      p.addEntries(Array.from({ length: size }, () => entry(`k${k++}`, 100)));
      clock.ms += 5000;
    }
    p.end();
    expect(out.join('')).toBe(fluxCore(1261));
  });

  it('-v lists keys and -q prints nothing, terminal or not', () => {
    for (const tty of [false, true]) {
      const v = progress({ tty, verbose: true });
      v.p.add(['a', 'b/c']);
      v.clock.ms += 1000;
      v.p.end();
      expect(v.out.join('')).toBe('a\nb/c\n');
      const q = progress({ tty, quiet: true });
      q.p.add(['a']);
      q.p.end();
      expect(q.out.join('')).toBe('');
    }
  });
});

describe('on a terminal', () => {
  it('shows keys/s and MB/s over the last seconds beside the count', () => {
    const { p, out, clock } = progress({ tty: true });
    // 1,000 keys of 500 bytes every 10 ms: 100,000 keys/s, 50 MB/s
    let k = 0;
    for (let b = 0; b < 100; b++) {
      clock.ms += 10;
      p.addEntries(Array.from({ length: 1000 }, () => entry(`k${k++}`, 500)));
    }
    // (the last redraw was at 910 ms: the 100 ms throttle skipped the one at 1,000)
    expect(out[out.length - 1]).toBe('\rflux-dump: archived 91000 keys  100,000 keys/s  50.0 MB/s');
    // then slower: 100 keys every 10 ms for 5 s (past the window): 10,000 keys/s
    for (let b = 0; b < 500; b++) {
      clock.ms += 10;
      p.addEntries(Array.from({ length: 100 }, () => entry(`k${k++}`, 500)));
    }
    expect(out[out.length - 1]).toMatch(/^\rflux-dump: archived 149100 keys {2}10,000 keys\/s {2}5\.00 MB\/s *$/);
    p.end();
    // the final line: the count, averages over the whole run, the time
    expect(out[out.length - 1]).toBe('\rflux-dump: archived 150000 keys  25,000 keys/s  12.5 MB/s  6.0 s\n');
  });

  it('redraws at most every 100 ms, and blanks what a shorter line leaves', () => {
    const { p, out, clock } = progress({ tty: true });
    for (let i = 0; i < 2000; i++) {
      clock.ms += 1; // 100 keys per ms: flux-core would print 2,000 lines
      p.add(Array.from({ length: 100 }, () => 'k'));
    }
    const draws = out.length;
    expect(draws).toBeLessThanOrEqual(2000 / RATE_REDRAW_MS + 2);
    expect(draws).toBeGreaterThanOrEqual(2000 / RATE_REDRAW_MS - 2);
    // names only: no byte counts, so no MB/s
    expect(out.join('')).not.toContain('MB/s');
    const before = out[out.length - 1]!;
    clock.ms += 10_000; // the rate drops to a shorter number: blanks cover the rest
    p.add(['k']);
    const after = out[out.length - 1]!;
    expect(after).toMatch(/^\rflux-dump: archived 200000 keys {2}\d{3} keys\/s +$/);
    expect(after.length).toBe(before.length);
    p.end();
    expect(out[out.length - 1]).toBe('\rflux-dump: archived 200001 keys  16,667 keys/s  12 s\n');
  });
});

describe('the CLI', () => {
  const tar = join(t.dir, 'out.tar');

  it('piped stderr: exactly flux-core progress', () => {
    const r = spawnSync(process.execPath, [DUMP_CLI, `--store=${SAMPLE}`, '--checkpoint', tar], { encoding: 'utf8', env: { ...process.env, FLUX_URI: '' } });
    expect(r.status).toBe(0);
    expect(r.stderr).toBe(fluxCore(704));
  });

  it('on a pseudo-terminal: the count with keys/s, then the averages and time', () => {
    const cmd = [process.execPath, DUMP_CLI, `--store=${SAMPLE}`, '--checkpoint', tar].map((a) => `'${a}'`).join(' ');
    const r = spawnSync('script', ['-qfc', cmd, '/dev/null'], { encoding: 'utf8', env: { ...process.env, FLUX_URI: '' } });
    expect(r.status).toBe(0);
    // the terminal turns \n into \r\n
    const lines = r.stdout.replace(/\r\n/g, '\n').split('\r').filter((s) => s !== '');
    const final = lines[lines.length - 1]!;
    expect(final).toMatch(/^flux-dump: archived 704 keys {2}[\d,]+ keys\/s( {2}[\d.]+ MB\/s)? {2}[\d.]+ s\n$/);
    // every redraw is a count flux-core would print
    for (const l of lines) expect(Number(/archived (\d+) keys/.exec(l)?.[1])).toSatisfy((n: number) => n < 10 || n % 100 === 0 || n === 704);
  });
});
