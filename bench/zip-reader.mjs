#!/usr/bin/env node
// Restore's zip reader (src/restore/zip.ts) against @zip.js/zip.js 2.x reading the same
// file: every member's bytes, CRC-32 checked, in central-directory order. Each reader runs
// in a process of its own so that its peak RSS is its own (`/usr/bin/time -f %M`).
//
//   node bench/zip-reader.mjs ZIP [--runs 3]          both readers, alternating
//   node bench/zip-reader.mjs ZIP --run ours|zipjs    one reader, one pass (the child)
//
// Needs `npm run build:ts` (dist/restore) and @zip.js/zip.js, which fluxdump does not
// depend on: `npm install --no-save @zip.js/zip.js@2.24` before, `npm ci` after.
import { spawnSync } from 'node:child_process';
import { open } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

async function ours(path) {
  const { openFileRandomAccess } = await import(join(ROOT, 'dist/restore/random-access.js'));
  const { readZip } = await import(join(ROOT, 'dist/restore/zip.js'));
  const ra = await openFileRandomAccess(path);
  let entries = 0;
  let bytes = 0;
  for await (const batch of readZip(ra, { sizeLimit: 0, where: path })) {
    for (const e of batch) {
      entries++;
      bytes += e.data.length;
    }
  }
  await ra.close();
  return { entries, bytes };
}

async function zipjs(path) {
  const zip = await import('@zip.js/zip.js');
  zip.configure({ useWebWorkers: false });
  const fh = await open(path);
  const size = (await fh.stat()).size;
  // Positioned reads, as restore does (a file, or a spooled stdin).
  class FileReader extends zip.Reader {
    constructor() {
      super();
      this.size = size;
    }
    async readUint8Array(index, length) {
      const buf = new Uint8Array(length);
      let done = 0;
      while (done < length) {
        const { bytesRead } = await fh.read(buf, done, length - done, index + done);
        if (bytesRead === 0) throw new Error(`short read at ${index + done}`);
        done += bytesRead;
      }
      return buf;
    }
  }
  const reader = new zip.ZipReader(new FileReader(), { checkSignature: true, useWebWorkers: false });
  let entries = 0;
  let bytes = 0;
  for await (const e of reader.getEntriesGenerator()) {
    entries++;
    if (e.directory) continue;
    const data = await e.getData(new zip.Uint8ArrayWriter(), { checkSignature: true, useWebWorkers: false });
    bytes += data.length;
  }
  await reader.close();
  await fh.close();
  return { entries, bytes };
}

const args = process.argv.slice(2);
const path = args[0];
if (!path) {
  process.stderr.write('usage: zip-reader.mjs ZIP [--runs N] | ZIP --run ours|zipjs\n');
  process.exit(2);
}
const runIdx = args.indexOf('--run');
if (runIdx >= 0) {
  const which = args[runIdx + 1];
  const t0 = performance.now();
  const r = await (which === 'zipjs' ? zipjs(path) : ours(path));
  const s = (performance.now() - t0) / 1000;
  process.stdout.write(JSON.stringify({ which, ...r, seconds: +s.toFixed(2) }) + '\n');
} else {
  const runsIdx = args.indexOf('--runs');
  const runs = runsIdx >= 0 ? Number(args[runsIdx + 1]) : 3;
  for (let i = 0; i < runs; i++) {
    for (const which of ['ours', 'zipjs']) {
      const r = spawnSync('/usr/bin/time', ['-f', '%M %U %S', process.execPath, fileURLToPath(import.meta.url), path, '--run', which], { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`${which}: ${r.stderr.trim()}`);
      const [rssKb, user, sys] = r.stderr.trim().split('\n').pop().split(' ').map(Number);
      const res = JSON.parse(r.stdout);
      process.stdout.write(`${which}\t${res.entries} entries\t${res.bytes} bytes\t${res.seconds} s wall\t${(user + sys).toFixed(2)} s CPU\t${Math.round(rssKb / 1024)} MiB max RSS\n`);
    }
  }
}
