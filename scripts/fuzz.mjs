#!/usr/bin/env node
/**
 * Fuzz the decoders that read untrusted bytes: the archive readers (tar, cpio odc/newc,
 * zip, ISO 9660), the decompressors (gzip, bzip2, xz), the whole input stage (sniff,
 * decompress, detect, read), the tree-object decoder, both LZ4 decoders (TS and WASM,
 * checked against each other) and the broker wire decoder. Runs the compiled code in
 * dist/ (npm run build:ts first).
 *
 *   node scripts/fuzz.mjs [--cases N] [--seed S] [--targets a,b] [--timeout MS] [--jobs J] [--json]
 *   node scripts/fuzz.mjs --targets tar --seed S --case N [--save FILE]   (replay one case)
 *
 * Each target's cases run on a worker thread; a case that does not finish within
 * --timeout is a hang (the worker is stopped, the run resumes after it). Findings: an
 * exception other than the target's documented error class, a multi-line error message,
 * a hang, a crash of the worker (an uncaught error event, an unhandled rejection, out of
 * memory), or more than --mem-limit bytes of buffers held after a case. Exit 1 on any.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { caseSeed, makeRng, mutate } from './fuzz-mutate.mjs';
import { archiveSeeds, distReady, TARGET_NAMES, TARGETS } from './fuzz-targets.mjs';

function parseArgs(argv) {
  const o = { cases: 10000, seed: 1, targets: TARGET_NAMES, timeout: 10000, json: false, memLimit: 256 << 20, jobs: 1, case: undefined, save: undefined };
  for (let i = 0; i < argv.length; i++) {
    const [k, inline] = argv[i].split('=', 2);
    const val = () => inline ?? argv[++i];
    switch (k) {
      case '--cases': o.cases = Number(val()); break;
      case '--seed': o.seed = Number(val()); break;
      case '--targets': o.targets = val().split(','); break;
      case '--timeout': o.timeout = Number(val()); break;
      case '--mem-limit': o.memLimit = Number(val()); break;
      case '--case': o.case = Number(val()); break;
      case '--jobs': o.jobs = Math.max(1, Number(val())); break;
      case '--save': o.save = val(); break;
      case '--json': o.json = true; break;
      default: throw new Error(`unknown option ${argv[i]}`);
    }
  }
  for (const t of o.targets) if (!TARGETS[t]) throw new Error(`unknown target ${t} (targets: ${TARGET_NAMES.join(', ')})`);
  return o;
}

/** Run cases [from, to) of one target on a worker; resolves with its report. */
function runSlice(target, o, from, to, findings) {
  return new Promise((resolve) => {
    // [case running, cases done, parsed, refused]
    const progress = new SharedArrayBuffer(16);
    const shared = new Int32Array(progress);
    const worker = new Worker(new URL('./fuzz-worker.mjs', import.meta.url), {
      workerData: { target, runSeed: o.seed, from, to, progress, memLimit: o.memLimit, archiveSeeds: o.archiveSeeds },
      resourceLimits: { maxOldGenerationSizeMb: 1024 },
      stdout: true,
      stderr: true,
    });
    worker.stdout.resume(); // targets' own chatter is not ours to print
    worker.stderr.resume();
    let lastDone = -1;
    let lastChange = Date.now();
    let settled = false;
    const finish = (report) => {
      if (settled) return;
      settled = true;
      clearInterval(watch);
      resolve(report);
    };
    const resumeAfter = (kind, message) => {
      const at = from + Atomics.load(shared, 1); // the case running when it stopped
      findings.push({ target, kind, case: at, seed: '?', name: kind, message, stack: '' });
      void worker.terminate();
      finish({ resumeAt: at + 1, ok: Atomics.load(shared, 2), expected: Atomics.load(shared, 3) });
    };
    const watch = setInterval(() => {
      const done = Atomics.load(shared, 1);
      if (done !== lastDone) {
        lastDone = done;
        lastChange = Date.now();
      } else if (Date.now() - lastChange > o.timeout) {
        resumeAfter('hang', `case did not finish within ${o.timeout} ms`);
      }
    }, 100);
    worker.on('message', (m) => {
      if (m.op === 'finding') findings.push({ target, ...m });
      else if (m.op === 'done') finish({ report: m });
    });
    worker.on('error', (err) => resumeAfter('worker crash', `${err.code ?? err.name}: ${err.message}`));
    worker.on('exit', (code) => {
      if (!settled) resumeAfter('worker exit', `worker exited with code ${code}`);
    });
  });
}

async function runTarget(target, o, findings) {
  const total = { target, cases: o.cases, ok: 0, expected: 0, errors: new Map(), ms: 0, seeds: 0, maxInput: 0, maxHeld: 0, restarts: 0 };
  const started = performance.now();
  let from = 0;
  while (from < o.cases) {
    const r = await runSlice(target, o, from, o.cases, findings);
    if (r.report) {
      const m = r.report;
      total.ok += m.ok;
      total.expected += m.expected;
      total.seeds = m.seeds;
      total.maxInput = Math.max(total.maxInput, m.maxInput);
      total.maxHeld = Math.max(total.maxHeld, m.maxHeld);
      for (const [k, n] of m.errors) total.errors.set(k, (total.errors.get(k) ?? 0) + n);
      break;
    }
    total.restarts++;
    total.ok += r.ok;
    total.expected += r.expected;
    from = r.resumeAt;
  }
  total.ms = performance.now() - started;
  return total;
}

async function replay(o) {
  const target = o.targets[0];
  const t = await TARGETS[target]();
  const rng = makeRng(caseSeed(o.seed, target, o.case));
  const input = mutate(rng, t.seeds, t.fixup);
  console.log(`${target} seed ${o.seed} case ${o.case}: ${input.bytes.length} bytes from ${input.seed}`);
  if (o.save) writeFileSync(o.save, input.bytes);
  try {
    await t.run(input.bytes, rng);
    console.log('clean parse');
  } catch (err) {
    console.log(t.expected(err) ? `documented error: ${err.message}` : `FINDING: ${err.stack ?? err}`);
    if (!t.expected(err)) process.exitCode = 1;
  }
}

function peakRss() {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync('/proc/self/status', 'utf8'));
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  if (!distReady()) throw new Error('dist/ is missing: run npm run build:ts first');
  if (o.case !== undefined) return replay(o);
  const findings = [];
  const results = [];
  const started = performance.now();
  o.archiveSeeds = await archiveSeeds();
  // --jobs targets at a time, each on its own worker
  const queue = [...o.targets];
  const runNext = async () => {
    for (let target = queue.shift(); target !== undefined; target = queue.shift()) {
      const r = await runTarget(target, o, findings);
      results.push(r);
      if (!o.json) {
        const mine = findings.filter((f) => f.target === target).length;
        console.log(`${target.padEnd(10)} ${String(r.cases).padStart(6)} cases  ${String(r.ok).padStart(6)} parsed  ${String(r.expected).padStart(6)} refused  ${(r.ms / 1000).toFixed(1).padStart(6)} s  ${r.seeds} seeds  ${mine} findings`);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(o.jobs, o.targets.length) }, runNext));
  results.sort((a, b) => o.targets.indexOf(a.target) - o.targets.indexOf(b.target));
  const summary = {
    seed: o.seed,
    casesPerTarget: o.cases,
    seconds: (performance.now() - started) / 1000,
    peakRss: peakRss(),
    targets: results.map((r) => ({ ...r, errors: [...r.errors].sort((a, b) => b[1] - a[1]).slice(0, 8) })),
    findings,
  };
  if (o.json) console.log(JSON.stringify(summary));
  else {
    for (const f of findings) console.log(`FINDING ${f.target} case ${f.case} (${f.kind}, seed ${f.seed}): ${f.name}: ${f.message}\n${f.stack}`);
    console.log(`${findings.length} findings, ${summary.seconds.toFixed(1)} s`);
  }
  if (findings.length > 0) process.exitCode = 1;
}

main().catch((err) => {
  console.error(`fuzz: ${err.stack ?? err}`);
  process.exitCode = 2;
});
