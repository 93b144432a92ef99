/**
 * One error type for everything the user can cause or meet: bad options, bad stores,
 * bad archives. The CLI prints `prog: message` on one line and exits non-zero; anything
 * that is not a FluxError is a bug and is reported as such.
 */
export type Severity = 'fatal' | 'skip';

export class FluxError extends Error {
  /** errno-style code where one applies (ENOENT, EPROTO, ...), for callers and the wire. */
  readonly code: string;
  readonly severity: Severity;

  constructor(message: string, code = 'EINVAL', severity: Severity = 'fatal') {
    super(message);
    this.name = 'FluxError';
    this.code = code;
    this.severity = severity;
  }
}

/** A blob the store does not have: skippable under --ignore-failed-read. */
export class MissingBlobError extends FluxError {
  constructor(message: string) {
    super(message, 'ENOENT', 'skip');
    this.name = 'MissingBlobError';
  }
}

/** A blob whose bytes do not hash to the blobref it was loaded by. */
export class CorruptBlobError extends FluxError {
  constructor(message: string) {
    super(message, 'EILSEQ', 'skip');
    this.name = 'CorruptBlobError';
  }
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}
