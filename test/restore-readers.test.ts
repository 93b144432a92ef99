/**
 * Reader corners the tool-written archives do not reach: any chunking of a stream
 * (down to one byte at a time), GNU base-256 sizes, signed header checksums, pax
 * global headers, members after the end-of-archive blocks.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cleanupTempDirs, makeTar, referenceRoot, runRestore, SMALL, SMALL_ROOT, tempDir } from './restore-helpers.js';

afterEach(cleanupTempDirs);

const enc = new TextEncoder();

/** The bytes as a stream cut at pseudo-random points no longer than `max`. */
async function* chunked(bytes: Uint8Array, max: number, seed: number): AsyncGenerator<Uint8Array> {
  let x = seed;
  for (let off = 0; off < bytes.length; ) {
    x = (x * 1103515245 + 12345) >>> 0;
    const n = 1 + (x % max);
    yield bytes.slice(off, off + n);
    off += n;
  }
}

async function restoreStream(bytes: Uint8Array, max: number, seed = 1) {
  return runRestore('-', join(tempDir(), 'content.sqlite'), { quiet: true, stdin: chunked(bytes, max, seed) });
}

describe('streams cut anywhere', () => {
  const files: [string, string][] = [['small.tar', 'tar'], ['small.tar.gz', 'tar'], ['small.zip', 'zip'], ['small.iso', 'iso9660']];
  for (const [file, format] of files) {
    it(`${file} one byte at a time and in odd chunks`, async () => {
      const bytes = new Uint8Array(readFileSync(join(SMALL, file)));
      for (const max of [1, 7, 511, 513, 4096]) {
        const r = await restoreStream(bytes, max, max);
        expect(`${max}: ${r.format} ${r.rootref}`).toBe(`${max}: ${format} ${SMALL_ROOT}`);
      }
    });
  }

  it('cpio (odc and newc) in odd chunks', async () => {
    // newc pads names and data to 4 bytes; odc does not pad at all
    for (const format of ['odc', 'newc']) {
      const tar = readFileSync(join(SMALL, 'small.tar'));
      const { execFileSync } = await import('node:child_process');
      const cpio = execFileSync('bsdtar', ['-cf', '-', '--format', format, '@-'], { input: tar });
      for (const max of [1, 3, 100]) {
        const r = await restoreStream(new Uint8Array(cpio), max, max);
        expect(`${format}/${max}: ${r.rootref}`).toBe(`${format}/${max}: ${SMALL_ROOT}`);
      }
    }
  });
});

/** Rewrite a ustar header's checksum field (after editing it). */
function reChecksum(tar: Uint8Array, at: number, signed: boolean): void {
  const h = tar.subarray(at, at + 512);
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += signed && b > 127 ? b - 256 : b;
  h.set(enc.encode(sum.toString(8).padStart(6, '0') + '\0 '), 148);
}

describe('tar header dialects', () => {
  it('GNU base-256 size field', async () => {
    const tar = makeTar([{ path: 'big', data: 'b'.repeat(300) }]);
    tar.fill(0, 124, 136);
    tar[124] = 0x80;
    tar[134] = 300 >> 8;
    tar[135] = 300 & 255;
    reChecksum(tar, 0, false);
    const r = await restoreStream(tar, 1 << 20);
    expect(r.rootref).toBe(referenceRoot([{ path: 'big', kind: 'file', data: enc.encode('b'.repeat(300)) }]).root);
  });

  it('a checksum summed over signed chars (old writers)', async () => {
    const tar = makeTar([{ path: 'plain', data: '1' }]);
    tar.set([0xc3, 0xa9], 5); // raw UTF-8 "é" after the name, no pax header
    reChecksum(tar, 0, true);
    const r = await restoreStream(tar, 1 << 20);
    expect(r.rootref).toBe(referenceRoot([{ path: 'plainé', kind: 'file', data: enc.encode('1') }]).root);
  });

  it('a pax global header does not rename the next member', async () => {
    const body = enc.encode('18 path=elsewhere\n');
    const g = makeTar([{ path: 'pax_global_header', data: body }]).subarray(0, 1024);
    g[156] = 0x67; // 'g'
    reChecksum(g, 0, false);
    const rest = makeTar([{ path: 'real', data: 'v' }]);
    const r = await restoreStream(new Uint8Array(Buffer.concat([g, rest])), 1 << 20);
    expect(r.rootref).toBe(referenceRoot([{ path: 'real', kind: 'file', data: enc.encode('v') }]).root);
  });

  it('what follows the end-of-archive blocks is not read as members', async () => {
    const tar = makeTar([{ path: 'kept', data: 'v' }]);
    const junk = makeTar([{ path: 'ignored', data: 'w' }]);
    const r = await restoreStream(new Uint8Array(Buffer.concat([tar, junk])), 1 << 20);
    expect(r.rootref).toBe(referenceRoot([{ path: 'kept', kind: 'file', data: enc.encode('v') }]).root);
  });
});
