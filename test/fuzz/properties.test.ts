/**
 * Property tests (fast-check) over the same decoders, in-process on the TypeScript
 * sources: arbitrary and structured inputs end in a result or the documented error,
 * and what decodes re-encodes to what decodes the same. Seeds are fixed, so a failure
 * reproduces; fast-check prints the shrunk counterexample.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeBody, encodeMessage, MessageReader, WireError, type FluxMessage } from '../../src/broker/codec.js';
import { FluxError } from '../../src/errors.js';
import { ByteStream } from '../../src/restore/byte-stream.js';
import { readCpio } from '../../src/restore/cpio.js';
import { keyComponents } from '../../src/restore/paths.js';
import { readTar } from '../../src/restore/tar.js';
import { lz4DecodeBlockTS, lz4EncodeBlockTS, maxDecodedSize } from '../../src/store/lz4.js';
import { decodeTreeObj, encodeTreeObj, MAX_TREE_DEPTH, TreeObjError } from '../../src/walk/treeobj.js';

const RUNS = { numRuns: 400, seed: 42 };

/** Run `f`; a thrown error must be an instance of `cls`. */
function okOr(cls: abstract new (...a: never[]) => Error, f: () => unknown): void {
  try {
    f();
  } catch (err) {
    if (!(err instanceof cls)) throw err;
  }
}

const blobref = fc.oneof(
  fc.constant('sha1-' + '0'.repeat(40)),
  fc.constant('sha256-' + 'ab'.repeat(32)),
  fc.string({ maxLength: 12 }),
);

/** Tree-object-shaped JSON: mostly valid objects, with every field sometimes wrong. */
const treeJson = fc.letrec((tie) => ({
  obj: fc.record({
    data: fc.oneof(
      fc.base64String({ maxLength: 40 }),
      fc.array(blobref, { maxLength: 3 }),
      fc.record({ target: fc.string({ maxLength: 8 }), namespace: fc.option(fc.string({ maxLength: 4 }), { nil: undefined }) }, { requiredKeys: [] }),
      fc.dictionary(fc.string({ maxLength: 6 }), tie('obj'), { maxKeys: 3 }),
      fc.jsonValue({ maxDepth: 2 }),
    ),
    type: fc.constantFrom('val', 'valref', 'dir', 'dirref', 'symlink', 'hdir', 'other'),
    ver: fc.constantFrom(1, 1, 1, 0, 2, '1'),
  }, { requiredKeys: [] }),
}));

describe('tree objects', () => {
  it('structured JSON: a tree object that re-encodes stably, or TreeObjError', () => {
    fc.assert(fc.property(treeJson.obj, (v) => {
      okOr(TreeObjError, () => {
        const bytes = encodeTreeObj(decodeTreeObj(new TextEncoder().encode(JSON.stringify(v))));
        expect(encodeTreeObj(decodeTreeObj(bytes))).toEqual(bytes);
      });
    }), RUNS);
  });

  it('arbitrary bytes: never anything but TreeObjError', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (b) => okOr(TreeObjError, () => decodeTreeObj(b))), RUNS);
  });

  it('nesting past MAX_TREE_DEPTH is refused, not a stack overflow', () => {
    // `depth` directories, one inside the other, around a value
    for (const depth of [MAX_TREE_DEPTH, MAX_TREE_DEPTH + 1, 50_000]) {
      const text = '{"data":{"a":'.repeat(depth) + '{"data":"","type":"val","ver":1}' + '},"type":"dir","ver":1}'.repeat(depth);
      const decode = () => decodeTreeObj(new TextEncoder().encode(text));
      if (depth <= MAX_TREE_DEPTH) expect(decode().type).toBe('dir');
      else expect(decode).toThrow(TreeObjError);
    }
  });
});

describe('LZ4 block decoder (TS reference)', () => {
  it('arbitrary block and declared size: exactly that many bytes, or FluxError', () => {
    const size = fc.oneof(fc.integer({ min: 0, max: 5000 }), fc.constantFrom(-1, 0.5, 2 ** 32, 2 ** 53, Number.NaN));
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), size, (b, n) => {
      okOr(FluxError, () => expect(lz4DecodeBlockTS(b, n).length).toBe(n));
    }), RUNS);
  });

  it('a declared size no block of that length can reach is refused before allocating', () => {
    expect(() => lz4DecodeBlockTS(new Uint8Array(10), 2 ** 32)).toThrow(/declared size 4294967296 is impossible for a 10-byte block/);
    expect(() => lz4DecodeBlockTS(new Uint8Array(10), maxDecodedSize(10) + 1)).toThrow(FluxError);
  });

  it('round trip of arbitrary bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 2000 }), (b) => {
      expect(lz4DecodeBlockTS(lz4EncodeBlockTS(b), b.length)).toEqual(b);
    }), RUNS);
  });
});

describe('broker wire decoder', () => {
  const message = fc.record({
    type: fc.constantFrom(1, 2, 4, 8),
    flags: fc.integer({ min: 0, max: 0x7f }).map((f) => f & ~0x0b),
    userid: fc.nat(),
    rolemask: fc.nat(),
    aux1: fc.nat(),
    matchtag: fc.nat(),
    route: fc.option(fc.array(fc.uint8Array({ minLength: 1, maxLength: 300 }), { maxLength: 3 }), { nil: undefined }),
    topic: fc.option(fc.string({ maxLength: 20 }), { nil: undefined }),
    payload: fc.option(fc.uint8Array({ minLength: 1, maxLength: 600 }), { nil: undefined }),
  });

  it('arbitrary bodies: a message or WireError', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 120 }), (b) => okOr(WireError, () => decodeBody(b))), RUNS);
  });

  it('messages cut anywhere decode the same; a corrupted stream gives WireError only', () => {
    fc.assert(fc.property(fc.array(message, { minLength: 1, maxLength: 4 }), fc.integer({ min: 1, max: 64 }), fc.nat(), (msgs, step, flip) => {
      const stream = Buffer.concat(msgs.map((m) => encodeMessage(m as FluxMessage)));
      const got: FluxMessage[] = [];
      const r = new MessageReader();
      for (let off = 0; off < stream.length; off += step) r.push(stream.subarray(off, off + step), (m) => got.push({ ...m }));
      expect(got.map((m) => m.topic)).toEqual(msgs.map((m) => m.topic));
      expect(got.map((m) => m.payload && Buffer.from(m.payload).toString('hex'))).toEqual(msgs.map((m) => m.payload && Buffer.from(m.payload).toString('hex')));
      const bad = Buffer.from(stream);
      bad[flip % bad.length]! ^= 0xff;
      okOr(WireError, () => new MessageReader().push(bad, () => undefined));
    }), RUNS);
  });

  it('a header claiming 4 GiB allocates only for bytes that arrive', () => {
    const r = new MessageReader();
    const header = new Uint8Array([0x12, 0x00, 0xee, 0xff, 0xff, 0xff, 0xff, 0xf0]);
    const before = process.memoryUsage().arrayBuffers;
    r.push(header, () => undefined);
    r.push(new Uint8Array(1000), () => undefined);
    expect(r.pending).toBe(1000);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 << 20);
  });
});

describe('archive names and streams', () => {
  it('ByteStream: fills of any size over any chunking give the input bytes, in order', async () => {
    const input = new Uint8Array(3 << 20).map((_, i) => (i * 2654435761) >>> 24);
    await fc.assert(fc.asyncProperty(
      fc.array(fc.integer({ min: 1, max: 1 << 19 }), { minLength: 1, maxLength: 8 }),
      fc.array(fc.oneof(fc.integer({ min: 1, max: 600 }), fc.integer({ min: 1 << 20, max: 5 << 19 })), { minLength: 1, maxLength: 6 }),
      async (cuts, reads) => {
        const src = new ByteStream((async function* () {
          let off = 0;
          for (let i = 0; off < input.length; i++) {
            const n = cuts[i % cuts.length]!;
            yield input.subarray(off, off + n);
            off += n;
          }
        })());
        let pos = 0;
        for (const n of reads) {
          const full = await src.fill(n);
          const got = Math.min(n, src.available);
          expect(full).toBe(pos + n <= input.length);
          expect(src.offset).toBe(pos);
          expect(Buffer.compare(src.view(got), input.subarray(pos, pos + got))).toBe(0);
          src.advance(got);
          pos += got;
        }
      },
    ), { numRuns: 60, seed: 42 });
  });

  it('keyComponents: parts that are real key components, or FluxError', () => {
    const path = fc.array(fc.constantFrom('a', 'b', '.', '..', '', 'ƒ', '\0', ' ', 'x/y'), { maxLength: 5 }).map((p) => p.join('/'));
    fc.assert(fc.property(fc.oneof(path, fc.string({ maxLength: 12 })), (p) => {
      okOr(FluxError, () => {
        const parts = keyComponents(p, 'prop');
        for (const c of parts) expect(c === '' || c === '.' || c === '..' || c.includes('/') || c.includes('\0')).toBe(false);
        expect(parts.join('/')).toBe(p.replace(/^(\.\/)+/, ''));
      });
    }), RUNS);
  });

  it('tar and cpio readers over arbitrary bytes: entries or FluxError', async () => {
    const read = async (b: Uint8Array, kind: 'tar' | 'odc' | 'newc') => {
      const src = new ByteStream((async function* () { yield b; })());
      const opts = { sizeLimit: 0, where: 'prop' };
      try {
        for await (const batch of kind === 'tar' ? readTar(src, opts) : readCpio(src, kind, opts)) void batch;
      } catch (err) {
        if (!(err instanceof FluxError)) throw err;
      }
    };
    // valid-looking starts, so the readers get past the first magic
    const start = fc.constantFrom(new Uint8Array(0), new TextEncoder().encode('070707'), new TextEncoder().encode('070701'));
    await fc.assert(fc.asyncProperty(start, fc.uint8Array({ maxLength: 1200 }), fc.constantFrom('tar', 'odc', 'newc') as fc.Arbitrary<'tar' | 'odc' | 'newc'>, async (s, b, kind) => {
      await read(new Uint8Array([...s, ...b]), kind);
    }), { numRuns: 300, seed: 42 });
  });
});
