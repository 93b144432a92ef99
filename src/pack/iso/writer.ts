/**
 * ISO 9660 writer (`.iso`) with Rock Ridge (exact UTF-8 names of any length, symlinks,
 * mode/uid/gid/mtime) and Joliet (for readers without Rock Ridge, e.g. Windows).
 *
 * An ISO image needs every directory laid out before the first file's data, so this
 * writer keeps the entries until end(): the whole store is held in memory (the entries'
 * own Uint8Arrays, not copies) plus the directory tree. end() plans the layout
 * (layout.ts, pure) and emits the whole image at once: expect memory for the store
 * plus the image's metadata and small files again (large files are not copied).
 *
 * No clock: the volume dates are the newest entry mtime.
 */
import type { ArchiveEntry } from '../../walk/entry.js';
import type { FormatFactory, FormatOptions, FormatWriter } from '../format.js';
import {
  extentOf,
  layoutDirectory,
  nodeTime,
  planIso,
  recordsFor,
  sectorsFor,
  systemUseOf,
  type DirNode,
  type IsoOptions,
  type IsoPlan,
  type PlanContext,
  type Tree,
} from './layout.js';
import {
  ceEntry,
  encodeTerminator,
  encodeVolumeDescriptor,
  SECTOR,
  SYSTEM_AREA_SECTORS,
  writeDirRecord,
  writePathRecord,
} from './records.js';

export const DEFAULT_ISO_OPTIONS: IsoOptions = { joliet: true, volumeId: 'FLUXDUMP', applicationId: 'FLUX-DUMP' };

const CHUNK = 1 << 20;

/**
 * The image's output chunks. Most of an image of small values is padding, so chunks are
 * fresh (zero-filled) 1 MiB buffers that are handed out without a copy: skipping bytes
 * leaves zeros, records are written in place through reserve(), and file data of a
 * quarter chunk or more passes through as the entry's own array.
 */
export class ImageChunks {
  #buf = new Uint8Array(CHUNK);
  #len = 0;
  #out: Uint8Array[] = [];

  /** A zeroed view of the next n bytes of the image, to be written in place. */
  reserve(n: number): Uint8Array {
    if (n > CHUNK >> 2) {
      this.#flush();
      const own = new Uint8Array(n);
      this.#out.push(own);
      return own;
    }
    if (this.#len + n > CHUNK) this.#flush();
    const view = this.#buf.subarray(this.#len, this.#len + n);
    this.#len += n;
    return view;
  }

  push(bytes: Uint8Array): void {
    if (bytes.length > CHUNK >> 2) {
      this.#flush();
      this.#out.push(bytes);
    } else {
      this.reserve(bytes.length).set(bytes);
    }
  }

  /** n zero bytes. */
  skip(n: number): void {
    while (n > 0) {
      if (this.#len === CHUNK) this.#flush();
      const k = Math.min(n, CHUNK - this.#len);
      this.#len += k;
      n -= k;
    }
  }

  #flush(): void {
    if (this.#len === 0) return;
    this.#out.push(this.#len === CHUNK ? this.#buf : this.#buf.subarray(0, this.#len));
    this.#buf = new Uint8Array(CHUNK);
    this.#len = 0;
  }

  take(): Uint8Array[] {
    this.#flush();
    const out = this.#out;
    this.#out = [];
    return out;
  }
}

/** One directory extent and, for the primary tree, its continuation areas. */
function emitDirectory(out: ImageChunks, dir: DirNode, tree: Tree, ctx: PlanContext): void {
  const records = recordsFor(dir, tree);
  const systemUse = records.map((r) => (tree === 'primary' ? systemUseOf(r, ctx) : []));
  const layout = layoutDirectory(records, systemUse.map((entries) => entries.map((e) => e.length)));
  const planned = tree === 'primary' ? dir.size : dir.jolietSize;
  if (layout.extentSize !== planned) throw new Error(`iso9660: directory ${dir.name} measured ${planned} bytes, laid out ${layout.extentSize}`);
  const extent = out.reserve(layout.extentSize);
  const ceRegionLba = dir.lba + layout.extentSize / SECTOR;
  const ce = out.reserve(sectorsFor(layout.ceSize) * SECTOR);
  const ceTo = (off: number, length: number) => ceEntry(ceRegionLba + Math.floor(off / SECTOR), off % SECTOR, length);

  records.forEach((r, i) => {
    const packed = layout.packed[i]!;
    const entries = systemUse[i]!;
    const areaOffsets = layout.areaOffsets[i]!;
    // The record's own system use: inline entries, then a CE to the first area.
    const su = new Uint8Array(packed.inlineBytes);
    let off = 0;
    let next = 0;
    for (; next < packed.inline; next++) {
      su.set(entries[next]!, off);
      off += entries[next]!.length;
    }
    if (packed.areas.length > 0) su.set(ceTo(areaOffsets[0]!, packed.areaBytes[0]!), off);
    packed.areas.forEach((count, k) => {
      let p = areaOffsets[k]!;
      for (const end = next + count; next < end; next++) {
        ce.set(entries[next]!, p);
        p += entries[next]!.length;
      }
      if (k < packed.areas.length - 1) ce.set(ceTo(areaOffsets[k + 1]!, packed.areaBytes[k + 1]!), p);
    });
    const { extent: lba, length } = extentOf(r.node, tree);
    writeDirRecord(extent, layout.offsets[i]!, {
      id: r.id,
      extent: lba,
      dataLength: length,
      mtime: nodeTime(r.node, ctx),
      directory: r.node.kind === 'dir',
      systemUse: su,
    });
  });
}

function emitPathTable(image: ImageChunks, dirs: DirNode[], tree: Tree, bigEndian: boolean, size: number): void {
  const out = image.reserve(sectorsFor(size) * SECTOR);
  let off = 0;
  for (const d of dirs) {
    const id = d.parent ? (tree === 'primary' ? d.isoId : d.jolietId) : new Uint8Array([0]);
    const lba = tree === 'primary' ? d.lba : d.jolietLba;
    const parent = d.parent ? (tree === 'primary' ? d.parent.number : d.parent.jolietNumber) : 1;
    off += writePathRecord(out, off, id, lba, parent, bigEndian);
  }
}

function rootRecord(plan: IsoPlan, tree: Tree): Uint8Array {
  const out = new Uint8Array(34);
  const { extent, length } = extentOf(plan.root, tree);
  writeDirRecord(out, 0, { id: new Uint8Array([0]), extent, dataLength: length, mtime: plan.volumeTime, directory: true, systemUse: new Uint8Array(0) });
  return out;
}

/**
 * The image as chunks, in LBA order (see layout.ts): 1 MiB chunks, except file data
 * of a quarter MiB or more, handed out as the entry's own array (as the tar writer does).
 */
export function emitIso(plan: IsoPlan): Uint8Array[] {
  const ctx: PlanContext = { volumeTime: plan.volumeTime, dirOwner: plan.dirOwner };
  const { options } = plan;
  const descriptor = (joliet: boolean) =>
    encodeVolumeDescriptor({
      joliet,
      volumeId: options.volumeId,
      applicationId: options.applicationId,
      volumeSpaceSize: plan.totalSectors,
      pathTableSize: joliet ? plan.jolietPathTableSize : plan.pathTableSize,
      lPathTable: joliet ? plan.jolietLPathTable : plan.lPathTable,
      mPathTable: joliet ? plan.jolietMPathTable : plan.mPathTable,
      rootRecord: rootRecord(plan, joliet ? 'joliet' : 'primary'),
      date: plan.volumeTime,
    });

  const out = new ImageChunks();
  out.skip(SYSTEM_AREA_SECTORS * SECTOR);
  out.push(descriptor(false));
  if (options.joliet) out.push(descriptor(true));
  out.push(encodeTerminator());
  emitPathTable(out, plan.dirs, 'primary', false, plan.pathTableSize);
  emitPathTable(out, plan.dirs, 'primary', true, plan.pathTableSize);
  if (options.joliet) {
    emitPathTable(out, plan.jolietDirs, 'joliet', false, plan.jolietPathTableSize);
    emitPathTable(out, plan.jolietDirs, 'joliet', true, plan.jolietPathTableSize);
  }
  for (const d of plan.dirs) emitDirectory(out, d, 'primary', ctx);
  for (const d of plan.jolietDirs) emitDirectory(out, d, 'joliet', ctx);
  for (const f of plan.files) {
    const data = f.entry.type === 'file' ? f.entry.data : null;
    if (!data || data.length === 0) continue;
    out.push(data);
    out.skip(sectorsFor(data.length) * SECTOR - data.length);
  }
  const chunks = out.take();
  const total = chunks.reduce((n, c) => n + c.length, 0);
  if (total !== plan.totalSectors * SECTOR) throw new Error(`iso9660: planned ${plan.totalSectors} sectors, emitted ${total} bytes`);
  return chunks;
}

export class IsoWriter implements FormatWriter {
  readonly #entries: ArchiveEntry[] = [];
  readonly #options: IsoOptions;

  constructor(options: Partial<IsoOptions> = {}) {
    this.#options = { ...DEFAULT_ISO_OPTIONS, ...options };
  }

  write(batch: readonly ArchiveEntry[]): Uint8Array[] {
    for (const e of batch) this.#entries.push(e);
    return [];
  }

  end(): Uint8Array[] {
    return emitIso(planIso(this.#entries, this.#options));
  }
}

export function createIsoWriter(opts: FormatOptions & Partial<IsoOptions>): IsoWriter {
  const { stdout: _stdout, ...iso } = opts;
  return new IsoWriter(iso);
}

export const isoWriter: FormatFactory = (opts) => createIsoWriter(opts);
