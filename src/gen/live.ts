/**
 * The production-shaped jobs store: written the way a running Flux instance writes its
 * content store, one commit after another, so that it holds what real stores hold:
 * the live tree interleaved (in rowid order) with the garbage every commit leaves.
 *
 * A KVS commit stores the new value blobs (each append is one more blob of the value's
 * valref), then every directory on the path from a changed key up to the root, since a
 * directory names its children by digest. The previous versions of those directories
 * stay in the store as garbage. The model:
 * - jobs are submitted in bursts (as `flux submit --cc` or a workflow does), several
 *   in the same millisecond, so jobs share the FLUID dothex directories job/c1/c2/c3
 *   (c3 is the submit millisecond); they come in waves of `wave` jobs, each run to
 *   completion before the next;
 * - each job's eventlog grows by one event per commit (submit, validate, depend,
 *   priority, alloc with R, start, finish, release, free, clean: a valref of 10 blobs);
 *   jobspec and J are written with the submit event;
 * - the scheduler runs `running` jobs at once; a running job writes its guest
 *   namespace (exec eventlog of 6 events, input header, output header and data) in
 *   commits of its own, which rewrite only that namespace's root (and exec/);
 *   when the job's shell is done the namespace's root is linked at job.<id>.guest;
 * - the primary namespace merges commits that arrive within `mergeMs` of each other
 *   into one (as the KVS merges queued commits): one new root for several jobs' ops;
 * - a checkpoint every `checkpointEvery` commits (the newest 4 are kept, as Flux
 *   keeps 5) and the final one at shutdown, after job-manager's checkpoint key.
 * Deterministic for a seed. Memory: the directories of jobs still active, and one
 * encoded entry per finished job in its parent.
 */
import { jsonString } from '../walk/treeobj.js';
import type { Checkpoint } from '../store/checkpoint.js';
import type { BlobWriter } from './blob-writer.js';
import { prng, TextOut, topLevelValues } from './jobs.js';
import { Slab } from './slab.js';

export interface LiveShape {
  /** Mean jobs submitted in the same millisecond (a burst). */
  burst: number;
  /** Mean milliseconds between bursts (default: from the job count, see generateLive). */
  burstGapMs?: number;
  /** Jobs the scheduler runs at once. */
  running: number;
  /** Primary-namespace commits arriving within this many ms are merged into one. */
  mergeMs: number;
  /** Median run time of a job's tasks (ms). */
  runMs: number;
  /** Commits between checkpoints. */
  checkpointEvery: number;
  /** Jobs submitted together, run to completion before the next wave. */
  wave: number;
}

export const LIVE_DEFAULTS: LiveShape = { burst: 2.5, running: 32, mergeMs: 0.3, runMs: 40, checkpointEvery: 5000, wave: 4000 };

/** Between waves: 2^24 ms, so each wave's job ids get a job/c1 directory of their own. */
const WAVE_GAP_MS = 1 << 24;
/** Checkpoints Flux keeps (checkpt_v2): 4 periodic ones and the final one. */
const KEEP_CHECKPOINTS = 5;

export interface LiveResult {
  rootref: string;
  keys: number;
  checkpoints: Checkpoint[];
  commits: number;
}

const dirrefText = (ref: string) => `{"data":["${ref}"],"type":"dirref","ver":1}`;

function valrefText(refs: readonly string[]): string {
  return '{"data":["' + refs.join('","') + '"],"type":"valref","ver":1}';
}

/**
 * A directory in memory: names in canonical order (all ASCII here, so UTF-16 order is
 * byte order), each a subdirectory or an encoded tree object. `ref` is its blobref once
 * stored, null while it has changes not yet stored.
 */
class Dir {
  readonly names: string[] = [];
  readonly quoted: string[] = [];
  readonly ents: (Dir | string)[] = [];
  ref: string | null = null;
  entry = '';

  #find(name: string): number {
    let lo = 0;
    let hi = this.names.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.names[mid]! < name) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  get(name: string): Dir | string | undefined {
    const i = this.#find(name);
    return this.names[i] === name ? this.ents[i] : undefined;
  }

  set(name: string, v: Dir | string): void {
    const i = this.#find(name);
    if (this.names[i] === name) this.ents[i] = v;
    else {
      this.names.splice(i, 0, name);
      this.quoted.splice(i, 0, jsonString(name));
      this.ents.splice(i, 0, v);
    }
  }

  /** The subdirectory `name`, made if missing. */
  sub(name: string): Dir {
    const e = this.get(name);
    if (e instanceof Dir) return e;
    if (e !== undefined) throw new Error(`${name} is not a directory`);
    const d = new Dir();
    this.set(name, d);
    return d;
  }
}

/** Stores the changed directories under `dir` (children first); returns its blobref. */
function flush(dir: Dir, w: BlobWriter, slab: Slab): string {
  if (dir.ref !== null) return dir.ref;
  let s = '{"data":{';
  const { quoted, ents } = dir;
  for (let i = 0; i < ents.length; i++) {
    const e = ents[i]!;
    let text: string;
    if (typeof e === 'string') text = e;
    else {
      flush(e, w, slab);
      text = e.entry;
    }
    s += (i === 0 ? '' : ',') + quoted[i]! + ':' + text;
  }
  s += '},"type":"dir","ver":1}';
  const ref = w.put(slab.utf8(s));
  dir.ref = ref;
  dir.entry = dirrefText(ref);
  return ref;
}

/** Marks the directories on `path` (below `root`) changed; returns the last one. */
function touch(root: Dir, path: readonly string[]): Dir {
  root.ref = null;
  let d = root;
  for (const name of path) {
    d = d.sub(name);
    d.ref = null;
  }
  return d;
}

const USERS = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace'];
const COMMANDS = ['hostname', 'sleep', 'python3', 'mpirun', 'lmp', 'make', 'srun-compat', 'bash'];

/** Step numbers of a job's life; P = primary namespace commit, G = guest namespace. */
const S = {
  submit: 0, // P jobspec, J, eventlog submit
  validate: 1,
  depend: 2,
  priority: 3, // then it waits for the scheduler
  alloc: 4, // P eventlog alloc, R
  start: 5,
  execInit: 6, // G exec.eventlog
  execStarting: 7,
  shellInit: 8, // G input, output header, exec.eventlog shell.init
  shellStart: 9,
  output: 10, // G output data
  complete: 11,
  done: 12,
  link: 13, // P guest -> the namespace's root
  finish: 14,
  release: 15,
  free: 16, // frees the job's slot
  clean: 17,
} as const;
const GUEST_FIRST = S.execInit;
const GUEST_LAST = S.done;

interface Job {
  dirs: string[];
  user: string;
  eventlog: string[];
  exec: string[];
  output: string[];
  guest: Dir;
  cores: number;
  rank: number;
}

/** Binary min-heap of (time, sequence) -> (job, step). */
class Events {
  #t: number[] = [];
  #seq: number[] = [];
  #job: Job[] = [];
  #step: number[] = [];
  #n = 0;

  get size(): number {
    return this.#t.length;
  }

  #less(i: number, j: number): boolean {
    return this.#t[i]! < this.#t[j]! || (this.#t[i] === this.#t[j] && this.#seq[i]! < this.#seq[j]!);
  }

  #swap(i: number, j: number): void {
    const t = this.#t, q = this.#seq, jb = this.#job, st = this.#step;
    [t[i], t[j]] = [t[j]!, t[i]!];
    [q[i], q[j]] = [q[j]!, q[i]!];
    [jb[i], jb[j]] = [jb[j]!, jb[i]!];
    [st[i], st[j]] = [st[j]!, st[i]!];
  }

  push(t: number, job: Job, step: number): void {
    let i = this.#t.length;
    this.#t.push(t);
    this.#seq.push(this.#n++);
    this.#job.push(job);
    this.#step.push(step);
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.#less(i, p)) break;
      this.#swap(i, p);
      i = p;
    }
  }

  peekTime(): number {
    return this.#t[0]!;
  }

  pop(): { t: number; job: Job; step: number } {
    const top = { t: this.#t[0]!, job: this.#job[0]!, step: this.#step[0]! };
    const last = this.#t.length - 1;
    this.#swap(0, last);
    this.#t.pop();
    this.#seq.pop();
    this.#job.pop();
    this.#step.pop();
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < last && this.#less(l, m)) m = l;
      if (r < last && this.#less(r, m)) m = r;
      if (m === i) break;
      this.#swap(i, m);
      i = m;
    }
    return top;
  }
}

function dothex(id: bigint): string[] {
  const hex = id.toString(16).padStart(16, '0');
  return [hex.slice(0, 4), hex.slice(4, 8), hex.slice(8, 12), hex.slice(12, 16)];
}

/** Base64 of ASCII bytes (J holds the jobspec signed with sign-type none). */
function base64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('base64url');
}

const J_HEADER = Buffer.from('{"version":1,"mechanism":"none","userid":').toString('base64url');
const GUEST_INPUT = '{"type":"header","version":1,"encoding":{"stdin":"UTF-8"},"count":{"stdin":1},"options":{}}\n';
/** Unix time of the instance's first job (the checkpoint timestamps follow it). */
const EPOCH_S = 1_795_690_000;

/**
 * Writes a production-shaped jobs store into `w`: `jobs` jobs, seeded by `seed`.
 * Returns the final root and the checkpoints to write (oldest first).
 */
export function generateLive(w: BlobWriter, jobs: number, seed: number, shape: LiveShape = LIVE_DEFAULTS): LiveResult {
  const rnd = prng(seed);
  const uniform = (a: number, b: number) => a + rnd() * (b - a);
  const out = new TextOut();
  const slab = new Slab();
  const text = (s: string) => slab.utf8(s);
  const root = new Dir();
  const events = new Events();
  const ready: Job[] = [];
  let running = 0;
  let keys = 0;
  let commits = 0;
  const checkpoints: Checkpoint[] = [];
  /** Blobs of the open commit, hashed together when it ends. */
  const pending: Uint8Array[] = [];
  /** Where each pending blob's blobref goes. */
  const sinks: string[][] = [];
  /** Values to re-encode once their refs are known: [dir, name, refs]. */
  const valrefs: [Dir, string, string[]][] = [];
  /** Finished jobs: their directory becomes one encoded entry after the commit. */
  const frozen: Job[] = [];

  const addBlob = (bytes: Uint8Array, refs: string[]) => {
    pending.push(bytes);
    sinks.push(refs);
  };
  const storeBlobs = () => {
    if (pending.length === 0) return;
    const refs = w.putMany(pending);
    for (let i = 0; i < refs.length; i++) sinks[i]!.push(refs[i]!);
    pending.length = 0;
    sinks.length = 0;
    for (const [dir, name, r] of valrefs) dir.set(name, valrefText(r));
    valrefs.length = 0;
  };
  /** A value of `refs` (gaining one blob now) at `name` in `dir`. */
  const append = (dir: Dir, name: string, refs: string[], bytes: Uint8Array) => {
    addBlob(bytes, refs);
    valrefs.push([dir, name, refs]);
  };

  // The instance's first commit: its top-level keys (job-manager's checkpoint is last).
  const top = topLevelValues(seed);
  for (const v of top.filter((v) => v.key[0] !== 'checkpoint')) {
    const dir = touch(root, v.key.slice(0, -1));
    append(dir, v.key[v.key.length - 1]!, [], text(v.parts[0]!));
    keys++;
  }
  storeBlobs();
  let rootref = flush(root, w, slab);
  commits++;

  // Submission: bursts of jobs in one millisecond (they share c3 = the millisecond),
  // bursts spaced so that job/c1/c2 (one entry per millisecond with submits) and
  // job/c1 (one per 256 ms window) grow alike: the smallest upper directories that
  // many jobs submitted at once can have in Flux's layout. Jobs come in waves of
  // `wave` (a day's work), far enough apart to get a c1 directory of their own
  // (2^24 ms), each run to completion before the next: so the cost per job does not
  // grow with the store.
  let ms = 1_795_690_000_000n - 1_600_000_000_000n; // ms since the Flux epoch of the instance
  let t = 0;
  const submitWave = (count: number) => {
    const gapMs = shape.burstGapMs ?? Math.max(1, 256 / Math.sqrt(count / shape.burst));
    let seq = 0;
    for (let i = 0; i < count; i++) {
      if (i > 0 && rnd() >= 1 - 1 / shape.burst) {
        const gap = 1 + Math.floor(-Math.log(1 - rnd()) * gapMs);
        ms += BigInt(gap);
        t += gap;
        seq = 0;
      } else if (i > 0) seq++;
      const id = (ms << 24n) | BigInt(seq);
      const job: Job = {
        dirs: ['job', ...dothex(id)],
        user: USERS[Math.floor(rnd() * USERS.length)]!,
        eventlog: [],
        exec: [],
        output: [],
        guest: new Dir(),
        cores: 1 + Math.floor(rnd() * 16),
        rank: Math.floor(rnd() * 64),
      };
      events.push(t, job, S.submit);
    }
  };

  const ts = (tm: number) => (EPOCH_S + tm / 1000).toFixed(7);
  /** One eventlog line, the context filled to look like flux-core's. */
  const line = (tm: number, name: string, context: string | null): Uint8Array => {
    out.begin();
    out.text(`{"timestamp":${ts(tm)},"name":"${name}"`);
    if (context !== null) out.text(`,"context":${context}`);
    else {
      out.text(',"context":{"note":"');
      out.filler(rnd, 10 + rnd() * 90);
      out.text('"}');
    }
    out.text('}\n');
    return out.end();
  };
  const jobDir = (job: Job) => touch(root, job.dirs);

  /** Applies one step of a job at time tm and schedules its next one. */
  const step = (job: Job, s: number, tm: number): void => {
    const nextAt = (dt: number, st: number) => events.push(tm + dt, job, st);
    switch (s) {
      case S.submit: {
        const dir = jobDir(job);
        out.begin();
        out.text(`{"resources":[{"type":"slot","count":1,"with":[{"type":"core","count":${job.cores}}],"label":"task"}],"tasks":[{"command":["${COMMANDS[Math.floor(rnd() * COMMANDS.length)]}","`);
        out.filler(rnd, 4 + rnd() * 60);
        out.text(`"],"slot":"task","count":{"per_slot":1}}],"attributes":{"system":{"duration":0,"cwd":"/home/${job.user}","shell":{"options":{"rlimit":{"cpu":-1,"fsize":-1,"data":-1,"stack":8388608,"core":0,"nofile":1048576,"as":-1,"rss":-1,"nproc":4194304}}},"environment":{"PATH":"`);
        out.filler(rnd, Math.min(1850, 180 + -Math.log(1 - rnd()) * 220));
        out.text(`","HOME":"/home/${job.user}","USER":"${job.user}"}}},"version":1}`);
        const jobspec = out.end();
        append(dir, 'jobspec', [], jobspec);
        const userid = 1000 + USERS.indexOf(job.user);
        append(dir, 'J', [], text(`${J_HEADER}${userid}fQ.${base64(jobspec)}.none`));
        append(dir, 'eventlog', job.eventlog, line(tm, 'submit', `{"userid":${userid},"urgency":16,"flags":0,"version":1}`));
        keys += 3;
        nextAt(uniform(0.1, 1), S.validate);
        return;
      }
      case S.validate:
        append(jobDir(job), 'eventlog', job.eventlog, line(tm, 'validate', null));
        nextAt(uniform(0.1, 1), S.depend);
        return;
      case S.depend:
        append(jobDir(job), 'eventlog', job.eventlog, line(tm, 'depend', null));
        nextAt(uniform(0.1, 1), S.priority);
        return;
      case S.priority:
        append(jobDir(job), 'eventlog', job.eventlog, line(tm, 'priority', '{"priority":16}'));
        ready.push(job);
        return;
      case S.alloc: {
        const dir = jobDir(job);
        const cores = job.cores > 1 ? `0-${job.cores - 1}` : '0';
        append(dir, 'eventlog', job.eventlog, line(tm, 'alloc', `{"annotations":{"sched":{"queue":"batch","resource_summary":"rank${job.rank}/core[${cores}]"}}}`));
        const start = EPOCH_S + tm / 1000;
        append(dir, 'R', [], text(`{"version":1,"execution":{"R_lite":[{"rank":"${job.rank}","children":{"core":"${cores}"}}],"starttime":${start.toFixed(1)},"expiration":${(start + 3600).toFixed(1)},"nodelist":["node${job.rank + 1}"],"properties":{"batch":"${job.rank}"}}${job.cores > 8 ? ',"scheduling":{"graph":"rv1"}' : ''}}`));
        keys++;
        nextAt(uniform(0.5, 2), S.start);
        return;
      }
      case S.start:
        append(jobDir(job), 'eventlog', job.eventlog, line(tm, 'start', null));
        nextAt(uniform(0.5, 2), S.execInit);
        return;
      case S.execInit:
        append(touch(job.guest, ['exec']), 'eventlog', job.exec, line(tm, 'init', `{"leader-rank":${job.rank},"size":1}`));
        nextAt(uniform(0.2, 1), S.execStarting);
        return;
      case S.execStarting:
        append(touch(job.guest, ['exec']), 'eventlog', job.exec, line(tm, 'starting', null));
        nextAt(uniform(2, 6), S.shellInit);
        return;
      case S.shellInit: {
        const g = touch(job.guest, []);
        append(g, 'input', [], text(GUEST_INPUT));
        out.begin();
        out.text(`{"type":"header","version":1,"encoding":{"stdout":"UTF-8","stderr":"UTF-8"},"count":{"stdout":1,"stderr":1},"options":{}}\n`);
        append(g, 'output', job.output, out.end());
        append(touch(job.guest, ['exec']), 'eventlog', job.exec, line(tm, 'shell.init', `{"service":"${1000 + USERS.indexOf(job.user)}-shell-${job.dirs.slice(1).join('')}","leader-rank":${job.rank},"size":1}`));
        keys += 2;
        nextAt(uniform(0.5, 2), S.shellStart);
        return;
      }
      case S.shellStart:
        append(touch(job.guest, ['exec']), 'eventlog', job.exec, line(tm, 'shell.start', `{"task-count":${job.cores}}`));
        nextAt(shape.runMs * Math.exp(rnd() - 0.5) * 0.5, S.output);
        return;
      case S.output: {
        out.begin();
        out.text('{"type":"data","name":"stdout","rank":"0","data":"');
        out.filler(rnd, 8 + rnd() * 110);
        out.text('\\n"}\n');
        append(touch(job.guest, []), 'output', job.output, out.end());
        nextAt(shape.runMs * Math.exp(rnd() - 0.5) * 0.5, S.complete);
        return;
      }
      case S.complete:
        append(touch(job.guest, ['exec']), 'eventlog', job.exec, line(tm, 'complete', '{"status":0}'));
        nextAt(uniform(0.5, 2), S.done);
        return;
      case S.done:
        append(touch(job.guest, ['exec']), 'eventlog', job.exec, line(tm, 'done', null));
        keys++;
        nextAt(uniform(0.2, 1), S.link);
        return;
      case S.link:
        // The namespace's last commit stored its root: the job directory names it.
        jobDir(job).set('guest', job.guest.entry);
        nextAt(uniform(0.1, 0.5), S.finish);
        return;
      case S.finish:
        append(jobDir(job), 'eventlog', job.eventlog, line(tm, 'finish', '{"status":0}'));
        nextAt(uniform(0.2, 1), S.release);
        return;
      case S.release:
        append(jobDir(job), 'eventlog', job.eventlog, line(tm, 'release', `{"ranks":"all","final":true}`));
        nextAt(uniform(0.2, 1), S.free);
        return;
      case S.free:
        append(jobDir(job), 'eventlog', job.eventlog, line(tm, 'free', null));
        running--;
        nextAt(uniform(0.2, 1), S.clean);
        return;
      case S.clean:
        append(jobDir(job), 'eventlog', job.eventlog, line(tm, 'clean', null));
        frozen.push(job);
        return;
    }
  };

  /** The scheduler starts waiting jobs in submit order while slots are free. */
  let readyAt = 0;
  const schedule = (tm: number) => {
    while (running < shape.running && readyAt < ready.length) {
      const job = ready[readyAt++]!;
      running++;
      events.push(tm + uniform(0.1, 0.5), job, S.alloc);
    }
    if (readyAt > 4096) {
      ready.splice(0, readyAt);
      readyAt = 0;
    }
  };

  let lastT = 0;
  for (let submitted = 0; submitted < jobs; submitted += shape.wave) {
    if (submitted > 0) {
      const skip = Math.ceil(lastT - t) + WAVE_GAP_MS;
      t += skip;
      ms += BigInt(skip);
    }
    submitWave(Math.min(shape.wave, jobs - submitted));
    while (events.size > 0) {
      const first = events.pop();
      lastT = first.t;
      if (first.step >= GUEST_FIRST && first.step <= GUEST_LAST) {
        // A commit of the job's own namespace: rewrites its root (and exec/).
        step(first.job, first.step, first.t);
        storeBlobs();
        flush(first.job.guest, w, slab);
        schedule(first.t);
        continue;
      }
      // A primary commit: every primary op that arrives within mergeMs joins it; guest
      // commits in that time are written as they come.
      step(first.job, first.step, first.t);
      const end = first.t + shape.mergeMs;
      while (events.size > 0 && events.peekTime() < end) {
        const e = events.pop();
        lastT = e.t;
        if (e.step >= GUEST_FIRST && e.step <= GUEST_LAST) {
          step(e.job, e.step, e.t);
          storeBlobs();
          flush(e.job.guest, w, slab);
        } else step(e.job, e.step, e.t);
      }
      storeBlobs();
      rootref = flush(root, w, slab);
      commits++;
      if (commits % shape.checkpointEvery === 0) {
        checkpoints.push({ version: 1, rootref, sequence: commits, timestamp: EPOCH_S + lastT / 1000 });
        if (checkpoints.length > KEEP_CHECKPOINTS - 1) checkpoints.shift();
      }
      // Finished jobs' directories are stored for good: keep only their entries (the
      // same text their parents were encoded with, so the parents' refs stay valid).
      for (const job of frozen) {
        let parent = root;
        for (let i = 0; i < job.dirs.length - 1; i++) parent = parent.get(job.dirs[i]!) as Dir;
        const name = job.dirs[job.dirs.length - 1]!;
        parent.set(name, (parent.get(name) as Dir).entry);
      }
      frozen.length = 0;
      schedule(lastT);
    }
  }

  // Shutdown: job-manager writes its checkpoint, the KVS its final root.
  for (const v of top.filter((v) => v.key[0] === 'checkpoint')) {
    const dir = touch(root, v.key.slice(0, -1));
    append(dir, v.key[v.key.length - 1]!, [], text(v.parts[0]!));
    keys++;
  }
  storeBlobs();
  rootref = flush(root, w, slab);
  commits++;
  checkpoints.push({ version: 1, rootref, sequence: commits, timestamp: EPOCH_S + lastT / 1000 + 1 });
  return { rootref, keys, checkpoints, commits };
}
