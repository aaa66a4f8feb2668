// aliases(5): `name: target, target, …` with continuation lines. Targets are
// addresses, "|command", /file/name and :include:/file. facteur delivers to addresses
// only; pipes and files are reported as unsupported targets (the delivery room decides
// what to do with them: bounce with a clear reason), never silently dropped.
import { readFile } from 'node:fs/promises';
import { isAbsolute, resolve as resolvePath } from 'node:path';
import { FileHashTable, parseMapSource } from './hash.js';
import type { LookupTable, TableDiagnostic } from './types.js';

export type AliasTarget =
  | { kind: 'address'; address: string }
  | { kind: 'pipe'; command: string; unsupported: string }
  | { kind: 'file'; path: string; unsupported: string }
  | { kind: 'include'; path: string };

/** Split an alias value at commas outside quotes; `"|cmd, with comma"` stays whole. */
export function splitAliasValue(value: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const ch = value[i];
    if (ch === '\\' && quoted && i + 1 < value.length) {
      cur += ch + value[++i];
      continue;
    }
    if (ch === '"') quoted = !quoted;
    if (ch === ',' && !quoted) {
      if (cur.trim()) out.push(cur.trim());
      cur = '';
      continue;
    }
    cur += ch;
  }
  if (cur.trim()) out.push(cur.trim());
  return out;
}

function unquote(s: string): string {
  return s.startsWith('"') && s.endsWith('"') && s.length >= 2 ? s.slice(1, -1).replace(/\\(.)/g, '$1') : s;
}

/** Classify each element of an alias value (local(8) "ALIAS EXPANSION"). */
export function parseAliasTargets(value: string): AliasTarget[] {
  const out: AliasTarget[] = [];
  for (const raw of splitAliasValue(value)) {
    const t = unquote(raw);
    if (t.startsWith('|')) {
      out.push({ kind: 'pipe', command: t.slice(1).trim(), unsupported: 'delivery to a command is not supported by facteur' });
    } else if (/^:include:/i.test(t)) {
      out.push({ kind: 'include', path: t.slice(':include:'.length).trim() });
    } else if (t.startsWith('/')) {
      // Postfix: a name ending in / is a Maildir, otherwise an mbox file
      out.push({ kind: 'file', path: t, unsupported: 'delivery to a file named in an alias is not supported by facteur' });
    } else {
      // a quoted local part like "first last"@domain keeps its quotes in the address
      out.push({ kind: 'address', address: raw.startsWith('"') && raw.endsWith('"') ? t : raw });
    }
  }
  return out;
}

/** Read an :include: file: targets separated by commas and/or newlines, `#` comments. */
export async function readIncludeFile(path: string, baseDir = '/'): Promise<AliasTarget[]> {
  const p = isAbsolute(path) ? path : resolvePath(baseDir, path);
  const text = await readFile(p, 'utf8');
  const lines = text
    .split(/\r?\n/)
    .filter((l) => !/^\s*#/.test(l))
    .join(',');
  return parseAliasTargets(lines);
}

/** Parse aliases(5) text into name → raw value (first entry of a duplicate name wins). */
export function parseAliases(text: string, file: string): { value: Map<string, string>; diagnostics: TableDiagnostic[] } {
  return parseMapSource(text, file, 'aliases');
}

/** An alias table: lookup gives the raw value; `expand` gives its targets. */
export class AliasTable {
  constructor(readonly table: LookupTable) {}
  /** Targets of `name` (local part, case-insensitive), or undefined when there is no alias. */
  async expand(name: string): Promise<AliasTarget[] | undefined> {
    const v = await this.table.lookup(name.toLowerCase());
    return v === undefined ? undefined : parseAliasTargets(v);
  }
  /** Load problems plus every unsupported target, for `config check`. */
  async check(): Promise<TableDiagnostic[]> {
    const diags = [...(await this.table.check())];
    if (this.table instanceof FileHashTable) {
      for (const key of await this.table.keys()) {
        const targets = (await this.expand(key)) ?? [];
        for (const t of targets) {
          if (t.kind === 'pipe' || t.kind === 'file') {
            diags.push({ severity: 'warning', file: this.table.text, line: 0, message: `alias "${key}": ${t.unsupported}: ${t.kind === 'pipe' ? '|' + t.command : t.path}` });
          }
        }
      }
    }
    return diags;
  }
}
