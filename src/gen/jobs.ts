/**
 * Job-shaped KVS content, deterministic for a seed: keys and value sizes modelled on
 * real Flux jobs (see the fixtures): job/<FLUID dothex as 4 levels>/{eventlog, jobspec,
 * R, J, guest/exec/eventlog, guest/input, guest/output}, plus a few top-level keys.
 */

/** mulberry32: tiny, fast, good enough for test data. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface GenValue {
  /** Path components below the job directory. */
  key: string[];
  /** One element per append (a valref of several blobs); a single element otherwise. */
  parts: string[];
}

export interface GenJob {
  /** FLUID dothex components, e.g. ['0000','0004','b200','0000']. */
  dirs: string[];
  values: GenValue[];
}

export interface JobShape {
  /** Appends per eventlog (1 = a restored store; live stores have ~10). */
  appends: number;
  /** Multiply value sizes (big-values shape). */
  sizeFactor: number;
}

const EVENTS = ['submit', 'validate', 'depend', 'priority', 'alloc', 'start', 'finish', 'release', 'free', 'clean'];
const USERS = ['alice', 'bob', 'carol', 'dave', 'erin'];

function pick<T>(rnd: () => number, xs: readonly T[]): T {
  return xs[Math.floor(rnd() * xs.length)]!;
}

function filler(rnd: () => number, n: number): string {
  const words = ['node', 'core', 'gpu', 'rank', 'task', 'slot', 'exec', 'shell', 'env', 'path'];
  let s = '';
  while (s.length < n) s += pick(rnd, words) + (Math.floor(rnd() * 1000)).toString() + ' ';
  return s.slice(0, n);
}

function fluidDothex(id: bigint): string[] {
  const hex = id.toString(16).padStart(16, '0');
  return [hex.slice(0, 4), hex.slice(4, 8), hex.slice(8, 12), hex.slice(12, 16)];
}

function eventlog(rnd: () => number, t0: number, names: readonly string[], extra: number): string[] {
  let t = t0;
  return names.map((name) => {
    t += rnd() * 2;
    const ctx = name === 'submit' ? `{"userid":${1000 + Math.floor(rnd() * 50)},"urgency":16,"flags":0,"version":1}` : `{"note":"${filler(rnd, extra)}"}`;
    return `{"timestamp":${t.toFixed(7)},"name":"${name}","context":${ctx}}\n`;
  });
}

/** Split an eventlog's lines into `appends` blobs (first blob holds the rest if fewer). */
function asAppends(lines: string[], appends: number): string[] {
  if (appends <= 1) return [lines.join('')];
  const n = Math.min(appends, lines.length);
  const head = lines.slice(0, lines.length - n + 1).join('');
  return [head, ...lines.slice(lines.length - n + 1)];
}

export function* generateJobs(count: number, seed: number, shape: JobShape): Generator<GenJob> {
  const rnd = prng(seed);
  let ms = 1_700_000_000_000n - 1_600_000_000_000n; // ms since the Flux epoch of the instance
  let t = 1_700_000_000;
  const f = shape.sizeFactor;
  for (let i = 0; i < count; i++) {
    ms += BigInt(1 + Math.floor(rnd() * 50));
    t += rnd() * 5;
    const id = (ms << 24n) | BigInt(Math.floor(rnd() * 1024));
    const user = pick(rnd, USERS);
    const jobspec = `{"resources":[{"type":"slot","count":${1 + Math.floor(rnd() * 8)},"with":[{"type":"core","count":1}],"label":"task"}],"tasks":[{"command":["${filler(rnd, 20 * f)}"],"slot":"task","count":{"per_slot":1}}],"attributes":{"system":{"duration":0,"cwd":"/home/${user}","environment":{"PATH":"${filler(rnd, 200 * f)}"}}},"version":1}`;
    const R = `{"version":1,"execution":{"R_lite":[{"rank":"${Math.floor(rnd() * 64)}","children":{"core":"0-${Math.floor(rnd() * 31)}"}}],"starttime":${t.toFixed(1)},"expiration":${(t + 3600).toFixed(1)},"nodelist":["node${Math.floor(rnd() * 64)}"]}}`;
    const J = filler(rnd, Math.floor((900 + rnd() * 900) * f)).replace(/ /g, '.');
    const output = `{"version":1,"type":"output","data":{"stream":"stdout","rank":"0","data":"${filler(rnd, Math.floor(rnd() * 400 * f))}"}}\n`;
    yield {
      dirs: fluidDothex(id),
      values: [
        { key: ['eventlog'], parts: asAppends(eventlog(rnd, t, EVENTS, 20 * f), shape.appends) },
        { key: ['jobspec'], parts: [jobspec] },
        { key: ['R'], parts: [R] },
        { key: ['J'], parts: [J] },
        { key: ['guest', 'exec', 'eventlog'], parts: asAppends(eventlog(rnd, t, ['init', 'starting', 'shell.init', 'complete', 'done'], 10 * f), shape.appends) },
        { key: ['guest', 'input'], parts: [`{"type":"header","version":1,"encoding":{"stdin":"UTF-8"},"count":{"stdin":1},"options":{}}\n`] },
        { key: ['guest', 'output'], parts: [output] },
      ],
    };
  }
}

/** A few top-level keys every system instance has. */
export function topLevelValues(seed: number): GenValue[] {
  const rnd = prng(seed ^ 0x5eed);
  return [
    { key: ['resource', 'R'], parts: [`{"version":1,"execution":{"R_lite":[{"rank":"0-63","children":{"core":"0-31"}}],"nodelist":["node[0-63]"]}}`] },
    { key: ['resource', 'eventlog'], parts: [`{"timestamp":1700000000.0,"name":"resource-define","context":{"method":"configuration"}}\n`] },
    { key: ['checkpoint', 'job-manager'], parts: [`{"version":1,"max_jobid":${Math.floor(rnd() * 1e9)},"queue":[]}`] },
    { key: ['version'], parts: ['1'] },
  ];
}
