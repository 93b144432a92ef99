/** fluxdump library API: the CLIs are thin layers over these. */
export { dump, dumpCompressed, chooseRoot, type DumpOptions } from './pipeline.js';
export { openStore, resolveStore } from './store/open.js';
export { loadBlob, type BlobLoader, type ContentStore, type LoadResult, type LoadWindow, type WritableContentStore } from './store/source.js';
export { settingsFromEnv, DEFAULT_SETTINGS, type RunSettings } from './cli/settings.js';
export { SqliteStore } from './store/sqlite.js';
export { FilesStore } from './store/files.js';
export * as treeobj from './walk/treeobj.js';
export { walk, Walker, type WalkOptions } from './walk/walk.js';
export type { ArchiveEntry } from './walk/entry.js';
export { outputKind, EXTENSIONS } from './registry.js';
export { FluxError, MissingBlobError, CorruptBlobError } from './errors.js';
export * from './blobref.js';
export * from './store/checkpoint.js';
