/**
 * Which JavaScript runtime we are in. The code paths that differ between Node and Deno
 * (the SQLite binding, the worker pool) ask here once instead of sniffing globals each
 * in their own way. Deno provides `process` too (node compatibility), so Deno is tested
 * first, by its own global.
 */

export type RuntimeName = 'deno' | 'bun' | 'node' | 'other';

interface RuntimeGlobals {
  Deno?: { version?: { deno?: string } };
  Bun?: { version?: string };
  process?: { versions?: { node?: string } };
}

const g = globalThis as RuntimeGlobals;

function detect(): { name: RuntimeName; version: string } {
  const deno = g.Deno?.version?.deno;
  if (typeof deno === 'string') return { name: 'deno', version: deno };
  const bun = g.Bun?.version;
  if (typeof bun === 'string') return { name: 'bun', version: bun };
  const node = g.process?.versions?.node;
  if (typeof node === 'string') return { name: 'node', version: node };
  return { name: 'other', version: '' };
}

const current = detect();

/** The runtime running this process. */
export const RUNTIME: RuntimeName = current.name;
/** Its version (`2.9.6`, `20.20.2`), empty when unknown. */
export const RUNTIME_VERSION: string = current.version;

export const isDeno = (): boolean => RUNTIME === 'deno';

/** `deno 2.9.6`, `node 20.20.2`: for messages and benchmark tables. */
export function runtimeLabel(): string {
  return RUNTIME_VERSION ? `${RUNTIME} ${RUNTIME_VERSION}` : RUNTIME;
}
