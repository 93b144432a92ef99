/**
 * flux-dump [OPTIONS] OUTFILE: archive a Flux KVS snapshot. A thin layer over dump():
 * options are parsed and normalised here once; the pipeline does the work. Run by
 * flux-dump.ts, which starts an offline store's load thread first.
 */
import { FluxError } from '../errors.js';
import { outputKind } from '../registry.js';
import { dumpCompressed } from '../pipeline.js';
import { openStore } from '../store/open.js';
import type { ContentStore } from '../store/source.js';
import { fileSink } from '../sink/file.js';
import { pipeOut } from '../sink/pipe.js';
import { stdoutSink } from '../sink/stdout.js';
import { formatHelp, parseArgs, UsageError, type OptionSpec } from './args.js';
import { Progress } from './progress.js';
import { makeSdNotifier, type SdNotifier } from './sd-notify.js';
import { errorLine, writeStderr } from './run.js';
import type { XzEngine } from '../compress/codecs.js';
import { parseMaxreqs, parseXzEngine, settingsFromEnv, type RunSettings } from './settings.js';

const PROG = 'flux-dump';
const USAGE = 'flux-dump [OPTIONS] OUTFILE';

export const DUMP_OPTIONS: readonly OptionSpec[] = [
  { long: 'help', short: 'h', help: 'Display this message.' },
  { long: 'verbose', short: 'v', help: 'List keys on stderr as they are archived.' },
  { long: 'quiet', short: 'q', help: "Don't report periodic progress to stderr." },
  { long: 'checkpoint', help: 'Dump the newest checkpoint instead of the current root.' },
  { long: 'no-cache', help: 'Bypass the broker content cache (live instances).' },
  { long: 'maxreqs', arg: 'N', help: 'Keep at most N content loads in flight (default 2).' },
  { long: 'ignore-failed-read', help: 'Report and skip keys whose content cannot be loaded.' },
  { long: 'sd-notify', help: 'Send progress to systemd (NOTIFY_SOCKET) as STATUS=.' },
  { long: 'store', arg: 'LOCATION', help: 'Read a statedir, content.sqlite or content.files offline (default: FLUX_URI).' },
];

export interface DumpCliOptions {
  outfile: string;
  verbose: boolean;
  quiet: boolean;
  checkpoint: boolean;
  noCache: boolean;
  maxreqs: number;
  ignoreFailedRead: boolean;
  sdNotify: boolean;
  store: string;
  xzEngine: XzEngine;
}

export function normalise(argv: readonly string[], settings: RunSettings): DumpCliOptions | 'help' {
  const { opts, operands } = parseArgs(argv, DUMP_OPTIONS);
  if (opts.has('help')) return 'help';
  if (operands.length !== 1) throw new UsageError(operands.length === 0 ? 'missing OUTFILE' : 'too many arguments');
  const store = (opts.get('store') as string | undefined) ?? settings.fluxUri;
  if (!store) {
    throw new FluxError('no content store: use --store=LOCATION (a statedir, content.sqlite or content.files) or set FLUX_URI to a running instance');
  }
  return Object.freeze({
    outfile: operands[0]!,
    verbose: opts.has('verbose'),
    quiet: opts.has('quiet'),
    checkpoint: opts.has('checkpoint'),
    noCache: opts.has('no-cache'),
    maxreqs: opts.has('maxreqs') ? parseMaxreqs(opts.get('maxreqs') as string) : 2,
    ignoreFailedRead: opts.has('ignore-failed-read'),
    sdNotify: opts.has('sd-notify'),
    store,
    xzEngine: parseXzEngine(settings.xzEngine),
  });
}

export async function main(argv: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const warn = (msg: string) => errorLine(PROG, msg); // on a line of its own, after any progress
  const settings = settingsFromEnv(env);
  let o: DumpCliOptions | 'help';
  try {
    o = normalise(argv, settings);
  } catch (err) {
    if (err instanceof UsageError) {
      writeStderr(`${PROG}: ${err.message}\n${formatHelp(USAGE, DUMP_OPTIONS)}`);
      return 1;
    }
    throw err;
  }
  if (o === 'help') {
    process.stdout.write(formatHelp(USAGE, DUMP_OPTIONS));
    return 0;
  }
  const kind = outputKind(o.outfile);
  let store: ContentStore | undefined;
  let notifier: SdNotifier | undefined;
  try {
    store = await openStore(o.store, { noCache: o.noCache, namespace: settings.namespace, loadThread: settings.loadThread, statsFile: settings.statsFile });
    // Live: the broker's state-machine.sd-notify RPC; offline: systemd-notify.
    const live = (store as { sdNotifier?: () => SdNotifier }).sdNotifier;
    notifier = o.sdNotify ? (live ? live.call(store) : makeSdNotifier(warn, settings.notifyEnv)) : undefined;
    const progress = new Progress({
      prog: PROG,
      quiet: o.quiet,
      verbose: o.verbose,
      text: (n) => `archived ${n} keys`,
      notifier,
      notifyText: (n) => `flux-dump(1) has archived ${n} keys`,
      write: writeStderr,
    });
    const bytes = await dumpCompressed({
      store,
      checkpoint: o.checkpoint,
      maxreqs: o.maxreqs,
      ignoreFailedRead: o.ignoreFailedRead,
      format: kind.format,
      filter: kind.filter,
      stdout: o.outfile === '-',
      now: Math.floor(Date.now() / 1000),
      uid: process.getuid?.() ?? 0,
      gid: process.getgid?.() ?? 0,
      onEntries: (batch) => progress.addEntries(batch),
      onSkip: warn,
      zipPool: settings.zipPool,
      xzEngine: o.xzEngine,
    });
    await pipeOut(bytes, o.outfile === '-' ? stdoutSink() : fileSink(o.outfile, { directIo: settings.directIo }));
    progress.end();
  } finally {
    await notifier?.flush();
    await store?.close();
    // compression workers (filters, zip member deflate) end now rather than when idle
    if (kind.filter !== 'none' || kind.format === 'zip') await (await import('../compress/pool.js')).closePool();
  }
  return 0;
}
