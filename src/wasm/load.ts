/**
 * Loading the AssemblyScript modules that scripts/build-asm.mjs embeds as base64 in
 * src/wasm/generated/. Only web-platform APIs: atob + WebAssembly, so the same code runs in
 * Node, Deno and browsers. The modules take no imports and export their memory.
 */
const compiled = new Map<string, WebAssembly.Module>();

/** Base64 -> bytes without Buffer (runs once per module, so atob's speed is fine). */
export function decodeBase64(b64: string): Uint8Array<ArrayBuffer> {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** Compiles (once per module) and instantiates, asynchronously: the preferred path. */
export async function instantiateEmbedded(b64: string): Promise<WebAssembly.Instance> {
  let mod = compiled.get(b64);
  if (mod === undefined) {
    mod = await WebAssembly.compile(decodeBase64(b64));
    compiled.set(b64, mod);
  }
  return WebAssembly.instantiate(mod, {});
}

/**
 * Synchronous variant, for callers that cannot await. Node and Deno compile modules of
 * any size synchronously; browsers refuse large ones on the main thread, where callers
 * should use instantiateEmbedded.
 */
export function instantiateEmbeddedSync(b64: string): WebAssembly.Instance {
  let mod = compiled.get(b64);
  if (mod === undefined) {
    mod = new WebAssembly.Module(decodeBase64(b64));
    compiled.set(b64, mod);
  }
  return new WebAssembly.Instance(mod, {});
}

export const WASM_PAGE = 65536;

/**
 * Grows `memory` so that it holds at least `bytes` bytes. Growing detaches the old
 * ArrayBuffer: callers re-create their views afterwards (they compare `memory.buffer`).
 */
export function ensureMemory(memory: WebAssembly.Memory, bytes: number): void {
  const have = memory.buffer.byteLength;
  if (bytes > have) memory.grow(Math.ceil((bytes - have) / WASM_PAGE));
}

/** Rounds up to a multiple of 16, the alignment we give every region we lay out. */
export function align16(n: number): number {
  return (n + 15) & ~15;
}
