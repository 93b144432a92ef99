/**
 * What the walk hands to the archive formats, and what the restore readers hand back:
 * one KVS key as an archive member. Only values and symlinks exist; directories are
 * implied by the paths (an empty KVS directory has no entry at all).
 */
export interface ArchiveEntry {
  /** KVS key with '/' separators; root children have bare names. */
  path: string;
  type: 'file' | 'symlink';
  /** File contents; empty for symlinks. */
  data: Uint8Array;
  /** Symlink target (`NS::target` when namespaced); '' for files. */
  linkTarget: string;
  /** Permission bits only (0644); the format adds the file-type bits. */
  mode: number;
  /** Seconds since the epoch, an integer. */
  mtime: number;
  uid: number;
  gid: number;
}

/** Metadata a dump stamps on every entry (the man page's promise). */
export interface EntryMeta {
  mtime: number;
  uid: number;
  gid: number;
  mode: number;
}
