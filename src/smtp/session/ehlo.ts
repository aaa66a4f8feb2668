// The EHLO reply's keywords in Postfix's order (smtpd.c ehlo_cmd), minus
// smtpd_discard_ehlo_keywords.
import type { SmtpSettings } from './settings.js';

export function ehloKeywords(s: SmtpSettings, offer: { starttls: boolean; auth: string[] }): string[] {
  const k: string[] = [];
  const d = s.discard;
  if (!d.has('PIPELINING')) k.push('PIPELINING');
  if (!d.has('SIZE')) k.push(s.sizeLimit > 0 ? `SIZE ${s.sizeLimit}` : 'SIZE');
  if (!d.has('VRFY') && !s.vrfyDisabled) k.push('VRFY');
  if (!d.has('ETRN')) k.push('ETRN');
  if (offer.starttls) k.push('STARTTLS');
  if (!d.has('AUTH') && offer.auth.length > 0) {
    k.push(`AUTH ${offer.auth.join(' ')}`);
    if (s.brokenAuthClients) k.push(`AUTH=${offer.auth.join(' ')}`);
  }
  if (!d.has('ENHANCEDSTATUSCODES')) k.push('ENHANCEDSTATUSCODES');
  if (!d.has('8BITMIME')) k.push('8BITMIME');
  if (!d.has('DSN')) k.push('DSN');
  if (s.smtputf8 && !d.has('SMTPUTF8')) k.push('SMTPUTF8');
  if (!d.has('CHUNKING')) k.push('CHUNKING');
  return k;
}

/** Per-command counters for the `disconnect from … ehlo=1 mail=1/2 … commands=5/6` log line. */
export class CommandStats {
  private readonly stats = new Map<string, { ok: number; total: number }>();
  private static readonly ORDER = ['helo', 'ehlo', 'starttls', 'auth', 'mail', 'rcpt', 'data', 'bdat', 'rset', 'noop', 'vrfy', 'etrn', 'quit', 'unknown'];

  count(name: string, ok: boolean): void {
    const e = this.stats.get(name) ?? { ok: 0, total: 0 };
    e.total++;
    if (ok) e.ok++;
    this.stats.set(name, e);
  }

  toString(): string {
    let ok = 0;
    let total = 0;
    let text = '';
    for (const name of CommandStats.ORDER) {
      const e = this.stats.get(name);
      if (!e) continue;
      ok += e.ok;
      total += e.total;
      text += ` ${name}=${e.ok === e.total ? e.ok : `${e.ok}/${e.total}`}`;
    }
    if (total === 0) return '';
    return `${text} commands=${ok === total ? ok : `${ok}/${total}`}`;
  }
}
