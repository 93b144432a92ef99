/**
 * Writes a content.files directory: one file per blob, named by its blobref and holding
 * the raw blob, each written to a temporary name and renamed into place (a reader never
 * sees half a blob); `kvs-primary` holds the single current checkpoint.
 *
 * Durability: blob files are not fsynced one by one. flush() syncs the whole file
 * system once (`sync --file-system`, i.e. syncfs(2)), falling back to fsyncing every
 * file written; only then is `kvs-primary` replaced (temp + fsync + rename + fsync of
 * the directory).
 */
import { spawnSync } from 'node:child_process';
import {
  closeSync, existsSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, statSync, unlinkSync,
} from 'node:fs';
import { join } from 'node:path';
import { DIGEST_SIZE, formatBlobref, isHashType, parseBlobref, type HashType } from '../blobref.js';
import { FluxError, MissingBlobError } from '../errors.js';
import { formatCheckpoint, parseCheckpoint, type Checkpoint } from '../store/checkpoint.js';
import { CHECKPOINT_FILE } from '../store/files.js';
import type { WritableContentStore } from '../store/source.js';
import { storeManyWith } from './store-many.js';
import { fsyncPath, processAlive, writeAll } from '../util/fs.js';

const BLOB_NAME = /^(sha1|sha256)-[0-9a-f]+$/;

function ioError(path: string, err: unknown): FluxError {
  if (err instanceof FluxError) return err;
  const e = err as NodeJS.ErrnoException;
  return new FluxError(`${path}: ${e.message ?? String(err)}`, e.code ?? 'EIO');
}

/** The hash a content.files directory already uses: from blob names, else its checkpoint. */
export function existingFilesHash(dir: string): HashType | undefined {
  for (const name of readdirSync(dir)) {
    if (BLOB_NAME.test(name)) return name.startsWith('sha1-') ? 'sha1' : 'sha256';
  }
  const ckPath = join(dir, CHECKPOINT_FILE);
  if (existsSync(ckPath)) {
    const hash = parseCheckpoint(readFileSync(ckPath, 'utf8'), ckPath).rootref.split('-')[0]!;
    if (isHashType(hash)) return hash;
  }
  return undefined;
}

/** `.NAME.tmp-PID-N`: a blob or checkpoint being written by process PID. */
const BLOB_TEMPORARY = /^\..+\.tmp-(\d+)-\d+$/;

/** This process's blob temporaries (for a signal handler to remove). */
export function ownBlobTemporaries(): RegExp {
  return new RegExp(`^\\..+\\.tmp-${process.pid}-\\d+$`);
}

export class FilesWriter implements WritableContentStore {
  readonly location: string;
  readonly hashType: HashType;
  readonly createdHash: boolean;
  /** Blob files written since the last flush (for the per-file fsync fallback). */
  #unsynced: string[] = [];
  #tmpSeq = 0;

  private constructor(dir: string, hash: HashType, createdHash: boolean) {
    this.location = dir;
    this.hashType = hash;
    this.createdHash = createdHash;
  }

  /** Open (creating it when absent) a content.files directory. */
  static open(dir: string, opts: { hash?: HashType } = {}): FilesWriter {
    try {
      if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o700 });
      else if (!statSync(dir).isDirectory()) throw new FluxError(`${dir}: not a directory`, 'ENOTDIR');
      FilesWriter.removeStaleTemporaries(dir);
      const found = existingFilesHash(dir);
      return found !== undefined ? new FilesWriter(dir, found, false) : new FilesWriter(dir, opts.hash ?? 'sha1', true);
    } catch (err) {
      throw ioError(dir, err);
    }
  }

  /** Blob temporaries left by restores that were killed (their process is gone). */
  static removeStaleTemporaries(dir: string): void {
    for (const name of readdirSync(dir)) {
      const m = BLOB_TEMPORARY.exec(name);
      if (!m || Number(m[1]) === process.pid || processAlive(Number(m[1]))) continue;
      try {
        unlinkSync(join(dir, name));
      } catch {
        /* someone else's cleanup got there first */
      }
    }
  }

  #tmpName(name: string): string {
    return join(this.location, `.${name}.tmp-${process.pid}-${this.#tmpSeq++}`);
  }

  /** Write `data` under `name` atomically (temp file + rename), optionally fsynced. */
  #writeFile(name: string, data: Uint8Array, sync: boolean): void {
    const tmp = this.#tmpName(name);
    const fd = openSync(tmp, 'w', 0o600);
    try {
      writeAll(fd, data);
      if (sync) fsyncSync(fd);
    } catch (err) {
      closeSync(fd);
      unlinkSync(tmp);
      throw err;
    }
    closeSync(fd);
    renameSync(tmp, join(this.location, name));
  }

  putDigested(digests: Uint8Array, blobs: readonly Uint8Array[]): void {
    const ds = DIGEST_SIZE[this.hashType];
    for (let i = 0; i < blobs.length; i++) {
      const name = formatBlobref(this.hashType, digests.subarray(i * ds, (i + 1) * ds));
      const path = join(this.location, name);
      try {
        if (existsSync(path)) continue; // content addressed: already there means same bytes
        this.#writeFile(name, blobs[i]!, false);
        this.#unsynced.push(path);
      } catch (err) {
        throw ioError(path, err);
      }
    }
  }

  async storeMany(blobs: readonly Uint8Array[]): Promise<string[]> {
    return storeManyWith(this, blobs);
  }

  async flush(): Promise<void> {
    if (this.#unsynced.length === 0) return;
    // One syncfs(2) for the whole file system beats an fsync per blob by far.
    const r = spawnSync('sync', ['--file-system', this.location], { stdio: 'ignore' });
    try {
      if (r.error !== undefined || r.status !== 0) for (const path of this.#unsynced) fsyncPath(path);
      fsyncPath(this.location);
    } catch (err) {
      throw ioError(this.location, err);
    }
    this.#unsynced = [];
  }

  /** Replace kvs-primary (content.files keeps a single checkpoint). Call after flush(). */
  async putCheckpoint(ckpt: Checkpoint): Promise<void> {
    try {
      this.#writeFile(CHECKPOINT_FILE, new TextEncoder().encode(formatCheckpoint(ckpt)), true);
      fsyncPath(this.location);
    } catch (err) {
      throw ioError(join(this.location, CHECKPOINT_FILE), err);
    }
  }

  async load(blobref: string): Promise<Uint8Array> {
    parseBlobref(blobref); // a ref never becomes a path outside the store
    try {
      return new Uint8Array(readFileSync(join(this.location, blobref)));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new MissingBlobError(`${this.location}: missing blob ${blobref}`);
      throw ioError(join(this.location, blobref), err);
    }
  }

  async checkpoints(): Promise<Checkpoint[]> {
    const path = join(this.location, CHECKPOINT_FILE);
    if (!existsSync(path)) return [];
    return [parseCheckpoint(readFileSync(path, 'utf8'), path)];
  }

  async currentRoot(): Promise<string> {
    throw new FluxError(`${this.location}: an offline store has no running KVS root`, 'ENOSYS');
  }

  async close(): Promise<void> {
    /* nothing held open */
  }
}
