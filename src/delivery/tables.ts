// The small lookup tables local delivery needs, read from their source files (no postmap /
// newaliases step): aliases(5) files for alias_maps, and `key value` files (texthash:, the
// source of hash:) for domain lists and virtual_alias_maps. Files are re-read when their
// mtime changes (checked at most once a second).
import { readFileSync, statSync } from 'node:fs';
import type { TableRef } from '../config/values.js';
import { logger } from '../log.js';

const log = logger('local');

export type TableKind = 'aliases' | 'map';

/** A loaded table: lower-cased keys → values (for aliases: the list of targets). */
export interface LoadedTable {
  get(key: string): string[] | undefined;
  keys(): IterableIterator<string>;
}

class FileTable implements LoadedTable {
  private entries = new Map<string, string[]>();
  private mtimeMs = -1;
  private checkedAt = 0;
  private lastError: TableError | undefined;

  constructor(
    readonly path: string,
    readonly kind: TableKind,
  ) {
    this.refresh(true);
  }

  private refresh(force = false): void {
    const now = Date.now();
    if (!force && now - this.checkedAt < 1000) {
      if (this.lastError) throw this.lastError;
      return;
    }
    this.checkedAt = now;
    let mtime: number;
    try {
      mtime = statSync(this.path).mtimeMs;
    } catch (err) {
      if (this.mtimeMs !== -2) log.warn(`cannot read table ${this.path}: ${(err as Error).message}`);
      this.mtimeMs = -2;
      this.entries = new Map();
      this.lastError = new TableError(`${this.path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      throw this.lastError;
    }
    this.lastError = undefined;
    if (mtime === this.mtimeMs) return;
    const text = readFileSync(this.path, 'utf8');
    this.entries = this.kind === 'aliases' ? parseAliases(text, this.path) : parseMap(text);
    this.mtimeMs = mtime;
  }

  get(key: string): string[] | undefined {
    this.refresh();
    return this.entries.get(key.toLowerCase());
  }
  keys(): IterableIterator<string> {
    this.refresh();
    return this.entries.keys();
  }
}

class MemoryTable implements LoadedTable {
  constructor(private readonly entries: Map<string, string[]>) {}
  get(key: string): string[] | undefined {
    return this.entries.get(key.toLowerCase());
  }
  keys(): IterableIterator<string> {
    return this.entries.keys();
  }
}

/** A table could not be read: lookups through it are temporary failures (4xx), never "unknown". */
export class TableError extends Error {}

/** Split an alias right-hand side on commas outside quotes. */
export function splitTargets(value: string): string[] {
  const out: string[] = [];
  let cur = '';
  let q = false;
  for (let i = 0; i < value.length; i++) {
    const c = value[i];
    if (c === '"') q = !q;
    if (c === '\\' && q && i + 1 < value.length) {
      cur += c + value[++i];
      continue;
    }
    if (c === ',' && !q) {
      if (cur.trim()) out.push(cur.trim());
      cur = '';
    } else cur += c;
  }
  if (cur.trim()) out.push(cur.trim());
  return out;
}

/** aliases(5): `name: target, target`, continuation lines start with whitespace, # comments. */
export function parseAliases(text: string, file = 'aliases'): Map<string, string[]> {
  const map = new Map<string, string[]>();
  const logical: Array<{ line: number; text: string }> = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    if (/^\s*#/.test(raw) || raw.trim() === '') return;
    if (/^\s/.test(raw) && logical.length > 0) logical[logical.length - 1].text += ' ' + raw.trim();
    else logical.push({ line: i + 1, text: raw.trim() });
  });
  for (const { line, text: l } of logical) {
    let name: string;
    let rest: string;
    if (l.startsWith('"')) {
      const end = l.indexOf('"', 1);
      if (end < 0 || l[end + 1] !== ':') {
        log.warn(`${file}:${line}: syntax error, entry ignored`);
        continue;
      }
      name = l.slice(1, end);
      rest = l.slice(end + 2);
    } else {
      const colon = l.indexOf(':');
      if (colon <= 0) {
        log.warn(`${file}:${line}: missing colon, entry ignored`);
        continue;
      }
      name = l.slice(0, colon).trim();
      rest = l.slice(colon + 1);
    }
    map.set(name.toLowerCase(), splitTargets(rest));
  }
  return map;
}

/** `key value` lines (postmap source / texthash); the value may be a comma-separated list. */
export function parseMap(text: string): Map<string, string[]> {
  const map = new Map<string, string[]>();
  const lines: string[] = [];
  for (const raw of text.split(/\r?\n/)) {
    if (/^\s*#/.test(raw) || raw.trim() === '') continue;
    if (/^\s/.test(raw) && lines.length > 0) lines[lines.length - 1] += ' ' + raw.trim();
    else lines.push(raw.trim());
  }
  for (const l of lines) {
    const m = /^(\S+)(?:\s+(.*))?$/.exec(l);
    if (!m) continue;
    map.set(m[1].toLowerCase(), splitTargets(m[2] ?? ''));
  }
  return map;
}

/** `inline:{ key=value, { key = value with, commas } }` */
export function parseInline(body: string): Map<string, string[]> {
  const map = new Map<string, string[]>();
  let s = body.trim();
  if (s.startsWith('{') && s.endsWith('}')) s = s.slice(1, -1);
  const items: string[] = [];
  let depth = 0;
  let cur = '';
  for (const c of s) {
    if (c === '{') depth++;
    else if (c === '}') depth--;
    if (c === ',' && depth === 0) {
      if (cur.trim()) items.push(cur.trim());
      cur = '';
      continue;
    }
    cur += c;
  }
  if (cur.trim()) items.push(cur.trim());
  const flat = items.flatMap((i) => (/^[^{\s=]+=\S+(\s+[^{\s=]+=\S+)+$/.test(i) ? i.split(/\s+/) : [i]));
  for (let item of flat) {
    if (item.startsWith('{') && item.endsWith('}')) item = item.slice(1, -1);
    const eq = item.indexOf('=');
    if (eq <= 0) continue;
    map.set(item.slice(0, eq).trim().toLowerCase(), splitTargets(item.slice(eq + 1)));
  }
  return map;
}

const cache = new Map<string, LoadedTable>();

/** Open a table reference from the configuration (`hash:/etc/aliases`, `texthash:/x`, `inline:{…}`). */
export function openTable(ref: TableRef, kind: TableKind): LoadedTable {
  if (ref.type === 'inline') return new MemoryTable(parseInline(ref.name));
  if (!['hash', 'btree', 'lmdb', 'cdb', 'texthash', 'dbm'].includes(ref.type)) {
    throw new TableError(`unsupported table type ${ref.type}: for ${kind === 'aliases' ? 'alias_maps' : 'this parameter'} use hash:, texthash: or inline:`);
  }
  const key = `${kind}:${ref.name}`;
  let t = cache.get(key);
  if (!t) {
    try {
      t = new FileTable(ref.name, kind);
    } catch (err) {
      // keep the table: it re-checks the file and reports temporary failures until it is readable
      if (!(err instanceof TableError)) throw err;
      t = new LazyTable(ref.name, kind);
    }
    cache.set(key, t);
  }
  return t;
}

/** A table whose file was unreadable at start; becomes a FileTable once it can be read. */
class LazyTable implements LoadedTable {
  private inner: FileTable | undefined;
  constructor(
    private readonly path: string,
    private readonly kind: TableKind,
  ) {}
  private table(): FileTable {
    if (!this.inner) this.inner = new FileTable(this.path, this.kind);
    return this.inner;
  }
  get(key: string): string[] | undefined {
    return this.table().get(key);
  }
  keys(): IterableIterator<string> {
    return this.table().keys();
  }
}

/** Forget cached tables (tests). */
export function clearTableCache(): void {
  cache.clear();
}
