/**
 * Process plumbing shared by the CLIs: one-line errors (never a stack trace), exit
 * codes, removal of temporaries, and the one place that decides a run's exit status.
 *
 * Exit codes: 0 done, 1 error, 128+N when signal N ended the run (SIGINT 130,
 * SIGTERM 143, SIGHUP 129), and 141 (128+SIGPIPE) when the reader of standard output
 * went away: silently, as a C program killed by SIGPIPE would end.
 *
 * Why one owner: Flux's shutdown links `dump/RESTORE` to an archive when flux dump exits
 * 0, and the next start truncates the store and restores from it. A run that ended
 * without having finished must therefore never exit 0, whatever part of it (walk, load
 * thread, compression pool, libuv writes, fsync, rename) failed or went quiet. Every
 * part reports into main()'s promise; runMain() alone turns that into the exit status,
 * keeps the event loop alive until it has settled (parts that wind down on unref'd
 * handles, such as a worker being terminated, would otherwise let Node exit 0 with the
 * promise still pending), and turns any other way out (an exception nobody caught, a
 * drained event loop) into exit 1 with one line.
 */
import { closeSync, unlinkSync } from 'node:fs';
import { FluxError } from '../errors.js';
import { liveTemporaries } from '../sink/file.js';
import { StdoutClosedError } from '../sink/stdout.js';

/** 128 + SIGPIPE: what a shell reports for a writer whose pipe reader exited. */
export const EXIT_BROKEN_PIPE = 141;

/**
 * Whether the last text written to stderr left the cursor mid-line: progress lines are
 * `\r`-prefixed and unterminated, and an error must not be glued onto one.
 */
let stderrMidLine = false;

/** Write to stderr, remembering whether a line is left open (progress uses this). */
export function writeStderr(s: string): void {
  if (s.length === 0) return;
  stderrMidLine = !s.endsWith('\n');
  process.stderr.write(s);
}

/** End an open progress line, if any. */
function closeStderrLine(): void {
  if (stderrMidLine) writeStderr('\n');
}

/** `prog: message` on a line of its own. */
export function errorLine(prog: string, message: string): void {
  closeStderrLine();
  writeStderr(`${prog}: ${message}\n`);
}

/**
 * stdio descriptors whose terminal went away (EIO after a hangup: a dropped ssh connection).
 * Progress to a dead stderr is dropped and the dump goes on: the archive matters more.
 */
const brokenTerminals = new Set<number>();

function watchStdio(): void {
  for (const stream of [process.stdout, process.stderr]) {
    // Without a listener, a failed write to stderr is an uncaught exception whose report
    // fails in turn (seen: SIGSEGV, temporary left behind).
    stream.on('error', () => {
      if (stream.isTTY) brokenTerminals.add(stream.fd);
    });
  }
  // Node restores terminal settings at exit and aborts (a native stack trace) when it
  // cannot, as on a hung-up terminal. It skips a descriptor the program has closed.
  process.once('exit', () => {
    for (const stream of [process.stdout, process.stderr]) {
      if (stream.isTTY && (stream.errored || stream.destroyed)) brokenTerminals.add(stream.fd);
    }
    for (const fd of brokenTerminals) {
      try {
        closeSync(fd);
      } catch {
        /* already closed */
      }
    }
  });
}

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

/**
 * On SIGINT/SIGTERM/SIGHUP: remove the temporaries (the dump's own and whatever
 * `cleanups` know of), say so in one line, exit 128+signal. Handlers run when the event
 * loop turns, which the sinks make sure happens often (see sink/turn.ts).
 */
export function installSignalCleanup(prog: string, ...cleanups: (() => void | Promise<void>)[]): void {
  watchStdio();
  let exiting = false;
  for (const [sig, num] of Object.entries(SIGNALS)) {
    process.on(sig, () => {
      if (exiting) return;
      exiting = true;
      outcome.decide(128 + num);
      removeTemporaries();
      // A cleanup may first stop a thread that is still creating temporaries.
      void Promise.allSettled(cleanups.map(async (cleanup) => cleanup())).then(() => {
        errorLine(prog, `interrupted by ${sig}`);
        process.exit(outcome.code);
      });
    });
  }
}

/**
 * Report a failure of `main` and return the exit code: FluxErrors print as
 * `prog: message`; anything else is a bug, still one line; a closed stdout prints nothing.
 */
export function reportFailure(prog: string, err: unknown): number {
  if (err instanceof StdoutClosedError) {
    closeStderrLine();
    return EXIT_BROKEN_PIPE;
  }
  const msg = err instanceof Error ? err.message : String(err);
  errorLine(prog, err instanceof FluxError ? msg : `internal error: ${msg}`);
  return 1;
}

/**
 * The exit status of this process, decided once: the first decision stands, except that
 * a failure reported after a success wins (exiting non-zero is the safe side).
 */
class Outcome {
  #code: number | undefined;

  get decided(): boolean {
    return this.#code !== undefined;
  }

  get code(): number {
    return this.#code ?? 1;
  }

  decide(code: number): void {
    if (this.#code === undefined || (this.#code === 0 && code !== 0)) this.#code = code;
    process.exitCode = this.#code;
  }
}

const outcome = new Outcome();

/**
 * Run a CLI main and own its outcome: the exit status is main's code once main has
 * settled, and 1 (with one line saying so) for any other way the process could end.
 * `cleanupSync` removes the command's own temporaries on those other ways out.
 */
export function runMain(prog: string, main: (argv: readonly string[]) => Promise<number>, cleanupSync?: () => void): void {
  // Until main settles, something must hold the event loop open: see the module comment.
  const keepAlive = setInterval(() => {}, 1 << 30);
  const fail = (err: unknown) => {
    removeTemporaries();
    cleanupSync?.();
    outcome.decide(reportFailure(prog, err));
  };
  process.on('uncaughtException', (err) => {
    fail(err);
    process.exit(outcome.code);
  });
  process.on('unhandledRejection', (err) => {
    fail(err);
    process.exit(outcome.code);
  });
  process.once('exit', () => {
    if (outcome.decided) return;
    removeTemporaries();
    cleanupSync?.();
    errorLine(prog, 'internal error: exiting before the run finished; its output is incomplete');
    outcome.decide(1);
  });
  main(process.argv.slice(2)).then(
    (code) => {
      outcome.decide(code);
      clearInterval(keepAlive);
    },
    (err: unknown) => {
      fail(err);
      clearInterval(keepAlive);
    },
  );
}
