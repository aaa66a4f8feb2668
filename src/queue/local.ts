// Which recipients of queued mail are local (delivered by the LocalDeliveryAgent,
// not through the network): domains in mydestination, virtual_mailbox_domains and
// virtual_alias_domains (postconf(5)). Domain names, `.parent` patterns, /file/name
// lists and texthash-style tables (their keys) are understood. The server assembly may
// pass a better predicate (one that also knows the user database's domains).
import { readFileSync } from 'node:fs';
import type { Config, DomainItem } from '../config/config.js';
import { parseTableSource } from '../smtp/client/passwords.js';

function domainsOf(item: DomainItem): string[] {
  if (item.kind === 'domain') return [item.domain];
  try {
    if (item.kind === 'file') return readFileSync(item.path, 'utf8').split(/[\s,]+/).filter((x) => x && !x.startsWith('#'));
    if (['texthash', 'hash', 'btree', 'lmdb', 'cdb'].includes(item.table.type)) return [...parseTableSource(readFileSync(item.table.name, 'utf8')).keys()];
  } catch {
    // an unreadable table is reported by `config check`
  }
  return [];
}

/** The domain of an address, lower-cased ('' for a bare local part). */
export function domainOf(address: string): string {
  const at = address.lastIndexOf('@');
  return at < 0 ? '' : address.slice(at + 1).toLowerCase().replace(/\.$/, '');
}

export function localDomainMatcher(config: Config): (address: string) => boolean {
  const exact = new Set<string>();
  const parents: string[] = [];
  for (const param of ['mydestination', 'virtual_mailbox_domains', 'virtual_alias_domains']) {
    let items: DomainItem[];
    try {
      items = config.domains(param);
    } catch {
      continue;
    }
    for (const item of items) {
      for (const d of domainsOf(item)) {
        const n = d.toLowerCase().replace(/\.$/, '');
        if (n.startsWith('.')) parents.push(n);
        else exact.add(n);
      }
    }
  }
  return (address: string) => {
    const d = domainOf(address);
    // an address without a domain is local (Postfix appends $myorigin, which is local by default)
    if (!d) return true;
    if (exact.has(d)) return true;
    return parents.some((p) => d.endsWith(p));
  };
}
