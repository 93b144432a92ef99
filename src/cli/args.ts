/**
 * A small getopt_long-style parser shared by flux-dump and flux-restore: `--name=value`,
 * `--name value`, `-x`, bundled `-vq`, `--` ends options. Flags are declared once per
 * command; everything below the CLI sees only the normalised options.
 */
import { FluxError } from '../errors.js';

export interface OptionSpec {
  long: string;
  short?: string;
  /** Takes a value (`--maxreqs=N`). */
  arg?: string;
  help: string;
}

export interface Parsed {
  opts: Map<string, string | true>;
  operands: string[];
}

export class UsageError extends FluxError {
  constructor(message: string) {
    super(message, 'EINVAL');
    this.name = 'UsageError';
  }
}

export function parseArgs(argv: readonly string[], specs: readonly OptionSpec[]): Parsed {
  const opts = new Map<string, string | true>();
  const operands: string[] = [];
  const byLong = new Map(specs.map((s) => [s.long, s]));
  const byShort = new Map(specs.filter((s) => s.short).map((s) => [s.short!, s]));
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      operands.push(...argv.slice(i + 1));
      break;
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = a.slice(2, eq < 0 ? undefined : eq);
      const spec = byLong.get(name);
      if (!spec) throw new UsageError(`unrecognized option '--${name}'`);
      if (!spec.arg) {
        if (eq >= 0) throw new UsageError(`option '--${name}' doesn't allow an argument`);
        opts.set(spec.long, true);
      } else if (eq >= 0) opts.set(spec.long, a.slice(eq + 1));
      else if (i + 1 < argv.length) opts.set(spec.long, argv[++i]!);
      else throw new UsageError(`option '--${name}' requires an argument`);
    } else if (a.startsWith('-') && a !== '-') {
      for (let j = 1; j < a.length; j++) {
        const spec = byShort.get(a[j]!);
        if (!spec) throw new UsageError(`invalid option -- '${a[j]}'`);
        if (!spec.arg) opts.set(spec.long, true);
        else {
          const rest = a.slice(j + 1);
          if (rest) opts.set(spec.long, rest);
          else if (i + 1 < argv.length) opts.set(spec.long, argv[++i]!);
          else throw new UsageError(`option requires an argument -- '${a[j]}'`);
          break;
        }
      }
    } else operands.push(a);
  }
  return { opts, operands };
}

export function formatHelp(usage: string, specs: readonly OptionSpec[]): string {
  const rows = specs.map((s) => {
    const flag = (s.short ? `-${s.short}, ` : '    ') + `--${s.long}` + (s.arg ? `=${s.arg}` : '');
    return `  ${flag.padEnd(28)} ${s.help}`;
  });
  return `Usage: ${usage}\n${rows.join('\n')}\n`;
}
