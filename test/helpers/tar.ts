/** A minimal independent ustar/pax reader for tests: headers as raw blocks + parsed fields. */
export interface TarMember {
  offset: number;
  header: Uint8Array;
  name: string;
  typeflag: string;
  size: number;
  mtime: number;
  uid: number;
  gid: number;
  linkname: string;
  data: Uint8Array;
}

const dec = new TextDecoder();
function str(b: Uint8Array, off: number, len: number): string {
  const s = b.subarray(off, off + len);
  const z = s.indexOf(0);
  return dec.decode(z < 0 ? s : s.subarray(0, z));
}
function oct(b: Uint8Array, off: number, len: number): number {
  return parseInt(str(b, off, len).trim() || '0', 8);
}

export function readTar(buf: Uint8Array): { members: TarMember[]; end: number } {
  const members: TarMember[] = [];
  let off = 0;
  while (off + 512 <= buf.length) {
    const h = buf.subarray(off, off + 512);
    if (h.every((x) => x === 0)) return { members, end: off };
    const size = oct(h, 124, 12);
    const prefix = str(h, 345, 155);
    const name = (prefix ? prefix + '/' : '') + str(h, 0, 100);
    members.push({
      offset: off,
      header: h,
      name,
      typeflag: String.fromCharCode(h[156]!),
      size,
      mtime: oct(h, 136, 12),
      uid: oct(h, 108, 8),
      gid: oct(h, 116, 8),
      linkname: str(h, 157, 100),
      data: buf.subarray(off + 512, off + 512 + size),
    });
    off += 512 + Math.ceil(size / 512) * 512;
  }
  return { members, end: off };
}

/** Header bytes with the mtime, uid, gid and checksum fields blanked (for metadata-insensitive comparison). */
export function withoutMeta(h: Uint8Array): Uint8Array {
  const c = h.slice();
  c.fill(0, 108, 124); // uid, gid
  c.fill(0, 136, 156); // mtime, checksum
  return c;
}
