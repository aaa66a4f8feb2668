// RFC 5322 §3.3 date-time with the obsolete forms of §4.3 (two-digit years, named and military
// zones), parsed like Dovecot's message_date_parse(): optional weekday, 1-2 digit day, month
// name, 2 or 4 digit year, h[h]:mm[:ss] (':' or '.'), optional zone (unknown zones count as +0000).

import { Rfc822Parser } from './rfc822.js';

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];

export interface ParsedDate {
  /** Seconds since the epoch (UTC). */
  time: number;
  /** Zone offset in minutes east of UTC as written in the header. */
  tzOffset: number;
  /** The header's own calendar day and clock (local to tzOffset). */
  year: number;
  month: number;
  day: number;
}

function isDigit(s: string, i: number): boolean {
  const c = s.charCodeAt(i);
  return c >= 0x30 && c <= 0x39;
}

function parseZone(z: string): number {
  const len = z.length;
  if (len === 5 && (z[0] === '+' || z[0] === '-')) {
    if (![1, 2, 3, 4].every((i) => isDigit(z, i))) return 0;
    const off = (Number(z[1]) * 10 + Number(z[2])) * 60 + Number(z[3]) * 10 + Number(z[4]);
    return z[0] === '+' ? off : -off;
  }
  if (len === 1) {
    // military zones, the correct way round (not as RFC 822 printed them)
    const raw = z.charCodeAt(0);
    const chr = z.toUpperCase().charCodeAt(0);
    if (chr < 0x4a) return (raw - 0x41 + 1) * 60;
    if (chr === 0x4a) return 0;
    if (chr <= 0x4d) return (raw - 0x41) * 60;
    if (chr < 0x5a) return (0x4d - raw) * 60;
    return 0;
  }
  if (len === 2 && z.toUpperCase() === 'UT') return 0;
  if (len === 3 && z[2] === 'T') {
    let off: number;
    switch (z[0]!.toUpperCase()) {
      case 'E':
        off = -5 * 60;
        break;
      case 'C':
        off = -6 * 60;
        break;
      case 'M':
        off = -7 * 60;
        break;
      case 'P':
        off = -8 * 60;
        break;
      default:
        return 0;
    }
    const d = z[1]!.toUpperCase();
    if (d === 'D') return off + 60;
    if (d === 'S') return off;
  }
  return 0;
}

function daysInMonth(y: number, m: number): number {
  return new Date(Date.UTC(y, m + 1, 0)).getUTCDate();
}

/** Parses a Date: value (latin1); undefined when Dovecot would not accept it. */
export function parseMessageDate(value: string): ParsedDate | undefined {
  const p = new Rfc822Parser(value);
  const next = (): { ret: number; s: string } => {
    const out = { s: '' };
    const ret = p.atEnd ? 0 : p.parseAtom(out);
    return { ret: ret < 0 ? -1 : out.s.length > 0 ? 1 : 0, s: out.s };
  };
  p.skipLwsp();
  let t = next();
  if (t.ret <= 0) return undefined;
  if (t.s.length === 3) {
    // optional weekday
    if (p.peek() !== 0x2c) return undefined;
    p.pos++;
    p.skipLwsp();
    t = next();
    if (t.ret <= 0) return undefined;
  }
  if (t.s.length < 1 || t.s.length > 2 || !t.s.split('').every((_, i) => isDigit(t.s, i))) return undefined;
  const day = Number(t.s);

  t = next();
  if (t.ret <= 0 || t.s.length < 3) return undefined;
  const month = MONTHS.indexOf(t.s.slice(0, 3).toLowerCase());
  if (month === -1) return undefined;

  t = next();
  if (t.ret <= 0 || (t.s.length !== 2 && t.s.length !== 4) || !/^[0-9]+$/.test(t.s)) return undefined;
  let year = Number(t.s);
  if (t.s.length === 2) year += year < 70 ? 2000 : 1900;
  else if (year < 1900) return undefined;

  t = next();
  if (t.ret <= 0 || t.s.length < 1 || t.s.length > 2 || !/^[0-9]+$/.test(t.s)) return undefined;
  const hour = Number(t.s);
  const isSep = (c: number): boolean => c === 0x3a || c === 0x2e;
  if (!isSep(p.peek())) return undefined;
  p.pos++;
  p.skipLwsp();
  t = next();
  if (t.ret < 0 || !/^[0-9]{2}$/.test(t.s)) return undefined;
  const min = Number(t.s);
  let sec = 0;
  if (!p.atEnd && isSep(p.peek())) {
    p.pos++;
    p.skipLwsp();
    t = next();
    if (t.ret <= 0 || !/^[0-9]{2}$/.test(t.s)) return undefined;
    sec = Number(t.s);
  }
  t = next();
  if (t.ret < 0) return undefined;
  const tzOffset = t.ret === 0 ? 0 : parseZone(t.s);

  // utc_mktime() refuses fields that do not name a real instant
  if (day < 1 || day > daysInMonth(year, month) || hour > 23 || min > 59 || sec > 59) return undefined;
  const local = Date.UTC(year, month, day, hour, min, sec) / 1000;
  return { time: local - tzOffset * 60, tzOffset, year, month: month + 1, day };
}
