/**
 * ISO 9660 (ECMA-119) record packers, with the SUSP (IEEE P1281) and Rock Ridge (RRIP,
 * IEEE P1282) system-use entries and Joliet's supplementary volume descriptor. Pure:
 * plain fields in, bytes out; no layout decisions (those are in layout.ts). Multi-byte
 * numbers are "both-endian" (little-endian copy, then big-endian) where the standard
 * says so; offsets are named after ECMA-119's byte positions (1-based there, 0-based here).
 */
import { FluxError } from '../../errors.js';

export const SECTOR = 2048;
/** LBAs 0-15 are the system area; the volume descriptors start at 16. */
export const SYSTEM_AREA_SECTORS = 16;

/** Directory record: fixed part, then identifier, pad to even, system use. */
export const DR_LENGTH = 0;
export const DR_EXT_ATTR_LENGTH = 1;
export const DR_EXTENT = 2;
export const DR_DATA_LENGTH = 10;
export const DR_DATE = 18;
export const DR_FLAGS = 25;
export const DR_UNIT_SIZE = 26;
export const DR_GAP = 27;
export const DR_VOLUME_SEQ = 28;
export const DR_ID_LENGTH = 32;
export const DR_ID = 33;
export const DR_FIXED_SIZE = 33;
/** A record's length is one byte. */
export const DR_MAX = 255;
export const FLAG_DIRECTORY = 0x02;

/** Volume descriptor types and fields. */
export const VD_PRIMARY = 1;
export const VD_SUPPLEMENTARY = 2;
export const VD_TERMINATOR = 255;
const VD_STANDARD_ID = 'CD001';
const VD_SYSTEM_ID = 8;
const VD_VOLUME_ID = 40;
const VD_SPACE_SIZE = 80;
const VD_ESCAPES = 88;
const VD_SET_SIZE = 120;
const VD_SEQ_NUMBER = 124;
const VD_BLOCK_SIZE = 128;
const VD_PATH_TABLE_SIZE = 132;
const VD_L_PATH_TABLE = 140;
const VD_M_PATH_TABLE = 148;
const VD_ROOT_RECORD = 156;
const VD_VOLUME_SET_ID = 190;
const VD_PUBLISHER_ID = 318;
const VD_PREPARER_ID = 446;
const VD_APPLICATION_ID = 574;
const VD_COPYRIGHT_FILE_ID = 702;
const VD_ABSTRACT_FILE_ID = 739;
const VD_BIBLIO_FILE_ID = 776;
const VD_CREATION_DATE = 813;
const VD_MODIFICATION_DATE = 830;
const VD_EXPIRATION_DATE = 847;
const VD_EFFECTIVE_DATE = 864;
const VD_FILE_STRUCTURE_VERSION = 881;
/** Joliet's escape sequence for UCS-2 level 3. */
const JOLIET_ESCAPES = [0x25, 0x2f, 0x45]; // "%/E"

// ------------------------------------------------------------------ numbers

export function le16(out: Uint8Array, off: number, v: number): void {
  out[off] = v & 0xff;
  out[off + 1] = (v >>> 8) & 0xff;
}

export function be16(out: Uint8Array, off: number, v: number): void {
  out[off] = (v >>> 8) & 0xff;
  out[off + 1] = v & 0xff;
}

export function le32(out: Uint8Array, off: number, v: number): void {
  out[off] = v & 0xff;
  out[off + 1] = (v >>> 8) & 0xff;
  out[off + 2] = (v >>> 16) & 0xff;
  out[off + 3] = (v >>> 24) & 0xff;
}

export function be32(out: Uint8Array, off: number, v: number): void {
  out[off] = (v >>> 24) & 0xff;
  out[off + 1] = (v >>> 16) & 0xff;
  out[off + 2] = (v >>> 8) & 0xff;
  out[off + 3] = v & 0xff;
}

/** ECMA-119 7.2.3: 16-bit both-endian (4 bytes). */
export function both16(out: Uint8Array, off: number, v: number): void {
  le16(out, off, v);
  be16(out, off + 2, v);
}

/** ECMA-119 7.3.3: 32-bit both-endian (8 bytes). */
export function both32(out: Uint8Array, off: number, v: number): void {
  le32(out, off, v);
  be32(out, off + 4, v);
}

// ------------------------------------------------------------------ dates

/** The year range of the 7-byte date (a one-byte offset from 1900). */
export const SHORT_DATE_MIN_YEAR = 1900;
export const SHORT_DATE_MAX_YEAR = 2155;

/** [year, month, day, hour, minute, second] in UTC. Most entries share one mtime, so the
 * last conversion is remembered (the result is frozen: callers only read it). */
function utcParts(unixSeconds: number): readonly number[] {
  if (unixSeconds === lastParts.t) return lastParts.parts;
  const d = new Date(unixSeconds * 1000);
  const parts = Object.freeze([d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate(), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds()]);
  lastParts = { t: unixSeconds, parts };
  return parts;
}

let lastParts: { t: number; parts: readonly number[] } = { t: NaN, parts: [] };

export function yearOf(unixSeconds: number): number {
  return utcParts(unixSeconds)[0]!;
}

/**
 * ECMA-119 9.1.5: seven bytes (years since 1900, month, day, hour, minute, second, GMT
 * offset in 15-minute units; we write UTC). Out-of-range years are clamped to the
 * field's ends: callers keep the exact time elsewhere (Rock Ridge TF, long form).
 */
export function writeShortDate(out: Uint8Array, off: number, unixSeconds: number): void {
  const [y, mo, d, h, mi, s] = utcParts(unixSeconds) as [number, number, number, number, number, number];
  if (y < SHORT_DATE_MIN_YEAR) out.set([0, 1, 1, 0, 0, 0, 0], off);
  else if (y > SHORT_DATE_MAX_YEAR) out.set([255, 12, 31, 23, 59, 59, 0], off);
  else out.set([y - 1900, mo, d, h, mi, s, 0], off);
}

/** ECMA-119 8.4.26.1: "YYYYMMDDHHMMSScc" in ASCII digits + GMT offset byte (17 bytes). */
export function writeLongDate(out: Uint8Array, off: number, unixSeconds: number | null): void {
  if (unixSeconds === null) {
    // "Not specified": sixteen '0' digits and a zero offset.
    out.fill(0x30, off, off + 16);
    out[off + 16] = 0;
    return;
  }
  const [y, mo, d, h, mi, s] = utcParts(unixSeconds) as [number, number, number, number, number, number];
  if (y < 0 || y > 9999) throw new FluxError(`iso9660: time ${unixSeconds} is outside years 0-9999`, 'ERANGE');
  const text = `${String(y).padStart(4, '0')}${[mo, d, h, mi, s].map((v) => String(v).padStart(2, '0')).join('')}00`;
  for (let i = 0; i < 16; i++) out[off + i] = text.charCodeAt(i);
  out[off + 16] = 0;
}

// ------------------------------------------------------------------ directory records

export interface DirRecordFields {
  /** File identifier bytes: d-characters (primary), UCS-2BE (Joliet), or 0x00 / 0x01. */
  id: Uint8Array;
  extent: number;
  dataLength: number;
  /** Seconds since the epoch, recorded as a 7-byte date. */
  mtime: number;
  directory: boolean;
  /** System Use field (SUSP entries), already packed; empty for Joliet. */
  systemUse: Uint8Array;
}

/** Length of a record: fixed part + identifier + pad byte if the id length is even + SU. */
export function dirRecordLength(idLength: number, systemUseLength: number): number {
  return DR_FIXED_SIZE + idLength + (idLength % 2 === 0 ? 1 : 0) + systemUseLength;
}

/** ECMA-119 9.1: one directory record at `off`; returns its length. */
export function writeDirRecord(out: Uint8Array, off: number, r: DirRecordFields): number {
  const len = dirRecordLength(r.id.length, r.systemUse.length);
  if (len > DR_MAX) throw new Error(`directory record of ${len} bytes (max ${DR_MAX})`);
  out[off + DR_LENGTH] = len;
  out[off + DR_EXT_ATTR_LENGTH] = 0;
  both32(out, off + DR_EXTENT, r.extent);
  both32(out, off + DR_DATA_LENGTH, r.dataLength);
  writeShortDate(out, off + DR_DATE, r.mtime);
  out[off + DR_FLAGS] = r.directory ? FLAG_DIRECTORY : 0;
  out[off + DR_UNIT_SIZE] = 0;
  out[off + DR_GAP] = 0;
  both16(out, off + DR_VOLUME_SEQ, 1);
  out[off + DR_ID_LENGTH] = r.id.length;
  out.set(r.id, off + DR_ID);
  out.set(r.systemUse, off + len - r.systemUse.length);
  return len;
}

// ------------------------------------------------------------------ path tables

/** ECMA-119 9.4: bytes of one path table record (identifier padded to even). */
export function pathRecordLength(idLength: number): number {
  return 8 + idLength + (idLength % 2);
}

/**
 * One path table record; `bigEndian` selects the M table. Parent numbers are 16-bit:
 * past 65,535 directories the field saturates (see layout.ts: no reader we target looks
 * directories up through the path table).
 */
export function writePathRecord(out: Uint8Array, off: number, id: Uint8Array, extent: number, parent: number, bigEndian: boolean): number {
  out[off] = id.length;
  out[off + 1] = 0;
  if (bigEndian) {
    be32(out, off + 2, extent);
    be16(out, off + 6, Math.min(parent, 0xffff));
  } else {
    le32(out, off + 2, extent);
    le16(out, off + 6, Math.min(parent, 0xffff));
  }
  out.set(id, off + 8);
  return pathRecordLength(id.length);
}

// ------------------------------------------------------------------ volume descriptors

export interface VolumeFields {
  joliet: boolean;
  volumeId: string;
  applicationId: string;
  volumeSpaceSize: number;
  pathTableSize: number;
  lPathTable: number;
  mPathTable: number;
  /** The root's 34-byte directory record (no system use). */
  rootRecord: Uint8Array;
  /** Creation and modification date (the entries' newest mtime). */
  date: number;
}

/** Write `text` padded with spaces: ASCII (primary) or UCS-2BE (Joliet). */
function writeText(out: Uint8Array, off: number, size: number, text: string, ucs2: boolean): void {
  if (ucs2) {
    for (let i = 0; i < size; i += 2) be16(out, off + i, i / 2 < text.length ? text.charCodeAt(i / 2) : 0x20);
    if (size % 2) out[off + size - 1] = 0x20;
  } else {
    for (let i = 0; i < size; i++) out[off + i] = i < text.length ? text.charCodeAt(i) : 0x20;
  }
}

/** ECMA-119 8.4 (primary) or 8.5 with Joliet's escapes (supplementary). */
export function encodeVolumeDescriptor(v: VolumeFields): Uint8Array {
  const out = new Uint8Array(SECTOR);
  const u = v.joliet;
  out[0] = u ? VD_SUPPLEMENTARY : VD_PRIMARY;
  writeText(out, 1, 5, VD_STANDARD_ID, false);
  out[6] = 1;
  writeText(out, VD_SYSTEM_ID, 32, '', u);
  writeText(out, VD_VOLUME_ID, 32, v.volumeId, u);
  both32(out, VD_SPACE_SIZE, v.volumeSpaceSize);
  if (u) out.set(JOLIET_ESCAPES, VD_ESCAPES);
  both16(out, VD_SET_SIZE, 1);
  both16(out, VD_SEQ_NUMBER, 1);
  both16(out, VD_BLOCK_SIZE, SECTOR);
  both32(out, VD_PATH_TABLE_SIZE, v.pathTableSize);
  le32(out, VD_L_PATH_TABLE, v.lPathTable);
  be32(out, VD_M_PATH_TABLE, v.mPathTable);
  out.set(v.rootRecord, VD_ROOT_RECORD);
  writeText(out, VD_VOLUME_SET_ID, 128, '', u);
  writeText(out, VD_PUBLISHER_ID, 128, '', u);
  writeText(out, VD_PREPARER_ID, 128, '', u);
  writeText(out, VD_APPLICATION_ID, 128, v.applicationId, u);
  writeText(out, VD_COPYRIGHT_FILE_ID, 37, '', u);
  writeText(out, VD_ABSTRACT_FILE_ID, 37, '', u);
  writeText(out, VD_BIBLIO_FILE_ID, 37, '', u);
  writeLongDate(out, VD_CREATION_DATE, v.date);
  writeLongDate(out, VD_MODIFICATION_DATE, v.date);
  writeLongDate(out, VD_EXPIRATION_DATE, null);
  writeLongDate(out, VD_EFFECTIVE_DATE, null);
  out[VD_FILE_STRUCTURE_VERSION] = 1;
  return out;
}

export function encodeTerminator(): Uint8Array {
  const out = new Uint8Array(SECTOR);
  out[0] = VD_TERMINATOR;
  writeText(out, 1, 5, VD_STANDARD_ID, false);
  out[6] = 1;
  return out;
}

// ------------------------------------------------------------------ SUSP / Rock Ridge

/** A SUSP entry: two signature bytes, length, version 1, then the data. */
function suspEntry(sig: string, dataLength: number): Uint8Array {
  const e = new Uint8Array(4 + dataLength);
  e[0] = sig.charCodeAt(0);
  e[1] = sig.charCodeAt(1);
  e[2] = e.length;
  e[3] = 1;
  return e;
}

/** Largest SUSP entry (its length is one byte). */
export const SUSP_MAX = 255;
export const CE_LENGTH = 28;

/** Entry lengths the layout needs before any entry is built (tests pin them to the encoders). */
export const SP_LENGTH = 7;
export const RR_LENGTH = 5;
export const PX_LENGTH = 44;

/** SP: "SUSP in use", first entry of the root's "." record; no bytes skipped. */
export function spEntry(): Uint8Array {
  const e = suspEntry('SP', 3);
  e[4] = 0xbe;
  e[5] = 0xef;
  e[6] = 0;
  return e;
}

/** CE: the rest of this record's system use is `length` bytes at (block, offset). */
export function ceEntry(block: number, offset: number, length: number): Uint8Array {
  const e = suspEntry('CE', 24);
  both32(e, 4, block);
  both32(e, 12, offset);
  both32(e, 20, length);
  return e;
}

/** ER for RRIP 1.10, the identification every Rock Ridge reader knows. */
const RRIP_ID = 'RRIP_1991A';
const RRIP_DESCRIPTOR = 'THE ROCK RIDGE INTERCHANGE PROTOCOL PROVIDES SUPPORT FOR POSIX FILE SYSTEM SEMANTICS';
const RRIP_SOURCE =
  'PLEASE CONTACT DISC PUBLISHER FOR SPECIFICATION SOURCE.  SEE PUBLISHER IDENTIFIER IN PRIMARY VOLUME DESCRIPTOR FOR CONTACT INFORMATION.';

export const ER_LENGTH = 8 + RRIP_ID.length + RRIP_DESCRIPTOR.length + RRIP_SOURCE.length;

export function erEntry(): Uint8Array {
  const e = suspEntry('ER', 4 + RRIP_ID.length + RRIP_DESCRIPTOR.length + RRIP_SOURCE.length);
  e[4] = RRIP_ID.length;
  e[5] = RRIP_DESCRIPTOR.length;
  e[6] = RRIP_SOURCE.length;
  e[7] = 1; // extension version
  writeText(e, 8, RRIP_ID.length, RRIP_ID, false);
  writeText(e, 8 + RRIP_ID.length, RRIP_DESCRIPTOR.length, RRIP_DESCRIPTOR, false);
  writeText(e, 8 + RRIP_ID.length + RRIP_DESCRIPTOR.length, RRIP_SOURCE.length, RRIP_SOURCE, false);
  return e;
}

/** RRIP 1.09 "RR": which Rock Ridge entries this record carries (old Linux reads it). */
export const RR_PX = 0x01;
export const RR_SL = 0x04;
export const RR_NM = 0x08;
export const RR_TF = 0x80;

export function rrEntry(flags: number): Uint8Array {
  const e = suspEntry('RR', 1);
  e[4] = flags;
  return e;
}

export interface PosixAttrs {
  /** Full st_mode (type bits | permissions). */
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  /** File serial number (inode). */
  ino: number;
}

/** PX, RRIP 1.12 form with the serial number (44 bytes). */
export function pxEntry(a: PosixAttrs): Uint8Array {
  const e = suspEntry('PX', 40);
  both32(e, 4, a.mode);
  both32(e, 12, a.nlink);
  both32(e, 20, a.uid);
  both32(e, 28, a.gid);
  both32(e, 36, a.ino);
  return e;
}

const TF_MODIFY = 0x02;
const TF_ACCESS = 0x04;
const TF_ATTRIBUTES = 0x08;
const TF_LONG_FORM = 0x80;

/**
 * TF: modification, access and attribute-change times, all `mtime`. The 7-byte form
 * covers 1900-2155; outside it the 17-byte long form is used (years 0-9999).
 */
function tfLongForm(mtime: number): boolean {
  const y = yearOf(mtime);
  return y < SHORT_DATE_MIN_YEAR || y > SHORT_DATE_MAX_YEAR;
}

export function tfLength(mtime: number): number {
  return 5 + 3 * (tfLongForm(mtime) ? 17 : 7);
}

export function tfEntry(mtime: number): Uint8Array {
  const long = tfLongForm(mtime);
  const size = long ? 17 : 7;
  const e = suspEntry('TF', 1 + 3 * size);
  e[4] = TF_MODIFY | TF_ACCESS | TF_ATTRIBUTES | (long ? TF_LONG_FORM : 0);
  for (let i = 0; i < 3; i++) {
    if (long) writeLongDate(e, 5 + i * size, mtime);
    else writeShortDate(e, 5 + i * size, mtime);
  }
  return e;
}

const NM_CONTINUE = 0x01;
/** Name bytes one NM entry holds: 255 minus the 5-byte entry header. */
export const NM_MAX_CHUNK = SUSP_MAX - 5;

/**
 * Where to cut `bytes` at most `max` bytes in without splitting a UTF-8 character:
 * readers that decode each NM or SL piece on its own (this project's restore reader
 * among them) then never see a broken character.
 */
export function utf8Cut(bytes: Uint8Array, max: number): number {
  if (max >= bytes.length) return bytes.length;
  let n = max;
  while (n > 0 && (bytes[n]! & 0xc0) === 0x80) n--;
  return n;
}

/** Byte lengths of the name pieces, each at most 250 bytes and whole characters. */
function nmChunks(name: Uint8Array): number[] {
  const out: number[] = [];
  for (let off = 0; off < name.length || out.length === 0; ) {
    const n = utf8Cut(name.subarray(off), NM_MAX_CHUNK);
    out.push(n);
    off += n;
  }
  return out;
}

/** Lengths of the NM entries `nmEntries` makes for this name. */
export function nmLengths(name: Uint8Array): number[] {
  return nmChunks(name).map((n) => 5 + n);
}

/** NM entries for a name of any length: pieces of <= 250 bytes, all but the last CONTINUE. */
export function nmEntries(name: Uint8Array): Uint8Array[] {
  const chunks = nmChunks(name);
  let off = 0;
  return chunks.map((n, i) => {
    const e = suspEntry('NM', 1 + n);
    e[4] = i < chunks.length - 1 ? NM_CONTINUE : 0;
    e.set(name.subarray(off, off + n), 5);
    off += n;
    return e;
  });
}

const SL_CONTINUE = 0x01;
const SLC_CONTINUE = 0x01;
const SLC_CURRENT = 0x02;
const SLC_PARENT = 0x04;
const SLC_ROOT = 0x08;
/** Bytes of component records one SL entry holds (255 minus the 5-byte header). */
export const SL_MAX_COMPONENTS = SUSP_MAX - 5;

interface SlComponent {
  flags: number;
  text: Uint8Array;
}

/** The target as SL component records: '/' separates; "", ".", ".." are special. */
function slComponents(target: Uint8Array): SlComponent[] {
  const parts: Uint8Array[] = [];
  let start = 0;
  for (let i = 0; i <= target.length; i++) {
    if (i === target.length || target[i] === 0x2f) {
      parts.push(target.subarray(start, i));
      start = i + 1;
    }
  }
  const out: SlComponent[] = [];
  parts.forEach((p, i) => {
    if (i === 0 && p.length === 0 && parts.length > 1) out.push({ flags: SLC_ROOT, text: p });
    else if (p.length === 1 && p[0] === 0x2e) out.push({ flags: SLC_CURRENT, text: p.subarray(0, 0) });
    else if (p.length === 2 && p[0] === 0x2e && p[1] === 0x2e) out.push({ flags: SLC_PARENT, text: p.subarray(0, 0) });
    else out.push({ flags: 0, text: p });
  });
  return out;
}

/**
 * SL entries for a symlink target. A target too long for one entry is split INSIDE a
 * text component (that piece flagged CONTINUE) because readers disagree about the
 * separator at an entry boundary otherwise: Linux adds '/' after a complete component
 * that ends an entry, libarchive does not. Pieces end on UTF-8 character boundaries.
 * Returns null when no such split exists (a target over 250 bytes made only of "/",
 * "." and ".." components, or of one-character components).
 */
export function slEntries(target: Uint8Array): Uint8Array[] | null {
  const comps = slComponents(target);
  const entries: SlComponent[][] = [[]];
  let room = SL_MAX_COMPONENTS - 1; // the SL entry's own flags byte
  for (let c of comps) {
    for (;;) {
      const cur = entries[entries.length - 1]!;
      if (2 + c.text.length <= room) {
        cur.push(c);
        room -= 2 + c.text.length;
        break;
      }
      // Split c's text (at a character boundary) so that this entry ends inside a component.
      const take = c.flags === 0 && room >= 3 ? utf8Cut(c.text, Math.min(room - 2, c.text.length - 1)) : 0;
      if (take > 0) {
        cur.push({ flags: SLC_CONTINUE, text: c.text.subarray(0, take) });
        c = { flags: 0, text: c.text.subarray(take) };
      } else {
        // No room for a piece of c: move the last character of the previous text component over.
        const last = cur[cur.length - 1];
        const cut = last && last.flags === 0 ? utf8Cut(last.text, last.text.length - 1) : 0;
        if (!last || cut === 0) return null;
        cur[cur.length - 1] = { flags: SLC_CONTINUE, text: last.text.subarray(0, cut) };
        const carried: SlComponent = { flags: 0, text: last.text.subarray(cut) };
        entries.push([carried]);
        room = SL_MAX_COMPONENTS - 1 - (2 + carried.text.length);
        continue;
      }
      entries.push([]);
      room = SL_MAX_COMPONENTS - 1;
    }
  }
  return entries.map((list, i) => {
    const size = list.reduce((n, c) => n + 2 + c.text.length, 0);
    const e = suspEntry('SL', 1 + size);
    e[4] = i < entries.length - 1 ? SL_CONTINUE : 0;
    let off = 5;
    for (const c of list) {
      e[off] = c.flags;
      e[off + 1] = c.text.length;
      e.set(c.text, off + 2);
      off += 2 + c.text.length;
    }
    return e;
  });
}
