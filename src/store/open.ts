/**
 * `--store=LOCATION` -> a ContentStore. LOCATION may be a Flux statedir (its
 * content.sqlite, else its content.files/), a content.sqlite file, a content.files
 * directory, or a `local://` broker URI (FLUX_URI's form).
 */
import { existsSync, statSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { FluxError } from '../errors.js';
import { CHECKPOINT_FILE, FilesStore } from './files.js';
import { loadStatsTo, withLoadStats } from './load-stats.js';
import type { ContentStore } from './source.js';

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
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(location)) {
    throw new FluxError(`${location}: only local:// broker URIs are supported (run on the broker's node, or use --store offline)`, 'EINVAL');
  }
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

export interface OpenStoreOptions {
  /** Live only: bypass the broker's content cache (content-backing.* on rank 0). */
  noCache?: boolean;
  /** Live only: KVS namespace for the current root (FLUX_KVS_NAMESPACE; default primary). */
  namespace?: string | undefined;
  /** content.sqlite: read on a load thread (true), not (false), or by its size (undefined). */
  loadThread?: boolean | undefined;
  /** Append load statistics to this file at exit (FLUXDUMP_STATS). */
  statsFile?: string | undefined;
}

export type BrokerOpener = (uri: string, opts: OpenStoreOptions) => Promise<ContentStore>;

/** The live broker client registers itself here (kept out of the offline import graph). */
export const brokerOpener: { open: BrokerOpener | null } = { open: null };

/** Load the broker client only when a `local://` URI is opened. */
async function loadBrokerOpener(): Promise<BrokerOpener> {
  if (!brokerOpener.open) brokerOpener.open = (await import('../broker/store.js')).openBrokerStore;
  return brokerOpener.open;
}

export async function openStore(location: string, opts: OpenStoreOptions = {}): Promise<ContentStore> {
  const r = resolveStore(location);
  switch (r.kind) {
    case 'sqlite':
      // Loaded here: a live dump never needs the SQLite reader (~30 ms of start-up).
      return measured(await (await import('./sqlite.js')).SqliteStore.open(r.path, { loadThread: opts.loadThread }), 'sqlite', opts.statsFile);
    case 'files':
      return measured(new FilesStore(r.path), 'files', opts.statsFile);
    case 'broker':
      return (await loadBrokerOpener())(r.path, opts); // the broker client measures its RPCs
  }
}

/** With a statistics file (FLUXDUMP_STATS, bench/maxreqs.mjs), an offline store's loads are timed. */
function measured(store: ContentStore, source: string, statsFile: string | undefined): ContentStore {
  const stats = loadStatsTo(statsFile, source);
  return stats ? withLoadStats(store, stats) : store;
}
