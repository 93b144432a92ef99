/**
 * The wire codec against real flux-core 0.88 traffic: every captured message, in both
 * directions, decodes to what the independent reference decoding says and re-encodes
 * to the very same bytes. Plus the framing corner cases the captures do not reach.
 */
import { describe, expect, it } from 'vitest';
import {
  decodeBody,
  encodeMessage,
  encodeMessageParts,
  FLAG_NORESPONSE,
  HEADER_SIZE,
  MessageReader,
  MSGTYPE_REQUEST,
  MSGTYPE_RESPONSE,
  NODEID_ANY,
  payloadText,
  USERID_UNKNOWN,
  WireError,
  type FluxMessage,
} from '../src/broker/codec.js';
import { captureNames, decodeChunks, loadCapture, type DecodedRef } from './peer/capture.js';

const TYPE_NAMES: Record<number, string> = { 1: 'request', 2: 'response', 4: 'event', 8: 'control' };
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** Our decoding printed the way the reference decoding prints it. */
function asRef(m: FluxMessage): Omit<DecodedRef, 'magic' | 'len'> {
  const p = m.payload ?? new Uint8Array(0);
  return {
    type: TYPE_NAMES[m.type]!,
    flags: `0x${m.flags.toString(16).padStart(2, '0')}`,
    userid: `0x${m.userid.toString(16).padStart(8, '0')}`,
    rolemask: m.rolemask,
    aux1: m.aux1,
    matchtag: m.matchtag,
    route: (m.route ?? []).map(hex),
    topic: m.topic ?? '',
    payload: p.length > 0 && p[p.length - 1] === 0 ? `${payloadText(p)}\u0000` : hex(p),
  };
}

const names = captureNames();

describe('real captures', () => {
  it('are all there', () => {
    expect(names).toEqual([
      'dump-checkpoint',
      'dump-live-maxreqs1',
      'dump-live-nocache',
      'dump-sd-notify',
      'error-dangling-valref',
      'error-no-checkpoint',
      'error-no-kvs',
      'getattr-content-hash',
      'restore-key',
    ]);
  });

  describe.each(names)('%s', (name) => {
    const c = loadCapture(name);

    it('starts with an accepting handshake byte', () => {
      expect(c.handshake).toBe(0);
    });

    for (const dir of ['c2s', 's2c'] as const) {
      it(`${dir}: every message decodes as the reference says and re-encodes to the same bytes`, () => {
        const msgs = decodeChunks(c.chunks[dir]);
        const ref = c.decoded[dir];
        expect(msgs.length).toBe(ref.length);
        expect(msgs.length).toBeGreaterThan(0);
        msgs.forEach((m, i) => {
          const { magic: _magic, len: _len, ...fields } = ref[i]!;
          expect(asRef(m)).toEqual(fields);
        });
        // The concatenation of our encodings is the captured stream, byte for byte.
        const again = Buffer.concat(msgs.map((m) => encodeMessage(m, true)));
        expect(hex(again)).toBe(hex(c.stream[dir]));
        // and each message's header says the length the reference read
        let off = 0;
        msgs.forEach((m, i) => {
          const b = encodeMessage(m, true);
          expect(hex(b.subarray(0, 4))).toBe(ref[i]!.magic);
          expect(b.length - HEADER_SIZE).toBe(ref[i]!.len);
          off += b.length;
        });
        expect(off).toBe(c.stream[dir].length);
      });

      it(`${dir}: the stream decodes the same fed one byte at a time and all at once`, () => {
        const whole = decodeChunks([c.stream[dir]]);
        const bytewise = decodeChunks(Array.from(c.stream[dir], (b) => Uint8Array.of(b)));
        const asChunks = decodeChunks(c.chunks[dir]);
        expect(whole.map((m) => hex(encodeMessage(m, true)))).toEqual(asChunks.map((m) => hex(encodeMessage(m, true))));
        expect(bytewise.map((m) => hex(encodeMessage(m, true)))).toEqual(asChunks.map((m) => hex(encodeMessage(m, true))));
      });
    }
  });

  it('the captures include chunks holding several messages and messages spanning chunks', () => {
    // dump-sd-notify writes several requests per chunk; loads > 255 bytes use the 5-byte size
    const sd = loadCapture('dump-sd-notify');
    expect(sd.chunks.c2s.length).toBeLessThan(decodeChunks(sd.chunks.c2s).length);
    const live = loadCapture('dump-live-maxreqs1');
    const big = decodeChunks(live.chunks.s2c).filter((m) => (m.payload?.length ?? 0) >= 255);
    expect(big.length).toBeGreaterThan(0);
  });
});

describe('framing', () => {
  const base: FluxMessage = {
    type: MSGTYPE_REQUEST,
    flags: 0,
    userid: USERID_UNKNOWN,
    rolemask: 0,
    aux1: NODEID_ANY,
    matchtag: 7,
    route: [],
    topic: 'content.load',
  };
  const roundTrip = (m: FluxMessage, le = true) => {
    const out: FluxMessage[] = [];
    new MessageReader().push(encodeMessage(m, le), (x) => out.push(x));
    expect(out.length).toBe(1);
    return out[0]!;
  };

  it('uses a 1-byte size below 255 and 0xFF + 4 bytes from 255 on', () => {
    for (const [n, sizeBytes] of [
      [254, 1],
      [255, 5],
      [70000, 5],
    ] as const) {
      const payload = new Uint8Array(n).fill(0x61);
      const b = encodeMessage({ ...base, payload }, true);
      const topicFrame = 1 + 'content.load'.length;
      const at = HEADER_SIZE + 1 + topicFrame; // after the route delimiter and topic
      if (sizeBytes === 1) expect(b[at]).toBe(n);
      else {
        expect(b[at]).toBe(0xff);
        expect(Buffer.from(b).readUInt32BE(at + 1)).toBe(n);
      }
      expect(b.length).toBe(HEADER_SIZE + 1 + topicFrame + sizeBytes + n + 21);
      expect(hex(roundTrip({ ...base, payload }).payload!)).toBe(hex(payload));
    }
  });

  it('accepts the magic in either byte order and writes the requested one', () => {
    const le = encodeMessage({ ...base, payload: Uint8Array.of(1, 2) }, true);
    const be = encodeMessage({ ...base, payload: Uint8Array.of(1, 2) }, false);
    expect(hex(le.subarray(0, 4))).toBe('1200eeff');
    expect(hex(be.subarray(0, 4))).toBe('ffee0012');
    expect(hex(le.subarray(4))).toBe(hex(be.subarray(4)));
    const reader = new MessageReader();
    const got: FluxMessage[] = [];
    reader.push(be, (m) => got.push(m));
    expect(reader.littleEndianMagic).toBe(false);
    reader.push(le, (m) => got.push(m));
    expect(reader.littleEndianMagic).toBe(true);
    expect(got.map((m) => m.matchtag)).toEqual([7, 7]);
  });

  it('writes no payload frame for an empty payload, and derives the presence flags', () => {
    const m = roundTrip({ ...base, flags: 0xff, payload: new Uint8Array(0) });
    expect(m.payload).toBeUndefined();
    expect(m.flags & 0x02).toBe(0);
    expect(m.flags & 0x09).toBe(0x09);
    expect(m.flags & 0xf4).toBe(0xf4); // the other bits pass through
    const noRoute = roundTrip({ ...base, route: undefined, topic: undefined });
    expect(noRoute.flags & 0x0b).toBe(0);
    expect(noRoute.route).toBeUndefined();
    expect(noRoute.topic).toBeUndefined();
  });

  it('carries route frames before the delimiter', () => {
    const route = [new TextEncoder().encode('ident-a'), new TextEncoder().encode('b')];
    const m = roundTrip({ ...base, type: MSGTYPE_RESPONSE, route, payload: Uint8Array.of(9) });
    expect(m.route!.map((r) => new TextDecoder().decode(r))).toEqual(['ident-a', 'b']);
    expect(m.topic).toBe('content.load');
    expect([...m.payload!]).toEqual([9]);
  });

  it('split encoding writes the same bytes without copying the payload', () => {
    const payload = new Uint8Array(100000).map((_, i) => i & 0xff);
    const parts = encodeMessageParts({ ...base, flags: FLAG_NORESPONSE, payload }, true, true);
    expect(parts.length).toBe(3);
    expect(parts[1]).toBe(payload);
    expect(hex(Buffer.concat(parts))).toBe(hex(encodeMessage({ ...base, flags: FLAG_NORESPONSE, payload }, true)));
  });

  it('rejects bad magic, missing PROTO, bad PROTO and overrunning frames', () => {
    const good = encodeMessage({ ...base, payload: Uint8Array.of(1) }, true);
    const badMagic = good.slice();
    badMagic[0] = 0x13;
    expect(() => new MessageReader().push(badMagic, () => {})).toThrow(/bad message magic 0x1300eeff/);
    const body = good.slice(HEADER_SIZE);
    const badProto = body.slice();
    badProto[badProto.length - 20] = 0x8f;
    expect(() => decodeBody(badProto)).toThrow(WireError);
    expect(() => decodeBody(body.subarray(0, body.length - 21))).toThrow(/no PROTO frame/);
    const overrun = body.slice();
    overrun[1] = 200; // the topic frame claims more than there is
    expect(() => decodeBody(overrun)).toThrow(/overruns/);
    const tooShort = good.slice(0, HEADER_SIZE);
    tooShort[7] = 3;
    expect(() => new MessageReader().push(tooShort, () => {})).toThrow(/too short/);
  });

  it('a message split at every possible point decodes the same', () => {
    const a = encodeMessage({ ...base, payload: new Uint8Array(300).fill(7) }, true);
    const b = encodeMessage({ ...base, matchtag: 8, payload: Uint8Array.of(1) }, true);
    const both = Buffer.concat([a, b]);
    for (let cut = 1; cut < both.length; cut++) {
      const reader = new MessageReader();
      const got: number[] = [];
      reader.push(both.subarray(0, cut), (m) => got.push(m.matchtag));
      reader.push(both.subarray(cut), (m) => got.push(m.matchtag));
      expect(got).toEqual([7, 8]);
      expect(reader.pending).toBe(0);
    }
  });
});
