// cidr: tables (cidr_table(5)): `network/prefix result`, a bare address (= host route),
// `!network result` (negation), `if network` … `endif` blocks. The first match in file
// order wins; the key must be an IP address.
import { isIP } from 'node:net';
import { cidrContains, parseCidr, ValueError, type Cidr } from '../config/values.js';
import { logicalLines, ReloadingFile } from './source.js';
import type { LookupTable, TableDiagnostic } from './types.js';

type CidrRule =
  | { kind: 'match'; net: Cidr; negate: boolean; result: string }
  | { kind: 'if'; net: Cidr; negate: boolean; body: CidrRule[] };

function parseNet(s: string): Cidr {
  // accept [v6]/len and v6/len
  return parseCidr(s);
}

export function parseCidrTable(text: string, file: string): { value: CidrRule[]; diagnostics: TableDiagnostic[] } {
  const diagnostics: TableDiagnostic[] = [];
  const root: CidrRule[] = [];
  const stack: { rules: CidrRule[]; line: number }[] = [{ rules: root, line: 0 }];
  for (const { line, text: l } of logicalLines(text)) {
    const top = stack[stack.length - 1].rules;
    if (/^endif\b/i.test(l)) {
      if (stack.length === 1) diagnostics.push({ severity: 'warning', file, line, message: 'ignoring ENDIF without matching IF' });
      else stack.pop();
      continue;
    }
    const ifm = /^if\s+(!?)(\S+)\s*$/i.exec(l);
    if (ifm) {
      try {
        const rule: CidrRule = { kind: 'if', net: parseNet(ifm[2]), negate: ifm[1] === '!', body: [] };
        top.push(rule);
        stack.push({ rules: rule.body, line });
      } catch (err) {
        diagnostics.push({ severity: 'error', file, line, message: (err as Error).message + ' (skipping this IF block)' });
        // skip the block: collect into a throwaway list
        stack.push({ rules: [], line });
      }
      continue;
    }
    const m = /^(!?)(\S+)\s+(\S[\s\S]*)$/.exec(l);
    if (!m) {
      diagnostics.push({ severity: 'error', file, line, message: `expected "network/prefix result", got "${l}"` });
      continue;
    }
    try {
      top.push({ kind: 'match', net: parseNet(m[2]), negate: m[1] === '!', result: m[3].trim() });
    } catch (err) {
      const msg = err instanceof ValueError ? err.message : String(err);
      diagnostics.push({ severity: 'error', file, line, message: `${msg} (skipping this rule)` });
    }
  }
  for (const open of stack.slice(1)) diagnostics.push({ severity: 'warning', file, line: open.line, message: 'IF has no matching ENDIF' });
  return { value: root, diagnostics };
}

function matchRules(rules: CidrRule[], ip: string): string | undefined {
  for (const r of rules) {
    const hit = cidrContains(r.net, ip) !== r.negate;
    if (!hit) continue;
    if (r.kind === 'match') return r.result;
    const inner = matchRules(r.body, ip);
    if (inner !== undefined) return inner;
  }
  return undefined;
}

export class CidrTable implements LookupTable {
  readonly type = 'cidr';
  readonly fixed = false;
  private readonly file: ReloadingFile<CidrRule[]>;
  constructor(readonly text: string, path: string) {
    this.file = new ReloadingFile(path, parseCidrTable);
  }
  async lookup(key: string): Promise<string | undefined> {
    const ip = key.startsWith('[') && key.endsWith(']') ? key.slice(1, -1) : key;
    if (isIP(ip.replace(/^ipv6:/i, '')) === 0) return undefined;
    return matchRules((await this.file.get()).value, ip.replace(/^ipv6:/i, ''));
  }
  async check(): Promise<TableDiagnostic[]> {
    return (await this.file.get()).diagnostics;
  }
}
