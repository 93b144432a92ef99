/**
 * ISO 9660 reader over positioned reads. Names, modes, symlink targets and mtimes come
 * from Rock Ridge (SUSP entries NM, PX, SL, TF, with CE continuation areas; CL/RE
 * relocated directories are followed to their real place); without Rock Ridge, from the
 * Joliet tree (UCS-2 names); failing both, from plain ISO names without their `;1`.
 */
import { FluxError } from '../errors.js';
import { concatBytes, fromUtf8 } from '../util/bytes.js';
import { checkValueSize, DEFAULT_VALUE_CEILING, EMPTY, MAX_META_BYTES, overLimit, showName, type ReaderOptions, type RestoreEntry } from './entry.js';
import type { RandomAccess } from './random-access.js';

const DOT = new Uint8Array([0x2e]);
const DOTDOT = new Uint8Array([0x2e, 0x2e]);
const SECTOR = 2048;
const FIRST_DESCRIPTOR = 16 * SECTOR;
const MAX_DESCRIPTORS = 64;
const VD_PRIMARY = 1;
const VD_SUPPLEMENTARY = 2;
const VD_TERMINATOR = 255;
const VD_ID = 1; // "CD001" at bytes 1..5
const PVD_VOLUME_SPACE = 80;
const PVD_BLOCK_SIZE = 128;
const PVD_ROOT_RECORD = 156;
const SVD_ESCAPES = 88;

// directory record
const DR_LEN = 0;
const DR_EXTENT = 2;
const DR_SIZE = 10;
const DR_DATE = 18;
const DR_FLAGS = 25;
const DR_NAME_LEN = 32;
const DR_NAME = 33;
const FLAG_DIRECTORY = 0x02;
const FLAG_MULTI_EXTENT = 0x80;

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;

/** Where Rock Ridge writers move directories nested deeper than ISO 9660 allows. */
const RR_MOVED = 'rr_moved';
const BATCH_BYTES = 8 << 20;
const BATCH_ENTRIES = 4096;
/** CE chains and directory nesting are bounded: a corrupt image must not loop forever. */
const MAX_CE_CHAIN = 64;

export function looksLikeIso(head: Uint8Array): boolean {
  const p = FIRST_DESCRIPTOR + VD_ID;
  return head.length >= p + 5 && head[p] === 0x43 && head[p + 1] === 0x44 && head[p + 2] === 0x30 && head[p + 3] === 0x30 && head[p + 4] === 0x31;
}

/** Bytes needed to tell an ISO image by its first volume descriptor. */
export const ISO_SNIFF_BYTES = FIRST_DESCRIPTOR + VD_ID + 5;

function le32(b: Uint8Array, off: number): number {
  return (b[off]! | (b[off + 1]! << 8) | (b[off + 2]! << 16) | (b[off + 3]! << 24)) >>> 0;
}

function le16(b: Uint8Array, off: number): number {
  return b[off]! | (b[off + 1]! << 8);
}

/** 7-byte directory-record date: years since 1900, month, day, h, m, s, GMT offset/15min. */
function recordTime(b: Uint8Array, off: number): number {
  const gmtOff = (b[off + 6]! << 24) >> 24;
  const t = Date.UTC(1900 + b[off]!, b[off + 1]! - 1, b[off + 2]!, b[off + 3]!, b[off + 4]!, b[off + 5]!) / 1000;
  return Number.isFinite(t) ? Math.floor(t - gmtOff * 15 * 60) : 0;
}

/** 17-byte volume-descriptor date: "YYYYMMDDhhmmsscc" digits + GMT offset/15min. */
function longTime(b: Uint8Array, off: number): number {
  const s = String.fromCharCode(...b.subarray(off, off + 16));
  const gmtOff = (b[off + 16]! << 24) >> 24;
  const t = Date.UTC(+s.slice(0, 4), +s.slice(4, 6) - 1, +s.slice(6, 8), +s.slice(8, 10), +s.slice(10, 12), +s.slice(12, 14)) / 1000;
  return Number.isFinite(t) ? Math.floor(t - gmtOff * 15 * 60) : 0;
}

interface DirRecord {
  extent: number;
  size: number;
  flags: number;
  rawName: Uint8Array;
  systemUse: Uint8Array;
  date: number;
}

function parseRecord(b: Uint8Array, off: number): DirRecord {
  const len = b[off + DR_LEN]!;
  const nameLen = b[off + DR_NAME_LEN]!;
  const suStart = off + DR_NAME + nameLen + (nameLen % 2 === 0 ? 1 : 0);
  return {
    extent: le32(b, off + DR_EXTENT),
    size: le32(b, off + DR_SIZE),
    flags: b[off + DR_FLAGS]!,
    rawName: b.subarray(off + DR_NAME, off + DR_NAME + nameLen),
    systemUse: suStart < off + len ? b.subarray(suStart, off + len) : EMPTY,
    date: recordTime(b, off + DR_DATE),
  };
}

/** What Rock Ridge says about one record. */
interface RockRidge {
  name?: string;
  mode?: number;
  symlink?: string;
  mtime?: number;
  childLink?: number;
  relocated: boolean;
  zisofs: boolean;
}

function sig(b: Uint8Array, p: number, a: string): boolean {
  return b[p] === a.charCodeAt(0) && b[p + 1] === a.charCodeAt(1);
}

class IsoReader {
  readonly #ra: RandomAccess;
  readonly #where: string;
  #blockSize = SECTOR;
  /** SUSP bytes to skip at the start of each System Use area (from the SP entry). */
  #suspSkip = 0;

  constructor(ra: RandomAccess, where: string) {
    this.#ra = ra;
    this.#where = where;
  }

  fail(why: string): never {
    throw new FluxError(`${this.#where}: ${why}`, 'EPROTO');
  }

  async #readExtent(block: number, offset: number, length: number): Promise<Uint8Array> {
    return this.#ra.read(block * this.#blockSize + offset, length);
  }

  /** The primary and (if any) Joliet root records. */
  async volumes(): Promise<{ primary: DirRecord; joliet: DirRecord | undefined }> {
    let primary: DirRecord | undefined;
    let joliet: DirRecord | undefined;
    let volumeBytes = 0;
    for (let i = 0; i < MAX_DESCRIPTORS; i++) {
      const vd = await this.#ra.read(FIRST_DESCRIPTOR + i * SECTOR, SECTOR);
      if (String.fromCharCode(...vd.subarray(VD_ID, VD_ID + 5)) !== 'CD001') this.fail('bad ISO 9660 volume descriptor');
      const type = vd[0]!;
      if (type === VD_TERMINATOR) break;
      if (type === VD_PRIMARY && primary === undefined) {
        this.#blockSize = le16(vd, PVD_BLOCK_SIZE) || SECTOR;
        primary = parseRecord(vd, PVD_ROOT_RECORD);
        volumeBytes = le32(vd, PVD_VOLUME_SPACE) * this.#blockSize;
      } else if (type === VD_SUPPLEMENTARY && vd[SVD_ESCAPES] === 0x25 && vd[SVD_ESCAPES + 1] === 0x2f
        && (vd[SVD_ESCAPES + 2] === 0x40 || vd[SVD_ESCAPES + 2] === 0x43 || vd[SVD_ESCAPES + 2] === 0x45)) {
        joliet = parseRecord(vd, PVD_ROOT_RECORD);
      }
    }
    if (primary === undefined) this.fail('no ISO 9660 primary volume descriptor');
    // Writers size the file to the volume exactly: a shorter file lost its end in transit,
    // even when what is missing is only padding.
    if (volumeBytes > this.#ra.size) this.fail(`truncated ISO 9660 image: ${this.#ra.size} of the ${volumeBytes} bytes its volume descriptor declares`);
    return { primary, joliet };
  }

  /** Does the root's "." record start with an SP entry? Then the image has Rock Ridge. */
  async detectRockRidge(root: DirRecord): Promise<boolean> {
    const dir = await this.#readExtent(root.extent, 0, Math.min(root.size, this.#blockSize));
    if (dir[DR_LEN] === 0) return false;
    const su = parseRecord(dir, 0).systemUse;
    if (su.length >= 7 && sig(su, 0, 'SP') && su[4] === 0xbe && su[5] === 0xef) {
      this.#suspSkip = su[6]!;
      return true;
    }
    return false;
  }

  /** Parse the SUSP entries of a record, following CE continuation areas. */
  async rockRidge(systemUse: Uint8Array): Promise<RockRidge> {
    const rr: RockRidge = { relocated: false, zisofs: false };
    // NM and SL pieces are joined as BYTES before decoding: a writer may split a name
    // or a symlink component inside a multi-byte UTF-8 character
    let name: Uint8Array[] | undefined;
    const linkParts: string[] = [];
    let linkPart: Uint8Array[] | undefined; // component being continued
    let linkRoot = false;
    let area = systemUse.subarray(Math.min(this.#suspSkip, systemUse.length));
    for (let hop = 0; hop < MAX_CE_CHAIN; hop++) {
      let ce: { block: number; offset: number; length: number } | undefined;
      for (let p = 0; p + 4 <= area.length; ) {
        const len = area[p + 2]!;
        if (len < 4 || p + len > area.length) break;
        const e = area.subarray(p, p + len);
        if (sig(e, 0, 'ST')) break;
        if (sig(e, 0, 'NM') && len >= 5) {
          const f = e[4]!;
          const part = f & 0x02 ? DOT : f & 0x04 ? DOTDOT : e.subarray(5);
          (name ??= []).push(part);
        } else if (sig(e, 0, 'PX') && len >= 12) {
          rr.mode = le32(e, 4);
        } else if (sig(e, 0, 'SL') && len >= 5) {
          for (let q = 5; q + 2 <= e.length; ) {
            const cf = e[q]!;
            const cl = e[q + 1]!;
            const piece = cf & 0x02 ? DOT : cf & 0x04 ? DOTDOT : e.subarray(q + 2, q + 2 + cl);
            if (cf & 0x08) linkRoot = linkParts.length === 0 && linkPart === undefined;
            else {
              (linkPart ??= []).push(piece);
              if (!(cf & 0x01)) {
                linkParts.push(this.#utf8(concatBytes(linkPart), 'symlink target'));
                linkPart = undefined;
              }
            }
            q += 2 + cl;
          }
        } else if (sig(e, 0, 'TF') && len >= 5) {
          const f = e[4]!;
          const long = (f & 0x80) !== 0;
          const w = long ? 17 : 7;
          let q = 5;
          if (f & 0x01) q += w; // creation
          if (f & 0x02 && q + w <= e.length) rr.mtime = long ? longTime(e, q) : recordTime(e, q);
        } else if (sig(e, 0, 'CE') && len >= 28) {
          ce = { block: le32(e, 4), offset: le32(e, 12), length: le32(e, 20) };
          if (ce.length > MAX_META_BYTES) this.fail(`Rock Ridge continuation area of ${ce.length} bytes is too large`);
        } else if (sig(e, 0, 'CL') && len >= 12) {
          rr.childLink = le32(e, 4);
        } else if (sig(e, 0, 'RE')) {
          rr.relocated = true;
        } else if (sig(e, 0, 'ZF')) {
          rr.zisofs = true;
        }
        p += len;
      }
      if (ce === undefined) break;
      area = await this.#readExtent(ce.block, ce.offset, ce.length);
    }
    if (linkPart !== undefined) linkParts.push(this.#utf8(concatBytes(linkPart), 'symlink target'));
    if (name !== undefined) rr.name = this.#utf8(concatBytes(name), 'Rock Ridge name');
    if (linkRoot || linkParts.length > 0) rr.symlink = (linkRoot ? '/' : '') + linkParts.join('/');
    return rr;
  }

  #utf8(b: Uint8Array, what: string): string {
    try {
      return fromUtf8(b);
    } catch {
      this.fail(`${what} is not valid UTF-8`);
    }
  }

  /** Name from the record itself: Joliet UCS-2, or ISO d-characters without `;1`. */
  plainName(rec: DirRecord, joliet: boolean): string {
    let name: string;
    if (joliet) {
      name = '';
      for (let i = 0; i + 1 < rec.rawName.length; i += 2) name += String.fromCharCode((rec.rawName[i]! << 8) | rec.rawName[i + 1]!);
    } else name = String.fromCharCode(...rec.rawName);
    const semi = name.lastIndexOf(';');
    if (semi > 0) name = name.slice(0, semi);
    if (!joliet && name.endsWith('.') && !(rec.flags & FLAG_DIRECTORY)) name = name.slice(0, -1);
    return name;
  }

  /** The records of one directory, in order, "." and ".." excluded. */
  async *records(dirExtent: number, dirSize: number): AsyncGenerator<DirRecord> {
    // read whole: a size past what any real directory needs is corrupt, not allocated
    if (dirSize > DEFAULT_VALUE_CEILING) this.fail(`directory at block ${dirExtent} claims ${dirSize} bytes`);
    const data = await this.#readExtent(dirExtent, 0, dirSize);
    for (let p = 0; p < data.length; ) {
      const len = data[p]!;
      if (len === 0) {
        p = (Math.floor(p / this.#blockSize) + 1) * this.#blockSize; // records never cross a sector
        continue;
      }
      if (len < DR_NAME + 1 || p + len > data.length) this.fail(`bad directory record at block ${dirExtent}`);
      const rec = parseRecord(data, p);
      p += len;
      if (rec.rawName.length === 1 && (rec.rawName[0] === 0 || rec.rawName[0] === 1)) continue;
      yield rec;
    }
  }

  /** The mtime of a directory, from its own "." record. */
  async dirTime(extent: number, rockRidge: boolean): Promise<number> {
    const dot = parseRecord(await this.#readExtent(extent, 0, this.#blockSize), 0);
    return (rockRidge ? (await this.rockRidge(dot.systemUse)).mtime : undefined) ?? dot.date;
  }

  async dirSizeAt(extent: number): Promise<number> {
    const first = await this.#readExtent(extent, 0, this.#blockSize);
    return parseRecord(first, 0).size; // the "." record describes the directory itself
  }

  data(extents: readonly DirRecord[], size: number): Promise<Uint8Array> | Uint8Array {
    if (size === 0) return EMPTY;
    if (extents.length === 1) return this.#readExtent(extents[0]!.extent, 0, size);
    return (async () => {
      const out = new Uint8Array(size);
      let off = 0;
      for (const e of extents) {
        out.set(await this.#readExtent(e.extent, 0, e.size), off);
        off += e.size;
      }
      return out;
    })();
  }
}

export async function* readIso(ra: RandomAccess, opts: ReaderOptions): AsyncGenerator<RestoreEntry[]> {
  const iso = new IsoReader(ra, opts.where);
  const { primary, joliet } = await iso.volumes();
  const rockRidge = await iso.detectRockRidge(primary);
  const useJoliet = !rockRidge && joliet !== undefined;
  const root = useJoliet ? joliet : primary;

  // The root directory is a member too (libarchive lists it as "."): its mtime counts.
  let batch: RestoreEntry[] = [{ path: '.', type: 'other', data: EMPTY, size: 0, linkTarget: '', mtime: await iso.dirTime(root.extent, rockRidge) }];
  let batchBytes = 0;
  const visited = new Set<number>();
  const stack: { extent: number; size: number; prefix: string }[] = [{ extent: root.extent, size: root.size, prefix: '' }];
  while (stack.length > 0) {
    const dir = stack.pop()!;
    if (visited.has(dir.extent)) iso.fail(`directory loop at block ${dir.extent}`);
    visited.add(dir.extent);
    const subdirs: typeof stack = [];
    let multi: DirRecord[] = [];
    for await (const rec of iso.records(dir.extent, dir.size)) {
      const rr = rockRidge ? await iso.rockRidge(rec.systemUse) : undefined;
      if (rr?.relocated) continue; // listed again, via CL, where it belongs
      const name = rr?.name ?? iso.plainName(rec, useJoliet);
      const path = dir.prefix + name;
      const mtime = rr?.mtime ?? rec.date;
      if (rr?.childLink !== undefined) {
        subdirs.push({ extent: rr.childLink, size: await iso.dirSizeAt(rr.childLink), prefix: path + '/' });
        batch.push({ path, type: 'other', data: EMPTY, size: 0, linkTarget: '', mtime });
        continue;
      }
      if (rec.flags & FLAG_DIRECTORY) {
        subdirs.push({ extent: rec.extent, size: rec.size, prefix: path + '/' });
        // The writer's holding place for relocated directories is not a member (as in
        // libarchive): its mtime is the image's creation time, not the data's.
        if (!(rockRidge && dir.prefix === '' && name === RR_MOVED)) {
          batch.push({ path, type: 'other', data: EMPTY, size: 0, linkTarget: '', mtime });
        }
        continue;
      }
      // A file over 4 GiB is several records with the multi-extent flag on all but the last.
      multi.push(rec);
      if (rec.flags & FLAG_MULTI_EXTENT) continue;
      const extents = multi;
      multi = [];
      const fmt = (rr?.mode ?? S_IFREG) & S_IFMT;
      if (fmt === S_IFLNK) {
        batch.push({ path, type: 'symlink', data: EMPTY, size: 0, linkTarget: rr?.symlink ?? '', mtime });
        continue;
      }
      if (fmt !== S_IFREG && fmt !== 0) {
        batch.push({ path, type: 'other', data: EMPTY, size: 0, linkTarget: '', mtime }); // device, FIFO, socket
        continue;
      }
      if (rr?.zisofs) iso.fail(`${showName(path)}: zisofs-compressed files are not supported`);
      const size = extents.reduce((n, e) => n + e.size, 0);
      if (overLimit(size, opts)) {
        batch.push({ path, type: 'file', data: EMPTY, size, linkTarget: '', mtime });
        continue;
      }
      checkValueSize(size, path, opts);
      let data: Uint8Array;
      try {
        data = await iso.data(extents, size);
      } catch (err) {
        // a truncated image or an extent that points past its end: say which file
        const prefix = `${opts.where}: `;
        if (err instanceof FluxError && err.message.startsWith(prefix)) iso.fail(`${showName(path)}: ${err.message.slice(prefix.length)}`);
        throw err;
      }
      batch.push({ path, type: 'file', data, size, linkTarget: '', mtime });
      batchBytes += size;
      if (batchBytes >= BATCH_BYTES || batch.length >= BATCH_ENTRIES) {
        yield batch;
        batch = [];
        batchBytes = 0;
      }
    }
    // depth first, in directory order
    for (let i = subdirs.length - 1; i >= 0; i--) stack.push(subdirs[i]!);
  }
  if (batch.length > 0) yield batch;
}
