/**
 * `--store=LOCATION` for a restore: where the blobs and the checkpoint go. LOCATION is
 * a Flux statedir (its content.sqlite, or its content.files/ when that is what it has;
 * a new or empty statedir gets a content.sqlite), a `*.sqlite` file, or a content.files
 * directory. Anything missing is created; an existing store keeps its own hash.
 */
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { HashType } from '../blobref.js';
import { FluxError } from '../errors.js';
import type { Checkpoint } from '../store/checkpoint.js';
import { FilesWriter } from '../store-write/files-writer.js';
import { newDatabaseTemp, SqliteWriter } from '../store-write/sqlite-writer.js';

/** What restore needs from a store it writes (both offline writers provide it). */
export interface RestoreTarget {
  readonly location: string;
  readonly hashType: HashType;
  /** True when the store was empty, so the hash is the one asked for. */
  readonly createdHash: boolean;
  /**
   * Store blobs with digests computed by the caller (concatenated, in order). The blobs
   * may be reused once this returns (or its promise resolves).
   */
  putDigested(digests: Uint8Array, blobs: readonly Uint8Array[], keys?: readonly string[]): void | Promise<void>;
  /** content.sqlite only: rows already compressed (sqliteSize/sqliteObject), e.g. on another thread. */
  putEncoded?(digests: Uint8Array, sizes: Int32Array, objects: readonly (Uint8Array | null)[]): void;
  /** Make every blob stored so far durable. */
  flush(): Promise<void>;
  putCheckpoint(ckpt: Checkpoint): Promise<void>;
  close(): Promise<void>;
}

export type TargetKind = 'sqlite' | 'files';

const BLOB_NAME = /^sha(1|256)-[0-9a-f]+$/;

function looksLikeFilesDir(dir: string): boolean {
  if (existsSync(join(dir, 'kvs-primary'))) return true;
  const names = readdirSync(dir).slice(0, 16);
  return names.length > 0 && names.some((n) => BLOB_NAME.test(n));
}

/** Decide what LOCATION names, without creating anything. */
export function resolveTarget(location: string): { kind: TargetKind; path: string } {
  if (/^[a-z]+:\/\//.test(location)) {
    throw new FluxError(`${location}: restoring through a running instance is not supported offline; give --store a statedir, a .sqlite file or a content.files directory`, 'ENOSYS');
  }
  if (existsSync(location)) {
    const st = statSync(location);
    if (st.isFile()) return { kind: 'sqlite', path: location };
    if (!st.isDirectory()) throw new FluxError(`${location}: not a file or directory`, 'EINVAL');
    if (basename(location) === 'content.files') return { kind: 'files', path: location };
    const sqlite = join(location, 'content.sqlite');
    if (existsSync(sqlite)) return { kind: 'sqlite', path: sqlite };
    const files = join(location, 'content.files');
    if (existsSync(files) && statSync(files).isDirectory()) return { kind: 'files', path: files };
    if (looksLikeFilesDir(location)) return { kind: 'files', path: location };
    return { kind: 'sqlite', path: sqlite }; // a statedir without a store yet
  }
  if (location.endsWith('.sqlite')) return { kind: 'sqlite', path: location };
  if (basename(location) === 'content.files') return { kind: 'files', path: location };
  return { kind: 'sqlite', path: join(location, 'content.sqlite') };
}

/** Where a new content.sqlite at `location` would be built, if it would be new. */
export function newStoreTemp(location: string): string | undefined {
  const { kind, path } = resolveTarget(location);
  return kind === 'sqlite' && !existsSync(path) ? newDatabaseTemp(path) : undefined;
}

/** The content.files directory a location restores into, or undefined for content.sqlite. */
export function filesTargetDir(location: string): string | undefined {
  const { kind, path } = resolveTarget(location);
  return kind === 'files' ? path : undefined;
}

export function openTarget(location: string, hash: HashType | undefined): RestoreTarget {
  const { kind, path } = resolveTarget(location);
  if (kind === 'files') return FilesWriter.open(path, hash === undefined ? {} : { hash });
  const dir = dirname(path);
  if (!existsSync(dir)) {
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
    } catch (err) {
      throw new FluxError(`${dir}: ${(err as Error).message}`, (err as NodeJS.ErrnoException).code ?? 'EIO');
    }
  }
  return SqliteWriter.open(path, hash === undefined ? {} : { hash });
}
