// What a mail store looks like to a client, normalised so that facteur's IMAP view and
// Dovecot's doveadm view of the same Maildir can be compared with deepEqual.
import { ImapFlow } from 'imapflow';
import type { Dovecot } from './peers.js';
import { python } from './peers.js';

export interface MessageView {
  uid: number;
  /** System flags and keywords, sorted, without \Recent (a per-session flag). */
  flags: string[];
  /** INTERNALDATE / date.received, seconds since the epoch. */
  date: number;
  /** RFC822.SIZE / size.virtual (CRLF line ends). */
  size: number;
  /** The message with LF line ends (as doveadm prints `text`). */
  text: string;
}

export interface MailboxView {
  uidvalidity: number;
  uidnext: number;
  messages: MessageView[];
}

export interface StoreView {
  /** Mailbox name (UTF-8, `.` separated) → its state. */
  mailboxes: Record<string, MailboxView>;
  subscribed: string[];
}

const sortFlags = (flags: Iterable<string>) => [...flags].filter((f) => f !== '\\Recent').sort();

/** facteur's IMAP view: LIST, LSUB, STATUS, and FETCH of every message (EXAMINE: nothing changes). */
export async function imapView(port: number, user: string, pass: string): Promise<StoreView> {
  const c = imapClient(port, user, pass);
  await c.connect();
  let doing = 'LIST';
  try {
    const mailboxes: Record<string, MailboxView> = {};
    for (const box of await c.list()) {
      if (box.flags.has('\\Noselect') || box.flags.has('\\NonExistent')) continue;
      doing = `STATUS ${box.path}`;
      const st = await c.status(box.path, { messages: true, uidNext: true, uidValidity: true });
      if (!st) throw new Error(`STATUS ${box.path} failed`);
      const messages: MessageView[] = [];
      if (st.messages) {
        doing = `EXAMINE/FETCH ${box.path}`;
        await c.mailboxOpen(box.path, { readOnly: true });
        for (const m of await c.fetchAll('1:*', { uid: true, flags: true, internalDate: true, size: true, source: true })) {
          messages.push({
            uid: m.uid,
            flags: sortFlags(m.flags ?? []),
            date: Math.floor(new Date(m.internalDate as Date | string).getTime() / 1000),
            size: m.size ?? -1,
            text: (m.source ?? Buffer.alloc(0)).toString('utf8').replace(/\r\n/g, '\n'),
          });
        }
        await c.mailboxClose();
      }
      messages.sort((a, b) => a.uid - b.uid);
      mailboxes[box.path] = { uidvalidity: Number(st.uidValidity), uidnext: st.uidNext ?? -1, messages };
    }
    return { mailboxes, subscribed: await lsub(port, user, pass) };
  } catch (err) {
    const e = err as Error & { response?: string; responseText?: string };
    throw new Error(`IMAP on port ${port}: ${doing}: ${e.message} ${e.responseText ?? e.response ?? ''}`);
  } finally {
    await c.logout().catch(() => undefined);
  }
}

// argv: port, user, password. Prints the LSUB "" "*" names as sent (modified UTF-7).
const LSUB = `
import imaplib, json, re, sys
c = imaplib.IMAP4('127.0.0.1', int(sys.argv[1]))
c.login(sys.argv[2], sys.argv[3])
typ, data = c.lsub('""', '*')
assert typ == 'OK', data
c.logout()
names = []
for line in data:
    if line is None: continue
    name = re.match(r'^\\((.*?)\\) (?:NIL|"(?:[^"\\\\]|\\\\.)*") (.*)$', line.decode()).group(2)
    names.append(name[1:-1].replace('\\\\"', '"').replace('\\\\\\\\', '\\\\') if name.startswith('"') else name)
print(json.dumps(names))
`;

/** RFC 3501 §5.1.3 modified UTF-7 → UTF-8. */
export function decodeMutf7(name: string): string {
  return name.replace(/&([^-]*)-/g, (_m, b64: string) => {
    if (b64 === '') return '&';
    const bytes = Buffer.from(b64.replace(/,/g, '/'), 'base64');
    let out = '';
    for (let i = 0; i + 1 < bytes.length; i += 2) out += String.fromCharCode(bytes.readUInt16BE(i));
    return out;
  });
}

/** The subscriptions as LSUB answers them (imapflow reports INBOX as subscribed whatever the server says). */
async function lsub(port: number, user: string, pass: string): Promise<string[]> {
  const names = JSON.parse(await python(LSUB, [String(port), user, pass])) as string[];
  return names.map(decodeMutf7).sort();
}

export function imapClient(port: number, user: string, pass: string): ImapFlow {
  const c = new ImapFlow({ host: '127.0.0.1', port, secure: false, auth: { user, pass }, logger: false, tls: { rejectUnauthorized: false } });
  c.on('error', () => undefined);
  return c;
}

/** Dovecot's view of the same user through doveadm (mailbox status, mailbox list -s, fetch). */
export async function doveadmView(dv: Dovecot, user: string): Promise<StoreView> {
  const status = await dv.doveadmJson(['mailbox', 'status', '-u', user, 'messages uidnext uidvalidity', '*']);
  const mailboxes: Record<string, MailboxView> = {};
  for (const s of status) mailboxes[s.mailbox] = { uidvalidity: Number(s.uidvalidity), uidnext: Number(s.uidnext), messages: [] };
  const msgs = await dv.doveadmJson(['fetch', '-u', user, 'mailbox uid flags date.received size.virtual text', 'all']);
  for (const m of msgs) {
    const box = mailboxes[m.mailbox];
    if (!box) throw new Error(`doveadm fetch: message in unknown mailbox ${m.mailbox}`);
    box.messages.push({
      uid: Number(m.uid),
      flags: sortFlags(m.flags.split(' ').filter(Boolean)),
      // doveadm prints local time; it runs with TZ=UTC
      date: Math.floor(Date.parse(m['date.received'].replace(' ', 'T') + 'Z') / 1000),
      size: Number(m['size.virtual']),
      text: m.text,
    });
  }
  for (const b of Object.values(mailboxes)) b.messages.sort((a, c) => a.uid - c.uid);
  const subscribed = (await dv.doveadm(['mailbox', 'list', '-s', '-u', user])).split('\n').filter(Boolean).sort();
  return { mailboxes, subscribed };
}

export interface Pop3View {
  stat: string;
  list: string[];
  uidl: string[];
  messages: string[];
}

// argv: port, user, password. Prints STAT, LIST, UIDL and every message (TOP n 9999: no \Seen change), then RSET.
const POP3 = `
import json, poplib, sys
p = poplib.POP3('127.0.0.1', int(sys.argv[1]), timeout=20)
p.user(sys.argv[2]); p.pass_(sys.argv[3])
out = {'stat': p.stat(), 'list': [l.decode() for l in p.list()[1]], 'uidl': [l.decode() for l in p.uidl()[1]]}
out['messages'] = [b'\\r\\n'.join(p.top(int(l.split()[0]), 100000)[1]).decode('utf-8', 'replace') for l in p.list()[1]]
p.rset(); p.quit()
print(json.dumps(out))
`;

/** A POP3 server's view of a maildrop (Python's poplib). */
export async function pop3View(port: number, user: string, pass: string): Promise<Pop3View> {
  const r = JSON.parse(await python(POP3, [String(port), user, pass])) as { stat: [number, number]; list: string[]; uidl: string[]; messages: string[] };
  return { stat: `${r.stat[0]} ${r.stat[1]}`, list: r.list, uidl: r.uidl, messages: r.messages };
}
