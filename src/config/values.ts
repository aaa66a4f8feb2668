// Parsers for main.cf value forms (postconf(5)): booleans, times with units, sizes,
// lists, CIDR networks, listen addresses, lookup-table references. Each returns a value
// or throws ValueError with a message that names what is wrong (the caller adds file:line).
import { isIP } from 'node:net';

export class ValueError extends Error {}

export function parseBool(v: string): boolean {
  const s = v.trim().toLowerCase();
  if (s === 'yes' || s === 'true' || s === 'on' || s === '1') return true;
  if (s === 'no' || s === 'false' || s === 'off' || s === '0') return false;
  throw new ValueError(`bad boolean value "${v}" (use yes or no)`);
}

export function parseInt10(v: string, min = -Infinity, max = Infinity): number {
  const s = v.trim();
  if (!/^-?\d+$/.test(s)) throw new ValueError(`bad numerical value "${v}"`);
  const n = Number(s);
  if (!Number.isSafeInteger(n)) throw new ValueError(`numerical value "${v}" is too large`);
  if (n < min) throw new ValueError(`numerical value "${v}" is below the minimum ${min}`);
  if (n > max) throw new ValueError(`numerical value "${v}" is above the maximum ${max}`);
  return n;
}

const TIME_UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400, w: 604800 };
export type TimeUnit = 's' | 'm' | 'h' | 'd' | 'w';

/** A Postfix time value (`300s`, `5m`, `1h`, `5d`, `1w`; a bare number uses `defaultUnit`). Returns seconds. */
export function parseTime(v: string, defaultUnit: TimeUnit = 's'): number {
  const s = v.trim().toLowerCase();
  const m = /^(\d+(?:\.\d+)?)([smhdw]?)$/.exec(s);
  if (!m) throw new ValueError(`bad time value "${v}" (use a number with an optional unit s, m, h, d or w)`);
  const unit = (m[2] || defaultUnit) as TimeUnit;
  return Number(m[1]) * TIME_UNITS[unit];
}

/** A size in bytes (Postfix takes a plain number; k/M/G suffixes are accepted as a convenience). */
export function parseSize(v: string): number {
  const s = v.trim();
  const m = /^(\d+)([kKmMgG]?)$/.exec(s);
  if (!m) throw new ValueError(`bad size value "${v}" (a number of bytes)`);
  const mult = { '': 1, k: 1024, m: 1024 * 1024, g: 1024 * 1024 * 1024 }[m[2].toLowerCase() as '' | 'k' | 'm' | 'g'];
  const n = Number(m[1]) * mult;
  if (!Number.isSafeInteger(n)) throw new ValueError(`size value "${v}" is too large`);
  return n;
}

/** An octal file mode such as `0660`. */
export function parseMode(v: string): number {
  const s = v.trim();
  if (!/^0?[0-7]{3,4}$/.test(s)) throw new ValueError(`bad file mode "${v}" (octal, e.g. 0660)`);
  return parseInt(s, 8);
}

/**
 * Split a list value on commas and/or whitespace, as Postfix does. Text inside `{ }`
 * stays one element (Postfix 3.0 grouping, used by `inline:{ a=b, c=d }`); the braces
 * of a whole element `{ x y }` are kept so that the caller can tell a group.
 */
export function splitList(v: string): string[] {
  const out: string[] = [];
  let cur = '';
  let depth = 0;
  for (const ch of v) {
    if (ch === '{') depth++;
    if (ch === '}' && depth > 0) depth--;
    if (depth === 0 && (ch === ',' || ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r')) {
      if (cur) out.push(cur);
      cur = '';
      continue;
    }
    cur += ch;
  }
  if (depth > 0) throw new ValueError(`missing '}' in "${v.trim()}"`);
  if (cur) out.push(cur);
  return out;
}

export interface Cidr {
  /** The text as written, for messages. */
  text: string;
  family: 4 | 6;
  /** Network address as bytes (4 or 16), already masked. */
  bytes: Uint8Array;
  prefix: number;
}

export function ipToBytes(ip: string): Uint8Array | undefined {
  const fam = isIP(ip);
  if (fam === 4) {
    const parts = ip.split('.').map(Number);
    return Uint8Array.from(parts);
  }
  if (fam === 6) {
    let s = ip;
    const zone = s.indexOf('%');
    if (zone >= 0) s = s.slice(0, zone);
    // embedded IPv4 tail
    let tail: number[] = [];
    const lastColon = s.lastIndexOf(':');
    if (s.slice(lastColon + 1).includes('.')) {
      tail = s.slice(lastColon + 1).split('.').map(Number);
      s = s.slice(0, lastColon + 1) + '0:0';
    }
    const [head, rest] = s.includes('::') ? s.split('::') : [s, undefined];
    const h = head ? head.split(':') : [];
    const r = rest !== undefined ? (rest ? rest.split(':') : []) : [];
    const fill = rest !== undefined ? 8 - h.length - r.length : 0;
    const groups = [...h, ...Array(fill).fill('0'), ...r].map((g) => parseInt(g || '0', 16));
    const bytes = new Uint8Array(16);
    groups.forEach((g, i) => {
      bytes[i * 2] = g >> 8;
      bytes[i * 2 + 1] = g & 0xff;
    });
    if (tail.length === 4) bytes.set(tail, 12);
    return bytes;
  }
  return undefined;
}

/** `192.168.0.0/16`, `10.1.2.3`, `[::1]/128`, `::1/128`, `[2001:db8::]/32`. */
export function parseCidr(v: string): Cidr {
  const text = v.trim();
  let s = text;
  let prefixText: string | undefined;
  const slash = s.lastIndexOf('/');
  if (slash >= 0) {
    prefixText = s.slice(slash + 1);
    s = s.slice(0, slash);
  }
  if (s.startsWith('[') && s.endsWith(']')) s = s.slice(1, -1);
  const fam = isIP(s);
  if (fam === 0) throw new ValueError(`bad network address "${text}"`);
  const bytes = ipToBytes(s)!;
  const max = fam === 4 ? 32 : 128;
  let prefix = max;
  if (prefixText !== undefined) {
    if (!/^\d+$/.test(prefixText)) throw new ValueError(`bad network mask length in "${text}"`);
    prefix = Number(prefixText);
    if (prefix > max) throw new ValueError(`bad network mask length in "${text}" (at most ${max})`);
  }
  // Postfix refuses a network address with host bits set ("non-null host address bits").
  for (let bit = prefix; bit < max; bit++) {
    if (bytes[bit >> 3] & (0x80 >> (bit & 7))) {
      throw new ValueError(`non-null host address bits in "${text}", perhaps you should use "${maskedText(bytes, prefix, fam)}/${prefix}" instead`);
    }
  }
  return { text, family: fam as 4 | 6, bytes, prefix };
}

function maskedText(bytes: Uint8Array, prefix: number, fam: number): string {
  const b = Uint8Array.from(bytes);
  for (let bit = prefix; bit < b.length * 8; bit++) b[bit >> 3] &= ~(0x80 >> (bit & 7));
  if (fam === 4) return Array.from(b).join('.');
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((b[i] << 8) | b[i + 1]).toString(16));
  return `[${groups.join(':').replace(/(^|:)0(:0)+(:|$)/, '::')}]`;
}

/** Whether `ip` (text) lies in `cidr`. An IPv4-mapped IPv6 client matches IPv4 networks. */
export function cidrContains(cidr: Cidr, ip: string): boolean {
  let bytes = ipToBytes(ip);
  if (!bytes) return false;
  if (bytes.length === 16 && cidr.family === 4 && bytes.slice(0, 10).every((x) => x === 0) && bytes[10] === 0xff && bytes[11] === 0xff) {
    bytes = bytes.slice(12);
  }
  if (bytes.length !== cidr.bytes.length) return false;
  const full = cidr.prefix >> 3;
  for (let i = 0; i < full; i++) if (bytes[i] !== cidr.bytes[i]) return false;
  const rem = cidr.prefix & 7;
  if (rem) {
    const mask = (0xff << (8 - rem)) & 0xff;
    if ((bytes[full] & mask) !== (cidr.bytes[full] & mask)) return false;
  }
  return true;
}

export interface ListenAddress {
  /** Host to bind (`0.0.0.0`, `::`, `127.0.0.1` …). */
  host: string;
  port: number;
  text: string;
}

/** `127.0.0.1:2525`, `[::1]:25`, `*:25` or `:25` (all addresses), `25` (all addresses). */
export function parseListen(v: string): ListenAddress {
  const text = v.trim();
  let host: string;
  let portText: string;
  const m6 = /^\[([^\]]+)\]:(\d+)$/.exec(text);
  if (m6) {
    host = m6[1];
    portText = m6[2];
    if (isIP(host) !== 6) throw new ValueError(`bad IPv6 address in listen address "${text}"`);
  } else if (/^\d+$/.test(text)) {
    host = '';
    portText = text;
  } else {
    const i = text.lastIndexOf(':');
    if (i < 0) throw new ValueError(`bad listen address "${text}" (use address:port, [ipv6]:port or *:port)`);
    host = text.slice(0, i);
    portText = text.slice(i + 1);
    if (host === '*') host = '';
    if (host.includes(':')) throw new ValueError(`bad listen address "${text}": write an IPv6 address in brackets, e.g. [::1]:25`);
    if (host && isIP(host) === 0 && !/^[A-Za-z0-9.-]+$/.test(host)) throw new ValueError(`bad host in listen address "${text}"`);
  }
  if (!/^\d+$/.test(portText)) throw new ValueError(`bad port in listen address "${text}"`);
  const port = Number(portText);
  if (port > 65535) throw new ValueError(`bad port in listen address "${text}"`);
  return { host, port, text };
}

export interface TableRef {
  type: string;
  name: string;
  text: string;
}

/** Lookup table types facteur reads (postconf(5) "type:name"). `hash:`/`btree:`/`lmdb:` read the postmap source file. */
export const TABLE_TYPES = ['texthash', 'hash', 'btree', 'lmdb', 'cdb', 'inline', 'static', 'cidr', 'regexp', 'pcre', 'passwd-file', 'unix', 'fail'] as const;

export function parseTableRef(v: string): TableRef {
  const text = v.trim();
  const i = text.indexOf(':');
  if (i <= 0) throw new ValueError(`bad lookup table "${text}" (expected type:name)`);
  const type = text.slice(0, i).toLowerCase();
  const name = text.slice(i + 1);
  if (!(TABLE_TYPES as readonly string[]).includes(type)) {
    throw new ValueError(`unsupported lookup table type "${type}" in "${text}" (supported: ${TABLE_TYPES.join(', ')})`);
  }
  if (type === 'inline' && !(name.startsWith('{') && name.endsWith('}'))) {
    throw new ValueError(`bad inline table "${text}" (expected inline:{ key=value, ... })`);
  }
  return { type, name, text };
}
