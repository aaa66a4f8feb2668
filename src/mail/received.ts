// The Received: header (RFC 5321 §4.4) exactly as Postfix's smtpd writes it
// (smtpd.c common_pre_message_handling), with mail_name in the "by" clause:
//
//   Received: from HELO (NAME [ADDR])
//   	(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits))
//   	(No client certificate requested)
//   	(Authenticated sender: USER)
//   	by MYHOSTNAME (facteur) with ESMTPSA id QUEUEID
//   	for <RCPT>; Sat, 28 Nov 2026 23:21:26 +0000 (UTC)
//
// Lines are joined with "\n" (facteur keeps LF inside, the wire form adds CR).
import { externalAddress } from './smtp-address.js';

export interface TlsInfo {
  /** `TLSv1.3` */
  protocol: string;
  /** OpenSSL cipher name, as Postfix prints it: `TLS_AES_256_GCM_SHA384`, `ECDHE-RSA-AES256-GCM-SHA384`. */
  cipher: string;
  /** Bits used / bits of the algorithm. */
  useBits: number;
  algBits: number;
  /** Optional details when known: key exchange (`X25519`), server signature (`RSA-PSS (2048 bits)`), digest. */
  keyExchange?: string;
  serverSignature?: string;
  serverDigest?: string;
}

export interface ReceivedInput {
  /** HELO/EHLO argument, or undefined when the client sent none (then the client name is used). */
  helo?: string;
  /** Verified client name or `unknown`. */
  clientName: string;
  clientAddress: string;
  myhostname: string;
  mailName: string;
  /** SMTP, ESMTP (the S/A suffixes are added here). */
  protocol: 'SMTP' | 'ESMTP';
  smtputf8?: boolean;
  tls?: TlsInfo;
  /** smtpd_tls_received_header */
  showTls?: boolean;
  saslUsername?: string;
  /** smtpd_sasl_authenticated_header */
  showSasl?: boolean;
  queueId: string;
  /** Recipients as received; `for <…>` only when there is exactly one. */
  recipients: string[];
  date: Date;
}

/** `[127.0.0.1]`, `[IPv6:2001:db8::1]` (RFC 5321 §4.1.3 address literal). */
export function addressLiteral(ip: string): string {
  return ip.includes(':') ? `IPv6:${ip}` : ip;
}

/** Postfix comment_sanitize(): printable ASCII only, no backslash, balanced parentheses. */
export function sanitizeComment(s: string): string {
  let out = '';
  let depth = 0;
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (c < 0x20 || c > 0x7e || ch === '\\') out += '?';
    else if (ch === '(') {
      depth++;
      out += ch;
    } else if (ch === ')') {
      if (depth > 0) {
        depth--;
        out += ch;
      } else out += '?';
    } else out += ch;
  }
  return out + ')'.repeat(depth);
}

/** The protocol word of the `with` clause (RFC 3848, RFC 6531 §3.7.3). */
export function withProtocol(protocol: 'SMTP' | 'ESMTP', tls: boolean, authenticated: boolean, smtputf8: boolean): string {
  const base = smtputf8 ? 'UTF8SMTP' : protocol;
  if (protocol !== 'ESMTP') return base;
  return base + (tls ? 'S' : '') + (authenticated ? 'A' : '');
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

function pad(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

let zoneFormatter: Intl.DateTimeFormat | undefined;
const zoneNames = new Map<number, string | undefined>();

/** The local time zone's abbreviation (`UTC`, `CET`) at this offset, when Intl gives a plain one. */
function zoneName(d: Date, offsetMin: number): string | undefined {
  if (zoneNames.has(offsetMin)) return zoneNames.get(offsetMin);
  let name: string | undefined;
  try {
    zoneFormatter ??= new Intl.DateTimeFormat('en-US', { timeZoneName: 'short' });
    name = zoneFormatter.formatToParts(d).find((p) => p.type === 'timeZoneName')?.value;
  } catch {
    name = undefined;
  }
  if (zoneNames.size > 8) zoneNames.clear();
  zoneNames.set(offsetMin, name);
  return name;
}

/** RFC 5322 date as Postfix's mail_date(): `Sat, 28 Nov 2026 23:21:26 +0000 (UTC)` in local time. */
export function mailDate(d: Date, timeZone?: string): string {
  const offsetMin = -d.getTimezoneOffset();
  const sign = offsetMin >= 0 ? '+' : '-';
  const abs = Math.abs(offsetMin);
  const zone = `${sign}${pad(Math.floor(abs / 60))}${pad(abs % 60)}`;
  const name = timeZone ?? zoneName(d, offsetMin);
  const comment = name && /^[A-Za-z]+$/.test(name) ? ` (${name})` : '';
  return `${DAYS[d.getDay()]}, ${d.getDate()} ${MONTHS[d.getMonth()]} ${d.getFullYear()} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())} ${zone}${comment}`;
}

/** The Received: header field, folded as Postfix folds it, lines joined by "\n", without the final newline. */
export function receivedHeader(r: ReceivedInput): string {
  const lines: string[] = [];
  lines.push(`Received: from ${r.helo ?? r.clientName} (${r.clientName} [${addressLiteral(r.clientAddress)}])`);
  if (r.tls && r.showTls) {
    let using = `\t(using ${r.tls.protocol} with cipher ${r.tls.cipher} (${r.tls.useBits}/${r.tls.algBits} bits)`;
    const extra: string[] = [];
    if (r.tls.keyExchange) extra.push(`key-exchange ${r.tls.keyExchange}`);
    if (r.tls.serverSignature) extra.push(`server-signature ${r.tls.serverSignature}${r.tls.serverDigest ? ` server-digest ${r.tls.serverDigest}` : ''}`);
    if (extra.length > 0) {
      lines.push(using);
      using = `\t ${extra.join(' ')}`;
    }
    lines.push(`${using})`);
    lines.push('\t(No client certificate requested)');
  }
  if (r.saslUsername && r.showSasl) lines.push(`\t(Authenticated sender: ${sanitizeComment(r.saslUsername)})`);
  const proto = withProtocol(r.protocol, !!r.tls, !!r.saslUsername, !!r.smtputf8);
  const by = `\tby ${r.myhostname} (${r.mailName}) with ${proto} id ${r.queueId}`;
  if (r.recipients.length === 1) {
    lines.push(by);
    lines.push(`\tfor <${externalAddress(r.recipients[0])}>; ${mailDate(r.date)}`);
  } else {
    lines.push(`${by};`);
    lines.push(`\t${mailDate(r.date)}`);
  }
  return lines.join('\n');
}
