/**
 * Archive member names -> KVS key components. A leading `./` is dropped (a tar made
 * with `tar -C dir .`); anything that could not have come from a KVS key, or that would
 * mean something else to a file system (absolute paths, `.`, `..`, empty components),
 * is refused with an error naming the member.
 */
import { FluxError } from '../errors.js';

export function keyComponents(path: string, where: string): string[] {
  let p = path;
  while (p.startsWith('./')) p = p.slice(2);
  const refuse = (why: string): never => {
    throw new FluxError(`${where}: refusing archive member ${JSON.stringify(path)}: ${why}`, 'EINVAL');
  };
  if (p.length === 0) refuse('empty key');
  if (p.charCodeAt(0) === 0x2f) refuse('absolute path');
  if (p.includes('\0')) refuse('NUL in name'); // a C string (Flux's keys) would end there
  const parts = p.split('/');
  for (const c of parts) {
    if (c === '') refuse('empty path component');
    else if (c === '..') refuse('".." path component');
    else if (c === '.') refuse('"." path component');
  }
  return parts;
}
