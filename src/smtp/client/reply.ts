// SMTP replies as the client reads them (RFC 5321 §4.2): one or more lines
// `ddd-text` … `ddd text`, with an optional RFC 3463 enhanced status code
// (RFC 2034). The reply reader has limits so that a hostile server cannot
// make the client buffer without end.

export interface SmtpReply {
  code: number;
  /** RFC 3463 status of the reply (`5.1.1`), when the server gave one. */
  enhanced?: string;
  /** The full reply lines as received, without CRLF. */
  lines: string[];
}

/** Longest reply line the client accepts (RFC 5321 §4.5.3.1.5 says 512; servers send more). */
export const MAX_REPLY_LINE = 8192;
/** Most lines in one reply (long EHLO lists are a few dozen). */
export const MAX_REPLY_LINES = 500;

/** The reply as one line, multi-line replies joined with a space as Postfix reports them. */
export function replyText(r: SmtpReply): string {
  return r.lines.join(' ');
}

/** The text of the lines without the code (and without the enhanced code). */
export function replyMessages(r: SmtpReply): string[] {
  return r.lines.map((l) => {
    let t = l.slice(4);
    if (r.enhanced && t.startsWith(r.enhanced)) t = t.slice(r.enhanced.length).replace(/^ /, '');
    return t;
  });
}

/**
 * The RFC 3463 status for a reply: the enhanced code when the server sent one whose
 * class matches the reply, else `X.0.0` from the reply's first digit (as Postfix does).
 */
export function replyStatus(r: SmtpReply): string {
  const cls = String(r.code)[0];
  if (r.enhanced && r.enhanced[0] === cls) return r.enhanced;
  return `${cls}.0.0`;
}

export class ReplyFormatError extends Error {}

/**
 * Incremental reply parser: feed bytes, take complete replies. Lines end with LF
 * (a preceding CR is dropped); a line that does not start with three digits and
 * a space/hyphen is a protocol error.
 */
export class ReplyParser {
  private partial = '';
  private current: string[] = [];
  private readonly done: SmtpReply[] = [];

  feed(chunk: Buffer): void {
    let text = this.partial + chunk.toString('latin1');
    let nl: number;
    while ((nl = text.indexOf('\n')) >= 0) {
      let line = text.slice(0, nl);
      text = text.slice(nl + 1);
      if (line.endsWith('\r')) line = line.slice(0, -1);
      this.line(line);
    }
    if (text.length > MAX_REPLY_LINE) throw new ReplyFormatError(`reply line longer than ${MAX_REPLY_LINE} bytes`);
    this.partial = text;
  }

  private line(raw: string): void {
    // Replies are ASCII; keep UTF-8 text (SMTPUTF8 servers) readable.
    const line = Buffer.from(raw, 'latin1').toString('utf8');
    const m = /^([2-5]\d\d)([ -]|$)/.exec(line);
    if (!m) throw new ReplyFormatError(`malformed reply line: ${JSON.stringify(line.slice(0, 100))}`);
    if (this.current.length > 0 && !this.current[0].startsWith(m[1])) {
      throw new ReplyFormatError(`reply code changed within a multi-line reply: ${JSON.stringify(line.slice(0, 100))}`);
    }
    this.current.push(line);
    if (this.current.length > MAX_REPLY_LINES) throw new ReplyFormatError(`reply longer than ${MAX_REPLY_LINES} lines`);
    if (m[2] !== '-') {
      const lines = this.current;
      this.current = [];
      const code = Number(m[1]);
      const e = /^\d{3}[ -]([245]\.\d{1,3}\.\d{1,3})(?:\s|$)/.exec(lines[0]);
      this.done.push({ code, enhanced: e ? e[1] : undefined, lines });
    }
  }

  /** The next complete reply, if any. */
  take(): SmtpReply | undefined {
    return this.done.shift();
  }

  /** Bytes received that are not part of a complete reply (after STARTTLS this must be empty). */
  get pendingBytes(): number {
    return this.partial.length + this.current.length + this.done.length;
  }
}

/** EHLO keywords and their parameters (RFC 5321 §4.1.1.1), keys upper-cased. */
export function parseEhlo(r: SmtpReply): Map<string, string> {
  const ext = new Map<string, string>();
  for (const line of r.lines.slice(1)) {
    const t = line.slice(4).trim();
    if (!t) continue;
    const sp = t.indexOf(' ');
    const key = (sp < 0 ? t : t.slice(0, sp)).toUpperCase();
    const arg = sp < 0 ? '' : t.slice(sp + 1).trim();
    // "AUTH=LOGIN PLAIN" is an old form some servers still send in addition.
    if (key.startsWith('AUTH=')) {
      const prev = ext.get('AUTH');
      ext.set('AUTH', [prev, t.slice(5)].filter(Boolean).join(' '));
      continue;
    }
    if (key === 'AUTH' && ext.has('AUTH')) ext.set('AUTH', `${arg} ${ext.get('AUTH')}`);
    else ext.set(key, arg);
  }
  return ext;
}
