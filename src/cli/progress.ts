/**
 * Progress on stderr exactly as flux-core prints it: `\r<prog>: <verb> N keys` when
 * N < 10 or N % 100 == 0, then the final count with a newline; `-v` lists keys instead;
 * `-q` prints nothing. Lines of one batch are written in one go (same bytes, fewer
 * syscalls). With --sd-notify the same cadence goes to systemd as STATUS=.
 */
import type { SdNotifier } from './sd-notify.js';

export interface ProgressOptions {
  prog: string;
  quiet: boolean;
  verbose: boolean;
  /** `(n) => "archived N keys"` */
  text: (n: number) => string;
  notifier?: SdNotifier | undefined;
  /** `(n) => "flux-dump(1) has archived N keys"` */
  notifyText?: (n: number) => string;
  write?: (s: string) => void;
}

export class Progress {
  #n = 0;
  readonly #o: ProgressOptions;
  readonly #write: (s: string) => void;

  constructor(o: ProgressOptions) {
    this.#o = o;
    this.#write = o.write ?? ((s) => process.stderr.write(s));
  }

  get count(): number {
    return this.#n;
  }

  /** Account for keys in order; `names` are listed under -v. */
  add(names: readonly string[]): void {
    let out = '';
    const notifier = this.#o.notifyText ? this.#o.notifier : undefined;
    for (const name of names) {
      const n = ++this.#n;
      if (n < 10 || n % 100 === 0) {
        if (!this.#o.quiet && !this.#o.verbose) out += `\r${this.#o.prog}: ${this.#o.text(n)}`;
        // the same cadence as flux-core; the offline notifier throttles itself
        notifier?.status(this.#o.notifyText!(n));
      }
      if (this.#o.verbose && !this.#o.quiet) out += `${name}\n`;
    }
    if (out) this.#write(out);
  }

  end(): void {
    if (!this.#o.quiet && !this.#o.verbose) this.#write(`\r${this.#o.prog}: ${this.#o.text(this.#n)}\n`);
    if (this.#o.notifier && this.#o.notifyText) this.#o.notifier.status(this.#o.notifyText(this.#n), true);
  }
}
