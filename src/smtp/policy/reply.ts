// Reply codes and texts as Postfix's smtpd_check builds them: the reply classes
// ("Client host", "Recipient address" …), dsn_split (an optional `x.y.z` status at the
// start of a text), smtpd_dsn_fix (address status codes that fit what is rejected), and
// the final consistency rule: the status code's class digit follows the SMTP code's.
import { validDsn } from './address.js';
import type { SmtpReply } from './types.js';

export const CLASS = {
  client: 'Client host',
  reverseClient: 'Unverified Client host',
  helo: 'Helo command',
  sender: 'Sender address',
  recipient: 'Recipient address',
  etrn: 'Etrn command',
  data: 'Data command',
  eod: 'End-of-data',
  sasl: 'SASL login name',
} as const;

/** `4.7.1 text` → { dsn: 4.7.1, text }; no status at the start → the default. */
export function dsnSplit(defaultDsn: string, text: string): { dsn: string; text: string } {
  const m = /^([245]\.\d{1,3}\.\d{1,3})(?:\s+|$)([\s\S]*)$/.exec(text);
  if (m) return { dsn: m[1], text: m[2] };
  return { dsn: defaultDsn, text };
}

const SND_DSN = '4.1.0';
const DSN_MAP: Record<string, [string, string]> = {
  '1': [SND_DSN, '4.1.1'],
  '2': ['4.1.8', '4.1.2'],
  '3': ['4.1.7', '4.1.3'],
  '4': [SND_DSN, '4.1.4'],
  '5': ['4.1.0', '4.1.5'],
  '6': [SND_DSN, '4.1.6'],
  '7': ['4.1.7', '4.1.3'],
  '8': ['4.1.8', '4.1.2'],
};

/** smtpd_dsn_fix(): X.1.Y address codes adjusted to the class of what is rejected. */
export function dsnFix(status: string, replyClass: string): string {
  if (!/^\d\.1\./.test(status)) return status;
  const micro = status.slice(4);
  if (replyClass === CLASS.sender) return DSN_MAP[micro]?.[0] ?? '4.1.0';
  if (replyClass === CLASS.recipient) return DSN_MAP[micro]?.[1] ?? '4.1.0';
  return '4.0.0';
}

/** Format `code dsn text`, validate, truncate and make consistent, as smtpd_check_reject does. */
export function formatReject(code: number, dsn: string, text: string): string {
  let s = `${code} ${dsn} ${text}`;
  if (code < 400 || code > 599 || !validDsn(dsn)) s = '450 4.7.1 Service unavailable';
  // RFC 5321 §4.5.3.1.5: at most 512 octets per reply line with CRLF
  if (s.length > 510) s = s.slice(0, 510);
  // printable(): control characters become spaces
  // eslint-disable-next-line no-control-regex
  s = s.replace(/[\x00-\x1f\x7f]/g, ' ');
  // the status class follows the SMTP code (a 450 never carries 5.x.x)
  return s.slice(0, 4) + s[0] + s.slice(5);
}

/** `554 5.7.1 text` → SmtpReply. */
export function parseReply(line: string): SmtpReply {
  const m = /^(\d{3}) (?:([245]\.\d{1,3}\.\d{1,3}) )?([\s\S]*)$/.exec(line);
  if (!m) return { code: 451, enhanced: '4.3.5', text: 'Server configuration error' };
  return { code: Number(m[1]), enhanced: m[2] ?? '', text: m[3] };
}

/** SmtpReply → one reply line as sent (without CRLF). */
export function replyLine(r: SmtpReply): string {
  return `${r.code}${r.enhanced ? ' ' + r.enhanced : ''} ${r.text}`;
}
