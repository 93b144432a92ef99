/**
 * content.files backing store: one file per blob named by its blobref, holding the raw
 * blob; `kvs-primary` holds the compact JSON of the single current checkpoint.
 */
import { closeSync, openSync, readdirSync, readFileSync, readSync, fstatSync } from 'node:fs';
import { join } from 'node:path';
import { isHashType, parseBlobref, type HashType } from '../blobref.js';
import { FluxError, MissingBlobError } from '../errors.js';
import { parseCheckpoint, type Checkpoint } from './checkpoint.js';
import type { ContentStore } from './source.js';

export const CHECKPOINT_FILE = 'kvs-primary';

function readWhole(path: string): Uint8Array {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const buf = new Uint8Array(size);
    let off = 0;
    while (off < size) {
      const n = readSync(fd, buf, off, size - off, off);
      if (n === 0) break;
      off += n;
    }
    return off === size ? buf : buf.subarray(0, off);
  } finally {
    closeSync(fd);
  }
}

/** Hash type of a content.files directory: from its checkpoint, else its first blob name. */
function detectHash(dir: string): HashType {
  try {
    const ck = parseCheckpoint(readFileSync(join(dir, CHECKPOINT_FILE), 'utf8'), join(dir, CHECKPOINT_FILE));
    return parseBlobref(ck.rootref).hash;
  } catch {
    for (const name of readdirSync(dir)) {
      const h = name.slice(0, name.indexOf('-'));
      if (isHashType(h)) return h;
    }
    return 'sha1';
  }
}

export class FilesStore implements ContentStore {
  readonly location: string;
  readonly hashType: HashType;

  constructor(dir: string) {
    this.location = dir;
    this.hashType = detectHash(dir);
  }

  loadSync(blobref: string): Uint8Array {
    parseBlobref(blobref); // never let a ref become a path outside the store
    try {
      return readWhole(join(this.location, blobref));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new MissingBlobError(`${blobref}: No such file or directory`);
      }
      throw new FluxError(`${join(this.location, blobref)}: ${(err as Error).message}`, 'EIO');
    }
  }

  async load(blobref: string): Promise<Uint8Array> {
    return this.loadSync(blobref);
  }

  async checkpoints(): Promise<Checkpoint[]> {
    const path = join(this.location, CHECKPOINT_FILE);
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch {
      return [];
    }
    return [parseCheckpoint(text, path)];
  }

  async currentRoot(): Promise<string> {
    throw offlineRootError(this.location);
  }

  async close(): Promise<void> {}
}

export function offlineRootError(location: string): FluxError {
  return new FluxError(
    `${location} is an offline store and has no current KVS root: add --checkpoint to dump its newest checkpoint, or set FLUX_URI to a running instance`,
    'EINVAL',
  );
}
