// Address lookups in tables, in Postfix's orders:
//  - mailAddrFind (mail_addr_find(3), used for smtpd_sender_login_maps, virtual_alias_maps,
//    relay_recipient_maps …): user+ext@domain, user@domain, user+ext and user (only when
//    the domain is local), @domain.
//  - splitExtension: recipient_delimiter handling (each character of the parameter is a
//    delimiter; owner-foo and foo-request keep their "-").
import type { TableList } from './open.js';

export interface AddressExtension {
  /** The local part without the extension. */
  base: string;
  /** The extension without its delimiter, or undefined. */
  extension?: string;
  /** The delimiter character that was used. */
  delimiter?: string;
}

/** Split `local` at the first recipient_delimiter character. */
export function splitExtension(local: string, delimiters: string): AddressExtension {
  if (!delimiters) return { base: local };
  for (let i = 1; i < local.length; i++) {
    const ch = local[i];
    if (!delimiters.includes(ch)) continue;
    // Postfix: owner-list and list-request are not extensions when the delimiter is "-"
    if (ch === '-') {
      const lower = local.toLowerCase();
      if (lower.startsWith('owner-') && i === 5) continue;
      if (lower.endsWith('-request') && i === local.length - 8) continue;
    }
    return { base: local.slice(0, i), extension: local.slice(i + 1), delimiter: ch };
  }
  return { base: local };
}

/** `user+ext@domain` → `user@domain` (or undefined when there is no extension). */
export function stripExtension(address: string, delimiters: string): string | undefined {
  const at = address.lastIndexOf('@');
  const local = at < 0 ? address : address.slice(0, at);
  const { extension, base } = splitExtension(local, delimiters);
  if (extension === undefined) return undefined;
  return at < 0 ? base : base + address.slice(at);
}

export interface MailAddrFindOptions {
  /** recipient_delimiter */
  delimiters?: string;
  /** Whether the domain is local (mydestination, inet_interfaces): enables bare `user` keys. */
  isLocalDomain?: (domain: string) => boolean | Promise<boolean>;
}

/** Postfix mail_addr_find(): the first key that a table answers, and its value. */
export async function mailAddrFind(maps: TableList, address: string, opts: MailAddrFindOptions = {}): Promise<{ key: string; value: string } | undefined> {
  const addr = address.toLowerCase();
  const at = addr.lastIndexOf('@');
  const local = at < 0 ? addr : addr.slice(0, at);
  const domain = at < 0 ? '' : addr.slice(at + 1);
  const { base, extension } = splitExtension(local, opts.delimiters ?? '');
  const tries: { key: string; partial: boolean }[] = [];
  if (at >= 0) {
    tries.push({ key: addr, partial: false });
    if (extension !== undefined) tries.push({ key: `${base}@${domain}`, partial: true });
    if (opts.isLocalDomain && (await opts.isLocalDomain(domain))) {
      tries.push({ key: local, partial: true });
      if (extension !== undefined) tries.push({ key: base, partial: true });
    }
    tries.push({ key: '@' + domain, partial: true });
  } else {
    tries.push({ key: local, partial: false });
    if (extension !== undefined) tries.push({ key: base, partial: true });
  }
  for (const t of tries) {
    const value = await maps.lookup(t.key, t.partial);
    if (value !== undefined) return { key: t.key, value };
  }
  return undefined;
}

/**
 * Access-table search (access(5)): try `keys` in order and return the first one the table
 * has. A found value ends the search whatever it says: DUNNO means "stop looking in this
 * table" (so a more general key after it is not used). `partial` keys (parent domains,
 * address prefixes, user@) are only asked of fixed tables, never of regexp/pcre/cidr.
 */
export async function findFirst(table: { fixed: boolean; lookup(key: string): Promise<string | undefined> }, keys: { key: string; partial?: boolean }[]): Promise<{ key: string; value: string } | undefined> {
  for (const { key, partial } of keys) {
    if (partial && !table.fixed) continue;
    const value = await table.lookup(key);
    if (value !== undefined) return { key, value };
  }
  return undefined;
}

/** An access-table value that means "no decision here" (DUNNO, any case, optional text). */
export function isDunno(value: string): boolean {
  return /^dunno(\s|$)/i.test(value);
}
