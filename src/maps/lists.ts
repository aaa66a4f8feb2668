// Postfix "match lists" of domains and networks, as used by mydestination, relay_domains,
// virtual_*_domains (domains) and mynetworks, permit_mx_backup_networks (networks):
// literal patterns, type:table lookups and /file/name (a file of patterns), in order.
// Parent-domain matching follows parent_domain_matches_subdomains: with it, `example.com`
// also matches `sub.example.com`; without it, only `.example.com` does.
import { isIP } from 'node:net';
import type { DomainItem, NetworkItem } from '../config/config.js';
import { cidrContains, parseCidr, splitList, type Cidr } from '../config/values.js';
import { openTable, type OpenTableOptions } from './open.js';
import { ReloadingFile } from './source.js';
import type { LookupTable, TableDiagnostic } from './types.js';

function normDomain(d: string): string {
  return d.toLowerCase().replace(/\.$/, '');
}

function filePatterns(text: string): string[] {
  return text
    .split(/\r?\n/)
    .filter((l) => !/^\s*#/.test(l))
    .flatMap((l) => splitList(l));
}

/** Load problems of a list's tables and files (a literal pattern has none). */
async function checkPatterns(patterns: Array<{ kind: string; table?: LookupTable; file?: ReloadingFile<unknown> }>): Promise<TableDiagnostic[]> {
  const out: TableDiagnostic[] = [];
  for (const p of patterns) {
    try {
      if (p.table) out.push(...(await p.table.check()));
      if (p.file) out.push(...(await p.file.get()).diagnostics);
    } catch (err) {
      out.push({ severity: 'error', file: p.table?.text ?? p.file?.path ?? '', line: 0, message: (err as Error).message });
    }
  }
  return out;
}

type DomainPattern = { kind: 'domain'; domain: string } | { kind: 'table'; table: LookupTable } | { kind: 'file'; file: ReloadingFile<string[]> };

export class DomainList {
  private readonly patterns: DomainPattern[];
  constructor(
    items: DomainItem[],
    /** parent_domain_matches_subdomains lists this feature. */
    readonly parentStyle: boolean,
    tableOpts: OpenTableOptions = {},
  ) {
    this.patterns = items.map((it): DomainPattern => {
      if (it.kind === 'domain') return { kind: 'domain', domain: normDomain(it.domain) };
      if (it.kind === 'table') return { kind: 'table', table: openTable(it.table, tableOpts) };
      return { kind: 'file', file: new ReloadingFile(it.path, (t) => ({ value: filePatterns(t).map(normDomain), diagnostics: [] })) };
    });
  }

  get empty(): boolean {
    return this.patterns.length === 0;
  }

  private matchLiteral(pattern: string, domain: string): boolean {
    if (pattern.startsWith('.')) return domain.endsWith(pattern);
    if (domain === pattern) return true;
    return this.parentStyle && domain.endsWith('.' + pattern);
  }

  private async matchTable(t: LookupTable, domain: string): Promise<boolean> {
    if ((await t.lookup(domain)) !== undefined) return true;
    if (!t.fixed || domain.startsWith('[')) return false;
    for (let i = domain.indexOf('.'); i >= 0; i = domain.indexOf('.', i + 1)) {
      const key = this.parentStyle ? domain.slice(i + 1) : domain.slice(i);
      if (key && (await t.lookup(key)) !== undefined) return true;
    }
    return false;
  }

  /** Whether `domain` matches; rejects with TableError when a table cannot answer. */
  async match(domain: string): Promise<boolean> {
    const d = normDomain(domain);
    for (const p of this.patterns) {
      if (p.kind === 'domain') {
        if (this.matchLiteral(p.domain, d)) return true;
      } else if (p.kind === 'table') {
        if (await this.matchTable(p.table, d)) return true;
      } else {
        for (const pat of (await p.file.get()).value) if (this.matchLiteral(pat, d)) return true;
      }
    }
    return false;
  }

  check(): Promise<TableDiagnostic[]> {
    return checkPatterns(this.patterns);
  }
}

type NetPattern = { kind: 'cidr'; cidr: Cidr } | { kind: 'table'; table: LookupTable } | { kind: 'file'; file: ReloadingFile<Cidr[]> };

export class NetworkList {
  private readonly patterns: NetPattern[];
  constructor(items: NetworkItem[], tableOpts: OpenTableOptions = {}) {
    this.patterns = items.map((it): NetPattern => {
      if (it.kind === 'cidr') return { kind: 'cidr', cidr: it.cidr };
      if (it.kind === 'table') return { kind: 'table', table: openTable(it.table, tableOpts) };
      return {
        kind: 'file',
        file: new ReloadingFile(it.path, (t, path) => {
          const value: Cidr[] = [];
          const diagnostics: TableDiagnostic[] = [];
          for (const pat of filePatterns(t)) {
            try {
              value.push(parseCidr(pat));
            } catch (err) {
              diagnostics.push({ severity: 'error', file: path, line: 0, message: (err as Error).message });
            }
          }
          return { value, diagnostics };
        }),
      };
    });
  }

  get empty(): boolean {
    return this.patterns.length === 0;
  }

  /** Whether the client `ip` (or its verified `name`, for table patterns) matches. */
  async match(ip: string, name?: string): Promise<boolean> {
    if (isIP(ip) === 0) return false;
    for (const p of this.patterns) {
      if (p.kind === 'cidr') {
        if (cidrContains(p.cidr, ip)) return true;
      } else if (p.kind === 'table') {
        if (name && name !== 'unknown' && p.table.fixed && (await p.table.lookup(name.toLowerCase())) !== undefined) return true;
        if ((await p.table.lookup(ip)) !== undefined) return true;
      } else {
        for (const c of (await p.file.get()).value) if (cidrContains(c, ip)) return true;
      }
    }
    return false;
  }

  check(): Promise<TableDiagnostic[]> {
    return checkPatterns(this.patterns);
  }
}
