// KVS-like tar data for the compression tests and benchmark: one ustar header per value,
// values are JSON eventlogs, jobspecs and R objects of 300-3000 bytes, as a flux-dump of
// a busy job store looks. Deterministic (seeded PRNG), no clock, no dependencies.
//
//   node bench/compress-data.mjs OUT.tar [MiB]     writes a tar of about MiB mebibytes

const BLOCK = 512;
const textEncoder = new TextEncoder();

/** mulberry32: small, fast, good enough to make varied but repeatable data. */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const USERS = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank', 'grace', 'heidi'];
const QUEUES = ['batch', 'debug', 'pbatch', 'pdebug'];
const EVENTS = ['submit', 'validate', 'depend', 'priority', 'alloc', 'start', 'finish', 'release', 'free', 'clean'];

function eventlog(rnd, t0, max) {
  const lines = [];
  let t = t0;
  let size = 0;
  for (let i = 0; size < max; i++) {
    t += rnd() * 5;
    const name = EVENTS[i % EVENTS.length];
    const ctx =
      name === 'submit'
        ? `{"userid":${5000 + Math.floor(rnd() * 3000)},"urgency":16,"flags":0,"version":1}`
        : name === 'finish'
          ? `{"status":${rnd() < 0.9 ? 0 : 256}}`
          : name === 'alloc'
            ? `{"annotations":{"sched":{"resource_summary":"rank[${Math.floor(rnd() * 64)}]/core[0-${Math.floor(rnd() * 36)}]"}}}`
            : name === 'priority'
              ? `{"priority":${Math.floor(rnd() * 4294967295)}}`
              : '{}';
    const line = `{"timestamp":${t.toFixed(7)},"name":"${name}","context":${ctx}}\n`;
    lines.push(line);
    size += line.length;
  }
  return lines.join('');
}

function jobspec(rnd) {
  const user = USERS[Math.floor(rnd() * USERS.length)];
  const nodes = 1 + Math.floor(rnd() * 16);
  const args = [];
  const nargs = Math.floor(rnd() * 8);
  for (let i = 0; i < nargs; i++) args.push(`"--opt${Math.floor(rnd() * 100)}=${Math.floor(rnd() * 1e6)}"`);
  return (
    `{"resources":[{"type":"node","count":${nodes},"with":[{"type":"slot","count":1,"with":[{"type":"core","count":${1 + Math.floor(rnd() * 36)}}],"label":"task"}]}],` +
    `"tasks":[{"command":["/usr/bin/app${Math.floor(rnd() * 20)}"${args.length ? ',' + args.join(',') : ''}],"slot":"task","count":{"per_slot":1}}],` +
    `"attributes":{"system":{"duration":${Math.floor(rnd() * 86400)},"queue":"${QUEUES[Math.floor(rnd() * QUEUES.length)]}",` +
    `"cwd":"/g/g${Math.floor(rnd() * 99)}/${user}/run${Math.floor(rnd() * 1e4)}","environment":{"HOME":"/home/${user}","USER":"${user}",` +
    `"PATH":"/usr/local/bin:/usr/bin:/bin","FLUX_JOB_TAG":"${Math.floor(rnd() * 1e9).toString(36)}"}},"user":{}},"version":1}`
  );
}

function rObject(rnd, t0) {
  const ranks = [];
  const n = 1 + Math.floor(rnd() * 12);
  for (let i = 0; i < n; i++) {
    const r = Math.floor(rnd() * 1024);
    ranks.push(`{"rank":"${r}","children":{"core":"0-${Math.floor(rnd() * 36)}","gpu":"${Math.floor(rnd() * 4)}"}}`);
  }
  const hosts = ranks.map((_, i) => `node${Math.floor(rnd() * 1024) + i}`).join(',');
  return (
    `{"version":1,"execution":{"R_lite":[${ranks.join(',')}],"starttime":${t0.toFixed(1)},` +
    `"expiration":${(t0 + rnd() * 86400).toFixed(1)},"nodelist":["${hosts}"]}}`
  );
}

function octal(buf, off, len, value) {
  const s = value.toString(8).padStart(len - 1, '0');
  for (let i = 0; i < len - 1; i++) buf[off + i] = s.charCodeAt(i);
  buf[off + len - 1] = 0;
}

function ustarHeader(name, size, mtime) {
  const h = new Uint8Array(BLOCK);
  h.set(textEncoder.encode(name).subarray(0, 100), 0);
  octal(h, 100, 8, 0o644);
  octal(h, 108, 8, 1000);
  octal(h, 116, 8, 1000);
  octal(h, 124, 12, size);
  octal(h, 136, 12, mtime);
  h.fill(0x20, 148, 156);
  h[156] = 0x30; // '0' regular file
  h.set(textEncoder.encode('ustar\x0000'), 257);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += h[i];
  octal(h, 148, 7, sum);
  h[155] = 0x20;
  return h;
}

/**
 * Yield the tar as blocks of whole entries, about `blockBytes` each, totalling about
 * `totalBytes` (ends with the two zero blocks of the end-of-archive marker).
 */
export function* kvsTarChunks(totalBytes, { seed = 42, blockBytes = 1 << 20 } = {}) {
  const rnd = prng(seed);
  let produced = 0;
  let pending = [];
  let pendingBytes = 0;
  for (let job = 0; produced + pendingBytes < totalBytes; job++) {
    const t0 = 1.7e9 + job * 3.7;
    const id = (0x10000000 + job * 7919).toString(16);
    const dir = `job/${id.slice(0, 4)}/${id.slice(4)}`;
    const values = [
      [`${dir}/eventlog`, eventlog(rnd, t0, 300 + rnd() * 2700)],
      [`${dir}/jobspec`, jobspec(rnd)],
      [`${dir}/R`, rObject(rnd, t0)],
    ];
    for (const [name, text] of values) {
      const body = textEncoder.encode(text);
      const padded = Math.ceil(body.length / BLOCK) * BLOCK;
      const entry = new Uint8Array(BLOCK + padded);
      entry.set(ustarHeader(name, body.length, Math.floor(t0)), 0);
      entry.set(body, BLOCK);
      pending.push(entry);
      pendingBytes += entry.length;
    }
    if (pendingBytes >= blockBytes) {
      yield joinParts(pending, pendingBytes);
      produced += pendingBytes;
      pending = [];
      pendingBytes = 0;
    }
  }
  pending.push(new Uint8Array(2 * BLOCK));
  yield joinParts(pending, pendingBytes + 2 * BLOCK);
}

function joinParts(parts, total) {
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** The whole tar in one buffer. */
export function kvsTar(totalBytes, opts) {
  const parts = [...kvsTarChunks(totalBytes, opts)];
  return joinParts(parts, parts.reduce((n, p) => n + p.length, 0));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { createWriteStream } = await import('node:fs');
  const [out, mib = '100'] = process.argv.slice(2);
  if (!out) {
    console.error('usage: node bench/compress-data.mjs OUT.tar [MiB]');
    process.exit(2);
  }
  const ws = createWriteStream(out);
  for (const chunk of kvsTarChunks(Number(mib) * 1024 * 1024)) {
    if (!ws.write(chunk)) await new Promise((r) => ws.once('drain', r));
  }
  ws.end();
  await new Promise((r) => ws.once('finish', r));
}
