/**
 * RFC 11 KVS tree objects: decode + validate, and the canonical encoding Flux hashes
 * (jansson `JSON_COMPACT | JSON_SORT_KEYS`). Every byte of the encoding matters: a
 * directory's blobref is the hash of exactly these bytes.
 */
import { isBlobref } from '../blobref.js';
import { base64Decode, base64Encode } from '../util/base64.js';
import { fromUtf8, utf8 } from '../util/bytes.js';

export type TreeObj = ValObj | ValrefObj | DirObj | DirrefObj | SymlinkObj;

/** `data` is kept as the base64 text so a re-encode reproduces the stored bytes. */
export interface ValObj { type: 'val'; data: string }
export interface ValrefObj { type: 'valref'; data: string[] }
export interface DirrefObj { type: 'dirref'; data: string[] }
/** Entries in UTF-8 byte order of their names (the order Flux stores and walks them). */
export interface DirObj { type: 'dir'; data: Map<string, TreeObj> }
export interface SymlinkObj { type: 'symlink'; data: { namespace?: string; target: string } }

export class TreeObjError extends Error {
  /** Key of the offending entry inside the object ('' for the object itself). */
  readonly entry: string;
  constructor(message: string, entry = '') {
    super(message);
    this.name = 'TreeObjError';
    this.entry = entry;
  }
}

// ---------------------------------------------------------------- ordering

function hasSurrogate(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdfff) return true;
  }
  return false;
}

/**
 * Compare two strings as their UTF-8 bytes compare (strcmp), which is code point order.
 * UTF-16 order agrees except when astral characters (surrogate pairs) meet U+E000-U+FFFF.
 */
export function compareUtf8(a: string, b: string): number {
  if (!hasSurrogate(a) && !hasSurrogate(b)) return a < b ? -1 : a > b ? 1 : 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; ) {
    const ca = a.codePointAt(i)!;
    const cb = b.codePointAt(i)!;
    if (ca !== cb) return ca - cb;
    i += ca > 0xffff ? 2 : 1;
  }
  return a.length - b.length;
}

// ---------------------------------------------------------------- decoding

function isBlobrefArray(v: unknown): v is string[] {
  if (!Array.isArray(v) || v.length === 0) return false;
  for (const r of v) if (typeof r !== 'string' || !isBlobref(r)) return false;
  return true;
}

/**
 * Most inline directories nested one in another that decode. jansson (Flux's JSON
 * parser) stops at 2048 levels of JSON, two per directory; the check also keeps a
 * hostile object from exhausting the stack here.
 */
export const MAX_TREE_DEPTH = 1024;

/** Validate a parsed JSON value as a tree object; returns null when it is not one. */
export function fromJson(v: unknown, depth = 0): TreeObj | null {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return null;
  const o = v as Record<string, unknown>;
  if (o.ver !== 1) return null;
  const data = o.data;
  switch (o.type) {
    case 'val':
      if (typeof data !== 'string' || base64Decode(data) === null) return null;
      return { type: 'val', data };
    case 'valref':
      return isBlobrefArray(data) ? { type: 'valref', data } : null;
    case 'dirref':
      return isBlobrefArray(data) ? { type: 'dirref', data } : null;
    case 'symlink': {
      if (typeof data !== 'object' || data === null || Array.isArray(data)) return null;
      const d = data as Record<string, unknown>;
      if (typeof d.target !== 'string') return null;
      if (d.namespace !== undefined && typeof d.namespace !== 'string') return null;
      return d.namespace === undefined
        ? { type: 'symlink', data: { target: d.target } }
        : { type: 'symlink', data: { namespace: d.namespace, target: d.target } };
    }
    case 'dir': {
      if (typeof data !== 'object' || data === null || Array.isArray(data) || depth >= MAX_TREE_DEPTH) return null;
      const names = Object.keys(data).sort(compareUtf8);
      const entries = new Map<string, TreeObj>();
      for (const name of names) {
        const child = fromJson((data as Record<string, unknown>)[name], depth + 1);
        if (child === null) return null;
        entries.set(name, child);
      }
      return { type: 'dir', data: entries };
    }
    default:
      return null; // includes 'hdir': specified, never implemented, invalid here
  }
}

/**
 * Decode an encoded tree object. Throws TreeObjError('decode') for bytes that are not
 * JSON, TreeObjError('invalid') for JSON that is not a valid tree object.
 */
export function decodeTreeObj(bytes: Uint8Array): TreeObj {
  let parsed: unknown;
  try {
    parsed = JSON.parse(fromUtf8(bytes));
  } catch {
    throw new TreeObjError('could not decode tree object');
  }
  const obj = fromJson(parsed);
  if (obj === null) {
    const why = explainInvalid(parsed, '', 0);
    throw new TreeObjError(why.reason ? `invalid tree object: ${why.reason}` : 'invalid tree object', why.entry);
  }
  return obj;
}

/**
 * Why fromJson refused `v`, and which entry (by key, inside inline directories): only on
 * the error path, so the fast validator stays a plain yes/no.
 */
function explainInvalid(v: unknown, entry: string, depth: number): { entry: string; reason: string } {
  const at = (reason: string) => ({ entry, reason });
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return at('not a JSON object');
  const o = v as Record<string, unknown>;
  if (o.ver !== 1) return at(`unsupported version ${JSON.stringify(o.ver ?? null)}`);
  const known = ['val', 'valref', 'dirref', 'symlink', 'dir'];
  if (typeof o.type !== 'string' || !known.includes(o.type)) return at(`unknown type ${JSON.stringify(o.type ?? null)}`);
  if (o.type === 'dir' && typeof o.data === 'object' && o.data !== null && !Array.isArray(o.data)) {
    if (depth >= MAX_TREE_DEPTH) return at(`inline directories nested deeper than ${MAX_TREE_DEPTH}`);
    for (const [name, child] of Object.entries(o.data as Record<string, unknown>)) {
      const key = entry === '' ? name : `${entry}/${name}`;
      if (fromJson(child, depth + 1) === null) return explainInvalid(child, key, depth + 1);
    }
  }
  return at(`bad ${o.type} data`);
}

export function valBytes(obj: ValObj): Uint8Array {
  // fromJson already checked the alphabet and length
  return base64Decode(obj.data)!;
}

// ---------------------------------------------------------------- encoding

const ESCAPES: Record<number, string> = { 0x22: '\\"', 0x5c: '\\\\', 0x08: '\\b', 0x0c: '\\f', 0x0a: '\\n', 0x0d: '\\r', 0x09: '\\t' };

// eslint-disable-next-line no-control-regex
const NEEDS_ESCAPE = /["\\\u0000-\u001f]/;

/** A JSON string literal as jansson writes it: raw UTF-8, uppercase `\u00XX` for controls. */
export function jsonString(s: string): string {
  if (!NEEDS_ESCAPE.test(s)) return `"${s}"`;
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const esc = ESCAPES[c];
    if (esc !== undefined) out += esc;
    else if (c < 0x20) out += '\\u00' + c.toString(16).toUpperCase().padStart(2, '0');
    else out += s[i];
  }
  return out + '"';
}

function encodeData(obj: TreeObj): string {
  switch (obj.type) {
    case 'val':
      return jsonString(obj.data);
    case 'valref':
    case 'dirref':
      return '[' + obj.data.map(jsonString).join(',') + ']';
    case 'symlink':
      return obj.data.namespace === undefined
        ? `{"target":${jsonString(obj.data.target)}}`
        : `{"namespace":${jsonString(obj.data.namespace)},"target":${jsonString(obj.data.target)}}`;
    case 'dir': {
      const names = [...obj.data.keys()].sort(compareUtf8);
      const parts = names.map((n) => jsonString(n) + ':' + encodeText(obj.data.get(n)!));
      return '{' + parts.join(',') + '}';
    }
  }
}

/** Canonical JSON text of a tree object (keys "data" < "type" < "ver"). */
export function encodeText(obj: TreeObj): string {
  return `{"data":${encodeData(obj)},"type":"${obj.type}","ver":1}`;
}

/** Canonical encoded bytes: hash these to get the object's blobref. */
export function encodeTreeObj(obj: TreeObj): Uint8Array {
  return utf8(encodeText(obj));
}

// ---------------------------------------------------------------- constructors

export function makeVal(bytes: Uint8Array): ValObj {
  return { type: 'val', data: base64Encode(bytes) };
}

export function makeValref(refs: string[]): ValrefObj {
  return { type: 'valref', data: refs };
}

export function makeDirref(ref: string): DirrefObj {
  return { type: 'dirref', data: [ref] };
}

export function makeSymlink(target: string, namespace?: string): SymlinkObj {
  return namespace === undefined
    ? { type: 'symlink', data: { target } }
    : { type: 'symlink', data: { namespace, target } };
}

export function makeDir(entries?: Map<string, TreeObj>): DirObj {
  return { type: 'dir', data: entries ?? new Map() };
}
