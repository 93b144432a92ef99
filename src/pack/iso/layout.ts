/**
 * The ISO 9660 plan: a pure function of the buffered entries that builds the directory
 * tree, names every node for both trees, measures every directory extent and Rock Ridge
 * continuation area, and assigns every logical block. writer.ts then emits bytes in
 * exactly this order:
 *
 *   0-15   system area (zeros)
 *   16     primary volume descriptor
 *   17     Joliet supplementary volume descriptor (when Joliet is on)
 *   next   volume descriptor set terminator
 *   next   path tables: primary L, primary M, Joliet L, Joliet M
 *   next   primary directories in path-table (breadth-first) order, each followed by
 *          the continuation areas (SUSP CE) of its own records
 *   next   Joliet directories, breadth-first
 *   next   file data, in entry order, each file padded to a sector
 *
 * Continuation areas sit right after the directory whose records point at them and
 * before any file data: libarchive's reader, which reads the image as a stream, only
 * accepts CE areas ahead of its position and ahead of the file they describe.
 *
 * Deep trees are written as they are, without Rock Ridge relocation (RE/CL), like
 * `mkisofs -D`: ECMA-119 stops at 8 levels, but libarchive (bsdtar, flux restore),
 * isoinfo and xorriso read deeper trees (tested with 20 levels and 1,000-byte paths).
 * Past 65,535 directories the 16-bit parent numbers of the path tables saturate; those
 * readers walk the directory records, not the path tables (checked by hand with 70,000
 * directories: all three list every file).
 */
import { FluxError } from '../../errors.js';
import { utf8Encoder, utf8Length } from '../../util/bytes.js';
import type { ArchiveEntry } from '../../walk/entry.js';
import { assignIsoNames, assignJolietNames, compareIsoIds, compareUnits, ucs2be } from './names.js';
import {
  CE_LENGTH,
  DR_FIXED_SIZE,
  DR_MAX,
  ER_LENGTH,
  erEntry,
  nmEntries,
  nmLengths,
  NM_MAX_CHUNK,
  pathRecordLength,
  PX_LENGTH,
  pxEntry,
  RR_LENGTH,
  RR_NM,
  RR_PX,
  RR_SL,
  RR_TF,
  rrEntry,
  SECTOR,
  slEntries,
  SP_LENGTH,
  spEntry,
  SYSTEM_AREA_SECTORS,
  tfEntry,
  tfLength,
} from './records.js';

export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;
const DIR_PERMISSIONS = 0o755;
const PERMISSION_BITS = 0o7777;
const MAX32 = 0xffffffff;

export type Tree = 'primary' | 'joliet';

export interface FileNode {
  kind: 'file';
  name: string;
  entry: ArchiveEntry;
  ino: number;
  isoId: Uint8Array;
  jolietId: Uint8Array;
  /** First sector of the data; 0 for empty files and symlinks. */
  lba: number;
}

export interface DirNode {
  kind: 'dir';
  name: string;
  parent: DirNode | null;
  children: Map<string, Node>;
  ino: number;
  isoId: Uint8Array;
  jolietId: Uint8Array;
  subdirs: number;
  /** Children in each tree's directory order. */
  primary: Node[];
  joliet: Node[];
  /** Path table numbers (1-based, breadth-first). */
  number: number;
  jolietNumber: number;
  lba: number;
  /** Extent size in bytes (whole sectors). */
  size: number;
  /** Sectors of continuation areas right after the extent (primary tree only). */
  ceSectors: number;
  jolietLba: number;
  jolietSize: number;
}

export type Node = FileNode | DirNode;

export interface IsoOptions {
  joliet: boolean;
  volumeId: string;
  applicationId: string;
}

export interface IsoPlan {
  options: IsoOptions;
  root: DirNode;
  /** Directories breadth-first in each tree's order (path table order). */
  dirs: DirNode[];
  jolietDirs: DirNode[];
  /** Files and symlinks in entry order. */
  files: FileNode[];
  /** Newest entry mtime: volume dates, directory times. */
  volumeTime: number;
  /** uid/gid for the directories (they are not entries): those of the first entry. */
  dirOwner: { uid: number; gid: number };
  pathTableSize: number;
  jolietPathTableSize: number;
  /** Sectors of the volume descriptors, path tables and where data starts. */
  descriptorSectors: number;
  lPathTable: number;
  mPathTable: number;
  jolietLPathTable: number;
  jolietMPathTable: number;
  totalSectors: number;
}

export function sectorsFor(bytes: number): number {
  return Math.ceil(bytes / SECTOR);
}

// ------------------------------------------------------------------ tree

function newDir(name: string, parent: DirNode | null, ino: number): DirNode {
  return {
    kind: 'dir', name, parent, children: new Map(), ino, isoId: new Uint8Array(0), jolietId: new Uint8Array(0),
    subdirs: 0, primary: [], joliet: [], number: 0, jolietNumber: 0, lba: 0, size: 0, ceSectors: 0, jolietLba: 0, jolietSize: 0,
  };
}

function checkEntry(e: ArchiveEntry, parts: string[]): void {
  for (const p of parts) {
    if (p === '' || p === '.' || p === '..') throw new FluxError(`${e.path}: ISO 9660 cannot hold an empty, "." or ".." path component`);
    if (p.includes('\0')) throw new FluxError(`${e.path}: ISO 9660 names cannot contain NUL`);
  }
  if (e.type === 'file' && e.data.length > MAX32) {
    throw new FluxError(`${e.path}: ${e.data.length} bytes exceed the ISO 9660 file size limit (4 GiB - 1)`, 'EFBIG');
  }
  for (const [what, v] of [['uid', e.uid], ['gid', e.gid]] as const) {
    if (!Number.isInteger(v) || v < 0 || v > MAX32) throw new FluxError(`${e.path}: ${what} ${v} does not fit Rock Ridge (0 to ${MAX32})`, 'ERANGE');
  }
  if (!Number.isSafeInteger(e.mtime)) throw new FluxError(`${e.path}: mtime ${e.mtime} is not an integer`, 'ERANGE');
}

function buildTree(entries: readonly ArchiveEntry[]): { root: DirNode; files: FileNode[]; inodes: number } {
  let ino = 1;
  const root = newDir('', null, ino++);
  const files: FileNode[] = [];
  for (const e of entries) {
    const parts = e.path.split('/');
    checkEntry(e, parts);
    let dir = root;
    for (let i = 0; i < parts.length - 1; i++) {
      const name = parts[i]!;
      let next = dir.children.get(name);
      if (!next) {
        next = newDir(name, dir, ino++);
        dir.children.set(name, next);
        dir.subdirs++;
      } else if (next.kind !== 'dir') {
        throw new FluxError(`${e.path}: ${parts.slice(0, i + 1).join('/')} is both a file and a directory`);
      }
      dir = next;
    }
    const leaf = parts[parts.length - 1]!;
    const existing = dir.children.get(leaf);
    if (existing) {
      const what = existing.kind === 'dir' ? 'is both a file and a directory' : 'appears twice';
      throw new FluxError(`${e.path}: ${what}`);
    }
    const node: FileNode = { kind: 'file', name: leaf, entry: e, ino: ino++, isoId: new Uint8Array(0), jolietId: new Uint8Array(0), lba: 0 };
    dir.children.set(leaf, node);
    files.push(node);
  }
  return { root, files, inodes: ino };
}

const ascii = (s: string): Uint8Array => utf8Encoder.encode(s);

/** Name every child of every directory for both trees and sort them in tree order. */
function nameTree(dir: DirNode): void {
  const kids = [...dir.children.values()].sort((a, b) => compareUnits(a.name, b.name));
  const isoIds = assignIsoNames(kids.map((k) => ({ name: k.name, directory: k.kind === 'dir' })));
  const jolietIds = assignJolietNames(kids.map((k) => k.name));
  const isoText = new Map<Node, string>();
  const jolietText = new Map<Node, string>();
  kids.forEach((k, i) => {
    isoText.set(k, isoIds[i]!);
    jolietText.set(k, jolietIds[i]!);
    k.isoId = ascii(isoIds[i]!);
    k.jolietId = ucs2be(jolietIds[i]!);
  });
  dir.primary = [...kids].sort((a, b) => compareIsoIds(isoText.get(a)!, isoText.get(b)!));
  dir.joliet = [...kids].sort((a, b) => compareUnits(jolietText.get(a)!, jolietText.get(b)!));
  for (const k of kids) if (k.kind === 'dir') nameTree(k);
}

function breadthFirst(root: DirNode, tree: Tree): DirNode[] {
  const out = [root];
  for (let i = 0; i < out.length; i++) {
    for (const k of tree === 'primary' ? out[i]!.primary : out[i]!.joliet) if (k.kind === 'dir') out.push(k);
  }
  return out;
}

// ------------------------------------------------------------------ records

export type Role = 'self' | 'parent' | 'child';

/** One directory record before layout: its identifier and the node it describes. */
export interface RecordPlan {
  id: Uint8Array;
  node: Node;
  role: Role;
  /** The root's "." record also carries SP (first) and ER. */
  root: boolean;
}

export interface PlanContext {
  volumeTime: number;
  dirOwner: { uid: number; gid: number };
}

export function nodeTime(node: Node, ctx: PlanContext): number {
  return node.kind === 'file' ? node.entry.mtime : ctx.volumeTime;
}

function posixOf(node: Node, ctx: PlanContext): { mode: number; nlink: number; uid: number; gid: number; ino: number } {
  if (node.kind === 'dir') {
    return { mode: S_IFDIR | DIR_PERMISSIONS, nlink: 2 + node.subdirs, uid: ctx.dirOwner.uid, gid: ctx.dirOwner.gid, ino: node.ino };
  }
  const e = node.entry;
  const type = e.type === 'symlink' ? S_IFLNK : S_IFREG;
  return { mode: type | (e.mode & PERMISSION_BITS), nlink: 1, uid: e.uid, gid: e.gid, ino: node.ino };
}

const isSymlink = (node: Node): node is FileNode => node.kind === 'file' && node.entry.type === 'symlink';

function symlinkEntries(node: FileNode): Uint8Array[] {
  const entries = slEntries(utf8Encoder.encode(node.entry.linkTarget));
  if (!entries) throw new FluxError(`${node.entry.path}: symlink target cannot be split into Rock Ridge SL entries`);
  return entries;
}

/**
 * SUSP entries of one primary-tree record, in order: [SP], RR, PX, TF, NM..., SL...,
 * [ER]. Children are named (NM); "." and ".." are not.
 */
export function systemUseOf(r: RecordPlan, ctx: PlanContext): Uint8Array[] {
  const named = r.role === 'child';
  const link = named && isSymlink(r.node);
  const out: Uint8Array[] = [];
  if (r.root) out.push(spEntry());
  out.push(rrEntry(RR_PX | RR_TF | (named ? RR_NM : 0) | (link ? RR_SL : 0)), pxEntry(posixOf(r.node, ctx)), tfEntry(nodeTime(r.node, ctx)));
  if (named) out.push(...nmEntries(utf8Encoder.encode(r.node.name)));
  if (link) out.push(...symlinkEntries(r.node as FileNode));
  if (r.root) out.push(erEntry());
  return out;
}

/** The lengths of `systemUseOf`'s entries, without building them (the plan's pass). */
export function systemUseLengths(r: RecordPlan, ctx: PlanContext): number[] {
  const out: number[] = [];
  if (r.root) out.push(SP_LENGTH);
  out.push(RR_LENGTH, PX_LENGTH, tfLength(nodeTime(r.node, ctx)));
  if (r.role === 'child') {
    // Names that fit one NM entry need no encoding; longer ones are cut at characters.
    const bytes = utf8Length(r.node.name);
    if (bytes <= NM_MAX_CHUNK) out.push(5 + bytes);
    else out.push(...nmLengths(utf8Encoder.encode(r.node.name)));
    if (isSymlink(r.node)) out.push(...symlinkEntries(r.node).map((e) => e.length));
  }
  if (r.root) out.push(ER_LENGTH);
  return out;
}

/** The records of one directory extent in order: ".", "..", then the children. */
export function recordsFor(dir: DirNode, tree: Tree): RecordPlan[] {
  const primary = tree === 'primary';
  const records: RecordPlan[] = [
    { id: new Uint8Array([0]), node: dir, role: 'self', root: primary && !dir.parent },
    { id: new Uint8Array([1]), node: dir.parent ?? dir, role: 'parent', root: false },
  ];
  for (const k of primary ? dir.primary : dir.joliet) {
    records.push({ id: primary ? k.isoId : k.jolietId, node: k, role: 'child', root: false });
  }
  return records;
}

// ------------------------------------------------------------------ SUSP packing

/** How a record's SUSP entries split between the record and its continuation areas. */
export interface PackedSystemUse {
  /** Number of entries kept in the record itself. */
  inline: number;
  /** Number of entries in each continuation area, in order. */
  areas: number[];
  /** Bytes of the record's System Use field: entries, CE if any, even padding. */
  inlineBytes: number;
  /** Bytes of each area, including the CE that chains it to the next. */
  areaBytes: number[];
}

/**
 * Fill the record's System Use field (`room` bytes) with entries in order; when not all
 * fit, keep room for a CE and put the rest in continuation areas of at most one sector
 * each, every area but the last ending with a CE to the next.
 */
export function packSystemUse(lengths: readonly number[], room: number): PackedSystemUse {
  const total = lengths.reduce((n, l) => n + l, 0);
  if (total <= room) return { inline: lengths.length, areas: [], inlineBytes: total + (total % 2), areaBytes: [] };
  let i = 0;
  let used = 0;
  while (i < lengths.length && used + lengths[i]! + CE_LENGTH <= room) used += lengths[i++]!;
  const inline = i;
  const inlineBytes = used + CE_LENGTH + ((used + CE_LENGTH) % 2);
  const areas: number[] = [];
  const areaBytes: number[] = [];
  while (i < lengths.length) {
    let count = 0;
    let size = 0;
    // An entry (<= 255 bytes) always fits an empty area.
    while (i < lengths.length && size + lengths[i]! + (i === lengths.length - 1 ? 0 : CE_LENGTH) <= SECTOR) {
      size += lengths[i++]!;
      count++;
    }
    areas.push(count);
    areaBytes.push(size + (i < lengths.length ? CE_LENGTH : 0));
  }
  return { inline, areas, inlineBytes, areaBytes };
}

/** Room for system use in a record with this identifier (record length even, <= 254). */
export function systemUseRoom(idLength: number): number {
  return DR_MAX - 1 - (DR_FIXED_SIZE + idLength + (idLength % 2 === 0 ? 1 : 0));
}

// ------------------------------------------------------------------ directory layout

export interface DirectoryLayout {
  packed: PackedSystemUse[];
  /** Byte offset of each record within the extent. */
  offsets: number[];
  /** Byte offsets of each record's continuation areas within the CE region. */
  areaOffsets: number[][];
  extentSize: number;
  ceSize: number;
}

/**
 * Place records (none may straddle a sector: ECMA-119 6.8.1.1) and continuation areas
 * (none may straddle a sector: readers load one block per area). `lengths` gives each
 * record's SUSP entry lengths (empty for Joliet).
 */
export function layoutDirectory(records: readonly RecordPlan[], lengths: readonly (readonly number[])[]): DirectoryLayout {
  const packed = records.map((r, i) => packSystemUse(lengths[i]!, systemUseRoom(r.id.length)));
  const offsets: number[] = [];
  const areaOffsets: number[][] = [];
  let pos = 0;
  let ce = 0;
  records.forEach((r, i) => {
    const p = packed[i]!;
    const len = DR_FIXED_SIZE + r.id.length + (r.id.length % 2 === 0 ? 1 : 0) + p.inlineBytes;
    if ((pos % SECTOR) + len > SECTOR) pos = sectorsFor(pos) * SECTOR;
    offsets.push(pos);
    pos += len;
    areaOffsets.push(
      p.areaBytes.map((alen) => {
        if ((ce % SECTOR) + alen > SECTOR) ce = sectorsFor(ce) * SECTOR;
        const at = ce;
        ce += alen;
        return at;
      }),
    );
  });
  return { packed, offsets, areaOffsets, extentSize: Math.max(1, sectorsFor(pos)) * SECTOR, ceSize: ce };
}

function pathTableSize(dirs: DirNode[], tree: Tree): number {
  return dirs.reduce((n, d) => n + pathRecordLength(d.parent ? (tree === 'primary' ? d.isoId : d.jolietId).length : 1), 0);
}

// ------------------------------------------------------------------ the plan

export function planIso(entries: readonly ArchiveEntry[], options: IsoOptions): IsoPlan {
  const { root, files } = buildTree(entries);
  nameTree(root);
  let volumeTime = 0;
  for (const e of entries) if (e.mtime > volumeTime) volumeTime = e.mtime;
  const first = entries[0];
  const ctx: PlanContext = { volumeTime, dirOwner: { uid: first?.uid ?? 0, gid: first?.gid ?? 0 } };

  const dirs = breadthFirst(root, 'primary');
  dirs.forEach((d, i) => (d.number = i + 1));
  const jolietDirs = options.joliet ? breadthFirst(root, 'joliet') : [];
  jolietDirs.forEach((d, i) => (d.jolietNumber = i + 1));

  // Volume descriptors: primary, Joliet, terminator.
  let lba = SYSTEM_AREA_SECTORS + 1 + (options.joliet ? 1 : 0) + 1;
  const ptSize = pathTableSize(dirs, 'primary');
  const jptSize = options.joliet ? pathTableSize(jolietDirs, 'joliet') : 0;
  const lPathTable = lba;
  lba += sectorsFor(ptSize);
  const mPathTable = lba;
  lba += sectorsFor(ptSize);
  const jolietLPathTable = options.joliet ? lba : 0;
  lba += sectorsFor(jptSize);
  const jolietMPathTable = options.joliet ? lba : 0;
  lba += sectorsFor(jptSize);
  const descriptorSectors = lba;

  for (const d of dirs) {
    const records = recordsFor(d, 'primary');
    const layout = layoutDirectory(records, records.map((r) => systemUseLengths(r, ctx)));
    d.lba = lba;
    d.size = layout.extentSize;
    d.ceSectors = sectorsFor(layout.ceSize);
    lba += d.size / SECTOR + d.ceSectors;
  }
  for (const d of jolietDirs) {
    const records = recordsFor(d, 'joliet');
    const layout = layoutDirectory(records, records.map(() => []));
    d.jolietLba = lba;
    d.jolietSize = layout.extentSize;
    lba += d.jolietSize / SECTOR;
  }
  for (const f of files) {
    const size = f.entry.type === 'file' ? f.entry.data.length : 0;
    if (size === 0) continue;
    f.lba = lba;
    lba += sectorsFor(size);
  }
  if (lba > MAX32) throw new FluxError(`iso9660: the image would need ${lba} sectors (max ${MAX32})`, 'EFBIG');

  return {
    options, root, dirs, jolietDirs, files, volumeTime, dirOwner: ctx.dirOwner,
    pathTableSize: ptSize, jolietPathTableSize: jptSize, descriptorSectors,
    lPathTable, mPathTable, jolietLPathTable, jolietMPathTable, totalSectors: lba,
  };
}

/** Extent and length a record points at, for a node in a tree. */
export function extentOf(node: Node, tree: Tree): { extent: number; length: number } {
  if (node.kind === 'dir') return tree === 'primary' ? { extent: node.lba, length: node.size } : { extent: node.jolietLba, length: node.jolietSize };
  const length = node.entry.type === 'file' ? node.entry.data.length : 0;
  return { extent: length > 0 ? node.lba : 0, length };
}
