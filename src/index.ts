/** fluxdump library API: the CLIs are thin layers over these. */
export { dump, dumpCompressed, chooseRoot, type DumpOptions } from './pipeline.js';
export { openStore, resolveStore } from './store/open.js';
export type { ContentStore, WritableContentStore } from './store/source.js';
export { SqliteStore } from './store/sqlite.js';
export { FilesStore } from './store/files.js';
export * as treeobj from './walk/treeobj.js';
export { walk, Walker, type WalkOptions } from './walk/walk.js';
export type { ArchiveEntry } from './walk/entry.js';
export { outputKind, EXTENSIONS } from './registry.js';
export { FluxError, MissingBlobError, CorruptBlobError } from './errors.js';
export * from './blobref.js';
export * from './store/checkpoint.js';
