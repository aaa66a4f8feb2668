// smtp_sasl_password_maps: credentials for the relayhost, `[host]:port user:password`
// per line (postconf(5), SASL_README "Enabling SASL authentication in the Postfix SMTP
// client"), looked up in any table type src/maps knows.
import type { TableRef } from '../../config/values.js';
import { openTable, type TableCache } from '../../maps/index.js';
import type { NextHop } from './types.js';

export interface SaslCredentials {
  user: string;
  password: string;
}

/** Parse a postmap source file: `key value`, `#` comments, leading-whitespace continuations. */
export function parseTableSource(text: string): Map<string, string> {
  const out = new Map<string, string>();
  let cur: string | undefined;
  const flush = () => {
    if (cur === undefined) return;
    const m = /^(\S+)\s+(.*)$/.exec(cur.trim());
    if (m && !out.has(m[1].toLowerCase())) out.set(m[1].toLowerCase(), m[2].trim());
    cur = undefined;
  };
  for (const line of text.split(/\r?\n/)) {
    if (/^\s*#/.test(line) || /^\s*$/.test(line)) continue;
    if (/^\s/.test(line) && cur !== undefined) cur += ' ' + line.trim();
    else {
      flush();
      cur = line;
    }
  }
  flush();
  return out;
}

/** Keys tried for a next hop, most specific first (Postfix: the next-hop as written, then the host). */
export function credentialKeys(hop: NextHop): string[] {
  const keys = [hop.name, `[${hop.host}]:${hop.port}`, `[${hop.host}]`, `${hop.host}:${hop.port}`, hop.host];
  return [...new Set(keys.map((k) => k.toLowerCase()))];
}

export async function lookupCredentials(tables: TableRef[], hop: NextHop, cache?: TableCache): Promise<SaslCredentials | undefined> {
  for (const ref of tables) {
    const table = openTable(ref, { cache });
    for (const k of credentialKeys(hop)) {
      let v: string | undefined;
      try {
        v = await table.lookup(k);
      } catch {
        break; // an unreadable table is reported by `config check`; try the next one
      }
      if (v === undefined) continue;
      const i = v.indexOf(':');
      return i < 0 ? { user: v, password: '' } : { user: v.slice(0, i), password: v.slice(i + 1) };
    }
  }
  return undefined;
}
