/**
 * flux-restore's command line -> RestoreOptions: flux-core's options plus --store and
 * --hash for offline stores, each string parsed here. Without --store the restore goes to
 * the running instance FLUX_URI names (as flux-core's does); --store=local://PATH names
 * one. How the options fit together (a target, --key only live, a store at all) is
 * checked once, by restore() itself.
 */
import { isHashType, type HashType } from '../blobref.js';
import { FluxError } from '../errors.js';
import type { RestoreOptions } from '../restore/index.js';
import { parseArgs, UsageError, type OptionSpec } from './args.js';
import { parseMaxreqs, settingsFromEnv, type Env } from './settings.js';

export const RESTORE_USAGE = 'flux-restore [OPTIONS] INFILE';

export const RESTORE_OPTIONS: readonly OptionSpec[] = [
  { long: 'help', short: 'h', help: 'Display this message.' },
  { long: 'verbose', short: 'v', help: 'List keys on stderr as they are restored' },
  { long: 'quiet', short: 'q', help: "Don't show periodic progress updates" },
  { long: 'checkpoint', help: 'Restore to checkpoint' },
  { long: 'key', arg: 'KEY', help: 'Restore to KVS key (needs a running instance)' },
  { long: 'no-cache', help: 'Bypass the broker content cache' },
  { long: 'size-limit', arg: 'SIZE', help: 'Do not restore blobs greater than SIZE bytes' },
  { long: 'maxreqs', arg: 'N', help: 'Max blobs per content store batch (default 256)' },
  { long: 'sd-notify', help: 'Send status updates to systemd (NOTIFY_SOCKET)' },
  { long: 'store', arg: 'LOCATION', help: 'A statedir, a .sqlite file, a content.files dir, or local:// (default: FLUX_URI)' },
  { long: 'hash', arg: 'sha1|sha256', help: 'Hash for a new offline store (existing stores and instances keep their own)' },
];

const SIZE_SCALE: Record<string, number> = {
  '': 1,
  k: 2 ** 10,
  K: 2 ** 10,
  M: 2 ** 20,
  G: 2 ** 30,
  T: 2 ** 40,
  P: 2 ** 50,
  E: 2 ** 60,
};
/** flux-core reads --size-limit into a C int. */
const INT_MAX = 2 ** 31 - 1;

/** `1.5M` -> 1572864: a non-negative number (floats allowed) with an optional k/K/M/G/T/P/E suffix. */
export function parseSize(s: string): number {
  const m = /^\s*([0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)([kKMGTPE]?)$/.exec(s);
  const value = m ? Math.floor(Number(m[1]) * SIZE_SCALE[m[2]!]!) : NaN;
  if (!Number.isFinite(value) || value > INT_MAX) throw new FluxError(`invalid value for size-limit: ${s}`, 'EINVAL');
  return value;
}

export type RestoreCliOptions = RestoreOptions & {
  input: string;
  checkpoint: boolean;
  /** An offline location, or a broker URI (FLUX_URI when --store is absent). */
  store: string | undefined;
  maxreqs: number;
  sizeLimit: number;
};

export function normaliseRestoreArgs(argv: readonly string[], env: Env): RestoreCliOptions | 'help' {
  const { opts, operands } = parseArgs(argv, RESTORE_OPTIONS);
  if (opts.has('help')) return 'help';
  if (operands.length !== 1) throw new UsageError(operands.length === 0 ? 'missing INFILE' : 'too many arguments');
  const str = (name: string): string | undefined => opts.get(name) as string | undefined;

  const maxreqs = opts.has('maxreqs') ? parseMaxreqs(str('maxreqs')!) : 256;
  const sizeLimit = opts.has('size-limit') ? parseSize(str('size-limit')!) : 0;
  let hash: HashType | undefined;
  if (opts.has('hash')) {
    const h = str('hash')!;
    if (!isHashType(h)) throw new FluxError(`invalid value for hash: ${h} (sha1 or sha256)`, 'EINVAL');
    hash = h;
  }
  const settings = settingsFromEnv(env);
  return {
    input: operands[0]!,
    checkpoint: opts.has('checkpoint'),
    key: str('key'),
    // No --store: the running instance FLUX_URI names, as flux-core's restore does.
    store: str('store') ?? settings.fluxUri,
    hash,
    sizeLimit,
    maxreqs,
    verbose: opts.has('verbose'),
    quiet: opts.has('quiet'),
    sdNotify: opts.has('sd-notify'),
    noCache: opts.has('no-cache'),
    settings,
  };
}
