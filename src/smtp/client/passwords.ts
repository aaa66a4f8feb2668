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
