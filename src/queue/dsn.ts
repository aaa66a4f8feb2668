// Delivery status notifications (RFC 3464 multipart/report, RFC 3461 semantics) in
// the exact shape Postfix's bounce(8) writes them: the same headers, boundary, texts
// (the default bounce templates), message/delivery-status fields and line wrapping,
// checked against recorded Postfix 3.7 notices (test/fixtures/postfix-dsn/).
import type { RecipientState } from './file.js';

export type NoticeTemplate = 'failure' | 'delay' | 'success';

export interface NoticeSettings {
  myhostname: string;
  myorigin: string;
  /** mail_name: in X-<mail_name>-Queue-ID and the Diagnostic-Code type of local reasons. */
  mailName: string;
  maximalQueueLifetimeSec: number;
  delayWarningTimeSec: number;
}

export interface NoticeOriginal {
  id: string;
  sender: string;
  /** ms */
  arrival: number;
  envid?: string;
  ret?: 'FULL' | 'HDRS';
}

export interface NoticeRecipient {
  address: string;
  orcpt?: string;
  state: RecipientState;
}

const SUBJECTS: Record<NoticeTemplate, string> = {
  failure: 'Undelivered Mail Returned to Sender',
  delay: 'Delayed Mail (still being retried)',
  success: 'Successful Mail Delivery Report',
};

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const p2 = (n: number) => String(n).padStart(2, '0');

function zoneName(d: Date): string {
  try {
    const part = new Intl.DateTimeFormat('en-US', { timeZoneName: 'short' }).formatToParts(d).find((x) => x.type === 'timeZoneName');
    return part?.value ?? 'UTC';
  } catch {
    return 'UTC';
  }
}

/** Postfix's mail_date(): `Thu,  3 Dec 2026 23:21:59 +0000 (UTC)` (day of month space-padded). */
export function mailDate(ms: number): string {
  const d = new Date(ms);
  const off = -d.getTimezoneOffset();
  const sign = off >= 0 ? '+' : '-';
  const abs = Math.abs(off);
  return (
    `${DAYS[d.getDay()]}, ${String(d.getDate()).padStart(2, ' ')} ${MONTHS[d.getMonth()]} ${d.getFullYear()} ` +
    `${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())} ${sign}${p2(Math.floor(abs / 60))}${p2(abs % 60)} (${zoneName(d)})`
  );
}

/**
 * Postfix's line_wrap(): break at blanks so lines stay within `length` columns;
 * continuation lines are indented by `indent` (bounce_print_wrap uses 79 and 4).
 * A word longer than a line is not broken.
 */
export function lineWrap(text: string, length = 79, indent = 4): string[] {
  const out: string[] = [];
  for (const para of text.split('\n')) {
    let currIndent = 0;
    let currLen = length;
    let start = 0;
    let word = 0;
    const s = para;
    for (;;) {
      let nextSpace = word;
      while (nextSpace < s.length && s[nextSpace] !== ' ' && s[nextSpace] !== '\t') nextSpace++;
      if (word > start && nextSpace - start > currLen) {
        let end = word;
        while (end > start && (s[end - 1] === ' ' || s[end - 1] === '\t')) end--;
        out.push(' '.repeat(currIndent) + s.slice(start, end));
        while (word < s.length && (s[word] === ' ' || s[word] === '\t')) word++;
        if (start === 0) {
          currIndent += indent;
          currLen -= indent;
        }
        start = word;
      }
      if (nextSpace >= s.length) break;
      word = nextSpace + 1;
    }
    let end = s.length;
    while (end > start && (s[end - 1] === ' ' || s[end - 1] === '\t')) end--;
    out.push(' '.repeat(currIndent) + s.slice(start, end));
  }
  return out;
}

function templateText(kind: NoticeTemplate, s: NoticeSettings): string[] {
  const head = [`This is the mail system at host ${s.myhostname}.`, ''];
  const help = ['For further assistance, please send mail to postmaster.', '', 'If you do so, please include this problem report. You can', 'delete your own text from the attached returned message.', ''];
  const sig = ['                   The mail system'];
  if (kind === 'failure') {
    return [...head, "I'm sorry to have to inform you that your message could not", "be delivered to one or more recipients. It's attached below.", '', ...help, ...sig];
  }
  if (kind === 'delay') {
    return [
      ...head,
      '####################################################################',
      '# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #',
      '####################################################################',
      '',
      `Your message could not be delivered for more than ${Math.floor(s.delayWarningTimeSec / 3600)} hour(s).`,
      `It will be retried until it is ${Math.floor(s.maximalQueueLifetimeSec / 86400)} day(s) old.`,
      '',
      ...help,
      ...sig,
    ];
  }
  return [
    ...head,
    'Your message was successfully delivered to the destination(s)',
    'listed below. If the message was delivered to mailbox you will',
    'receive no further notifications. Otherwise you may still receive',
    'notifications of mail delivery errors from other systems.',
    '',
    ...sig,
  ];
}

/** RFC 1894: the diagnostic type is an atom; Postfix transliterates mail_name. */
function atom(name: string): string {
  return name.replace(/[ \t\r\n()<>@,;:\\".[\]]/g, '-');
}

/** The human reason of one recipient (`delivery via relay: text` for successes). */
export function recipientReason(kind: NoticeTemplate, st: RecipientState): string {
  const reason = st.reason ?? 'delivery status unavailable';
  if (kind === 'success') return `delivery via ${st.relay ?? 'local'}: ${reason}`;
  return reason;
}

export interface NoticeText {
  /** Everything up to the returned message, ending with its Return-Path: line. */
  head: string;
  /** Return the full content (message/rfc822) or its headers (text/rfc822-headers). */
  attach: 'full' | 'headers';
  /** The closing boundary. */
  tail: string;
  subject: string;
  boundary: string;
}

/**
 * Build the notice around the original message; the caller writes `head`, then the
 * original (whole or headers only), then `tail`. Lines end with LF here; the caller
 * converts to CRLF when the original uses CRLF.
 *
 * `full` decides what is returned: RET=FULL → whole message, RET=HDRS → headers; with
 * no RET, failures return the whole message and successes and delays the headers
 * (Postfix bounce_notify_service / bounce_trace_service / bounce_warn_service); a
 * message larger than bounce_size_limit is returned as headers only.
 */
export function buildNotice(
  kind: NoticeTemplate,
  settings: NoticeSettings,
  original: NoticeOriginal,
  recipients: NoticeRecipient[],
  opts: { now: number; noticeId: string; originalSize: number; bounceSizeLimit: number },
): NoticeText {
  const boundary = `${original.id}.${Math.floor(opts.now / 1000)}/${settings.myhostname}`;
  const d = new Date(opts.now);
  const stamp = `${d.getUTCFullYear()}${p2(d.getUTCMonth() + 1)}${p2(d.getUTCDate())}${p2(d.getUTCHours())}${p2(d.getUTCMinutes())}${p2(d.getUTCSeconds())}`;
  const name = atom(settings.mailName);
  let headersOnly: boolean;
  if (kind === 'delay') headersOnly = true;
  else if (original.ret) headersOnly = original.ret === 'HDRS';
  else headersOnly = kind !== 'failure';
  if (!headersOnly && opts.bounceSizeLimit > 0 && opts.originalSize > opts.bounceSizeLimit) headersOnly = true;

  const L: string[] = [];
  // what Postfix's cleanup(8) adds to a locally generated message
  L.push(`Received: by ${settings.myhostname} (${settings.mailName})`);
  L.push(`\tid ${opts.noticeId}; ${mailDate(opts.now)}`);
  L.push(`Date: ${mailDate(opts.now)}`);
  L.push(`From: Mail Delivery System <MAILER-DAEMON@${settings.myorigin}>`);
  L.push(`Subject: ${SUBJECTS[kind]}`);
  L.push(`To: ${original.sender}`);
  L.push('Auto-Submitted: auto-replied');
  L.push('MIME-Version: 1.0');
  L.push('Content-Type: multipart/report; report-type=delivery-status;');
  L.push(`\tboundary="${boundary}"`);
  L.push('Content-Transfer-Encoding: 8bit');
  L.push(`Message-Id: <${stamp}.${opts.noticeId}@${settings.myhostname}>`);
  L.push('');
  L.push('This is a MIME-encapsulated message.');
  L.push('');
  L.push(`--${boundary}`);
  L.push('Content-Description: Notification');
  L.push('Content-Type: text/plain; charset=utf-8');
  L.push('Content-Transfer-Encoding: 8bit');
  L.push('');
  L.push(...templateText(kind, settings));
  for (const r of recipients) {
    L.push('');
    L.push(...lineWrap(`<${r.address}>: ${recipientReason(kind, r.state)}`));
  }
  L.push('');
  L.push(`--${boundary}`);
  L.push('Content-Description: Delivery report');
  L.push('Content-Type: message/delivery-status');
  L.push('');
  L.push(`Reporting-MTA: dns; ${settings.myhostname}`);
  if (original.envid) L.push(`Original-Envelope-Id: ${original.envid}`);
  L.push(`X-${name}-Queue-ID: ${original.id}`);
  if (original.sender) L.push(`X-${name}-Sender: rfc822; ${original.sender}`);
  L.push(`Arrival-Date: ${mailDate(original.arrival)}`);
  for (const r of recipients) {
    const st = r.state;
    L.push('');
    L.push(`Final-Recipient: rfc822; ${r.address}`);
    // Postfix always reports an Original-Recipient (its smtpd records an ORCPT when none was given)
    L.push(`Original-Recipient: ${r.orcpt ?? `rfc822;${r.address}`}`);
    const action = kind === 'failure' ? 'failed' : kind === 'delay' ? 'delayed' : (st.action ?? 'delivered');
    L.push(`Action: ${action}`);
    L.push(`Status: ${st.dsn ?? (kind === 'failure' ? '5.0.0' : kind === 'delay' ? '4.0.0' : '2.0.0')}`);
    if (st.remoteMta) L.push(...lineWrap(`Remote-MTA: dns; ${st.remoteMta}`));
    if (st.diagnostic) L.push(...lineWrap(`Diagnostic-Code: ${st.diagnostic}`));
    else L.push(...lineWrap(`Diagnostic-Code: X-${name}; ${recipientReason(kind, st)}`));
    if (kind === 'delay') L.push(`Will-Retry-Until: ${mailDate(original.arrival + settings.maximalQueueLifetimeSec * 1000)}`);
  }
  L.push('');
  L.push(`--${boundary}`);
  const undelivered = kind === 'success' ? '' : 'Undelivered ';
  L.push(`Content-Description: ${undelivered}${headersOnly ? 'Message Headers' : 'Message'}`);
  L.push(`Content-Type: ${headersOnly ? 'text/rfc822-headers' : 'message/rfc822'}`);
  L.push('Content-Transfer-Encoding: 8bit');
  L.push('');
  // bounce(8) puts the envelope sender back in front of the returned message
  L.push(`Return-Path: <${original.sender}>`);
  return {
    head: L.join('\n') + '\n',
    attach: headersOnly ? 'headers' : 'full',
    tail: `\n--${boundary}--\n`,
    subject: SUBJECTS[kind],
    boundary,
  };
}
