/**
 * Process plumbing shared by the CLIs: one-line errors (never a stack trace), exit
 * codes, and removal of temporaries when a signal ends the run.
 */
import { unlinkSync } from 'node:fs';
import { FluxError } from '../errors.js';
import { liveTemporaries } from '../sink/file.js';

function removeTemporaries(): void {
  for (const tmp of liveTemporaries) {
    try {
      unlinkSync(tmp);
    } catch {
      /* already gone */
    }
  }
  liveTemporaries.clear();
}

const SIGNALS: Record<string, number> = { SIGINT: 2, SIGTERM: 15, SIGHUP: 1 };

export function installSignalCleanup(): void {
  for (const [sig, num] of Object.entries(SIGNALS)) {
    process.on(sig, () => {
      removeTemporaries();
      process.exit(128 + num);
    });
  }
}

/** Run a CLI main: FluxErrors print as `prog: message`; anything else is a bug, still one line. */
export function runMain(prog: string, main: (argv: readonly string[]) => Promise<number>): void {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      removeTemporaries();
      const msg = err instanceof Error ? err.message : String(err);
      process.stderr.write(err instanceof FluxError ? `${prog}: ${msg}\n` : `${prog}: internal error: ${msg}\n`);
      process.exitCode = 1;
    },
  );
}
