import { createHash } from 'node:crypto';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { lz4DecodeBlockTS } from '../src/store/lz4.js';
import {
  compareUtf8,
  decodeTreeObj,
  encodeText,
  encodeTreeObj,
  jsonString,
  makeDir,
  makeSymlink,
  makeVal,
  TreeObjError,
} from '../src/walk/treeobj.js';
import { SMALL, tempDir } from './helpers/paths.js';

const utf8 = (s: string) => new TextEncoder().encode(s);
const sha1 = (b: Uint8Array) => 'sha1-' + createHash('sha1').update(b).digest('hex');

/** Every object of small.sqlite, read by better-sqlite3 from a copy (an independent reader). */
function smallObjects(): { ref: string; blob: Uint8Array }[] {
  const t = tempDir();
  const copy = join(t.dir, 'content.sqlite');
  copyFileSync(join(SMALL, 'small.sqlite'), copy);
  const db = new Database(copy, { readonly: true });
  // CAST: the digest is stored as TEXT and would be UTF-8-decoded (lossily) otherwise
  const rows = db.prepare('SELECT CAST(hash AS BLOB), size, object FROM objects').raw().all() as [Buffer, number, Buffer | null][];
  db.close();
  t.cleanup();
  return rows.map(([hash, size, object]) => {
    const raw = object ? new Uint8Array(object) : new Uint8Array(0);
    const blob = size === -1 ? raw : lz4DecodeBlockTS(raw, size);
    return { ref: 'sha1-' + hash.toString('hex'), blob };
  });
}

describe('tree objects on real data', () => {
  const objs = smallObjects();
  it('reads the 24 objects and every blob hashes to its blobref', () => {
    expect(objs).toHaveLength(24);
    for (const o of objs) expect(sha1(o.blob)).toBe(o.ref);
  });
  it('every dir object re-encodes to bytes whose sha1 is its own blobref', () => {
    const dirs = objs.filter((o) => {
      try {
        return decodeTreeObj(o.blob).type === 'dir';
      } catch {
        return false;
      }
    });
    expect(dirs.length).toBeGreaterThanOrEqual(5);
    for (const d of dirs) {
      const re = encodeTreeObj(decodeTreeObj(d.blob));
      expect(Buffer.from(re).equals(Buffer.from(d.blob))).toBe(true);
      expect(sha1(re)).toBe(d.ref);
    }
  });
});

describe('decoding and validation', () => {
  const dec = (s: string) => decodeTreeObj(utf8(s));
  it('accepts every type', () => {
    expect(dec('{"data":"Zm9v","type":"val","ver":1}')).toEqual({ type: 'val', data: 'Zm9v' });
    const ref = 'sha1-' + '0'.repeat(40);
    expect(dec(`{"data":["${ref}","${ref}"],"type":"valref","ver":1}`).type).toBe('valref');
    expect(dec(`{"data":["${ref}"],"type":"dirref","ver":1}`).type).toBe('dirref');
    expect(dec('{"data":{"namespace":"ns","target":"a.b"},"type":"symlink","ver":1}')).toEqual(makeSymlink('a.b', 'ns'));
    const d = dec(`{"data":{"x":{"data":"","type":"val","ver":1}},"type":"dir","ver":1}`);
    expect(d.type === 'dir' && [...d.data.keys()]).toEqual(['x']);
  });
  it.each([
    ['hdir', '{"data":{},"type":"hdir","ver":1}'],
    ['wrong version', '{"data":"","type":"val","ver":2}'],
    ['val not base64', '{"data":"@@","type":"val","ver":1}'],
    ['empty valref', '{"data":[],"type":"valref","ver":1}'],
    ['bad blobref', '{"data":["md5-00"],"type":"dirref","ver":1}'],
    ['symlink without target', '{"data":{},"type":"symlink","ver":1}'],
    ['invalid child', '{"data":{"a":{"type":"val"}},"type":"dir","ver":1}'],
    ['not an object', '[1,2]'],
  ])('rejects %s as invalid', (_n, s) => {
    expect(() => dec(s)).toThrow('invalid tree object');
  });
  it('rejects non-JSON as undecodable', () => {
    expect(() => dec('{"data":')).toThrow(TreeObjError);
    expect(() => dec('{"data":')).toThrow('could not decode tree object');
    expect(() => decodeTreeObj(new Uint8Array([0x7b, 0xff, 0x7d]))).toThrow('could not decode');
  });
  it('keeps directory entries in UTF-8 byte order, not JS property order', () => {
    const d = dec(`{"data":{"10":{"data":"","type":"val","ver":1},"9":{"data":"","type":"val","ver":1},"a":{"data":"","type":"val","ver":1}},"type":"dir","ver":1}`);
    expect(d.type === 'dir' && [...d.data.keys()]).toEqual(['10', '9', 'a']);
  });
});

describe('canonical encoding', () => {
  it('encodes the empty directory exactly', () => {
    expect(encodeText(makeDir())).toBe('{"data":{},"type":"dir","ver":1}');
  });
  it('escapes as jansson does: short escapes, uppercase \\u00XX, raw UTF-8 and slash', () => {
    expect(jsonString('a"b\\c\b\f\n\r\t')).toBe('"a\\"b\\\\c\\b\\f\\n\\r\\t"');
    expect(jsonString('\u0001\u001f\u007f')).toBe('"\\u0001\\u001F\u007f"');
    expect(jsonString('/ƒ😀')).toBe('"/ƒ😀"');
  });
  it('sorts keys by UTF-8 bytes, where UTF-16 order differs', () => {
    const astral = '\u{1F600}'; // UTF-16 surrogates 0xD83D.. sort below U+FF5E in JS
    const high = '\uFF5E';
    expect(astral < high).toBe(true); // JS order
    expect(compareUtf8(astral, high)).toBeGreaterThan(0); // byte order
    const dir = makeDir(new Map([[astral, makeVal(new Uint8Array())], [high, makeVal(new Uint8Array())]]));
    expect(encodeText(dir)).toBe(`{"data":{"${high}":{"data":"","type":"val","ver":1},"${astral}":{"data":"","type":"val","ver":1}},"type":"dir","ver":1}`);
  });
  it('pads base64', () => {
    expect(makeVal(utf8('42')).data).toBe('NDI=');
  });
});

