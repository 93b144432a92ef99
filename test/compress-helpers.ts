/**
 * Shared helpers for the compress tests: run CLI tools, drive streams, and make sure the
 * compiled pool worker (dist/compress/worker.js) matches src/ — worker threads load plain
 * JavaScript, so tests that run from src/ still need the worker compiled.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SRC = join(ROOT, 'src/compress');
const DIST = join(ROOT, 'dist/compress');

/**
 * Transpile src/compress/*.ts to dist/compress/*.js when a source is newer than its output
 * (what `npm run build:ts` would emit for these files, without type-checking the project).
 */
export async function ensureWorkerBuilt(): Promise<void> {
  mkdirSync(DIST, { recursive: true });
  for (const name of readdirSync(SRC)) {
    if (!name.endsWith('.ts') || name.endsWith('.d.ts')) continue;
    const src = join(SRC, name);
    const out = join(DIST, name.replace(/\.ts$/, '.js'));
    if (existsSync(out) && statSync(out).mtimeMs >= statSync(src).mtimeMs) continue;
    const { outputText } = ts.transpileModule(await readFile(src, 'utf8'), {
      compilerOptions: { module: ts.ModuleKind.ES2022, target: ts.ScriptTarget.ES2022 },
      fileName: name,
    });
    writeFileSync(out, outputText);
  }
}

/** Run a tool with `input` on stdin; returns its stdout; throws with stderr on failure. */
export function run(cmd: string, args: string[], input?: Uint8Array): Uint8Array {
  const r = spawnSync(cmd, args, { input, maxBuffer: 1 << 30 });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr.toString()}`);
  return new Uint8Array(r.stdout.buffer, r.stdout.byteOffset, r.stdout.byteLength);
}

/** Write `input` through `ts` in pieces of the given sizes (cycled); collect the output. */
export async function through(
  stream: TransformStream<Uint8Array, Uint8Array>,
  input: Uint8Array,
  pieceSizes: readonly number[] = [input.length || 1],
): Promise<Uint8Array> {
  const collected = collect(stream.readable);
  collected.catch(() => {}); // awaited below, after the writes
  const writer = stream.writable.getWriter();
  let writeError: unknown;
  try {
    let off = 0;
    for (let i = 0; off < input.length; i++) {
      const n = Math.max(1, pieceSizes[i % pieceSizes.length]!);
      await writer.write(input.slice(off, off + n));
      off += n;
    }
    await writer.close();
  } catch (err) {
    writeError = err;
  }
  // A failed stage errors both sides: report the readable side's error, the real cause.
  const out = await collected;
  if (writeError !== undefined) throw writeError;
  return out;
}

export async function collect(readable: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let total = 0;
  const reader = readable.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
    total += value.length;
  }
  const out = new Uint8Array(total);
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** Deterministic pseudo-random bytes (xorshift32), incompressible. */
export function randomBytes(n: number, seed = 1): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

export function sha(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}
