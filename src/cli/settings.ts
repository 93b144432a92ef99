/**
 * Everything a run takes from its environment, read once here (flags are parsed by each
 * CLI first; the environment fills in what they leave) and passed down as one object:
 * no stage below src/cli/ reads process.env.
 *
 *   FLUX_URI              the running instance (when --store is absent)
 *   FLUX_KVS_NAMESPACE    KVS namespace for the current root / restore --key (default primary)
 *   NOTIFY_SOCKET         where --sd-notify reports offline (passed to systemd-notify)
 *   FLUXDUMP_LOAD_THREAD  1/0: read content.sqlite on a load thread, or not (default: by size)
 *   FLUXDUMP_DIRECT_IO    0: write the archive through the page cache (default: O_DIRECT)
 *   FLUXDUMP_ZIP_POOL     0: deflate zip members on the main thread (default: worker pool)
 *   FLUXDUMP_STATS        FILE: append load statistics to FILE at exit (bench/maxreqs.mjs)
 *   FLUXDUMP_XZ_ENGINE    native/wasm: the xz encoder for .tar.xz (default: native where it loads)
 *
 * The FLUXDUMP_* switches are for tests and benchmarks; a value other than those listed
 * leaves the default.
 */
import type { XzEngine } from '../compress/codecs.js';
import { FluxError } from '../errors.js';

export type Env = Readonly<Record<string, string | undefined>>;

export interface RunSettings {
  /** FLUX_URI, if set and not empty. */
  fluxUri: string | undefined;
  /** FLUX_KVS_NAMESPACE, if set and not empty. */
  namespace: string | undefined;
  /** The environment systemd-notify runs in (it reads NOTIFY_SOCKET); undefined: no socket. */
  notifyEnv: Env | undefined;
  /** Forced on or off; undefined: stores big enough get one. */
  loadThread: boolean | undefined;
  directIo: boolean;
  zipPool: boolean;
  /** Where load statistics go; undefined: none are kept. */
  statsFile: string | undefined;
  /** FLUXDUMP_XZ_ENGINE as given: checked by parseXzEngine() where a run can report it. */
  xzEngine: string | undefined;
}

/** The settings when the environment sets nothing (library callers, tests). */
export const DEFAULT_SETTINGS: RunSettings = Object.freeze({
  fluxUri: undefined,
  namespace: undefined,
  notifyEnv: undefined,
  loadThread: undefined,
  directIo: true,
  zipPool: true,
  statsFile: undefined,
  xzEngine: undefined,
});

function onOff(v: string | undefined): boolean | undefined {
  return v === '1' ? true : v === '0' ? false : undefined;
}

/** The settings an environment gives. */
export function settingsFromEnv(env: Env): RunSettings {
  return Object.freeze({
    fluxUri: env.FLUX_URI || undefined,
    namespace: env.FLUX_KVS_NAMESPACE || undefined,
    notifyEnv: env.NOTIFY_SOCKET ? env : undefined,
    loadThread: onOff(env.FLUXDUMP_LOAD_THREAD),
    directIo: env.FLUXDUMP_DIRECT_IO !== '0',
    zipPool: env.FLUXDUMP_ZIP_POOL !== '0',
    statsFile: env.FLUXDUMP_STATS || undefined,
    xzEngine: env.FLUXDUMP_XZ_ENGINE || undefined,
  });
}

/** FLUXDUMP_XZ_ENGINE checked: `auto` when unset; anything but native/wasm/auto is refused. */
export function parseXzEngine(v: string | undefined): XzEngine {
  if (v === undefined || v === '' || v === 'auto') return 'auto';
  if (v === 'native' || v === 'wasm') return v;
  throw new FluxError(`FLUXDUMP_XZ_ENGINE=${v}: use native, wasm or auto`, 'EINVAL');
}

/** --maxreqs N for both commands: a positive integer, refused in flux-core's words. */
export function parseMaxreqs(s: string): number {
  const n = Number(s);
  if (!/^\s*[+-]?[0-9]+\s*$/.test(s) || !Number.isSafeInteger(n) || n <= 0) {
    throw new FluxError(`invalid value for maxreqs: ${s}`, 'EINVAL');
  }
  return n;
}
