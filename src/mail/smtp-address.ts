// RFC 5321 §4.1.2 paths as an SMTP server receives them in MAIL FROM / RCPT TO / VRFY,
// read the way Postfix's smtpd reads them (extract_addr): optional <>, a source route
// `@a,@b:` is dropped (RFC 5321 §4.1.1.3 "MUST ... ignore"), a quoted local part is
// unquoted into the internal form (`"user@x"@y` → `user@x@y`), the domain is the part after
// the last `@`. RFC 6531 (SMTPUTF8) allows UTF-8 in the domain; 8-bit local parts are
// accepted as Postfix does.
import { isIP } from 'node:net';

export interface SmtpPath {
  /** Internal (unquoted) form, as Postfix shows it in replies: `user@remote.test@example.test`. '' is the null path. */
  address: string;
  /** Local part, unquoted. */
  local: string;
  /** Domain as written ('' when the address has no @). */
  domain: string;
  /** The path had a source route that was dropped. */
  routed: boolean;
}

export type PathResult = { ok: true; path: SmtpPath } | { ok: false; reason: string };

export interface PathOptions {
  /** MAIL FROM:<> is allowed; RCPT TO:<> is not. */
  allowEmpty: boolean;
  /** strict_rfc821_envelopes: require <> and nothing else. */
  strict?: boolean;
  /** SMTPUTF8 was declared: UTF-8 domains allowed. */
  smtputf8?: boolean;
}

const SPECIALS_UNQUOTED = /[\s()<>,;:\\"[\]\x00-\x1f\x7f]/;

/** Parse the path token of MAIL/RCPT (with or without angle brackets). */
export function parsePath(token: string, opts: PathOptions): PathResult {
  let text = token;
  const bracketed = text.startsWith('<') && text.endsWith('>') && text.length >= 2;
  if (bracketed) text = text.slice(1, -1);
  else if (opts.strict) return { ok: false, reason: 'missing <>' };
  else if (text.startsWith('<') || text.endsWith('>')) return { ok: false, reason: 'unbalanced <>' };
  let routed = false;
  // RFC 5321 §4.1.1.3 / C: "@one,@two:user@three" — the route is ignored.
  if (text.startsWith('@')) {
    const colon = text.indexOf(':');
    if (colon > 0) {
      const route = text.slice(0, colon);
      if (!/^@[^@,:\s]+(,@[^@,:\s]+)*$/.test(route)) return { ok: false, reason: 'bad source route' };
      text = text.slice(colon + 1);
      routed = true;
    }
  }
  if (text === '') {
    if (routed) return { ok: false, reason: 'empty address after route' };
    return opts.allowEmpty ? { ok: true, path: { address: '', local: '', domain: '', routed } } : { ok: false, reason: 'empty address' };
  }
  let local: string;
  let rest: string;
  if (text.startsWith('"')) {
    const q = readQuoted(text);
    if (!q) return { ok: false, reason: 'unterminated quoted string' };
    local = q.value;
    const after = text.slice(q.end);
    if (after === '') rest = '';
    else if (!after.startsWith('@')) return { ok: false, reason: 'junk after quoted local part' };
    else {
      rest = after.slice(1);
      if (rest === '') return { ok: false, reason: 'empty domain' };
    }
    if (local === '' && rest === '') return { ok: false, reason: 'empty local part' };
  } else {
    const at = text.lastIndexOf('@');
    if (at < 0) {
      local = text;
      rest = '';
    } else {
      local = text.slice(0, at);
      rest = text.slice(at + 1);
      if (rest === '') return { ok: false, reason: 'empty domain' };
    }
    if (local === '') return { ok: false, reason: 'empty local part' };
    if (SPECIALS_UNQUOTED.test(local)) return { ok: false, reason: 'bad character in local part' };
    if (local.startsWith('.') || local.endsWith('.') || local.includes('..')) {
      // Postfix accepts these with a warning; so do we, except a lone dot
      if (local === '.') return { ok: false, reason: 'bad local part' };
    }
  }
  if (/[\x00-\x1f\x7f]/.test(local)) return { ok: false, reason: 'control character in local part' };
  const domain = rest;
  if (domain !== '') {
    const why = checkDomain(domain, !!opts.smtputf8);
    if (why) return { ok: false, reason: why };
  }
  const address = domain === '' ? local : `${local}@${domain}`;
  if (Buffer.byteLength(address) > 4096) return { ok: false, reason: 'address too long' };
  return { ok: true, path: { address, local, domain, routed } };
}

function readQuoted(text: string): { value: string; end: number } | undefined {
  let value = '';
  for (let i = 1; i < text.length; i++) {
    const c = text[i];
    if (c === '\\') {
      if (i + 1 >= text.length) return undefined;
      value += text[++i];
    } else if (c === '"') {
      return { value, end: i + 1 };
    } else if (c === '\r' || c === '\n') {
      return undefined;
    } else value += c;
  }
  return undefined;
}

/** Why a domain (or address literal) is not acceptable, or undefined when it is. */
export function checkDomain(domain: string, utf8: boolean): string | undefined {
  if (domain.startsWith('[')) {
    if (!domain.endsWith(']')) return 'bad address literal';
    const inner = domain.slice(1, -1);
    if (/^ipv6:/i.test(inner)) return isIP(inner.slice(5)) === 6 ? undefined : 'bad IPv6 address literal';
    return isIP(inner) === 4 ? undefined : 'bad address literal';
  }
  const d = domain.endsWith('.') ? domain.slice(0, -1) : domain;
  if (d === '' || Buffer.byteLength(d) > 255) return 'bad domain';
  // eslint-disable-next-line no-control-regex
  const nonAscii = /[^\x00-\x7f]/.test(d);
  if (nonAscii && !utf8) return 'non-ASCII domain without SMTPUTF8';
  for (const label of d.split('.')) {
    if (label === '' || Buffer.byteLength(label) > 63) return 'bad domain label';
    if (!/^[\p{L}\p{N}\p{M}_-]+$/u.test(label)) return 'bad character in domain';
    if (label.startsWith('-') || label.endsWith('-')) return 'bad domain label';
  }
  return undefined;
}

const ATEXT = /^[\p{L}\p{N}\p{M}!#$%&'*+\-/=?^_`{|}~\u0080-\uffff]+$/u;

/** RFC 5321 §4.1.2 Local-part as it must be written on the wire: dot-atom, else quoted. */
export function quoteLocalPart(local: string): string {
  if (local !== '' && local.split('.').every((a) => ATEXT.test(a))) return local;
  return `"${local.replace(/(["\\])/g, '\\$1')}"`;
}

/** An internal address in external (wire/header) form: local part quoted when needed. */
export function externalAddress(address: string): string {
  if (address === '') return '';
  const at = address.lastIndexOf('@');
  if (at < 0) return quoteLocalPart(address);
  return `${quoteLocalPart(address.slice(0, at))}@${address.slice(at + 1)}`;
}

/** Split an internal address at the last @ (the domain is lower-cased, a trailing dot dropped). */
export function splitAddress(address: string): { local: string; domain: string } {
  const at = address.lastIndexOf('@');
  if (at < 0) return { local: address, domain: '' };
  return { local: address.slice(0, at), domain: normalizeDomain(address.slice(at + 1)) };
}

export function normalizeDomain(domain: string): string {
  const d = domain.toLowerCase();
  return d.endsWith('.') && !d.startsWith('[') ? d.slice(0, -1) : d;
}

/** RFC 3461 §4 xtext decoding (`+2B` → `+`); undefined when malformed. */
export function xtextDecode(s: string): string | undefined {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 33 || c > 126 || s[i] === '=') return undefined;
    if (s[i] === '+') {
      const hex = s.slice(i + 1, i + 3);
      if (!/^[0-9A-F]{2}$/.test(hex)) return undefined;
      out += String.fromCharCode(parseInt(hex, 16));
      i += 2;
    } else out += s[i];
  }
  return out;
}

/** RFC 6533 §3 utf-8-addr-xtext / unitext: `\x{HEX}` escapes allowed besides xtext. */
export function uxtextDecode(s: string): string | undefined {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    if (s.startsWith('\\x{', i)) {
      const end = s.indexOf('}', i);
      if (end < 0) return undefined;
      const cp = parseInt(s.slice(i + 3, end), 16);
      if (!Number.isFinite(cp) || cp > 0x10ffff) return undefined;
      out += String.fromCodePoint(cp);
      i = end;
      continue;
    }
    if (s[i] === '+') {
      const hex = s.slice(i + 1, i + 3);
      if (!/^[0-9A-F]{2}$/.test(hex)) return undefined;
      out += String.fromCharCode(parseInt(hex, 16));
      i += 2;
      continue;
    }
    const c = s.codePointAt(i)!;
    if (c < 33 || c === 0x3d || c === 0x7f) return undefined;
    out += String.fromCodePoint(c);
    if (c > 0xffff) i++;
  }
  return out;
}
