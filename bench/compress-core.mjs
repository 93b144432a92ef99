#!/usr/bin/env node
// Per-core codec speed: ONE of our compressors on one thread (what each pool worker runs),
// against the single-threaded CLI tool on the same bytes, interleaved, fresh processes.
// The question it answers: can 2 workers reach 1.7x `gzip -6` / `bzip2 -9` / `xz -6`?
// Only if each runs at >= 85% of the tool's speed per core.
//
//   npm run build:ts && node bench/compress-core.mjs [--input FILE] [--mib 100] [--reps 3]
//        [--codecs gzip,bzip2,xz] [--xz-mib 32]
//
// Input: the first --mib MiB of FILE (default: the plain tar of bench/dump-compress.mjs, i.e. a
// real dump of the generated 100,000-job store). Ours: `--run CODEC FILE [ENGINE]` loads
// the codec, compresses 1 KB (load cost is not per byte), then compresses the file in the
// codec's default chunk size (each chunk a complete member/stream, as in a dump) and
// prints wall and CPU seconds of that part. CPU seconds are the steadier figure on a
// shared machine: they do not grow when other jobs take the cores (wall times do).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const HERE = dirname(fileURLToPath(import.meta.url));
const DIST = join(HERE, '../dist/compress');
const OUT = join(HERE, 'out');

async function runMode(codec, file, engine) {
  const { getCompressor } = await import(join(DIST, 'codecs.js'));
  const mod = await import(join(DIST, `${codec}.js`));
  const { chunkSize } = mod[`${codec.toUpperCase()}_CODEC`];
  const data = new Uint8Array(readFileSync(file));
  const compress = await getCompressor(codec, engine || undefined);
  compress(data.subarray(0, 1000));
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  let out = 0;
  for (let off = 0; off < data.length; off += chunkSize) out += compress(data.subarray(off, off + chunkSize)).length;
  const wall = (performance.now() - t0) / 1000;
  const c = process.cpuUsage(c0);
  console.log(JSON.stringify({ wall, cpu: (c.user + c.system) / 1e6, out }));
}

function timedTool(cmd) {
  const t0 = performance.now();
  const r = spawnSync('/usr/bin/time', ['-f', '%U %S', 'sh', '-c', cmd], { encoding: 'utf8' });
  const wall = (performance.now() - t0) / 1000;
  if (r.status !== 0) throw new Error(`${cmd}: ${r.stderr}`);
  const [u, s] = r.stderr.trim().split('\n').pop().split(/\s+/).map(Number);
  return { wall, cpu: u + s };
}

async function benchMode() {
  const { values } = parseArgs({
    options: {
      input: { type: 'string', default: join(OUT, 'dump-compress/jobs100000/plain.tar') },
      mib: { type: 'string', default: '100' },
      'xz-mib': { type: 'string', default: '32' },
      reps: { type: 'string', default: '3' },
      codecs: { type: 'string', default: 'gzip,bzip2,xz' },
    },
  });
  if (!existsSync(values.input)) throw new Error(`${values.input}: run bench/dump-compress.mjs first, or pass --input`);
  const self = fileURLToPath(import.meta.url);
  const tools = { gzip: 'gzip -6', bzip2: 'bzip2 -9', xz: 'xz -6' };
  const reps = Number(values.reps);
  console.log(`Input: the first ${values.mib} MiB (xz: ${values['xz-mib']} MiB) of ${values.input}; ${reps} reps, interleaved; load ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
  console.log('\n| codec | MB | ours (one thread) CPU s | tool CPU s | ours per-core speed vs tool (CPU) | ours wall s | tool wall s | ratio ours / tool |');
  console.log('|---|---|---|---|---|---|---|---|');
  const variants = [];
  for (const codec of values.codecs.split(',')) {
    variants.push([codec, '']);
    if (codec === 'gzip') variants.push([codec, 'fflate']);
  }
  for (const [codec, engine] of variants) {
    const mib = Number(codec === 'xz' ? values['xz-mib'] : values.mib);
    const file = join(OUT, `core-${mib}.bin`);
    if (!existsSync(file) || statSync(file).size !== mib << 20) spawnSync('sh', ['-c', `head -c ${mib << 20} ${values.input} > ${file}`]);
    const ours = [];
    const tool = [];
    let toolOut = 0;
    for (let r = 0; r < reps; r++) {
      const o = spawnSync(process.execPath, [self, '--run', codec, file, engine], { encoding: 'utf8' });
      if (o.status !== 0) throw new Error(o.stderr);
      ours.push(JSON.parse(o.stdout));
      tool.push(timedTool(`${tools[codec]} < ${file} > ${file}.tool`));
      toolOut = statSync(`${file}.tool`).size;
    }
    rmSync(`${file}.tool`, { force: true });
    const med = (xs, k) => xs.map((x) => x[k]).sort((a, b) => a - b)[Math.floor(xs.length / 2)];
    const mb = (mib << 20) / 1e6;
    const label = engine ? `${codec} (${engine})` : codec;
    console.log(
      `| ${label} vs \`${tools[codec]}\` | ${mb.toFixed(1)} | ${med(ours, 'cpu').toFixed(2)} | ${med(tool, 'cpu').toFixed(2)} | ` +
        `${(med(tool, 'cpu') / med(ours, 'cpu')).toFixed(2)}x | ${med(ours, 'wall').toFixed(2)} | ${med(tool, 'wall').toFixed(2)} | ` +
        `${((mib << 20) / ours[0].out).toFixed(2)} / ${((mib << 20) / toolOut).toFixed(2)} |`,
    );
  }
  console.log(`\nload at the end ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
}

const i = process.argv.indexOf('--run');
if (i >= 0) await runMode(process.argv[i + 1], process.argv[i + 2], process.argv[i + 3]);
else await benchMode();
