/**
 * The output file's writer: O_DIRECT through aligned staging where the filesystem takes
 * it, ordinary writes where it does not (tmpfs), the same bytes either way.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { closeSync, constants, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { randomFillSync } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppendWriter, directIoAvailable, STAGE_BYTES } from '../src/sink/direct-writer.js';
import { settingsFromEnv } from '../src/cli/settings.js';

const dirs: string[] = [];
function scratch(base: string): string {
  const d = mkdtempSync(join(base, 'fluxdump-direct-'));
  dirs.push(d);
  return d;
}
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** Does this directory's filesystem accept O_DIRECT? (asked of the kernel, not assumed) */
function takesDirect(dir: string): boolean {
  const p = join(dir, 'probe');
  closeSync(openSync(p, 'w'));
  try {
    closeSync(openSync(p, constants.O_WRONLY | constants.O_DIRECT));
    return true;
  } catch {
    return false;
  } finally {
    rmSync(p);
  }
}

function pieces(seed: number): Uint8Array[] {
  // Lengths around the 4 KiB block and the staging buffer, and an empty write.
  const lengths = [1, 4095, 4096, 4097, 0, STAGE_BYTES, STAGE_BYTES - 1, STAGE_BYTES + 1, 3 << 20, 513, 65536 + 7, 12345 + seed];
  return lengths.map((n) => randomFillSync(new Uint8Array(n)));
}

async function writeAll(path: string, parts: Uint8Array[], opts: ConstructorParameters<typeof AppendWriter>[2]): Promise<AppendWriter> {
  const w = new AppendWriter(path, 0o600, opts);
  try {
    for (const p of parts) await w.write(p);
    await w.finish();
  } finally {
    w.close();
  }
  return w;
}

function concat(parts: Uint8Array[]): Buffer {
  return Buffer.concat(parts.map((p) => Buffer.from(p.buffer, p.byteOffset, p.length)));
}

describe('AppendWriter', () => {
  const disk = scratch(tmpdir());

  it.each([true, false])('direct=%s: the file holds exactly the bytes written, in order', async (direct) => {
    const parts = pieces(direct ? 1 : 2);
    const path = join(disk, `out-${direct}`);
    const w = await writeAll(path, parts, { direct });
    expect(w.direct).toBe(direct && takesDirect(disk));
    expect(readFileSync(path).equals(concat(parts))).toBe(true);
  });

  it('a length that ends on a block boundary leaves no tail to write', async () => {
    const parts = [randomFillSync(new Uint8Array(8192)), randomFillSync(new Uint8Array(STAGE_BYTES))];
    const path = join(disk, 'aligned');
    await writeAll(path, parts, { direct: true });
    expect(readFileSync(path).equals(concat(parts))).toBe(true);
  });

  it('the caller may reuse a buffer once write() resolves (bytes are staged or written)', async () => {
    const buf = new Uint8Array(5000);
    const expected: Uint8Array[] = [];
    const path = join(disk, 'reuse');
    const w = new AppendWriter(path, 0o600, { direct: true });
    for (let i = 0; i < 600; i++) {
      buf.fill(i & 0xff);
      expected.push(buf.slice());
      await w.write(buf);
    }
    await w.finish();
    w.close();
    expect(readFileSync(path).equals(concat(expected))).toBe(true);
  });

  it('with several writes in flight and background syncs along the way, the bytes stay in order', async () => {
    // 13 MiB in odd pieces: the ring of staging buffers comes round at least once while
    // earlier writes may still be in flight, and a sync is due every MiB. One starts only
    // when none is in flight, so how many run depends on the disk; at least one does.
    const parts = Array.from({ length: 40 }, (_, i) => randomFillSync(new Uint8Array(333_333 + i * 1111)));
    const path = join(disk, 'ring');
    const w = await writeAll(path, parts, { direct: true, syncEvery: 1 << 20 });
    expect(readFileSync(path).equals(concat(parts))).toBe(true);
    if (w.direct) expect(w.syncs).toBeGreaterThan(0);
  });

  it('creates the file exclusively: an existing name is refused, untouched', () => {
    const path = join(disk, 'exists');
    closeSync(openSync(path, 'w'));
    expect(() => new AppendWriter(path, 0o600)).toThrow(/EEXIST/);
  });

  it('closing with a write in flight (an aborted dump) raises nothing unhandled', async () => {
    const path = join(disk, 'aborted');
    const w = new AppendWriter(path, 0o600, { direct: true });
    await w.write(randomFillSync(new Uint8Array(STAGE_BYTES + (1 << 20))));
    w.close();
    await new Promise((r) => setTimeout(r, 50)); // an unhandled rejection would fail the run here
    expect(existsSync(path)).toBe(true);
  });

  it('a direct write the kernel refuses (EINVAL) falls back to ordinary writes, same bytes', async () => {
    // Staging shifted 16 bytes off alignment: the kernel itself refuses the direct write.
    const parts = pieces(3);
    const path = join(disk, 'refused');
    const w = await writeAll(path, parts, { direct: true, stageOffset: 16 });
    expect(w.direct).toBe(false);
    expect(readFileSync(path).equals(concat(parts))).toBe(true);
  });

  it('a refusal of the last, partial stage also falls back', async () => {
    const parts = [randomFillSync(new Uint8Array(3 * 4096 + 100))];
    const path = join(disk, 'refused-tail');
    const w = await writeAll(path, parts, { direct: true, stageOffset: 16 });
    expect(w.direct).toBe(false);
    expect(readFileSync(path).equals(concat(parts))).toBe(true);
  });

  it('FLUXDUMP_DIRECT_IO=0 turns it off', () => {
    expect(settingsFromEnv({ FLUXDUMP_DIRECT_IO: '0' }).directIo).toBe(false);
    expect(settingsFromEnv({ FLUXDUMP_DIRECT_IO: '1' }).directIo).toBe(true);
    expect(settingsFromEnv({}).directIo).toBe(true);
    expect(directIoAvailable()).toBe(typeof constants.O_DIRECT === 'number');
  });
});
