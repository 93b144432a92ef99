import { describe, expect, it } from 'vitest';
import { freeChunkBuffers, releaseChunk, takeChunkBuffer } from '../src/util/chunk-recycler.js';
import { Chunker } from '../src/pack/chunker.js';

describe('chunk recycler', () => {
  it('hands a released buffer out again, and only once', () => {
    const a = takeChunkBuffer(4096);
    releaseChunk(a.subarray(0, 10)); // a view of it counts
    const b = takeChunkBuffer(4096);
    expect(b.buffer).toBe(a.buffer);
    const c = takeChunkBuffer(4096);
    expect(c.buffer).not.toBe(a.buffer);
  });

  it('ignores buffers it did not lend, and a second release of the same chunk', () => {
    const before = freeChunkBuffers();
    releaseChunk(new Uint8Array(4096));
    expect(freeChunkBuffers()).toBe(before);
    const a = takeChunkBuffer(8192);
    releaseChunk(a);
    releaseChunk(a);
    expect(freeChunkBuffers()).toBe(before + 1);
    const b = takeChunkBuffer(8192);
    const c = takeChunkBuffer(8192);
    expect(b.buffer).toBe(a.buffer);
    expect(c.buffer).not.toBe(a.buffer); // not handed out twice
  });

  it('only matches sizes', () => {
    const a = takeChunkBuffer(1000);
    releaseChunk(a);
    expect(takeChunkBuffer(2000).buffer).not.toBe(a.buffer);
    expect(takeChunkBuffer(1000).buffer).toBe(a.buffer);
  });

  it('a Chunker refilling a recycled buffer emits exactly the bytes pushed (stale bytes never show)', () => {
    const size = 64;
    const first = new Chunker(size);
    first.push(new Uint8Array(size).fill(0xaa));
    const [full] = first.take();
    expect(full!.every((b) => b === 0xaa)).toBe(true);
    releaseChunk(full!);
    const second = new Chunker(size); // reuses the 0xaa buffer
    second.push(Uint8Array.of(1, 2, 3));
    second.zeros(5);
    const out = second.take(true);
    expect(out.map((c) => [...c])).toEqual([[1, 2, 3, 0, 0, 0, 0, 0]]);
  });
});
