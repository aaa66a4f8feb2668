// 8BITMIME downgrade (RFC 6152 §3, RFC 1652): a message with 8-bit body content for a
// server that does not announce 8BITMIME is converted to 7-bit by re-encoding each
// 8-bit MIME leaf as quoted-printable (RFC 2045 §6.7), as Postfix does unless
// disable_mime_output_conversion = yes. Returns undefined when the message cannot be
// converted faithfully (8-bit header text, 8-bit bytes inside base64/quoted-printable
// parts, a multipart without its boundary): the caller bounces it instead of
// sending it broken.

import { toCrlf } from '../../mail/line-ends.js';

const CRLF = Buffer.from('\r\n');

function has8bit(b: Buffer): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] >= 0x80) return true;
  return false;
}

interface Entity {
  /** header fields, each with its continuation lines, without the final CRLF */
  headers: string[];
  body: Buffer;
  /** whether a blank line separated header and body */
  hadSeparator: boolean;
}

function splitEntity(b: Buffer): Entity {
  if (b.subarray(0, 2).equals(CRLF)) return { headers: [], body: b.subarray(2), hadSeparator: true };
  const sep = b.indexOf('\r\n\r\n');
  const head = sep < 0 ? b : b.subarray(0, sep);
  const body = sep < 0 ? Buffer.alloc(0) : b.subarray(sep + 4);
  const headers: string[] = [];
  for (const line of head.toString('latin1').split('\r\n')) {
    if ((line.startsWith(' ') || line.startsWith('\t')) && headers.length > 0) headers[headers.length - 1] += '\r\n' + line;
    else if (line.length > 0) headers.push(line);
  }
  return { headers, body, hadSeparator: sep >= 0 };
}

function headerValue(headers: string[], name: string): string | undefined {
  const lower = name.toLowerCase() + ':';
  const h = headers.find((x) => x.toLowerCase().startsWith(lower));
  return h === undefined ? undefined : h.slice(lower.length).replace(/\r\n[ \t]/g, ' ').trim();
}

function setHeader(headers: string[], name: string, value: string): void {
  const lower = name.toLowerCase() + ':';
  const i = headers.findIndex((x) => x.toLowerCase().startsWith(lower));
  const line = `${name}: ${value}`;
  if (i >= 0) headers[i] = line;
  else headers.push(line);
}

function mediaType(ct: string | undefined): { type: string; boundary?: string } {
  if (!ct) return { type: 'text/plain' };
  const type = ct.split(';')[0].trim().toLowerCase();
  const m = /;\s*boundary\s*=\s*(?:"([^"]+)"|([^\s;]+))/i.exec(ct);
  return { type, boundary: m ? (m[1] ?? m[2]) : undefined };
}

/** RFC 2045 §6.7 quoted-printable, CRLF line ends, lines of at most 76 characters. */
export function quotedPrintable(body: Buffer): Buffer {
  const out: string[] = [];
  const lines = body.toString('latin1').split('\r\n');
  for (let li = 0; li < lines.length; li++) {
    const line = Buffer.from(lines[li], 'latin1');
    let cur = '';
    for (let i = 0; i < line.length; i++) {
      const c = line[i];
      const last = i === line.length - 1;
      let enc: string;
      if ((c >= 33 && c <= 126 && c !== 61) || ((c === 32 || c === 9) && !last)) enc = String.fromCharCode(c);
      else enc = '=' + c.toString(16).toUpperCase().padStart(2, '0');
      if (cur.length + enc.length > 75) {
        out.push(cur + '=\r\n');
        cur = '';
      }
      cur += enc;
    }
    out.push(cur + (li < lines.length - 1 ? '\r\n' : ''));
  }
  return Buffer.from(out.join(''), 'latin1');
}

function join(e: Entity): Buffer {
  const head = e.headers.map((h) => h + '\r\n').join('');
  return Buffer.concat([Buffer.from(head, 'latin1'), e.hadSeparator || e.body.length > 0 ? CRLF : Buffer.alloc(0), e.body]);
}

function downgradeEntity(b: Buffer, depth: number, top: boolean): Buffer | undefined {
  if (!has8bit(b)) return b;
  if (depth > 20) return undefined;
  const e = splitEntity(b);
  if (e.headers.some((h) => has8bit(Buffer.from(h, 'latin1')))) return undefined;
  const { type, boundary } = mediaType(headerValue(e.headers, 'Content-Type'));
  const cte = (headerValue(e.headers, 'Content-Transfer-Encoding') ?? '7bit').toLowerCase();
  if (type.startsWith('multipart/')) {
    if (!boundary) return undefined;
    const text = e.body.toString('latin1');
    const esc = boundary.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const re = new RegExp(`(^|\\r\\n)--${esc}(--)?[ \\t]*(?=\\r\\n|$)`, 'g');
    const sanitize = (seg: string) => seg.replace(/[\x80-\xff]/g, '?');
    let body = '';
    let pos = 0;
    let inPart = false;
    let found = false;
    for (const m of text.matchAll(re)) {
      found = true;
      let seg = text.slice(pos, m.index);
      if (inPart) {
        const converted = downgradeEntity(Buffer.from(seg, 'latin1'), depth + 1, false);
        if (!converted) return undefined;
        seg = converted.toString('latin1');
      } else seg = sanitize(seg); // 8-bit preamble: nobody reads it, but the wire must be 7-bit
      body += seg + m[0];
      pos = m.index + m[0].length;
      if (text.startsWith('\r\n', pos)) {
        body += '\r\n';
        pos += 2;
      }
      if (m[2]) {
        inPart = false;
        break;
      }
      inPart = true;
    }
    if (!found) return undefined;
    if (inPart) {
      // no close delimiter: the rest is the last part
      const converted = downgradeEntity(Buffer.from(text.slice(pos), 'latin1'), depth + 1, false);
      if (!converted) return undefined;
      body += converted.toString('latin1');
    } else body += sanitize(text.slice(pos));
    e.body = Buffer.from(body, 'latin1');
    if (cte !== '7bit') setHeader(e.headers, 'Content-Transfer-Encoding', '7bit');
  } else if (type === 'message/rfc822' || type === 'message/global') {
    if (type === 'message/global') return undefined;
    const inner = downgradeEntity(e.body, depth + 1, true);
    if (!inner) return undefined;
    e.body = inner;
    if (cte !== '7bit') setHeader(e.headers, 'Content-Transfer-Encoding', '7bit');
  } else {
    if (cte !== '7bit' && cte !== '8bit' && cte !== 'binary') return undefined;
    e.body = quotedPrintable(e.body);
    if (!headerValue(e.headers, 'Content-Type')) {
      let utf8 = true;
      try {
        new TextDecoder('utf-8', { fatal: true }).decode(b);
      } catch {
        utf8 = false;
      }
      setHeader(e.headers, 'Content-Type', `text/plain; charset=${utf8 ? 'utf-8' : 'unknown-8bit'}`);
    }
    setHeader(e.headers, 'Content-Transfer-Encoding', 'quoted-printable');
  }
  if (top && !headerValue(e.headers, 'MIME-Version')) setHeader(e.headers, 'MIME-Version', '1.0');
  e.hadSeparator = true;
  return join(e);
}

/** Convert a whole message to 7-bit, or undefined if that cannot be done faithfully. */
export function downgradeTo7bit(message: Buffer): Buffer | undefined {
  const out = downgradeEntity(toCrlf(message), 0, true);
  return out && !has8bit(out) ? out : undefined;
}
