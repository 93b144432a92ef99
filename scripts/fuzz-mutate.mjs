/**
 * The fuzzer's input generator: a seeded PRNG and a mutator over real seeds (valid
 * archives, tree objects, LZ4 blocks, wire streams). Every case is a pure function of
 * (run seed, target name, case index), so any finding replays on its own:
 * `node scripts/fuzz.mjs --targets NAME --seed S --case N --save case.bin`.
 *
 * Mutations, 1 to 4 per case: bit flips, interesting bytes, truncation, splices with
 * another seed, deleted/duplicated/moved ranges, random insertions, and length-field
 * inflation (binary u16/u32/u64 in both byte orders, and ASCII octal/decimal/hex fields
 * rewritten to their largest value, as tar and cpio write sizes). Positions favour bytes
 * that carry data over zero padding, so a mostly-empty ISO image still gets hit where
 * its records are.
 */

/** splitmix32: small, fast, good enough to spread cases. */
export function makeRng(seed) {
  let s = seed >>> 0;
  const next = () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
  return {
    u32: next,
    /** Integer in [0, n). */
    int: (n) => (n <= 0 ? 0 : next() % n),
    chance: (p) => next() / 4294967296 < p,
    pick: (arr) => arr[next() % arr.length],
  };
}

/** FNV-1a over a string, to derive per-target and per-case seeds. */
export function hashString(s) {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

export function caseSeed(runSeed, target, index) {
  return (hashString(target) ^ Math.imul(runSeed >>> 0, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca77)) >>> 0;
}

const INTERESTING8 = [0x00, 0x01, 0x7f, 0x80, 0xff, 0x20, 0x30, 0x37, 0x2f, 0x2e];
const INTERESTING32 = [0xffffffff, 0x7fffffff, 0x80000000, 0xfffffffe, 0x10000, 0xffff, 0x40000000, 0x3fffffff, 0];

/** Offsets worth mutating: every non-zero byte and its neighbourhood (at most 64 Ki of them). */
export function hotOffsets(bytes) {
  const hot = [];
  for (let i = 0; i < bytes.length && hot.length < 65536; i++) {
    if (bytes[i] !== 0 || (i > 0 && bytes[i - 1] !== 0) || (i + 1 < bytes.length && bytes[i + 1] !== 0)) hot.push(i);
  }
  return hot;
}

function position(rng, buf, hot) {
  if (buf.length === 0) return 0;
  if (hot && hot.length > 0 && rng.chance(0.7)) {
    const p = rng.pick(hot);
    if (p < buf.length) return p;
  }
  return rng.int(buf.length);
}

function rangeAt(rng, buf, hot) {
  const start = position(rng, buf, hot);
  const maxLen = Math.max(1, Math.min(buf.length - start, rng.chance(0.8) ? 64 : 4096));
  return [start, start + 1 + rng.int(maxLen)];
}

function concat(...parts) {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

function randomBytes(rng, n) {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = rng.u32() & 0xff;
  return b;
}

const isDigit = (c, radix) => (c >= 0x30 && c <= 0x39 && c - 0x30 < radix) || (radix === 16 && ((c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46)));

/** Rewrite one ASCII number field (a run of digits) to its largest value, or to a large one. */
function inflateAscii(rng, buf, hot) {
  const radix = rng.pick([8, 10, 16]);
  // look for a run of digits near a hot position
  for (let tries = 0; tries < 8; tries++) {
    let p = position(rng, buf, hot);
    if (!isDigit(buf[p], radix)) continue;
    while (p > 0 && isDigit(buf[p - 1], radix)) p--;
    let q = p;
    while (q < buf.length && isDigit(buf[q], radix)) q++;
    const width = q - p;
    const top = radix === 8 ? 0x37 : radix === 10 ? 0x39 : 0x66;
    const mode = rng.int(3);
    for (let i = p; i < q; i++) {
      if (mode === 0) buf[i] = top; // the largest the field can say
      else if (mode === 1) buf[i] = i === p ? 0x31 + rng.int(radix === 8 ? 7 : 9) : 0x30; // a big round number
      else if (i >= q - Math.min(width, 3)) buf[i] = 0x30 + rng.int(radix === 8 ? 8 : 10); // the low digits moved
    }
    return buf;
  }
  return buf;
}

/** Write a u16/u32/u64 length-like value in either byte order at a hot position. */
function inflateBinary(rng, buf, hot) {
  if (buf.length < 2) return buf;
  const width = rng.pick([2, 4, 4, 4, 8]);
  const p = Math.min(position(rng, buf, hot), buf.length - Math.min(width, buf.length));
  const v = rng.chance(0.7) ? rng.pick(INTERESTING32) : rng.u32();
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const le = rng.chance(0.5);
  if (width === 2 && p + 2 <= buf.length) view.setUint16(p, v & 0xffff, le);
  else if (width === 4 && p + 4 <= buf.length) view.setUint32(p, v, le);
  else if (width === 8 && p + 8 <= buf.length) {
    view.setUint32(p + (le ? 0 : 4), v, le);
    view.setUint32(p + (le ? 4 : 0), rng.chance(0.5) ? 0 : rng.pick(INTERESTING32), le);
  }
  return buf;
}

/** One mutation of `buf` (may return a new array). */
function mutateOnce(rng, buf, others, hot) {
  switch (rng.int(12)) {
    case 0: { // bit flips
      const n = 1 + rng.int(8);
      for (let i = 0; i < n && buf.length > 0; i++) buf[position(rng, buf, hot)] ^= 1 << rng.int(8);
      return buf;
    }
    case 1: { // interesting byte
      if (buf.length > 0) buf[position(rng, buf, hot)] = rng.pick(INTERESTING8);
      return buf;
    }
    case 2: { // truncate
      if (buf.length === 0) return buf;
      const cut = rng.chance(0.5) ? position(rng, buf, hot) : rng.int(buf.length);
      return buf.subarray(0, cut);
    }
    case 3: { // splice with another seed
      const other = rng.pick(others);
      if (!other || other.length === 0) return buf;
      const a = rng.int(buf.length + 1);
      const b = rng.int(other.length);
      return concat(buf.subarray(0, a), other.subarray(b, b + 1 + rng.int(other.length - b)));
    }
    case 4: { // delete a range
      if (buf.length === 0) return buf;
      const [s, e] = rangeAt(rng, buf, hot);
      return concat(buf.subarray(0, s), buf.subarray(e));
    }
    case 5: { // duplicate a range
      if (buf.length === 0) return buf;
      const [s, e] = rangeAt(rng, buf, hot);
      return concat(buf.subarray(0, e), buf.subarray(s, e), buf.subarray(e));
    }
    case 6: { // move a range elsewhere (headers out of place)
      if (buf.length < 2) return buf;
      const [s, e] = rangeAt(rng, buf, hot);
      const piece = buf.slice(s, e);
      const at = rng.int(buf.length - piece.length + 1);
      buf.set(piece.subarray(0, buf.length - at), at);
      return buf;
    }
    case 7: { // insert random bytes
      const at = position(rng, buf, hot);
      return concat(buf.subarray(0, at), randomBytes(rng, 1 + rng.int(32)), buf.subarray(at));
    }
    case 8: { // overwrite a range with random bytes
      if (buf.length === 0) return buf;
      const [s, e] = rangeAt(rng, buf, hot);
      buf.set(randomBytes(rng, Math.min(e - s, 16)), s);
      return buf;
    }
    case 9:
    case 10:
      return rng.chance(0.5) ? inflateAscii(rng, buf, hot) : inflateBinary(rng, buf, hot);
    default: { // zero a range (a hole, a lost sector)
      if (buf.length === 0) return buf;
      const [s, e] = rangeAt(rng, buf, hot);
      buf.fill(0, s, e);
      return buf;
    }
  }
}

/**
 * A mutated copy of one seed. `fixup(bytes, seed, rng)` lets a target repair what would
 * stop every case at the door (tar header checksums) some of the time.
 */
export function mutate(rng, seeds, fixup) {
  const seed = rng.pick(seeds);
  const others = seeds.map((s) => s.bytes);
  if (rng.chance(0.01)) return { seed: seed.name, bytes: seed.bytes.slice() }; // the seed itself
  if (rng.chance(0.01)) return { seed: 'random', bytes: randomBytes(rng, rng.int(2048)) };
  let buf = seed.bytes.slice();
  const n = 1 + rng.int(4);
  for (let i = 0; i < n; i++) buf = mutateOnce(rng, buf, others, seed.hot);
  if (fixup && rng.chance(0.75)) buf = fixup(buf, seed, rng) ?? buf;
  return { seed: seed.name, bytes: buf };
}

/** Split bytes into a stream of random-sized chunks (readers must not care where). */
export function* chunks(rng, bytes) {
  const max = rng.pick([1, 7, 64, 511, 4096, 1 << 16]);
  for (let off = 0; off < bytes.length; ) {
    const n = 1 + rng.int(max);
    yield bytes.subarray(off, off + n);
    off += n;
  }
}
