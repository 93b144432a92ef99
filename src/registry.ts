/**
 * THE extension table (libarchive's `archive_write_set_format_filter_by_ext`, as Flux's
 * dump uses it, plus `-` for stdout): suffix -> archive format + compression filter.
 * Case-sensitive suffix match, first match wins; anything else is an error naming the
 * file. Everything else that needs format names derives from this one table.
 */
import { FluxError } from './errors.js';

export type FormatName = 'pax' | 'zip' | 'cpio' | 'iso9660';
export type FilterName = 'none' | 'gzip' | 'bzip2' | 'xz';

export interface OutputKind {
  suffix: string;
  format: FormatName;
  filter: FilterName;
}

export const EXTENSIONS: readonly OutputKind[] = [
  { suffix: '.tar.gz', format: 'pax', filter: 'gzip' },
  { suffix: '.tgz', format: 'pax', filter: 'gzip' },
  { suffix: '.tar.bz2', format: 'pax', filter: 'bzip2' },
  { suffix: '.tar.xz', format: 'pax', filter: 'xz' },
  { suffix: '.tar', format: 'pax', filter: 'none' },
  { suffix: '.zip', format: 'zip', filter: 'none' },
  { suffix: '.cpio', format: 'cpio', filter: 'none' },
  { suffix: '.iso', format: 'iso9660', filter: 'none' },
];

export const STDOUT: OutputKind = { suffix: '-', format: 'pax', filter: 'none' };

export function outputKind(outfile: string): OutputKind {
  if (outfile === '-') return STDOUT;
  const kind = EXTENSIONS.find((k) => outfile.endsWith(k.suffix) && outfile.length > k.suffix.length);
  if (!kind) {
    const list = EXTENSIONS.map((k) => k.suffix).join(', ');
    throw new FluxError(`${outfile}: unknown archive extension (use one of ${list}, or - for stdout)`, 'EINVAL');
  }
  return kind;
}
