// Compression benchmark: our chunked filters on the worker pool vs pigz/pbzip2/xz -T2
// and the single-threaded gzip/bzip2/xz, on the same ~100 MB KVS-like tar, in one run,
// interleaved, every command a fresh process reading the file and writing a file.
//
//   npm run build:ts && node bench/compress.mjs [--mib 100] [--reps 3] [--codecs gzip,bzip2,xz]
//        [--threads 2] [--chunks 1,4,8]   (--chunks: also time ours at these chunk sizes, MiB)
//        [--decompress]                   (also time restore-side decompression)
//
// Internal modes (used by the above): --run CODEC IN OUT [--threads N] [--chunk BYTES] [--engine fflate]
//                                     --unpack IN OUT
import { spawnSync } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync, statSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { cpus, loadavg } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const DIST = join(HERE, '../dist/compress');
const OUT = join(HERE, 'out');

function arg(name, fallback) {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

/**
 * Stream a file through a TransformStream into another file. `reuse`: read into one
 * buffer, as the CLI tools do; only valid for our compression filters, which copy what
 * they keep before write() resolves (a stream in general may still hold the chunk).
 */
async function pipeFile(stage, input, output, reuse) {
  const ws = createWriteStream(output);
  const writing = (async () => {
    const reader = stage.readable.getReader();
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (!ws.write(value)) await new Promise((r) => ws.once('drain', r));
    }
    await new Promise((r, j) => ws.end((e) => (e ? j(e) : r())));
  })();
  const writer = stage.writable.getWriter();
  // Read as the CLI tools do, into one reused buffer: the filter copies what it keeps
  // before its write() resolves. 1 MiB pieces: about what the tar writer hands over.
  const fh = await open(input);
  let buf = new Uint8Array(1 << 20);
  for (;;) {
    if (!reuse) buf = new Uint8Array(1 << 20);
    const { bytesRead } = await fh.read(buf, 0, buf.length, null);
    if (bytesRead === 0) break;
    await writer.write(buf.subarray(0, bytesRead));
  }
  await fh.close();
  await writer.close();
  await writing;
}

async function runMode() {
  const [codec, input, output] = process.argv.slice(process.argv.indexOf('--run') + 1);
  const { chunkedFilter } = await import(join(DIST, 'chunked.js'));
  const { closePool } = await import(join(DIST, 'pool.js'));
  const mod = await import(join(DIST, `${codec}.js`));
  const spec = mod[`${codec.toUpperCase()}_CODEC`];
  const opts = {};
  if (arg('threads')) opts.threads = Number(arg('threads'));
  if (arg('chunk')) opts.chunkSize = Number(arg('chunk'));
  const engine = arg('engine');
  // --passes 2: compress the file twice in this process; the second pass shows the
  // steady state, with Node, the modules and the pool already started.
  const passSec = [];
  for (let i = 0; i < Number(arg('passes', '1')); i++) {
    const t = performance.now();
    await pipeFile(chunkedFilter(engine ? { ...spec, gzipEngine: engine } : spec, opts), input, output, true);
    passSec.push((performance.now() - t) / 1000);
  }
  await closePool();
  console.log(JSON.stringify({ maxRssMiB: Math.round(process.resourceUsage().maxRSS / 1024), passSec }));
}

async function unpackMode() {
  const [input, output] = process.argv.slice(process.argv.indexOf('--unpack') + 1);
  const { decompressStream } = await import(join(DIST, 'decompress.js'));
  await pipeFile(decompressStream({ where: input }), input, output, false);
  console.log(JSON.stringify({ maxRssMiB: Math.round(process.resourceUsage().maxRSS / 1024) }));
}

const GNU_TIME = existsSync('/usr/bin/time') ? '/usr/bin/time' : null;
const CPU_FILE = join(OUT, 'bench-cpu.txt');

/** Run a shell command; wall seconds, CPU seconds (user + sys, via GNU time), our max RSS. */
function sh(cmd) {
  const timed = GNU_TIME ? `${GNU_TIME} -f '%U %S' -o ${CPU_FILE} sh -c '${cmd}'` : cmd;
  const t = performance.now();
  const r = spawnSync('sh', ['-c', timed], { encoding: 'utf8', maxBuffer: 1 << 20 });
  const sec = (performance.now() - t) / 1000;
  if (r.status !== 0) throw new Error(`${cmd}: exit ${r.status}: ${r.stderr}`);
  let rss;
  let cpu;
  let passSec;
  try {
    ({ maxRssMiB: rss, passSec } = JSON.parse(r.stdout.trim().split('\n').pop()));
  } catch {}
  if (GNU_TIME) {
    const [u, s] = readFileSync(CPU_FILE, 'utf8').trim().split(/\s+/).map(Number);
    cpu = u + s;
  }
  return { sec, rss, cpu, passSec };
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function benchMode() {
  const mib = Number(arg('mib', '100'));
  const reps = Number(arg('reps', '3'));
  const threads = Number(arg('threads', '2'));
  const codecs = arg('codecs', 'gzip,bzip2,xz').split(',');
  const chunks = arg('chunks', '') ? arg('chunks').split(',').map(Number) : [];
  mkdirSync(OUT, { recursive: true });
  const tar = join(OUT, `kvs-${mib}.tar`);
  if (!existsSync(tar)) sh(`node ${join(HERE, 'compress-data.mjs')} ${tar} ${mib}`);
  const size = statSync(tar).size;
  const node = process.execPath;
  const self = fileURLToPath(import.meta.url);
  const out = (tag) => join(OUT, `bench-${tag}.out`);

  const plans = {
    gzip: [
      ['ours gzip (node:zlib, pool)', `${node} ${self} --run gzip ${tar} ${out('ours')} --threads ${threads}`],
      ['ours gzip (fflate, pool)', `${node} ${self} --run gzip ${tar} ${out('ours')} --threads ${threads} --engine fflate`],
      [`pigz -p${threads} -6`, `pigz -p${threads} -6 < ${tar} > ${out('tool')}`],
      ['gzip -6', `gzip -6 < ${tar} > ${out('tool')}`],
    ],
    bzip2: [
      ['ours bzip2 (bzip2-wasm, pool)', `${node} ${self} --run bzip2 ${tar} ${out('ours')} --threads ${threads}`],
      [`pbzip2 -p${threads} -9`, `pbzip2 -p${threads} -9 < ${tar} > ${out('tool')}`],
      ['bzip2 -9', `bzip2 -9 < ${tar} > ${out('tool')}`],
    ],
    xz: [
      ['ours xz (@napi-rs/lzma, pool)', `${node} ${self} --run xz ${tar} ${out('ours')} --threads ${threads}`],
      [`xz -T${threads} -6`, `xz -T${threads} -6 < ${tar} > ${out('tool')}`],
      ['xz -6', `xz -6 < ${tar} > ${out('tool')}`],
    ],
  };
  console.log(`# ${size} bytes (${(size / 1e6).toFixed(1)} MB) of KVS-like tar, ${reps} reps, ${cpus().length} cores, load ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);

  // Fixed costs a fresh process pays before any throughput: Node itself, our modules and
  // the inline path (empty input), and starting the pool (one chunk + 1 byte).
  const empty = join(OUT, 'bench-empty.tar');
  const oneChunk = join(OUT, 'bench-onechunk.tar');
  sh(`: > ${empty}; head -c ${(4 << 20) + 1} ${tar} > ${oneChunk}`);
  const fixed = [
    ['node -e 0', `${node} -e 0`],
    ['ours gzip, empty input (inline, no pool)', `${node} ${self} --run gzip ${empty} ${out('ours')}`],
    ['ours gzip, 4 MiB + 1 byte (pool of 2 starts)', `${node} ${self} --run gzip ${oneChunk} ${out('ours')} --threads ${threads}`],
    ['gzip -6, 4 MiB + 1 byte', `gzip -6 < ${oneChunk} > ${out('tool')}`],
  ];
  console.log('\n## fixed costs of a fresh process');
  console.log('| command | median wall s | median CPU s |');
  console.log('|---|---|---|');
  for (const [label, cmd] of fixed) {
    const res = Array.from({ length: reps }, () => sh(cmd));
    const m = (k) => median(res.map((x) => x[k] ?? 0));
    console.log(`| ${label} | ${m('sec').toFixed(2)} | ${m('cpu').toFixed(2)} |`);
  }
  rmSync(empty);
  rmSync(oneChunk);
  const rows = [];
  for (const codec of codecs) {
    const plan = [...plans[codec]];
    for (const c of chunks) {
      plan.push([`ours ${codec}, ${c} MiB chunks`, `${node} ${self} --run ${codec} ${tar} ${out('ours')} --threads ${threads} --chunk ${Math.round(c * 2 ** 20)}`]);
    }
    const times = plan.map(() => []);
    const cpus = plan.map(() => []);
    const sizes = plan.map(() => 0);
    const rss = plan.map(() => undefined);
    for (let r = 0; r < reps; r++) {
      plan.forEach(([label, cmd], i) => {
        const res = sh(cmd);
        times[i].push(res.sec);
        if (res.cpu !== undefined) cpus[i].push(res.cpu);
        rss[i] = res.rss ?? rss[i];
        const file = cmd.includes('--run') ? out('ours') : out('tool');
        sizes[i] = statSync(file).size;
        if (r === 0) {
          // Every output must decompress with the standard tool to the very same tar.
          const tool = codec === 'gzip' ? 'gzip' : codec === 'bzip2' ? 'bzip2' : 'xz';
          sh(`${tool} -dc < ${file} | cmp -s - ${tar}`);
        }
        process.stderr.write(`${label}: ${res.sec.toFixed(2)} s\n`);
      });
    }
    const med = times.map(median);
    const [ours, par, single] = [0, plan.length - chunks.length - 2, plan.length - chunks.length - 1].map((i) => med[i]);
    plan.forEach(([label], i) => {
      rows.push({
        codec,
        label,
        mbps: size / 1e6 / med[i],
        ratio: size / sizes[i],
        sec: med[i],
        cpu: cpus[i].length ? median(cpus[i]) : undefined,
        all: times[i],
        rss: rss[i],
        vsPar: par / med[i],
        vsSingle: single / med[i],
        isOurs: i === 0,
      });
    });
    // Steady state: the second pass of a two-pass run (pool warm), same file.
    const steady = [];
    for (let r = 0; r < reps; r++) {
      const res = sh(`${node} ${self} --run ${codec} ${tar} ${out('ours')} --threads ${threads} --passes 2`);
      steady.push(res.passSec[1]);
    }
    const warm = median(steady);
    console.log(`\n## ${codec}: ours = ${(par / ours).toFixed(2)}x the parallel tool, ${(single / ours).toFixed(2)}x the single-threaded tool`);
    console.log('| command | MB/s | ratio | median s (all) | vs parallel | vs single | CPU s (user+sys) | max RSS |');
    console.log('|---|---|---|---|---|---|---|---|');
    for (const r of rows.filter((x) => x.codec === codec)) {
      console.log(
        `| ${r.label} | ${r.mbps.toFixed(1)} | ${r.ratio.toFixed(2)} | ${r.sec.toFixed(2)} (${r.all.map((t) => t.toFixed(2)).join(', ')}) | ${r.vsPar.toFixed(2)}x | ${r.vsSingle.toFixed(2)}x | ${r.cpu?.toFixed(2) ?? ''} | ${r.rss ? r.rss + ' MiB' : ''} |`,
      );
    }
    console.log(
      `| ours, 2nd pass in one process (warm pool, no start-up) | ${(size / 1e6 / warm).toFixed(1)} | | ${warm.toFixed(2)} (${steady.map((t) => t.toFixed(2)).join(', ')}) | ${(par / warm).toFixed(2)}x | ${(single / warm).toFixed(2)}x | | |`,
    );
  }

  if (process.argv.includes('--decompress')) {
    console.log('\n## decompression (restore side): ours vs the CLI, same files');
    console.log('| input | ours MB/s (out) | CLI MB/s (out) | ours / CLI | our max RSS |');
    console.log('|---|---|---|---|---|');
    for (const codec of codecs) {
      const file = join(OUT, `bench-in.${codec}`);
      const make = codec === 'gzip' ? 'gzip -6' : codec === 'bzip2' ? 'bzip2 -9' : 'xz -6 -T2';
      sh(`${make} < ${tar} > ${file}`);
      const tool = codec === 'gzip' ? 'gzip' : codec === 'bzip2' ? 'bzip2' : 'xz';
      const ours = [];
      const theirs = [];
      let rss;
      for (let r = 0; r < reps; r++) {
        const o = sh(`${node} ${self} --unpack ${file} ${out('unpacked')}`);
        ours.push(o.sec);
        rss = o.rss;
        if (r === 0) sh(`cmp -s ${out('unpacked')} ${tar}`);
        theirs.push(sh(`${tool} -dc < ${file} > ${out('unpacked')}`).sec);
      }
      const [o, t] = [median(ours), median(theirs)];
      console.log(`| ${codec} (${make}) | ${(size / 1e6 / o).toFixed(1)} | ${(size / 1e6 / t).toFixed(1)} | ${(t / o).toFixed(2)}x | ${rss} MiB |`);
      rmSync(file);
    }
  }
  for (const tag of ['ours', 'tool', 'unpacked']) rmSync(out(tag), { force: true });
  rmSync(CPU_FILE, { force: true });
}

if (process.argv.includes('--run')) await runMode();
else if (process.argv.includes('--unpack')) await unpackMode();
else await benchMode();
