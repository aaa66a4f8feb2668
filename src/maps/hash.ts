// texthash: and the indexed types whose source file we read instead of the .db/.cdb/.lmdb
// (hash:, btree:, lmdb:, cdb:): users paste `hash:/etc/postfix/access` and mean the
// file they edit, postmap(1) format `key whitespace value`. With format 'aliases' the
// file is read as aliases(5) (`name: value, value`), as postalias(1)/newaliases do.
// Keys are case-insensitive (Postfix's DICT_FLAG_FOLD_FIX); the first of duplicate keys wins.
import { logicalLines, ReloadingFile } from './source.js';
import type { LookupTable, TableDiagnostic, TableFormat } from './types.js';

export function parseMapSource(text: string, file: string, format: TableFormat = 'map'): { value: Map<string, string>; diagnostics: TableDiagnostic[] } {
  const entries = new Map<string, string>();
  const diagnostics: TableDiagnostic[] = [];
  for (const { line, text: l } of logicalLines(text)) {
    let key: string;
    let value: string;
    if (format === 'aliases') {
      const parsed = splitAliasLine(l);
      if (!parsed) {
        diagnostics.push({ severity: 'warning', file, line, message: `need name:value pair, got "${l}"` });
        continue;
      }
      ({ key, value } = parsed);
    } else {
      const m = /^(\S+)\s+(\S[\s\S]*)$/.exec(l);
      if (!m) {
        diagnostics.push({ severity: 'warning', file, line, message: `expected format: key whitespace value, got "${l}"` });
        continue;
      }
      key = m[1];
      value = m[2].trim();
    }
    key = key.toLowerCase();
    if (entries.has(key)) {
      diagnostics.push({ severity: 'warning', file, line, message: `duplicate entry "${key}" (the first one is used)` });
      continue;
    }
    entries.set(key, value);
  }
  return { value: entries, diagnostics };
}

/** `name: value` of aliases(5); the name may be quoted ("a b": ...). */
function splitAliasLine(l: string): { key: string; value: string } | undefined {
  let key: string;
  let rest: string;
  if (l.startsWith('"')) {
    const end = l.indexOf('"', 1);
    if (end < 0) return undefined;
    key = l.slice(1, end);
    rest = l.slice(end + 1).trimStart();
    if (!rest.startsWith(':')) return undefined;
    rest = rest.slice(1);
  } else {
    const colon = l.indexOf(':');
    if (colon <= 0) return undefined;
    key = l.slice(0, colon).trim();
    if (/\s/.test(key)) return undefined;
    rest = l.slice(colon + 1);
  }
  const value = rest.trim();
  if (!key || !value) return undefined;
  return { key, value };
}

export class FileHashTable implements LookupTable {
  readonly fixed = true;
  private readonly file: ReloadingFile<Map<string, string>>;
  constructor(
    readonly type: string,
    readonly text: string,
    path: string,
    format: TableFormat = 'map',
  ) {
    this.file = new ReloadingFile(path, (t, p) => parseMapSource(t, p, format));
  }
  async lookup(key: string): Promise<string | undefined> {
    const { value } = await this.file.get();
    return value.get(key.toLowerCase());
  }
  async check(): Promise<TableDiagnostic[]> {
    return (await this.file.get()).diagnostics;
  }
  /** Every key (for tools that list a table). */
  async keys(): Promise<string[]> {
    return [...(await this.file.get()).value.keys()];
  }
}
