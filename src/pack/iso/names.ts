/**
 * File identifiers for the two directory trees. The real names travel in Rock Ridge NM
 * entries; these are what readers without Rock Ridge see:
 *
 * - Primary tree: ISO 9660 level 1, as libarchive writes by default: 8.3 upper-case
 *   d-characters (A-Z 0-9 _), files `NAME.EXT;1`, directories `NAME`. Collisions in a
 *   directory get a numeric tail (`VERYLON1.VAL;1`).
 * - Joliet tree: the name itself in UCS-2 (UTF-16BE) when Joliet can hold it: at most
 *   64 code units and none of `* / : ; ? \` or control characters. Otherwise the Joliet
 *   name is dropped for a shortened one (`prefix~N`) so the entry is still there for
 *   Joliet-only readers (libarchive's writer fails on such names instead).
 */

export const ISO_BASE_MAX = 8;
export const ISO_EXT_MAX = 3;
export const JOLIET_MAX_UNITS = 64;

/** d-characters: A-Z, 0-9, '_'; everything else (lower case folded) becomes '_'. */
function dChars(s: string): string {
  let out = '';
  for (const ch of s.toUpperCase()) out += /^[A-Z0-9_]$/.test(ch) ? ch : '_';
  return out;
}

interface IsoName {
  base: string;
  ext: string;
}

/** The 8.3 form before de-duplication. */
export function isoBaseName(name: string, directory: boolean): IsoName {
  const dot = directory ? -1 : name.lastIndexOf('.');
  const stem = dot > 0 ? name.slice(0, dot) : name;
  const ext = dot > 0 ? dChars(name.slice(dot + 1)).slice(0, ISO_EXT_MAX) : '';
  return { base: dChars(stem).slice(0, ISO_BASE_MAX) || '_', ext };
}

function isoKey(n: IsoName): string {
  // Readers strip ".;1", so a directory "A" and a file "A." would look the same: one key.
  return n.ext ? `${n.base}.${n.ext}` : n.base;
}

/**
 * Assign unique level-1 identifiers to the children of one directory, in the order
 * given (callers pass a deterministic order). Returns identifier strings: `NAME` for
 * directories, `NAME.EXT;1` for files.
 */
export function assignIsoNames(children: readonly { name: string; directory: boolean }[]): string[] {
  const used = new Set<string>();
  const next = new Map<string, number>();
  return children.map(({ name, directory }) => {
    let n = isoBaseName(name, directory);
    const key = isoKey(n);
    if (used.has(key)) {
      let k = next.get(key) ?? 1;
      let candidate: IsoName;
      do {
        const tail = String(k++);
        if (tail.length > ISO_BASE_MAX) throw new Error(`too many names like ${name} in one directory`);
        candidate = { base: n.base.slice(0, ISO_BASE_MAX - tail.length) + tail, ext: n.ext };
      } while (used.has(isoKey(candidate)));
      next.set(key, k);
      n = candidate;
    }
    used.add(isoKey(n));
    return directory ? n.base : `${n.base}.${n.ext};1`;
  });
}

/** Compare two level-1 identifiers in ECMA-119 9.3 order (name, then extension). */
export function compareIsoIds(a: string, b: string): number {
  const [an, ae = ''] = a.replace(/;1$/, '').split('.');
  const [bn, be = ''] = b.replace(/;1$/, '').split('.');
  if (an !== bn) return an! < bn! ? -1 : 1;
  return ae === be ? 0 : ae < be ? -1 : 1;
}

// eslint-disable-next-line no-control-regex
const JOLIET_FORBIDDEN = /[\u0000-\u001f*/:;?\\]/g;

/** True when Joliet holds `name` exactly. */
export function jolietExact(name: string): boolean {
  JOLIET_FORBIDDEN.lastIndex = 0;
  return name.length <= JOLIET_MAX_UNITS && !JOLIET_FORBIDDEN.test(name);
}

/** Cut to at most `units` UTF-16 units without splitting a surrogate pair. */
function cutUnits(s: string, units: number): string {
  if (s.length <= units) return s;
  const code = s.charCodeAt(units - 1);
  return s.slice(0, code >= 0xd800 && code <= 0xdbff ? units - 1 : units);
}

/**
 * Joliet names for the children of one directory: exact where possible; the others
 * shortened to `prefix~N` (64 units at most), unique within the directory.
 */
export function assignJolietNames(names: readonly string[]): string[] {
  const used = new Set<string>();
  for (const n of names) if (jolietExact(n)) used.add(n);
  let counter = 1;
  return names.map((n) => {
    if (jolietExact(n)) return n;
    const clean = n.replace(JOLIET_FORBIDDEN, '_');
    if (clean.length <= JOLIET_MAX_UNITS && !used.has(clean)) {
      used.add(clean);
      return clean;
    }
    for (;;) {
      const tail = `~${counter++}`;
      const candidate = cutUnits(clean, JOLIET_MAX_UNITS - tail.length) + tail;
      if (!used.has(candidate)) {
        used.add(candidate);
        return candidate;
      }
    }
  });
}

/** UCS-2 big-endian bytes (UTF-16BE: astral characters as surrogate pairs). */
export function ucs2be(s: string): Uint8Array {
  const out = new Uint8Array(s.length * 2);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    out[2 * i] = c >>> 8;
    out[2 * i + 1] = c & 0xff;
  }
  return out;
}

/** Joliet order: by UCS-2 code units (ECMA-119 9.3 applied to 16-bit characters). */
export function compareUnits(a: string, b: string): number {
  return a === b ? 0 : a < b ? -1 : 1;
}
