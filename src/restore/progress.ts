/**
 * Restore's stderr output, byte for byte as flux-core prints it:
 * `\rflux-restore: restored N keys (M blobs)` whenever the key count reaches a new
 * N < 10 or a multiple of 100, and once more with a newline at the end; `-v` lists each
 * key (`key` or `key -> target`) instead; `-q` prints neither. Values skipped by
 * --size-limit are always reported. Output is collected per batch and written at once.
 * With --sd-notify the same cadence goes to systemd as `STATUS=`.
 */
import type { SdNotifier } from '../cli/sd-notify.js';

export interface ProgressOptions {
  quiet: boolean;
  verbose: boolean;
  write: (s: string) => void;
  notifier?: SdNotifier | undefined;
}

const PROG = 'flux-restore';

export class RestoreProgress {
  keys = 0;
  blobs = 0;
  #out = '';
  /** Counts reached since the last flush that --sd-notify reports, each as flux-core does. */
  #notify: number[] = [];
  /** A `\r` progress line is on the terminal without its newline yet. */
  #lineOpen = false;
  readonly #o: ProgressOptions;

  constructor(o: ProgressOptions) {
    this.#o = o;
  }

  get #showCount(): boolean {
    return !this.#o.quiet && !this.#o.verbose;
  }

  addBlobs(n: number): void {
    this.blobs += n;
  }

  /** One key restored; `listing` is what -v prints for it. */
  addKey(listing: string): void {
    const n = ++this.keys;
    if (this.#o.verbose) this.#out += listing + '\n';
    if (n < 10 || n % 100 === 0) {
      if (this.#showCount) this.#out += `\r${PROG}: restored ${n} keys (${this.blobs} blobs)`;
      if (this.#o.notifier) this.#notify.push(n);
    }
  }

  skipped(path: string, size: number, limit: number): void {
    this.#out += `${this.#showCount ? '\r' : ''}${path} size ${size} exceeds ${limit} limit, skipping\n`;
  }

  /** Write what the batch produced. */
  flush(): void {
    if (this.#out) {
      this.#o.write(this.#out);
      this.#lineOpen = !this.#out.endsWith('\n');
      this.#out = '';
    }
    for (const n of this.#notify) this.#o.notifier!.status(notifyText(n));
    this.#notify.length = 0;
  }

  end(): void {
    this.flush();
    if (this.#showCount) this.#o.write(`\r${PROG}: restored ${this.keys} keys (${this.blobs} blobs)\n`);
    this.#lineOpen = false;
    this.#o.notifier?.status(notifyText(this.keys), true);
  }

  /** The restore failed: end an open progress line, so the error gets a line of its own. */
  interrupt(): void {
    this.flush();
    if (this.#lineOpen) this.#o.write('\n');
    this.#lineOpen = false;
  }

  message(text: string): void {
    this.flush();
    this.#o.write(`${PROG}: ${text}\n`);
  }
}

function notifyText(n: number): string {
  return `flux-restore(1) has restored ${n} keys`;
}
