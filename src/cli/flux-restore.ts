#!/usr/bin/env node
/**
 * flux-restore [OPTIONS] INFILE: restore a KVS snapshot from an archive (any format and
 * compression, told from its bytes; `-` is stdin) into an offline content store
 * (--store) or a running instance (FLUX_URI, or --store=local://PATH; --key needs one).
 * A thin layer over restore(): options are parsed once here; errors print as one line.
 */
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { FluxError } from '../errors.js';
import { restore } from '../restore/index.js';
import { removeTemporaries, stopWritersAndRemoveTemporaries } from '../restore/temporaries.js';
import { formatHelp, UsageError } from './args.js';
import { installSignalCleanup, runMain, writeStderr } from './run.js';
import { normaliseRestoreArgs, RESTORE_OPTIONS, RESTORE_USAGE } from './restore-args.js';

const PROG = 'flux-restore';

export interface RestoreIo {
  stdout: (s: string) => void;
  stderr: (s: string) => void;
  stdin?: AsyncIterable<Uint8Array>;
  env: Record<string, string | undefined>;
}

const processIo = (): RestoreIo => ({
  stdout: (s) => void process.stdout.write(s),
  stderr: writeStderr, // remembers an open progress line for the signal message
  env: process.env,
});

/** Run flux-restore with `argv` (arguments only, no program name); resolves to the exit code. */
export async function main(argv: readonly string[], io: RestoreIo = processIo()): Promise<number> {
  try {
    const o = normaliseRestoreArgs(argv, io.env);
    if (o === 'help') {
      io.stdout(formatHelp(RESTORE_USAGE, RESTORE_OPTIONS));
      return 0;
    }
    await restore({ ...o, write: io.stderr, ...(io.stdin ? { stdin: io.stdin } : {}) });
    return 0;
  } catch (err) {
    if (err instanceof UsageError) io.stderr(`${PROG}: ${err.message}\n${formatHelp(RESTORE_USAGE, RESTORE_OPTIONS)}`);
    else if (err instanceof FluxError) io.stderr(`${PROG}: ${err.message}\n`);
    else io.stderr(`${PROG}: internal error: ${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}

function invokedDirectly(): boolean {
  const script = process.argv[1];
  if (script === undefined) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (invokedDirectly()) {
  // A signal removes the store being built and any spool, says so in one line, and
  // exits 128+signal; an existing store keeps its previous checkpoint as the newest.
  installSignalCleanup(PROG, stopWritersAndRemoveTemporaries);
  runMain(PROG, (argv) => main(argv), removeTemporaries);
}
