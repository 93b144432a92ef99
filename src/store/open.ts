/**
 * `--store=LOCATION` -> a ContentStore. LOCATION may be a Flux statedir (its
 * content.sqlite, else its content.files/), a content.sqlite file, a content.files
 * directory, or a `local://` broker URI (FLUX_URI's form).
 */
import { existsSync, statSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { FluxError } from '../errors.js';
import { CHECKPOINT_FILE, FilesStore } from './files.js';
import type { ContentStore } from './source.js';
import { SqliteStore } from './sqlite.js';

export type StoreKind = 'sqlite' | 'files' | 'broker';

export interface ResolvedStore {
  kind: StoreKind;
  path: string;
}

function looksLikeFilesDir(dir: string): boolean {
  if (existsSync(join(dir, CHECKPOINT_FILE))) return true;
  const names = readdirSync(dir).slice(0, 16);
  return names.length > 0 && names.every((n) => /^sha(1|256)-[0-9a-f]+$/.test(n) || n === CHECKPOINT_FILE);
}

/** Decide what LOCATION is without opening it. */
export function resolveStore(location: string): ResolvedStore {
  if (location.startsWith('local://')) return { kind: 'broker', path: location };
  let st;
  try {
    st = statSync(location);
  } catch {
    throw new FluxError(`${location}: No such file or directory`, 'ENOENT');
  }
  if (st.isFile()) return { kind: 'sqlite', path: location };
  if (!st.isDirectory()) throw new FluxError(`${location}: not a file or directory`);
  const sqlite = join(location, 'content.sqlite');
  if (existsSync(sqlite)) return { kind: 'sqlite', path: sqlite };
  const files = join(location, 'content.files');
  if (existsSync(files) && statSync(files).isDirectory()) return { kind: 'files', path: files };
  if (looksLikeFilesDir(location)) return { kind: 'files', path: location };
  throw new FluxError(`${location}: no content.sqlite or content.files found here`, 'ENOENT');
}

export type BrokerOpener = (uri: string) => Promise<ContentStore>;

/** The live broker client registers itself here (kept out of the offline import graph). */
export const brokerOpener: { open: BrokerOpener | null } = { open: null };

export async function openStore(location: string): Promise<ContentStore> {
  const r = resolveStore(location);
  switch (r.kind) {
    case 'sqlite':
      return SqliteStore.open(r.path);
    case 'files':
      return new FilesStore(r.path);
    case 'broker':
      if (!brokerOpener.open) {
        throw new FluxError(`${location}: live brokers are not supported yet; use --store with an offline content.sqlite or content.files`, 'ENOSYS');
      }
      return brokerOpener.open(r.path);
  }
}
