/**
 * One fuzz target's cases [from, to), on a worker thread so the parent can stop a case
 * that hangs (a synchronous loop cannot be interrupted from its own thread). The case
 * running and the count done go through shared memory; findings and the final tally
 * come back as messages.
 */
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { parentPort, workerData } from 'node:worker_threads';
import { caseSeed, makeRng, mutate } from './fuzz-mutate.mjs';
import { presetArchiveSeeds, TARGETS } from './fuzz-targets.mjs';

const { target, runSeed, from, to, progress, memLimit, archiveSeeds } = workerData;
const shared = new Int32Array(progress);
/** Garbage from earlier cases is collected first when this much is held. */
const GC_ABOVE = 128 << 20;
setFlagsFromString('--expose-gc'); // workers cannot take it in execArgv
const gc = runInNewContext('gc');

/** An error message with its numbers and the input name abstracted, for the tally. */
function shape(message) {
  return message.replace(/^fuzz: /, '').replace(/0x[0-9a-f]+/gi, 'X').replace(/\d+/g, 'N').slice(0, 120);
}

function describe(err) {
  if (err instanceof Error) return { name: err.name, message: err.message, stack: (err.stack ?? '').split('\n').slice(0, 6).join('\n') };
  return { name: typeof err, message: String(err), stack: '' };
}

if (archiveSeeds) presetArchiveSeeds(archiveSeeds);
const t = await TARGETS[target]();
const errors = new Map();
// tallies live in shared memory too, so a slice that crashes still counts
let ok = 0;
let expected = 0;
let maxInput = 0;
let maxHeld = 0;
const started = performance.now();

for (let i = from; i < to; i++) {
  Atomics.store(shared, 0, i);
  const rng = makeRng(caseSeed(runSeed, target, i));
  const input = mutate(rng, t.seeds, t.fixup); // a harness bug here is a crash, and reported as one
  if (input.bytes.length > maxInput) maxInput = input.bytes.length;
  if (process.memoryUsage().arrayBuffers > GC_ABOVE) gc();
  const before = process.memoryUsage().arrayBuffers;
  try {
    await t.run(input.bytes, rng);
    ok++;
    Atomics.store(shared, 2, ok);
  } catch (err) {
    if (t.expected(err)) {
      expected++;
      Atomics.store(shared, 3, expected);
      const k = shape(err.message);
      errors.set(k, (errors.get(k) ?? 0) + 1);
      // a user-facing error is one line
      if (/[\r\n]/.test(err.message)) parentPort.postMessage({ op: 'finding', kind: 'multi-line error', case: i, seed: input.seed, ...describe(err) });
    } else {
      parentPort.postMessage({ op: 'finding', kind: 'unexpected exception', case: i, seed: input.seed, ...describe(err) });
    }
  }
  const held = process.memoryUsage().arrayBuffers - before;
  if (held > maxHeld) maxHeld = held;
  if (held > memLimit) {
    parentPort.postMessage({ op: 'finding', kind: 'memory', case: i, seed: input.seed, name: 'memory', message: `${held} bytes of buffers held after a ${input.bytes.length}-byte input`, stack: '' });
  }
  Atomics.store(shared, 1, i + 1 - from);
}

parentPort.postMessage({
  op: 'done',
  ok,
  expected,
  errors: [...errors].sort((a, b) => b[1] - a[1]),
  seeds: t.seeds.length,
  maxInput,
  maxHeld,
  ms: performance.now() - started,
});
