/**
 * Checkpoint objects: `{"version":1,"rootref":...,"sequence":N,"timestamp":T}`.
 * Readers accept version 0 or 1 and require rootref; Flux's parser rejects an integer
 * timestamp, so the writer always emits a fraction part.
 */
import { parseBlobref } from '../blobref.js';
import { FluxError } from '../errors.js';

export interface Checkpoint {
  version: number;
  rootref: string;
  sequence: number;
  /** Seconds since the epoch (a real); 0 when the checkpoint has none. */
  timestamp: number;
}

export function parseCheckpoint(json: string, where: string): Checkpoint {
  let v: unknown;
  try {
    v = JSON.parse(json);
  } catch {
    throw new FluxError(`${where}: checkpoint is not valid JSON`, 'EPROTO');
  }
  return checkpointFromJson(v, where);
}

export function checkpointFromJson(v: unknown, where: string): Checkpoint {
  if (typeof v !== 'object' || v === null) throw new FluxError(`${where}: invalid checkpoint object`, 'EPROTO');
  const o = v as Record<string, unknown>;
  if (o.version !== 0 && o.version !== 1) {
    throw new FluxError(`${where}: unsupported checkpoint version ${String(o.version)}`, 'EPROTO');
  }
  if (typeof o.rootref !== 'string') throw new FluxError(`${where}: checkpoint has no rootref`, 'EPROTO');
  parseBlobref(o.rootref);
  return {
    version: o.version,
    rootref: o.rootref,
    sequence: typeof o.sequence === 'number' ? o.sequence : 0,
    timestamp: typeof o.timestamp === 'number' ? o.timestamp : 0,
  };
}

/** A JSON real: always with a fraction part (`1700000000.0`), as jansson prints reals. */
export function formatReal(x: number): string {
  if (!Number.isFinite(x)) throw new FluxError(`invalid checkpoint timestamp ${x}`);
  const s = String(x);
  return /[.eE]/.test(s) ? s : `${s}.0`;
}

export function formatCheckpoint(c: Checkpoint): string {
  return `{"version":${c.version},"rootref":"${c.rootref}","sequence":${c.sequence},"timestamp":${formatReal(c.timestamp)}}`;
}
