/**
 * Progress on stderr exactly as flux-core prints it: `\r<prog>: <verb> N keys` when
 * N < 10 or N % 100 == 0, then the final count with a newline; `-v` lists keys instead;
 * `-q` prints nothing. Lines of one batch are written in one go (same bytes, fewer
 * syscalls). With --sd-notify the same cadence goes to systemd as STATUS=.
 *
 * On a terminal (and only there: a log or a pipe gets flux-core's bytes), long runs also
 * show the rate beside the count: `\rflux-dump: archived N keys  52,310 keys/s  24.1 MB/s`,
 * over the last few seconds, redrawn at most RATE_REDRAW_MS apart (at 100k keys/s the
 * flux-core cadence would be 1,000 lines a second), and the final line gives the
 * averages. N still follows flux-core's cadence.
 */
import type { ArchiveEntry } from '../walk/entry.js';
import type { SdNotifier } from './sd-notify.js';
import { nowMs } from '../util/clock.js';

/** Terminal redraws at most this often (ms). */
export const RATE_REDRAW_MS = 100;
/** Rates are measured over about this much recent time (ms). */
export const RATE_WINDOW_MS = 3000;
/** No running rate before this much time has passed (ms). */
const RATE_MIN_MS = 200;

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
  /** Show rates (default: stderr is a terminal). */
  tty?: boolean;
  /** Clock in ms (tests). */
  now?: () => number;
}

interface Sample {
  t: number;
  keys: number;
  bytes: number;
}

export class Progress {
  #n = 0;
  /** The last count flux-core's cadence would print. */
  #shown = 0;
  #bytes = 0;
  #sawBytes = false;
  readonly #o: ProgressOptions;
  readonly #write: (s: string) => void;
  readonly #tty: boolean;
  readonly #now: () => number;
  readonly #start: number;
  /** Recent (time, keys, bytes) points: the rate window. */
  #samples: Sample[] = [];
  #lastDraw = -Infinity;
  /** Length of the last terminal line, to blank what a shorter one leaves behind. */
  #width = 0;

  constructor(o: ProgressOptions) {
    this.#o = o;
    this.#write = o.write ?? ((s) => process.stderr.write(s));
    this.#tty = !o.quiet && !o.verbose && (o.tty ?? process.stderr.isTTY === true);
    this.#now = o.now ?? nowMs;
    this.#start = this.#now();
    this.#samples.push({ t: this.#start, keys: 0, bytes: 0 });
  }

  get count(): number {
    return this.#n;
  }

  /** Account for archived entries in order: names for -v, data sizes for MB/s. */
  addEntries(batch: readonly ArchiveEntry[]): void {
    let bytes = 0;
    for (const e of batch) bytes += e.data.length;
    this.add(
      batch.map((e) => e.path),
      bytes,
    );
  }

  /** Account for keys in order; `names` are listed under -v; `bytes`: their data, if known. */
  add(names: readonly string[], bytes?: number): void {
    if (bytes !== undefined) {
      this.#bytes += bytes;
      this.#sawBytes = true;
    }
    let out = '';
    const plain = !this.#o.quiet && !this.#o.verbose && !this.#tty;
    const notifier = this.#o.notifyText ? this.#o.notifier : undefined;
    for (const name of names) {
      const n = ++this.#n;
      if (n < 10 || n % 100 === 0) {
        this.#shown = n;
        if (plain) out += `\r${this.#o.prog}: ${this.#o.text(n)}`;
        // the same cadence as flux-core; the offline notifier throttles itself
        notifier?.status(this.#o.notifyText!(n));
      }
      if (this.#o.verbose && !this.#o.quiet) out += `${name}\n`;
    }
    if (this.#tty) out = this.#redraw(false);
    if (out) this.#write(out);
  }

  /** The terminal line, if it is time for one (always for the first keys and at the end). */
  #redraw(final: boolean): string {
    const t = this.#now();
    if (!final && this.#shown >= 10 && t - this.#lastDraw < RATE_REDRAW_MS) return '';
    this.#lastDraw = t;
    let rates: string;
    if (final) {
      rates = this.#rates(t - this.#start, this.#n, this.#bytes, 1);
      const secs = (t - this.#start) / 1000;
      if (rates) rates += `  ${secs.toFixed(secs < 10 ? 1 : 0)} s`;
    } else {
      const samples = this.#samples;
      samples.push({ t, keys: this.#n, bytes: this.#bytes });
      while (samples.length > 2 && t - samples[1]!.t >= RATE_WINDOW_MS) samples.shift();
      const base = samples[0]!;
      rates = this.#rates(t - base.t, this.#n - base.keys, this.#bytes - base.bytes);
    }
    const text = `${this.#o.prog}: ${this.#o.text(final ? this.#n : this.#shown)}${rates ? '  ' + rates : ''}`;
    const pad = this.#width > text.length ? ' '.repeat(this.#width - text.length) : '';
    this.#width = text.length;
    return `\r${text}${pad}${final ? '\n' : ''}`;
  }

  /** `52,310 keys/s  24.1 MB/s` over `ms`; '' below `minMs` (too short to mean anything). */
  #rates(ms: number, keys: number, bytes: number, minMs = RATE_MIN_MS): string {
    if (ms < minMs) return '';
    const perSec = 1000 / ms;
    const k = `${Math.round(keys * perSec).toLocaleString('en')} keys/s`;
    if (!this.#sawBytes) return k;
    const mb = (bytes * perSec) / 1e6;
    return `${k}  ${mb.toFixed(mb < 10 ? 2 : 1)} MB/s`;
  }

  end(): void {
    if (this.#tty) this.#write(this.#redraw(true));
    else if (!this.#o.quiet && !this.#o.verbose) this.#write(`\r${this.#o.prog}: ${this.#o.text(this.#n)}\n`);
    if (this.#o.notifier && this.#o.notifyText) this.#o.notifier.status(this.#o.notifyText(this.#n), true);
  }
}
