/**
 * Fuzz targets: what is fed, from which seeds, and which errors are the documented ones.
 * Seeds are real: flux-core's own dumps and wire captures (../shared/fixtures), the
 * objects of a real content.sqlite, archives our writers and the system tools
 * (bsdtar, bzip2, xz) make from them. Targets run the compiled code in dist/.
 *
 * Property for every target: a case ends in a clean parse or in the target's documented
 * error class (FluxError; TreeObjError for the tree-object decoder), never another
 * exception, never a hang, and with bounded memory. lz4-wasm also checks that the WASM
 * decoder agrees with the TypeScript reference on every input.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync, deflateSync } from 'node:zlib';
import { chunks, hotOffsets } from './fuzz-mutate.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
/** FUZZ_DIST: fuzz another build (e.g. an older commit's, to see what fixes fixed). */
const DIST = process.env.FUZZ_DIST ?? join(ROOT, 'dist');
const FIXTURES = join(ROOT, '..', 'shared', 'fixtures');
const SMALL = join(FIXTURES, 'flux-0.88', 'small');
const OLD = join(FIXTURES, 'flux-core-tests');
const WIRE = join(FIXTURES, 'flux-0.88', 'wire');

const load = (rel) => import(join(DIST, rel));

/** What a reader's output is allowed to cost, per case, beyond what the input holds. */
export const DECOMPRESSED_CAP = 64 << 20;

const enc = new TextEncoder();
const file = (path, text, mtime = 1700000000) => ({ path, type: 'file', data: typeof text === 'string' ? enc.encode(text) : text, linkTarget: '', mode: 0o644, mtime, uid: 0, gid: 0 });
const symlink = (path, target, mtime = 1700000000) => ({ path, type: 'symlink', data: new Uint8Array(0), linkTarget: target, mode: 0o644, mtime, uid: 0, gid: 0 });

/** A small, varied KVS: inline and blob values, symlinks, UTF-8 and long names, depth. */
function seedEntries() {
  const long = 'k'.repeat(140);
  return [
    file('empty', ''),
    file('a/b/c', 'testkey', 0),
    file('x', '0'.repeat(100)),
    file('job/0000/eventlog', '{"timestamp":1.5,"name":"submit"}\n'.repeat(12)),
    symlink('y', 'linkedthing', 0),
    symlink('z', 'smurf::otherthing', 0),
    file('ƒuzzybunny', '42'),
    file(`deep/${long}/${long}`, 'long path'),
    file('big', Uint8Array.from({ length: 1500 }, (_, i) => (i * 7919) & 0xff), 2500000000),
  ];
}

async function writeWith(factory, entries, opts = {}) {
  const w = factory({ stdout: false, ...opts });
  const out = [...(await w.write(entries)), ...(await w.end())];
  return new Uint8Array(Buffer.concat(out));
}

function tool(cmd, args, input) {
  try {
    return new Uint8Array(execFileSync(cmd, args, { input, maxBuffer: 1 << 26, stdio: ['pipe', 'pipe', 'ignore'] }));
  } catch {
    return undefined; // tool missing: the seed is left out
  }
}

const withHot = (name, bytes) => ({ name, bytes, hot: hotOffsets(bytes) });

let archiveSeedCache;

/** Seeds made once by the parent, handed to each worker (spares the tool runs). */
export function presetArchiveSeeds(seeds) {
  archiveSeedCache = seeds;
}

/** Every archive seed, by format. */
export async function archiveSeeds() {
  if (archiveSeedCache) return archiveSeedCache;
  const { tarWriter } = await load('pack/tar/writer.js');
  const { cpioWriter } = await load('pack/cpio/writer.js');
  const { zipWriter } = await load('pack/zip/writer.js');
  const { isoWriter } = await load('pack/iso/writer.js');
  const entries = seedEntries();
  const ours = await writeWith(tarWriter, entries);
  const smallTar = readFileSync(join(SMALL, 'small.tar'));
  const s = { tar: [], 'cpio-odc': [], 'cpio-newc': [], zip: [], iso: [], gzip: [], bzip2: [], xz: [] };
  const add = (kind, name, bytes) => bytes && bytes.length > 0 && s[kind].push(withHot(name, bytes));

  for (const f of ['small.tar', 'small-stdout.tar', 'small-uid4242.tar']) add('tar', f, new Uint8Array(readFileSync(join(SMALL, f))));
  add('tar', 'ours.tar', ours);
  for (const fmt of ['gnutar', 'v7', 'pax', 'ustar']) add('tar', `bsdtar-${fmt}.tar`, tool('bsdtar', ['-cf', '-', '--format', fmt, '@-'], fmt === 'ustar' || fmt === 'v7' ? smallTar : ours));
  for (const f of readdirSync(OLD).sort()) {
    const b = new Uint8Array(readFileSync(join(OLD, f)));
    if (b[0] === 0x42 && b[1] === 0x5a) add('bzip2', f, b);
    else add('tar', f, b);
  }

  add('cpio-odc', 'ours.cpio', await writeWith(cpioWriter, entries));
  add('cpio-odc', 'bsdtar-odc.cpio', tool('bsdtar', ['-cf', '-', '--format', 'odc', '@-'], ours));
  const newc = tool('bsdtar', ['-cf', '-', '--format', 'newc', '@-'], ours);
  add('cpio-newc', 'bsdtar-newc.cpio', newc);
  add('cpio-newc', 'bsdtar-newc-small.cpio', tool('bsdtar', ['-cf', '-', '--format', 'newc', '@-'], smallTar));
  if (newc) {
    const crc = newc.slice();
    for (let p = 0; p + 6 <= crc.length; p++) if (crc[p] === 0x30 && crc[p + 1] === 0x37 && crc[p + 2] === 0x30 && crc[p + 3] === 0x37 && crc[p + 4] === 0x30 && crc[p + 5] === 0x31) crc[p + 5] = 0x32;
    add('cpio-newc', 'newc-070702.cpio', crc);
  }

  add('zip', 'small.zip', new Uint8Array(readFileSync(join(SMALL, 'small.zip'))));
  add('zip', 'ours.zip', await writeWith(zipWriter, entries));
  add('zip', 'bsdtar-store.zip', tool('bsdtar', ['-cf', '-', '--format', 'zip', '--options', 'zip:compression=store', '@-'], ours));
  add('zip', 'bsdtar-deflate.zip', tool('bsdtar', ['-cf', '-', '--format', 'zip', '@-'], ours));

  add('iso', 'small.iso', new Uint8Array(readFileSync(join(SMALL, 'small.iso'))));
  add('iso', 'ours.iso', await writeWith(isoWriter, entries));

  add('gzip', 'small.tar.gz', new Uint8Array(readFileSync(join(SMALL, 'small.tar.gz'))));
  const gz1 = gzipSync(ours.subarray(0, 4096));
  const gz2 = gzipSync(ours.subarray(4096), { level: 1 });
  add('gzip', 'two-members.tar.gz', new Uint8Array(Buffer.concat([gz1, gz2])));
  add('gzip', 'stored.gz', new Uint8Array(gzipSync(ours.subarray(0, 3000), { level: 0 })));
  add('bzip2', 'small.tar.bz2', new Uint8Array(readFileSync(join(SMALL, 'small.tar.bz2'))));
  const bz1 = tool('bzip2', ['-c', '-1'], ours.subarray(0, 5000));
  const bz2 = tool('bzip2', ['-c', '-9'], ours.subarray(5000));
  if (bz1 && bz2) add('bzip2', 'two-streams.tar.bz2', new Uint8Array(Buffer.concat([bz1, bz2])));
  add('xz', 'small.tar.xz', new Uint8Array(readFileSync(join(SMALL, 'small.tar.xz'))));
  const xz1 = tool('xz', ['-c', '-T1', '--check=crc32'], ours.subarray(0, 5000));
  const xz2 = tool('xz', ['-c', '-T1', '--check=sha256', '-0'], ours.subarray(5000));
  if (xz1 && xz2) add('xz', 'two-streams.tar.xz', new Uint8Array(Buffer.concat([xz1, xz2])));
  add('xz', 'crc64.xz', tool('xz', ['-c', '-T1', '--check=crc64'], smallTar));
  add('xz', 'none-check.xz', tool('xz', ['-c', '-T1', '--check=none'], smallTar.subarray(0, 2048)));
  archiveSeedCache = s;
  return s;
}

/** Header blocks of a tar seed (valid checksums), for tarFixup. */
function tarHeaders(bytes, checksumOk) {
  const at = [];
  for (let p = 0; p + 512 <= bytes.length; p += 512) if (checksumOk(bytes.subarray(p, p + 512))) at.push(p);
  return at;
}

const isUstar = (b, p) => b[p + 257] === 0x75 && b[p + 258] === 0x73 && b[p + 259] === 0x74 && b[p + 260] === 0x61 && b[p + 261] === 0x72;

/**
 * Recompute the checksums of header blocks (the seed's, and any block with the ustar
 * magic, wherever mutations moved it), so mutations get past the checksum to the fields.
 */
function tarFixup(bytes, seed) {
  const at = new Set(seed.headers ?? []);
  for (let p = 0; p + 512 <= bytes.length; p += 512) if (isUstar(bytes, p)) at.add(p);
  for (const p of at) {
    if (p + 512 > bytes.length) continue;
    const h = bytes.subarray(p, p + 512);
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i];
    const field = sum.toString(8).padStart(6, '0');
    for (let i = 0; i < 6; i++) h[148 + i] = field.charCodeAt(i);
    h[154] = 0;
    h[155] = 0x20;
  }
  return bytes;
}

/** Read everything a reader yields, and check every key the way restore does. */
async function drainEntries(batches, keyComponents) {
  let n = 0;
  for await (const batch of batches) {
    for (const e of batch) {
      n++;
      if (e.type === 'other') continue;
      try {
        keyComponents(e.path, 'fuzz');
      } catch (err) {
        if (err?.name !== 'FluxError') throw err;
      }
    }
  }
  return n;
}

const readerOptions = (rng) => ({
  sizeLimit: rng.pick([0, 0, 0, 64, 100000]),
  where: 'fuzz',
  ...(rng.chance(0.3) ? { valueCeiling: rng.pick([100, 1024, 1 << 20]) } : {}),
});

async function streamTarget(kind) {
  const [{ ByteStream }, tar, cpio, { keyComponents }, { FluxError }] = await Promise.all([
    load('restore/byte-stream.js'), load('restore/tar.js'), load('restore/cpio.js'), load('restore/paths.js'), load('errors.js'),
  ]);
  const seeds = (await archiveSeeds())[kind];
  if (kind === 'tar') for (const s of seeds) s.headers = tarHeaders(s.bytes, tar.checksumOk);
  return {
    seeds,
    fixup: kind === 'tar' ? tarFixup : undefined,
    expected: (err) => err instanceof FluxError,
    async run(bytes, rng) {
      const src = new ByteStream((async function* () { yield* chunks(rng, bytes); })());
      const opts = readerOptions(rng);
      const batches = kind === 'tar' ? tar.readTar(src, opts) : cpio.readCpio(src, kind === 'cpio-odc' ? 'odc' : 'newc', opts);
      await drainEntries(batches, keyComponents);
    },
  };
}

async function randomAccessTarget(kind) {
  const [ra, { readZip }, { readIso }, { keyComponents }, { FluxError }] = await Promise.all([
    load('restore/random-access.js'), load('restore/zip.js'), load('restore/iso9660.js'), load('restore/paths.js'), load('errors.js'),
  ]);
  // builds from before bytesRandomAccess existed (FUZZ_DIST) get the same thing here
  const bytesRandomAccess = ra.bytesRandomAccess ?? ((bytes, where) => ({
    size: bytes.length,
    async read(offset, length) {
      if (!(offset >= 0 && length >= 0 && offset + length <= bytes.length)) throw new FluxError(`${where}: truncated archive`, 'EPROTO');
      return bytes.slice(offset, offset + length);
    },
    async close() {},
  }));
  return {
    seeds: (await archiveSeeds())[kind],
    expected: (err) => err instanceof FluxError,
    async run(bytes, rng) {
      const input = bytesRandomAccess(bytes, 'fuzz');
      const opts = readerOptions(rng);
      await drainEntries(kind === 'zip' ? readZip(input, opts) : readIso(input, opts), keyComponents);
    },
  };
}

async function decompressTarget(kind) {
  const [{ decompressIterable }, { FluxError }] = await Promise.all([load('compress/decompress.js'), load('errors.js')]);
  return {
    seeds: (await archiveSeeds())[kind],
    expected: (err) => err instanceof FluxError,
    async run(bytes, rng) {
      const opts = { where: 'fuzz', ...(kind === 'gzip' && rng.chance(0.5) ? { gzipEngine: 'fflate' } : {}) };
      let total = 0;
      for await (const out of decompressIterable((async function* () { yield* chunks(rng, bytes); })(), opts)) {
        total += out.length;
        if (total > DECOMPRESSED_CAP) break; // the caller's cap: stop decompressing a bomb
      }
    },
  };
}

/** The whole input stage: sniff compression, decompress, detect the format, read. */
async function archiveTarget() {
  const [{ openArchive }, { keyComponents }, { FluxError }] = await Promise.all([load('restore/input.js'), load('restore/paths.js'), load('errors.js')]);
  const all = await archiveSeeds();
  const seeds = Object.values(all).flat().filter((s) => s.bytes.length < 64 << 10); // ISO spools: keep it quick
  return {
    seeds,
    expected: (err) => err instanceof FluxError,
    async run(bytes, rng) {
      const a = await openArchive('-', { ...readerOptions(rng), stdin: (async function* () { yield* chunks(rng, bytes); })() });
      try {
        await drainEntries(a.entries, keyComponents);
      } finally {
        await a.close();
      }
    },
  };
}

/** Every object of the real small content.sqlite, decompressed; plus the LZ4 rows as stored. */
let storeRows;
async function smallStoreRows() {
  if (storeRows) return storeRows;
  const { default: Database } = await import('better-sqlite3');
  const { lz4DecodeBlockTS } = await load('store/lz4.js');
  // Never open the fixture itself: SQLite leaves -wal/-shm beside a WAL database.
  const dir = mkdtempSync(join(tmpdir(), 'fuzz-seeds-'));
  const copy = join(dir, 'small.sqlite');
  copyFileSync(join(SMALL, 'small.sqlite'), copy);
  const db = new Database(copy, { readonly: true, fileMustExist: true });
  try {
    const rows = db.prepare('SELECT size, object FROM objects').all();
    storeRows = rows.map((r) => {
      const raw = r.object === null ? new Uint8Array(0) : new Uint8Array(r.object);
      return { size: r.size, raw, blob: r.size >= 0 ? lz4DecodeBlockTS(raw, r.size) : raw };
    });
    return storeRows;
  } finally {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

const TYPES = ['val', 'valref', 'dir', 'dirref', 'symlink', 'hdir', 'VAL', '', 1];
const BLOBREFS = ['sha1-' + '0'.repeat(40), 'sha256-' + 'f'.repeat(64), 'sha1-' + 'A'.repeat(40), 'sha1-123', 'md5-' + '0'.repeat(32), ''];

function randomJson(rng, depth = 0) {
  switch (rng.int(depth > 3 ? 6 : 9)) {
    case 0: return null;
    case 1: return rng.chance(0.5);
    case 2: return rng.pick([0, 1, -1, 1.5, 2 ** 53, 1e308, -0]);
    case 3: return rng.pick(['', 'AAAA', 'AA==', 'A===', '!!!!', 'MTIz', 'x'.repeat(1 + rng.int(300)), '\u0000', '\ud800']);
    case 4: return rng.pick(BLOBREFS);
    case 5: return rng.pick(TYPES);
    case 6: return Array.from({ length: rng.int(4) }, () => randomJson(rng, depth + 1));
    case 7: return Object.fromEntries(Array.from({ length: rng.int(4) }, () => [rng.pick(['data', 'type', 'ver', 'target', 'namespace', '__proto__', 'constructor', 'a', '']), randomJson(rng, depth + 1)]));
    default: return { data: randomJson(rng, depth + 1), type: rng.pick(TYPES), ver: rng.pick([1, 1, 1, 0, 2, '1']) };
  }
}

/** Every object and array inside a parsed value, with a way to replace each child. */
function slots(root) {
  const out = [];
  const stack = [root];
  while (stack.length > 0 && out.length < 10000) {
    const v = stack.pop();
    if (v === null || typeof v !== 'object') continue;
    for (const k of Object.keys(v)) {
      out.push({ parent: v, key: k });
      stack.push(v[k]);
    }
  }
  return out;
}

const DEEP = '"@@deep@@"';

/** Structural mutation of a tree object's JSON: change, drop, add, nest, or deepen. */
function mutateTreeJson(bytes, seed, rng) {
  let v;
  try {
    v = JSON.parse(new TextDecoder().decode(rng.chance(0.8) ? seed.bytes : bytes));
  } catch {
    return bytes;
  }
  const n = 1 + rng.int(3);
  let deep = 0;
  for (let i = 0; i < n; i++) {
    const all = slots(v);
    if (all.length === 0) break;
    const { parent, key } = rng.pick(all);
    switch (rng.int(5)) {
      case 0: parent[key] = randomJson(rng); break;
      case 1: if (Array.isArray(parent)) parent.splice(Number(key), 1); else delete parent[key]; break;
      case 2: if (!Array.isArray(parent)) parent[rng.pick(['data', 'type', 'ver', 'x', 'target', 'namespace'])] = randomJson(rng); break;
      case 3: parent[key] = { data: { [rng.pick(['a', 'b', ''])]: parent[key] }, type: 'dir', ver: 1 }; break;
      default: // a directory nested deeper than any parser's stack, spliced in as text below
        parent[key] = JSON.parse(DEEP);
        deep = rng.pick([10, 1000, 1024, 1025, 5000, 20000]);
        i = n;
    }
  }
  let text = JSON.stringify(v);
  if (deep > 0) {
    const open = '{"data":{"a":'.repeat(deep);
    const close = '},"type":"dir","ver":1}'.repeat(deep);
    text = text.replace(DEEP, `${open}{"data":"AA==","type":"val","ver":1}${close}`);
  }
  return enc.encode(text);
}

async function treeobjTarget() {
  const { decodeTreeObj, encodeTreeObj, makeDir, makeVal, TreeObjError } = await load('walk/treeobj.js');
  const rows = await smallStoreRows();
  const seeds = [];
  for (const [i, r] of rows.entries()) if (r.blob[0] === 0x7b) seeds.push(withHot(`small.sqlite#${i}`, r.blob));
  // nested inline directories and odd names
  let d = makeDir(new Map([['v', makeVal(enc.encode('x'))]]));
  for (let i = 0; i < 6; i++) d = makeDir(new Map([[`d${i}`, d], ['\u0001ctl"\\', makeVal(enc.encode('y'))], ['🦀', makeVal(new Uint8Array(3))]]));
  seeds.push(withHot('nested', encodeTreeObj(d)));
  return {
    seeds,
    // half the cases change the JSON structure rather than its bytes
    fixup: (bytes, seed, rng) => (rng.chance(0.6) ? mutateTreeJson(bytes, seed, rng) : bytes),
    expected: (err) => err instanceof TreeObjError,
    async run(bytes) {
      const obj = decodeTreeObj(bytes);
      encodeTreeObj(obj); // whatever decodes must encode
    },
  };
}

/** A block and its declared size travel together: 4 bytes of size (LE), then the block. */
function packLz4(size, block) {
  const b = new Uint8Array(4 + block.length);
  new DataView(b.buffer).setInt32(0, size, true);
  b.set(block, 4);
  return b;
}

async function lz4Seeds() {
  const { lz4EncodeBlockTS } = await load('store/lz4.js');
  const seeds = [];
  for (const [i, r] of (await smallStoreRows()).entries()) if (r.size >= 0) seeds.push(withHot(`small.sqlite#${i}`, packLz4(r.size, r.raw)));
  const archives = await archiveSeeds();
  const raws = [archives.tar[0].bytes.subarray(0, 3000), new Uint8Array(5000).fill(0x61), enc.encode('{"data":"MTIz","type":"val","ver":1}'.repeat(40)), new Uint8Array(deflateSync(archives.tar[0].bytes))];
  for (const [i, raw] of raws.entries()) seeds.push(withHot(`encoded#${i}`, packLz4(raw.length, lz4EncodeBlockTS(raw))));
  return seeds;
}

function unpackLz4(bytes, rng) {
  if (bytes.length < 4) return { size: bytes.length * 3, block: bytes };
  let size = new DataView(bytes.buffer, bytes.byteOffset, 4).getInt32(0, true);
  if (rng.chance(0.05)) size = rng.pick([2 ** 32, 2 ** 40, Number.MAX_SAFE_INTEGER, -1, 0.5]);
  return { size, block: bytes.subarray(4) };
}

async function lz4TsTarget() {
  const [{ lz4DecodeBlockTS }, { FluxError }] = await Promise.all([load('store/lz4.js'), load('errors.js')]);
  return {
    seeds: await lz4Seeds(),
    expected: (err) => err instanceof FluxError,
    async run(bytes, rng) {
      const { size, block } = unpackLz4(bytes, rng);
      lz4DecodeBlockTS(block, size);
    },
  };
}

async function lz4WasmTarget() {
  const [{ initCore }, { lz4, lz4DecodeBlockTS }, { FluxError }] = await Promise.all([load('wasm/init.js'), load('store/lz4.js'), load('errors.js')]);
  await initCore();
  if (lz4.decode === lz4DecodeBlockTS) throw new Error('initCore did not install the WASM LZ4 decoder');
  return {
    seeds: await lz4Seeds(),
    expected: (err) => err instanceof FluxError,
    async run(bytes, rng) {
      const { size, block } = unpackLz4(bytes, rng);
      let wasm;
      let wasmErr;
      try {
        wasm = lz4.decode(block, size);
      } catch (err) {
        wasmErr = err;
      }
      let ref;
      try {
        ref = lz4DecodeBlockTS(block, size);
      } catch (err) {
        if (!(err instanceof FluxError)) throw err;
      }
      // differential: the WASM decoder must agree with the reference, bytes or failure
      if (wasmErr !== undefined) {
        if (ref !== undefined) throw new Error(`WASM decoder failed (${wasmErr.message}) where the reference decoded ${ref.length} bytes`);
        throw wasmErr;
      }
      if (ref === undefined) throw new Error(`WASM decoder accepted a block the reference refuses (size ${size})`);
      if (Buffer.compare(Buffer.from(wasm), Buffer.from(ref)) !== 0) throw new Error(`WASM and reference decoders disagree (size ${size})`);
    },
  };
}

async function wireTarget() {
  const [{ MessageReader, decodeBody }, { FluxError }] = await Promise.all([load('broker/codec.js'), load('errors.js')]);
  const seeds = [];
  for (const f of readdirSync(WIRE).filter((n) => n.endsWith('.jsonl')).sort()) {
    const dirs = { c2s: [], s2c: [] };
    let first = true;
    for (const line of readFileSync(join(WIRE, f), 'utf8').split('\n')) {
      if (!line.trim()) continue;
      const { dir, hex } = JSON.parse(line);
      let b = Buffer.from(hex, 'hex');
      if (dir === 's2c' && first) {
        first = false;
        b = b.subarray(1); // the handshake byte
      }
      dirs[dir].push(b);
    }
    for (const d of ['c2s', 's2c']) {
      const stream = new Uint8Array(Buffer.concat(dirs[d]));
      // a few messages per seed keep cases small and varied
      if (stream.length > 0) seeds.push(withHot(`${f}:${d}`, stream.subarray(0, Math.min(stream.length, 4096))));
    }
  }
  return {
    seeds,
    expected: (err) => err instanceof FluxError,
    async run(bytes, rng) {
      if (rng.chance(0.2)) {
        decodeBody(bytes.subarray(Math.min(8, bytes.length)));
        return;
      }
      const r = new MessageReader();
      let n = 0;
      for (const c of chunks(rng, bytes)) r.push(c, () => n++);
    },
  };
}

export const TARGETS = {
  tar: () => streamTarget('tar'),
  'cpio-odc': () => streamTarget('cpio-odc'),
  'cpio-newc': () => streamTarget('cpio-newc'),
  zip: () => randomAccessTarget('zip'),
  iso: () => randomAccessTarget('iso'),
  gzip: () => decompressTarget('gzip'),
  bzip2: () => decompressTarget('bzip2'),
  xz: () => decompressTarget('xz'),
  archive: archiveTarget,
  treeobj: treeobjTarget,
  'lz4-ts': lz4TsTarget,
  'lz4-wasm': lz4WasmTarget,
  wire: wireTarget,
};

export const TARGET_NAMES = Object.keys(TARGETS);

export function distReady() {
  return existsSync(join(DIST, 'restore', 'tar.js'));
}

