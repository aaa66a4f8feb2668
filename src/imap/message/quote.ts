// IMAP string output (RFC 3501 §4.3, §9 "string") with Dovecot's imap-quote choices: a quoted
// string unless the value has CR/LF, 8-bit bytes or more than 4 of '"' and '\' — then a literal.
// Values are latin1 byte strings (one char per byte); the output too.

const QUOTED_MAX_ESCAPE_CHARS = 4;

function literal(src: string): string {
  return `{${src.length}}\r\n${src}`;
}

function quoted(src: string): string {
  let out = '"';
  for (let i = 0; i < src.length; i++) {
    const c = src.charCodeAt(i);
    if (c === 0x0d || c === 0x0a || c >= 0x80) continue;
    if (c === 0x22 || c === 0x5c) out += '\\';
    out += src[i];
  }
  return out + '"';
}

/** imap_append_nstring(): NIL, "quoted" or {literal}. */
export function nstring(src: string | undefined): string {
  if (src === undefined) return 'NIL';
  let escapes = 0;
  for (let i = 0; i < src.length; i++) {
    const c = src.charCodeAt(i);
    if (c === 0x22 || c === 0x5c) {
      if (escapes++ < QUOTED_MAX_ESCAPE_CHARS) continue;
      return literal(src);
    }
    if (c === 0x0d || c === 0x0a || c >= 0x80) return literal(src);
  }
  return quoted(src);
}

/** imap_append_nstring_nolf(): line ends dropped, a space kept between lines where needed. */
export function nstringNolf(src: string | undefined): string {
  if (src === undefined || !/[\r\n]/.test(src)) return nstring(src);
  let out = '';
  for (let i = 0; i < src.length; i++) {
    const c = src[i]!;
    if (c !== '\r' && c !== '\n') {
      out += c;
      continue;
    }
    const n = src[i + 1];
    if (n !== undefined && n !== ' ' && n !== '\t' && n !== '\r' && n !== '\n') out += ' ';
  }
  return nstring(out);
}

/**
 * imap_append_string_for_humans(): TABs become spaces, runs of spaces one space, CR/LF removed,
 * leading/trailing space removed, NUL → 0x80. Quoted when nothing had to change, else a literal.
 */
export function stringForHumans(src: string): string {
  let removeCount = 0;
  let whitespacePrefix = true;
  let lastLwsp = true;
  let modify = false;
  for (let i = 0; i < src.length; i++) {
    const c = src.charCodeAt(i);
    if (c === 0) {
      lastLwsp = false;
      modify = true;
    } else if (c === 0x09 || c === 0x20) {
      if (c === 0x09) modify = true;
      if (lastLwsp) {
        modify = true;
        removeCount++;
      }
      lastLwsp = true;
    } else if (c === 0x0d || c === 0x0a) {
      removeCount++;
      modify = true;
    } else if (c === 0x22 || c === 0x5c) {
      modify = true;
      lastLwsp = false;
    } else {
      if (c >= 0x80) modify = true;
      lastLwsp = false;
    }
    if (!lastLwsp) whitespacePrefix = false;
  }
  if (lastLwsp && src.length > 0 && !whitespacePrefix) {
    modify = true;
    removeCount++;
  }
  if (!modify) return `"${src}"`;
  if (src.length === removeCount) return '""';
  let out = '';
  lastLwsp = true;
  whitespacePrefix = true;
  for (let i = 0; i < src.length; i++) {
    const c = src.charCodeAt(i);
    if (c === 0) {
      out += '\x80';
      lastLwsp = false;
    } else if (c === 0x09 || c === 0x20) {
      if (!lastLwsp) out += ' ';
      lastLwsp = true;
    } else if (c === 0x0d || c === 0x0a) {
      // dropped
    } else {
      lastLwsp = false;
      out += src[i];
    }
    if (!lastLwsp) whitespacePrefix = false;
  }
  if (lastLwsp && src.length > 0 && !whitespacePrefix) out = out.slice(0, -1);
  return literal(out);
}
