// SMTP replies (RFC 5321 §4.2): one or more lines `CODE-text` / `CODE text`, with the
// RFC 3463 enhanced status code repeated on every line (RFC 2034 §3), and Postfix's
// smtpd_reject_footer appended to 4xx/5xx replies.
import type { SmtpReply } from '../policy/types.js';

export type { SmtpReply };

export function reply(code: number, enhanced: string, text: string): SmtpReply {
  return { code, enhanced, text };
}

/** Parse a Postfix-style reply string: `554 5.7.1 text` or `503 Error: text`. */
export function parseReply(s: string): SmtpReply {
  const m = /^([2-5]\d\d)(?:[ -]([245]\.\d{1,3}\.\d{1,3}))?(?:[ -](.*))?$/s.exec(s);
  if (!m) return { code: 451, enhanced: '4.3.0', text: s };
  return { code: Number(m[1]), enhanced: m[2] ?? '', text: m[3] ?? '' };
}

/**
 * The wire form of a reply, CRLF-terminated. `footer` (smtpd_reject_footer) is added to 4xx/5xx
 * replies: `\n` in it starts a new line, a leading `\c` continues the last line.
 */
export function formatReply(r: SmtpReply, footer = ''): string {
  let text = r.text;
  if (footer && r.code >= 400) {
    const f = footer.replace(/\\n/g, '\n');
    text = f.startsWith('\\c') ? text + f.slice(2) : `${text}\n${f}`;
  }
  const lines = text.split(/\r?\n/);
  let out = '';
  for (let i = 0; i < lines.length; i++) {
    const sep = i === lines.length - 1 ? ' ' : '-';
    const enh = r.enhanced ? `${r.enhanced} ` : '';
    // sanitize: a reply line never carries a bare CR or control characters
    const line = lines[i].replace(/[\r\x00-\x08\x0a-\x1f\x7f]/g, '?');
    out += `${r.code}${sep}${enh}${line}\r\n`;
  }
  return out;
}

/** `250-a`, `250 b` lines without enhanced codes (EHLO, greeting). */
export function formatLines(code: number, lines: string[]): string {
  return lines.map((l, i) => `${code}${i === lines.length - 1 ? ' ' : '-'}${l}\r\n`).join('');
}
