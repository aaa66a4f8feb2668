// Dovecot's mail_location for Maildir: "maildir:<root>[:INBOX=<path>][:LAYOUT=fs|maildir++][:INDEX=…]"
// with %u (user), %n (local part), %d (domain), %h (home), %% and "~/" for the home.
import { isAbsolute, join, resolve } from 'node:path';

export interface MailLocation {
  /** Root of the Maildir (holds .Folder directories with LAYOUT=maildir++). */
  root: string;
  /** The INBOX folder directory (cur/ new/ tmp/); the root unless INBOX= says otherwise. */
  inbox: string;
  /** maildir++: .Parent.Child beside the INBOX; fs: Parent/Child directories under the root. */
  layout: 'maildir++' | 'fs';
}

export class LocationError extends Error {}

export function expandVariables(text: string, user: string, home: string): string {
  const at = user.lastIndexOf('@');
  const local = at >= 0 ? user.slice(0, at) : user;
  const domain = at >= 0 ? user.slice(at + 1) : '';
  return text.replace(/%(%|[LlUu]?[undh])/g, (m, v: string) => {
    if (v === '%') return '%';
    const modifier = v.length === 2 ? v[0] : '';
    const key = v[v.length - 1];
    let val = key === 'u' ? user : key === 'n' ? local : key === 'd' ? domain : home;
    if (modifier === 'L' || modifier === 'l') val = val.toLowerCase();
    if (modifier === 'U') val = val.toUpperCase();
    return val;
  });
}

function expandPath(p: string, user: string, home: string): string {
  let s = expandVariables(p, user, home);
  if (s === '~') s = home;
  else if (s.startsWith('~/')) s = join(home, s.slice(2));
  if (!isAbsolute(s)) s = resolve(home, s);
  return s;
}

/** Resolve mail_location for one user. */
export function resolveMailLocation(spec: string, user: string, home: string): MailLocation {
  let text = spec.trim();
  if (!text) text = 'maildir:~/Maildir';
  const colon = text.indexOf(':');
  const format = colon >= 0 ? text.slice(0, colon).toLowerCase() : '';
  if (format !== 'maildir') throw new LocationError(`mail_location "${spec}": only maildir: is supported`);
  const parts = text.slice(colon + 1).split(':');
  const root = expandPath(parts[0] || '~/Maildir', user, home);
  let inbox = root;
  let layout: MailLocation['layout'] = 'maildir++';
  for (const p of parts.slice(1)) {
    const eq = p.indexOf('=');
    const key = (eq >= 0 ? p.slice(0, eq) : p).toUpperCase();
    const val = eq >= 0 ? p.slice(eq + 1) : '';
    if (key === 'INBOX') inbox = expandPath(val, user, home);
    else if (key === 'LAYOUT') {
      const l = val.toLowerCase();
      if (l === 'fs') layout = 'fs';
      else if (l === 'maildir++') layout = 'maildir++';
      else throw new LocationError(`mail_location "${spec}": unknown LAYOUT=${val}`);
    }
    // INDEX=, CONTROL=, VOLATILEDIR= … are Dovecot's own files: ignored
  }
  return { root, inbox, layout };
}
