/**
 * content.files backing store: one file per blob named by its blobref, holding the raw
 * blob; `kvs-primary` holds the compact JSON of the single current checkpoint.
 */
import { closeSync, openSync, readdirSync, readFileSync, readSync, fstatSync } from 'node:fs';
import { join } from 'node:path';
import { formatBlobref, isHashType, parseBlobref, DIGEST_SIZE, type HashType } from '../blobref.js';
import { FluxError, MissingBlobError } from '../errors.js';
import { parseCheckpoint, type Checkpoint } from './checkpoint.js';
import type { ContentStore, LoadResult, LoadWindow } from './source.js';

export const CHECKPOINT_FILE = 'kvs-primary';
/** One file per blob: batches only spare the walk its per-call overhead. */
const WINDOW: LoadWindow = { batch: 4096, inflight: 1, window: 1 };

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

  loadWindow(): LoadWindow {
    return WINDOW;
  }

  loadBatch(digests: Uint8Array, count: number): LoadResult[] {
    const size = DIGEST_SIZE[this.hashType];
    const out = new Array<LoadResult>(count);
    for (let i = 0; i < count; i++) {
      try {
        out[i] = this.#read(formatBlobref(this.hashType, digests.subarray(i * size, (i + 1) * size)));
      } catch (err) {
        out[i] = err instanceof Error ? err : new Error(String(err));
      }
    }
    return out;
  }

  /** The blob named `blobref` (a formatted blobref: never a path outside the store). */
  #read(blobref: string): Uint8Array {
    try {
      return readWhole(join(this.location, blobref));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new MissingBlobError(`${blobref}: No such file or directory`);
      }
      throw new FluxError(`${join(this.location, blobref)}: ${(err as Error).message}`, 'EIO');
    }
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
