// POP3 over the real Maildir store: Dovecot's recorded POP3 answers for a Maildir written
// by Dovecot, and IMAP and POP3 seeing each other's changes.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { ImapFlow } from 'imapflow';
import type { UserEntry } from '../../src/auth/types.js';
import { Config } from '../../src/config/config.js';
import { createImapHandler } from '../../src/imap/server.js';
import { createPop3Handler } from '../../src/pop3/service.js';
import { createStoreMaildrops } from '../../src/pop3/store-maildrops.js';
import { FacteurServer } from '../../src/server/server.js';
import { FolderRegistry } from '../../src/store/registry.js';
import { FakeAuth, FakeUsers } from '../imap/harness.js';
import { FIXTURE_ROOT, materializeFixture } from '../store/fixture-maildir.js';
import { tmpDir } from '../helpers/tmp.js';

const run = promisify(execFile);
const OFF = { smtp_listen: '', submission_listen: '', submissions_listen: '', imap_listen: '127.0.0.1:0', imaps_listen: '', pop3_listen: '127.0.0.1:0', pop3s_listen: '' };

async function start(homes: Record<string, string>, passwords: Record<string, string>) {
  const data = tmpDir();
  const config = Config.fromObject({ ...OFF, data_directory: data, maildir_fsync: 'no', disable_plaintext_auth: 'no', mailbox_autocreate: '', mailbox_autosubscribe: '' }).assertValid();
  const entries: UserEntry[] = Object.keys(passwords).map((u) => ({ user: u, password: '', gecos: '', home: homes[u] ?? join(data, u), shell: '', extra: {} }));
  const users = new FakeUsers(entries);
  const auth = new FakeAuth(new Map(Object.entries(passwords)));
  const registry = new FolderRegistry(0);
  const server = new FacteurServer(config, (c, tls) => ({
    imap: createImapHandler({ config: c, auth, users, tls, registry }),
    pop3: createPop3Handler({ config: c, tls, auth, maildrops: createStoreMaildrops(c.view('pop3'), users, registry) }),
  }));
  const listening = await server.start();
  return {
    server,
    imapPort: listening.find((l) => l.service === 'imap')!.port,
    pop3Port: listening.find((l) => l.service === 'pop3')!.port,
  };
}

/** The command/reply blocks of Dovecot's recorded POP3 session. */
function recordedPop3(): Map<string, string> {
  const text = readFileSync(join(FIXTURE_ROOT, 'expected/pop3.txt'), 'latin1');
  const blocks = new Map<string, string>();
  for (const block of text.split(/^>>> /m).slice(1)) {
    const nl = block.indexOf('\r\n');
    blocks.set(block.slice(0, nl), block.slice(nl + 2));
  }
  return blocks;
}

describe('POP3 over the Maildir store', () => {
  it('answers STAT, LIST and UIDL for a Maildir written by Dovecot exactly as Dovecot did', async () => {
    const home = materializeFixture();
    const { server, pop3Port } = await start({ bob: home }, { bob: 'bob-pw-2' });
    const recorded = recordedPop3();
    const { stdout } = await run('python3', [
      '-c',
      `import socket, sys
s = socket.create_connection(('127.0.0.1', ${pop3Port})); f = s.makefile('rb')
def line(): return f.readline().decode('latin1')
def multi():
    out = line()
    while True:
        l = line(); out += l
        if l == '.\\r\\n': return out
line()
out = {}
for cmd, m in [('USER bob', 0), ('PASS bob-pw-2', 0), ('STAT', 0), ('LIST', 1), ('UIDL', 1), ('LIST 2', 0), ('UIDL 2', 0), ('QUIT', 0)]:
    s.sendall((cmd + '\\r\\n').encode()); out[cmd] = multi() if m else line()
import json; print(json.dumps(out))`,
    ]);
    const got = JSON.parse(stdout) as Record<string, string>;
    for (const cmd of ['STAT', 'LIST', 'UIDL', 'LIST 2', 'UIDL 2']) assert.equal(got[cmd], recorded.get(cmd), cmd);
    assert.equal(got['PASS bob-pw-2'], '+OK Logged in.\r\n');
    // Dovecot's POP3 moves new/ into cur/ with an empty ":2," info; so does facteur
    const maildir = join(home, 'Maildir');
    assert.deepEqual(readdirSync(join(maildir, 'new')), []);
    assert.ok(existsSync(join(maildir, 'cur', '1795908109.M468304P29973.vm,S=302,W=312:2,')));
    await server.stop(1000);
  });

  it('IMAP and POP3 see each other\'s changes: RETR sets \\Seen, DELE+QUIT expunges, APPEND shows up', async () => {
    const { server, imapPort, pop3Port } = await start({}, { carol: 'carol-pw' });
    const imap = new ImapFlow({ host: '127.0.0.1', port: imapPort, secure: false, auth: { user: 'carol', pass: 'carol-pw' }, logger: false, doSTARTTLS: false });
    await imap.connect();
    const msg = (n: number) => `From: x@example.org\r\nSubject: m${n}\r\n\r\nbody ${n}\r\n.dot line\r\n`;
    for (const n of [1, 2, 3]) await imap.append('INBOX', msg(n));
    const script = `
import poplib, json
p = poplib.POP3('127.0.0.1', ${pop3Port}); p.user('carol'); p.pass_('carol-pw')
out = {'stat': list(p.stat()), 'retr2': [l.decode() for l in p.retr(2)[1]]}
p.dele(3); p.quit(); print(json.dumps(out))`;
    const { stdout } = await run('python3', ['-c', script]);
    const out = JSON.parse(stdout);
    assert.equal(out.stat[0], 3);
    assert.equal(out.stat[1], [1, 2, 3].reduce((a, n) => a + Buffer.byteLength(msg(n)), 0));
    assert.deepEqual(out.retr2, msg(2).split('\r\n').slice(0, -1));
    const lock = await imap.getMailboxLock('INBOX');
    try {
      const seen: Record<string, string[]> = {};
      for await (const m of imap.fetch('1:*', { flags: true, envelope: true })) seen[m.envelope!.subject!] = [...(m.flags ?? [])].filter((f) => f !== '\\Recent');
      assert.deepEqual(Object.keys(seen).sort(), ['m1', 'm2']);
      assert.deepEqual(seen.m2, ['\\Seen']);
      assert.deepEqual(seen.m1, []);
    } finally {
      lock.release();
    }
    // a flag set over IMAP is kept, and a message appended over IMAP is seen by the next POP3 session
    await imap.append('INBOX', msg(4));
    await imap.logout();
    const { stdout: again } = await run('python3', ['-c', `import poplib; p = poplib.POP3('127.0.0.1', ${pop3Port}); p.user('carol'); p.pass_('carol-pw'); print(p.stat()[0]); print(p.uidl()[1]); p.quit()`]);
    const [count, uidls] = again.trim().split('\n');
    assert.equal(count, '3');
    // UIDs 1, 2 and 4 (3 was deleted), with the folder's UIDVALIDITY
    assert.match(uidls, /b'1 00000001[0-9a-f]{8}', b'2 00000002[0-9a-f]{8}', b'3 00000004[0-9a-f]{8}'/);
    await server.stop(1000);
  });
});
