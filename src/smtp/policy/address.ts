// Postfix's view of addresses and host names, as the restriction engine needs it:
//  - the internal (unquoted) form of an SMTP path: `"user@remote.test"@example.test`
//    becomes user@remote.test@example.test, a source route `@a,@b:user@c` is dropped
//    (RFC 5321 §4.1.1.3, Postfix smtpd's extract_addr); replies name this form;
//  - valid_hostname(3), valid_hostaddr, valid_mailhost_addr (address literals with an
//    optional IPv6: tag), and dup_if_truncate (one trailing dot removed).
import { isIP } from 'node:net';

/** Split at the last `@` (the domain may be empty; no `@`: the whole text is the local part). */
export function splitAddress(addr: string): { local: string; domain: string; hasAt: boolean } {
  const at = addr.lastIndexOf('@');
  if (at < 0) return { local: addr, domain: '', hasAt: false };
  return { local: addr.slice(0, at), domain: addr.slice(at + 1), hasAt: true };
}

/**
 * The internal form of an address as the client wrote it (with or without `<>`): the
 * source route removed, a quoted local part unquoted. Already-internal text comes back
 * unchanged, so the engine may apply it to whatever the session passes.
 */
export function toInternalAddress(text: string): string {
  let s = text.trim();
  if (s.startsWith('<') && s.endsWith('>')) s = s.slice(1, -1);
  // source route: @host1,@host2:user@domain
  if (s.startsWith('@')) {
    const colon = findRouteEnd(s);
    if (colon > 0) s = s.slice(colon + 1);
  }
  if (!s.includes('"')) return s;
  // unquote "..." segments of the local part (backslash escapes inside quotes)
  let out = '';
  let quoted = false;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i];
    if (ch === '"') {
      quoted = !quoted;
      continue;
    }
    if (ch === '\\' && i + 1 < s.length) {
      out += s[++i];
      continue;
    }
    out += ch;
  }
  return out;
}

/** Index of the `:` that ends a source route, ignoring `:` inside an address literal. */
function findRouteEnd(s: string): number {
  let bracket = false;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i];
    if (ch === '[') bracket = true;
    else if (ch === ']') bracket = false;
    else if (ch === ':' && !bracket) return i;
    else if (ch === '"' || ch === '<') return -1;
  }
  return -1;
}

/** Quote a local part that needs it (RFC 5321 Quoted-string) for the external form. */
export function quoteLocalPart(local: string): string {
  if (/^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*$/.test(local)) return local;
  return '"' + local.replace(/(["\\])/g, '\\$1') + '"';
}

/** The external (quoted where needed) form of an internal address. */
export function toExternalAddress(addr: string): string {
  if (addr === '') return '';
  const { local, domain, hasAt } = splitAddress(addr);
  return hasAt ? `${quoteLocalPart(local)}@${domain}` : quoteLocalPart(local);
}

const VALID_HOSTNAME_LEN = 255;
const VALID_LABEL_LEN = 63;

/**
 * Postfix valid_hostname(): letters, digits, `-` and `_` (accepted, as Postfix does),
 * labels of at most 63 characters without leading/trailing hyphen, no empty label (so no
 * trailing dot), at most 255 characters, and not all-numeric (127.0.0.1 is an address).
 */
export function validHostname(name: string): boolean {
  if (!name || name.length > VALID_HOSTNAME_LEN) return false;
  let labelLength = 0;
  let nonNumeric = false;
  for (let i = 0; i < name.length; i++) {
    const ch = name[i];
    if (/[A-Za-z0-9_]/.test(ch)) {
      labelLength++;
      if (labelLength > VALID_LABEL_LEN) return false;
      if (!/[0-9]/.test(ch)) nonNumeric = true;
    } else if (ch === '.') {
      if (labelLength === 0 || i === name.length - 1) return false;
      labelLength = 0;
    } else if (ch === '-') {
      nonNumeric = true;
      labelLength++;
      if (labelLength === 1 || i === name.length - 1 || name[i + 1] === '.') return false;
    } else {
      return false;
    }
  }
  return nonNumeric;
}

/** valid_hostaddr(): a bare IPv4 or IPv6 address. */
export function validHostaddr(addr: string): boolean {
  return isIP(addr) !== 0;
}

/** valid_mailhost_addr(): the inside of an address literal; IPv6 needs the `IPv6:` tag. */
export function validMailhostAddr(addr: string): boolean {
  if (/^ipv6:/i.test(addr)) return isIP(addr.slice(5)) === 6;
  return isIP(addr) === 4;
}

/** `[1.2.3.4]` / `[IPv6:::1]` → the bare address, or undefined when it is not a valid literal. */
export function literalAddress(domain: string): string | undefined {
  if (!domain.startsWith('[') || !domain.endsWith(']')) return undefined;
  const inner = domain.slice(1, -1);
  if (!validMailhostAddr(inner)) return undefined;
  return inner.replace(/^ipv6:/i, '');
}

/** Postfix dup_if_truncate(): drop one trailing dot, but not from "x.." */
export function truncateDot(name: string): string {
  return name.length > 1 && name.endsWith('.') && name[name.length - 2] !== '.' ? name.slice(0, -1) : name;
}

/** RFC 3463 status code `c.sss.ddd` (c = 2, 4, 5). */
export function validDsn(dsn: string): boolean {
  return /^[245]\.\d{1,3}\.\d{1,3}$/.test(dsn);
}

/** Postfix is_header(): `Name:` with printable name characters. */
export function isHeader(text: string): boolean {
  return /^[\x21-\x39\x3b-\x7e]+:/.test(text);
}

/**
 * Whether an address (internal form) is unusable the way Postfix's smtpd_check_addr
 * finds it: a domain that is neither a valid host name nor a valid address literal
 * (`foo@`, `a@b..c`, `x@[1.2.3]`). The session answers 501 5.1.7 (sender) or 501 5.1.3
 * (recipient) "Bad ... address syntax". An address without a domain is fine (it is
 * qualified with $myorigin), and so is the null sender.
 */
export function addressSyntaxError(addr: string): boolean {
  const { domain, hasAt } = splitAddress(addr);
  if (!hasAt) return false;
  const d = truncateDot(domain);
  if (d.startsWith('[')) return literalAddress(d) === undefined;
  return !validHostname(d);
}
