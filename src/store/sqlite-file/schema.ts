/**
 * Just enough of SQLite's CREATE TABLE / CREATE INDEX grammar to read rows correctly:
 * column names and order, the INTEGER PRIMARY KEY rowid alias, literal DEFAULTs (for
 * rows written before an ALTER TABLE ADD COLUMN), virtual generated columns (absent from
 * records), WITHOUT ROWID, and the collation/direction of an index's first column.
 */
import type { SqlValue } from './format.js';

interface Token {
  /** id: identifier or keyword (quoted ones have quoted=true); str; num; blob; op. */
  kind: 'id' | 'str' | 'num' | 'blob' | 'op';
  text: string;
  quoted: boolean;
}

const ID_START = /[A-Za-z_\u0080-\uffff]/;
const ID_PART = /[A-Za-z0-9_$\u0080-\uffff]/;

export function tokenize(sql: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const c = sql[i]!;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r' || c === '\f') {
      i++;
    } else if (c === '-' && sql[i + 1] === '-') {
      while (i < n && sql[i] !== '\n') i++;
    } else if (c === '/' && sql[i + 1] === '*') {
      const e = sql.indexOf('*/', i + 2);
      i = e < 0 ? n : e + 2;
    } else if (c === '"' || c === '`' || c === "'") {
      let s = '';
      i++;
      while (i < n) {
        if (sql[i] === c) {
          if (sql[i + 1] === c) {
            s += c;
            i += 2;
            continue;
          }
          i++;
          break;
        }
        s += sql[i++];
      }
      out.push({ kind: c === "'" ? 'str' : 'id', text: s, quoted: true });
    } else if (c === '[') {
      const e = sql.indexOf(']', i + 1);
      const stop = e < 0 ? n : e;
      out.push({ kind: 'id', text: sql.slice(i + 1, stop), quoted: true });
      i = stop + 1;
    } else if ((c === 'x' || c === 'X') && sql[i + 1] === "'") {
      const e = sql.indexOf("'", i + 2);
      const stop = e < 0 ? n : e;
      out.push({ kind: 'blob', text: sql.slice(i + 2, stop), quoted: true });
      i = stop + 1;
    } else if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(sql[i + 1] ?? ''))) {
      const m = /^(0[xX][0-9A-Fa-f]+|[0-9]*\.?[0-9]*(?:[eE][+-]?[0-9]+)?)/.exec(sql.slice(i))!;
      out.push({ kind: 'num', text: m[0], quoted: false });
      i += m[0].length;
    } else if (ID_START.test(c)) {
      let e = i + 1;
      while (e < n && ID_PART.test(sql[e]!)) e++;
      out.push({ kind: 'id', text: sql.slice(i, e), quoted: false });
      i = e;
    } else {
      out.push({ kind: 'op', text: c, quoted: false });
      i++;
    }
  }
  return out;
}

function isKw(t: Token | undefined, kw: string): boolean {
  return t !== undefined && t.kind === 'id' && !t.quoted && t.text.toUpperCase() === kw;
}

/** Splits tokens[from..) at top-level commas until the ')' that closes the list. */
function splitList(tokens: Token[], from: number): { items: Token[][]; next: number } {
  const items: Token[][] = [];
  let cur: Token[] = [];
  let depth = 0;
  let i = from;
  for (; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t.kind === 'op' && t.text === '(') depth++;
    else if (t.kind === 'op' && t.text === ')') {
      if (depth === 0) break;
      depth--;
    } else if (t.kind === 'op' && t.text === ',' && depth === 0) {
      items.push(cur);
      cur = [];
      continue;
    }
    cur.push(t);
  }
  items.push(cur);
  return { items, next: i + 1 };
}

export interface ColumnDef {
  name: string;
  /** Declared type, upper-cased, words joined by one space ('' when none). */
  type: string;
  collation: string | null;
  defaultValue: SqlValue;
  /** VIRTUAL generated columns are computed, never stored in the record. */
  stored: boolean;
}

export interface IndexedColumn {
  column: string | null;
  collation: string | null;
  desc: boolean;
}

export interface TableDef {
  columns: ColumnDef[];
  /** Index into columns of the INTEGER PRIMARY KEY rowid alias, or -1. */
  rowidAlias: number;
  withoutRowid: boolean;
  /** First columns of the implicit indexes, in the order SQLite numbers sqlite_autoindex_T_N. */
  autoIndexes: IndexedColumn[][];
}

const COLUMN_CONSTRAINT = new Set([
  'CONSTRAINT', 'PRIMARY', 'NOT', 'NULL', 'UNIQUE', 'CHECK', 'DEFAULT', 'COLLATE', 'REFERENCES', 'GENERATED', 'AS',
]);
const TABLE_CONSTRAINT = new Set(['CONSTRAINT', 'PRIMARY', 'UNIQUE', 'CHECK', 'FOREIGN']);

/** Parses CREATE TABLE; returns undefined for forms it cannot read (virtual tables, AS SELECT). */
export function parseCreateTable(sql: string): TableDef | undefined {
  const tokens = tokenize(sql);
  const open = tokens.findIndex((t) => t.kind === 'op' && t.text === '(');
  if (open < 0 || tokens.some((t, i) => i < open && isKw(t, 'VIRTUAL'))) return undefined;
  const { items, next } = splitList(tokens, open + 1);
  const columns: ColumnDef[] = [];
  let rowidAlias = -1;
  const autoIndexes: IndexedColumn[][] = [];
  const pkIsAlias: number[] = [];
  for (const item of items) {
    const first = item[0];
    if (first === undefined) continue;
    if (first.kind === 'id' && !first.quoted && TABLE_CONSTRAINT.has(first.text.toUpperCase())) {
      let j = 0;
      if (isKw(item[0], 'CONSTRAINT')) j = 2;
      const kind = item[j]?.text.toUpperCase();
      if (kind === 'PRIMARY' || kind === 'UNIQUE') {
        const paren = item.findIndex((t, k) => k > j && t.kind === 'op' && t.text === '(');
        if (paren < 0) continue;
        const cols = splitList(item, paren + 1).items.map(parseIndexedColumn);
        if (kind === 'PRIMARY' && cols.length === 1 && cols[0]!.column !== null) {
          const ci = findColumn(columns, cols[0]!.column);
          if (ci >= 0 && columns[ci]!.type === 'INTEGER') {
            pkIsAlias.push(ci);
            continue;
          }
        }
        autoIndexes.push(cols);
      }
      continue;
    }
    const col = parseColumn(item);
    columns.push(col.def);
    if (col.pk) {
      if (col.def.type === 'INTEGER' && !col.pkDesc) pkIsAlias.push(columns.length - 1);
      else autoIndexes.push([{ column: col.def.name, collation: col.pkCollation, desc: col.pkDesc }]);
    }
    if (col.unique) autoIndexes.push([{ column: col.def.name, collation: null, desc: false }]);
  }
  const rest = tokens.slice(next);
  let withoutRowid = false;
  for (let i = 0; i + 1 < rest.length; i++) {
    if (isKw(rest[i], 'WITHOUT') && isKw(rest[i + 1], 'ROWID')) withoutRowid = true;
  }
  if (!withoutRowid && pkIsAlias.length > 0) rowidAlias = pkIsAlias[0]!;
  return { columns, rowidAlias, withoutRowid, autoIndexes: dedupe(autoIndexes) };
}

/** SQLite does not create a second implicit index identical to an earlier one. */
function dedupe(list: IndexedColumn[][]): IndexedColumn[][] {
  const seen = new Set<string>();
  const out: IndexedColumn[][] = [];
  for (const cols of list) {
    const sig = cols.map((c) => `${c.column?.toLowerCase()}\0${c.collation?.toUpperCase() ?? ''}`).join('\u0001');
    if (seen.has(sig)) continue;
    seen.add(sig);
    out.push(cols);
  }
  return out;
}

export function findColumn(columns: readonly ColumnDef[], name: string): number {
  const lower = name.toLowerCase();
  return columns.findIndex((c) => c.name.toLowerCase() === lower);
}

function parseColumn(item: Token[]): {
  def: ColumnDef;
  pk: boolean;
  pkDesc: boolean;
  pkCollation: string | null;
  unique: boolean;
} {
  const name = item[0]!.text;
  let i = 1;
  const typeWords: string[] = [];
  while (i < item.length) {
    const t = item[i]!;
    if (t.kind === 'id' && !t.quoted && COLUMN_CONSTRAINT.has(t.text.toUpperCase())) break;
    if (t.kind === 'op' && t.text === '(') {
      // Type size arguments such as VARCHAR(10) or DECIMAL(10, 2): skip, they do not matter.
      let depth = 0;
      for (; i < item.length; i++) {
        if (item[i]!.text === '(' && item[i]!.kind === 'op') depth++;
        else if (item[i]!.text === ')' && item[i]!.kind === 'op' && --depth === 0) break;
      }
      i++;
      continue;
    }
    if (t.kind === 'id') typeWords.push(t.text.toUpperCase());
    i++;
  }
  const def: ColumnDef = { name, type: typeWords.join(' '), collation: null, defaultValue: null, stored: true };
  let pk = false;
  let pkDesc = false;
  let unique = false;
  let generated = false;
  let generatedStored = false;
  for (; i < item.length; i++) {
    const t = item[i]!;
    if (t.kind === 'op' && t.text === '(') {
      i = skipParens(item, i);
      continue;
    }
    if (t.kind !== 'id' || t.quoted) continue;
    const kw = t.text.toUpperCase();
    if (kw === 'PRIMARY' && isKw(item[i + 1], 'KEY')) {
      pk = true;
      i++;
      if (isKw(item[i + 1], 'DESC')) pkDesc = true;
    } else if (kw === 'UNIQUE') unique = true;
    else if (kw === 'COLLATE' && item[i + 1]) def.collation = item[++i]!.text;
    else if (kw === 'DEFAULT') i = parseDefault(item, i + 1, def);
    else if (kw === 'AS') generated = true;
    else if (kw === 'STORED' && generated) generatedStored = true;
  }
  if (generated && !generatedStored) def.stored = false;
  return { def, pk, pkDesc, pkCollation: def.collation, unique };
}

function skipParens(item: Token[], i: number): number {
  let depth = 0;
  for (; i < item.length; i++) {
    const t = item[i]!;
    if (t.kind === 'op' && t.text === '(') depth++;
    else if (t.kind === 'op' && t.text === ')' && --depth === 0) return i;
  }
  return i;
}

/** DEFAULT literal; expressions in parentheses (not allowed for ADD COLUMN) give NULL. */
function parseDefault(item: Token[], i: number, def: ColumnDef): number {
  let t = item[i];
  if (t === undefined) return i;
  let sign = 1;
  if (t.kind === 'op' && (t.text === '-' || t.text === '+')) {
    if (t.text === '-') sign = -1;
    t = item[++i];
    if (t === undefined) return i;
  }
  if (t.kind === 'op' && t.text === '(') return skipParens(item, i);
  if (t.kind === 'num') def.defaultValue = parseNumber(t.text, sign);
  else if (t.kind === 'str') def.defaultValue = t.text;
  else if (t.kind === 'blob') def.defaultValue = hexBytes(t.text);
  else if (isKw(t, 'TRUE')) def.defaultValue = 1;
  else if (isKw(t, 'FALSE')) def.defaultValue = 0;
  else if (t.kind === 'id' && t.quoted) def.defaultValue = t.text;
  return i;
}

function parseNumber(text: string, sign: number): number | bigint {
  if (/^0[xX]/.test(text)) {
    const v = BigInt.asIntN(64, BigInt(text)) * BigInt(sign);
    return Number.isSafeInteger(Number(v)) ? Number(v) : v;
  }
  if (/^[0-9]+$/.test(text)) {
    const v = BigInt(text) * BigInt(sign);
    if (v >= -(2n ** 63n) && v < 2n ** 63n) return Number.isSafeInteger(Number(v)) ? Number(v) : v;
  }
  return sign * Number(text);
}

function hexBytes(hex: string): Uint8Array {
  const out = new Uint8Array(hex.length >>> 1);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function parseIndexedColumn(tokens: Token[]): IndexedColumn {
  let collation: string | null = null;
  let desc = false;
  let end = tokens.length;
  if (isKw(tokens[end - 1], 'DESC')) {
    desc = true;
    end--;
  } else if (isKw(tokens[end - 1], 'ASC')) end--;
  if (end >= 2 && isKw(tokens[end - 2], 'COLLATE')) {
    collation = tokens[end - 1]!.text;
    end -= 2;
  }
  // A bare (or quoted) name is a column; anything longer is an expression.
  const only = end === 1 ? tokens[0]! : undefined;
  const column = only !== undefined && (only.kind === 'id' || only.kind === 'str') ? only.text : null;
  return { column, collation, desc };
}

export interface IndexDef {
  unique: boolean;
  first: IndexedColumn;
}

/** Parses CREATE [UNIQUE] INDEX ... ON t (first, ...). */
export function parseCreateIndex(sql: string): IndexDef | undefined {
  const tokens = tokenize(sql);
  const on = tokens.findIndex((t) => isKw(t, 'ON'));
  if (on < 0) return undefined;
  const open = tokens.findIndex((t, i) => i > on && t.kind === 'op' && t.text === '(');
  if (open < 0) return undefined;
  const { items } = splitList(tokens, open + 1);
  if (items.length === 0 || items[0]!.length === 0) return undefined;
  return { unique: isKw(tokens[1], 'UNIQUE'), first: parseIndexedColumn(items[0]!) };
}
