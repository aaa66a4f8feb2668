// Response encoding (RFC 3501 §4): strings as atoms, quoted strings or literals.

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

function needsLiteral(b: Buffer): boolean {
  for (const c of b) if (c === 13 || c === 10 || c === 0 || c >= 0x80) return true;
  return false;
}

/** A string: quoted when it can be, a literal otherwise (8-bit, CR, LF). */
export function imapString(value: string | Buffer): Buffer {
  const b = typeof value === 'string' ? Buffer.from(value, 'utf8') : value;
  if (needsLiteral(b) || b.length > 1024) return Buffer.concat([Buffer.from(`{${b.length}}\r\n`), b]);
  return Buffer.from('"' + b.toString('latin1').replace(/[\\"]/g, (m) => '\\' + m) + '"', 'latin1');
}

/** Same as imapString but as text, for ASCII-only values (quoted). */
export function quote(value: string): string {
  if (/[\r\n\0\u0080-\uffff]/.test(value)) {
    const b = Buffer.from(value, 'utf8');
    return `{${b.length}}\r\n` + b.toString('latin1');
  }
  return '"' + value.replace(/[\\"]/g, (m) => '\\' + m) + '"';
}

const ATOM_SAFE = /^[!#$&'+,\-./0-9:;<=>?@A-Z[^_`a-z|}~]+$/;

/** astring: an atom when possible (as Dovecot writes mailbox names), else quoted/literal. */
export function astring(value: string): string {
  if (value.length > 0 && ATOM_SAFE.test(value) && value.toUpperCase() !== 'NIL') return value;
  return quote(value);
}

export function nstring(value: string | Buffer | null | undefined): Buffer {
  if (value === null || value === undefined) return Buffer.from('NIL');
  return imapString(value);
}

/** A literal (`{n}` or literal8 `~{n}`). */
export function literal(data: Buffer, binary = false): Buffer {
  return Buffer.concat([Buffer.from(`${binary ? '~' : ''}{${data.length}}\r\n`), data]);
}

/** INTERNALDATE "17-Jul-1996 02:44:25 -0700" in the given offset (minutes east of UTC). */
export function formatInternalDate(ms: number, offsetMinutes = 0): string {
  const d = new Date(ms + offsetMinutes * 60_000);
  const day = String(d.getUTCDate()).padStart(2, '0');
  const sign = offsetMinutes < 0 ? '-' : '+';
  const a = Math.abs(offsetMinutes);
  const zone = sign + String(Math.floor(a / 60)).padStart(2, '0') + String(a % 60).padStart(2, '0');
  const time = [d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds()].map((x) => String(x).padStart(2, '0')).join(':');
  return `${day}-${MONTHS[d.getUTCMonth()]}-${d.getUTCFullYear()} ${time} ${zone}`;
}
