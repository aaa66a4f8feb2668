// Tables that live in the configuration value itself or need no file of their own:
// inline:{ key=value, { key = text } } (Postfix 3.0), static:value, fail:name, and the
// system's unix:passwd.byname / unix:group.byname.
import { ReloadingFile } from './source.js';
import { TableError, type LookupTable, type TableDiagnostic } from './types.js';

/** Split `a=b, { c = d e }` at top-level commas/whitespace, keeping braced groups whole. */
export function splitBraced(s: string): string[] {
  const out: string[] = [];
  let cur = '';
  let depth = 0;
  for (const ch of s) {
    if (ch === '{') depth++;
    else if (ch === '}' && depth > 0) depth--;
    if (depth === 0 && /[\s,]/.test(ch)) {
      if (cur) out.push(cur);
      cur = '';
      continue;
    }
    cur += ch;
  }
  if (cur) out.push(cur);
  return out;
}

/** `{ text }` → `text` (Postfix extpar: braces group text with whitespace). */
export function unbrace(s: string): string {
  const t = s.trim();
  return t.startsWith('{') && t.endsWith('}') ? t.slice(1, -1).trim() : t;
}

export class InlineTable implements LookupTable {
  readonly type = 'inline';
  readonly fixed = true;
  private readonly entries = new Map<string, string>();
  private readonly diagnostics: TableDiagnostic[] = [];
  constructor(readonly text: string, body: string) {
    const inner = unbrace(body);
    for (const el of splitBraced(inner)) {
      const braced = el.startsWith('{');
      const item = braced ? unbrace(el) : el;
      const eq = item.indexOf('=');
      if (eq <= 0) {
        this.diagnostics.push({ severity: 'error', file: text, line: 0, message: `bad inline table element "${el}" (expected key=value or { key = value })` });
        continue;
      }
      const key = (braced ? item.slice(0, eq).trim() : item.slice(0, eq)).toLowerCase();
      const value = braced ? item.slice(eq + 1).trim() : item.slice(eq + 1);
      if (!key || /\s/.test(key)) {
        this.diagnostics.push({ severity: 'error', file: text, line: 0, message: `bad inline table key in "${el}"` });
        continue;
      }
      if (!this.entries.has(key)) this.entries.set(key, value);
    }
  }
  async lookup(key: string): Promise<string | undefined> {
    return this.entries.get(key.toLowerCase());
  }
  async check(): Promise<TableDiagnostic[]> {
    return this.diagnostics;
  }
}

/** static:value — every key finds the same value. */
export class StaticTable implements LookupTable {
  readonly type = 'static';
  readonly fixed = true;
  private readonly value: string;
  constructor(readonly text: string, body: string) {
    this.value = unbrace(body);
  }
  async lookup(): Promise<string | undefined> {
    return this.value;
  }
  async check(): Promise<TableDiagnostic[]> {
    return [];
  }
}

/** fail:name — every lookup fails (for tests and for taking a table out of service). */
export class FailTable implements LookupTable {
  readonly type = 'fail';
  readonly fixed = true;
  constructor(readonly text: string) {}
  async lookup(): Promise<string | undefined> {
    throw new TableError(`${this.text}: table lookup failed (fail: table)`);
  }
  async check(): Promise<TableDiagnostic[]> {
    return [];
  }
}

/** unix:passwd.byname (key: login name, value: the passwd line) and unix:group.byname. */
export class UnixTable implements LookupTable {
  readonly type = 'unix';
  readonly fixed = true;
  private readonly file: ReloadingFile<Map<string, string>>;
  constructor(
    readonly text: string,
    map: string,
    paths: { passwd?: string; group?: string } = {},
  ) {
    let path: string;
    if (map === 'passwd.byname') path = paths.passwd ?? '/etc/passwd';
    else if (map === 'group.byname') path = paths.group ?? '/etc/group';
    else throw new TableError(`unsupported unix table "${map}" (supported: passwd.byname, group.byname)`, false);
    this.file = new ReloadingFile(path, (t) => {
      const m = new Map<string, string>();
      for (const line of t.split('\n')) {
        const name = line.split(':')[0];
        if (name && !line.startsWith('#') && !m.has(name)) m.set(name, line);
      }
      return { value: m, diagnostics: [] };
    });
  }
  async lookup(key: string): Promise<string | undefined> {
    // login names are case-sensitive; Postfix asks with the lowercased local part
    return (await this.file.get()).value.get(key);
  }
  async check(): Promise<TableDiagnostic[]> {
    return (await this.file.get()).diagnostics;
  }
}

/**
 * passwd-file:PATH (Dovecot's user database format `user:password:uid:gid:gecos:home:shell:extra`)
 * as a lookup table: the key is the user name (case-insensitive), the value the whole line.
 */
export class PasswdFileTable implements LookupTable {
  readonly type = 'passwd-file';
  readonly fixed = true;
  private readonly file: ReloadingFile<Map<string, string>>;
  constructor(readonly text: string, path: string) {
    this.file = new ReloadingFile(path, (t) => {
      const m = new Map<string, string>();
      for (const line of t.split(/\r?\n/)) {
        if (!line || line.startsWith('#')) continue;
        const name = line.split(':')[0].toLowerCase();
        if (name && !m.has(name)) m.set(name, line);
      }
      return { value: m, diagnostics: [] };
    });
  }
  async lookup(key: string): Promise<string | undefined> {
    return (await this.file.get()).value.get(key.toLowerCase());
  }
  async check(): Promise<TableDiagnostic[]> {
    return (await this.file.get()).diagnostics;
  }
}
