// Child process of bench/imap-idle.ts: a facteur IMAP server (compiled, from dist/) with
// N users, each with a small INBOX, so that its RSS is measured alone.
// Messages from the parent: {cmd:'rss'} → {rss, heap}; {cmd:'deliver', user} → writes a
// message into the user's new/ and notifies (as SMTP delivery does).
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Config } from '../dist/config/config.js';
import { createImapHandler } from '../dist/imap/server.js';
import { setLogLevel } from '../dist/log.js';
import { mailboxEvents } from '../dist/store/events.js';

setLogLevel('fatal');
const users = Number(process.argv[2] ?? 2000);
const perBox = Number(process.argv[3] ?? 20);
const base = mkdtempSync(join(tmpdir(), 'facteur-idle-'));
const homes = new Map();
for (let u = 0; u < users; u++) {
  const home = join(base, `u${u}`);
  const md = join(home, 'Maildir');
  for (const d of ['cur', 'new', 'tmp']) mkdirSync(join(md, d), { recursive: true });
  for (let i = 0; i < perBox; i++) {
    const m = `From: a@example.test\nSubject: message ${i}\n\nbody of message ${i}\n`;
    writeFileSync(join(md, 'cur', `${1700000000 + i}.M${i}P1Q${i}.bench,S=${m.length},W=${m.length + 4}:2,S`), m);
  }
  homes.set(`u${u}`, home);
}
const auth = {
  mechanisms: () => ['PLAIN'],
  start: () => undefined,
  verifyPassword: async (user, pass) => (homes.has(user) && pass === 'pw' ? { ok: true, user } : { ok: false, reason: 'no' }),
  isThrottled: () => false,
};
const userdb = {
  lookup: (n) => (homes.has(n) ? { user: n, password: '', gecos: '', home: homes.get(n), shell: '', extra: {} } : undefined),
  all: () => [],
  domains: () => new Set(),
};
const config = Config.fromObject({ data_directory: base, maildir_fsync: 'no', disable_plaintext_auth: 'no', mailbox_autocreate: '', mailbox_autosubscribe: '', mail_max_userip_connections: '100000' });
const handler = createImapHandler({ config, auth, users: userdb });
let id = 0;
const server = createServer((sock) => {
  handler(sock, { service: 'imap', id: String(++id), remoteAddress: '127.0.0.1', remotePort: sock.remotePort ?? 0, localAddress: '127.0.0.1', localPort: 0, implicitTls: false });
});
server.listen(0, '127.0.0.1', () => {
  process.send({ port: server.address().port, rss: process.memoryUsage().rss });
});
let n = 0;
process.on('message', (m) => {
  if (m.cmd === 'rss') {
    global.gc?.();
    const mu = process.memoryUsage();
    process.send({ rss: mu.rss, heap: mu.heapUsed });
  } else if (m.cmd === 'deliver') {
    const md = join(homes.get(m.user), 'Maildir');
    writeFileSync(join(md, 'new', `1800000000.M${++n}P1Q${n}.bench`), 'Subject: new\n\nnew mail\n');
    mailboxEvents.notify({ folder: md, kind: 'delivered' });
    process.send({ delivered: true });
  } else if (m.cmd === 'exit') process.exit(0);
});
