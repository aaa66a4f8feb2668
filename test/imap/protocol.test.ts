// Raw-socket protocol tests: exact responses, bad input, literals, plaintext policy,
// STARTTLS, update rules of RFC 3501 §7.4.1, CONDSTORE details.
import { strict as assert } from 'node:assert';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { Config } from '../../src/config/config.js';
import { TlsProvider } from '../../src/server/tls.js';
import { RawClient, startServer, type TestServer } from './harness.js';

const MSG = (subject: string, body = 'hello') => `From: a@example.test\r\nSubject: ${subject}\r\n\r\n${body}\r\n`;

async function login(srv: TestServer, user = 'alice', pass = 'alice-pw'): Promise<RawClient> {
  const c = await RawClient.connect(srv.port);
  const r = await c.cmd(`LOGIN ${user} ${pass}`);
  assert.match(r.tagged, /^OK /);
  return c;
}

async function append(c: RawClient, box: string, msg: string, flags = ''): Promise<string> {
  const r = await c.cmd(`APPEND ${box} ${flags ? `(${flags}) ` : ''}{${Buffer.byteLength(msg)}+}\r\n${msg}`);
  assert.match(r.tagged, /^OK \[APPENDUID/);
  return r.tagged;
}

describe('IMAP protocol (raw socket)', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startServer({ config: { imap_literal_limit: '100000', imap_max_line_length: '2000' } });
  });
  after(async () => srv.close());

  it('answers bad input with BAD and goes on', async () => {
    const c = await RawClient.connect(srv.port);
    assert.match((await c.cmd('FOO')).tagged, /^BAD Error in IMAP command FOO: Unknown command/);
    c.write('\r\n');
    c.write('* NOOP\r\n');
    assert.match(await c.readLine(), /^\* BAD/);
    assert.match((await c.cmd('LOGIN "unterminated')).tagged, /^BAD/);
    assert.match((await c.cmd('SELECT INBOX')).tagged, /^BAD/);
    assert.match((await c.cmd(`NOOP ${'x'.repeat(5000)}`)).tagged, /^BAD .*Too long/);
    assert.match((await c.cmd('NOOP')).tagged, /^OK/);
    c.close();
  });

  it('refuses a huge literal without reading it, and continues', async () => {
    const c = await login(srv);
    c.write('A1 APPEND INBOX {999999999}\r\n');
    const r = await c.until('A1');
    assert.match(r.tagged, /^NO \[TOOBIG\]/);
    // a non-synchronizing one above the limit but below the discard bound is read and dropped
    const big = 'x'.repeat(150000);
    c.write(`A2 APPEND INBOX {${big.length}+}\r\n${big}\r\n`);
    assert.match((await c.until('A2')).tagged, /^NO \[TOOBIG\]/);
    assert.match((await c.cmd('NOOP')).tagged, /^OK/);
    // synchronizing literal: continuation request first
    c.write('A3 EXAMINE {5}\r\n');
    assert.equal(await c.readLine(), '+ Ready for literal data');
    c.write('INBOX\r\n');
    assert.match((await c.until('A3')).tagged, /^OK \[READ-ONLY\]/);
    // a command refused before its literal: no continuation, the client does not send it
    c.write('A4 LOGIN {5}\r\n');
    assert.match((await c.until('A4')).tagged, /^BAD .*Already authenticated/);
    assert.match((await c.cmd('APPEND Nope {3+}\r\nabc')).tagged, /^NO \[TRYCREATE\]/);
    assert.match((await c.cmd('NOOP')).tagged, /^OK/);
    c.close();
  });

  it('sets \\Seen on BODY[] and reports FLAGS, not on BODY.PEEK[]; sections and partials', async () => {
    const c = await login(srv);
    await c.cmd('CREATE Seen');
    await append(c, 'Seen', MSG('one', 'line1\r\nline2'));
    await c.cmd('SELECT Seen');
    let r = await c.cmd('FETCH 1 (BODY.PEEK[TEXT]<2.3>)');
    assert.deepEqual(r.untagged, ['* 1 FETCH (BODY[TEXT]<2> {3}\r\nne1)']);
    r = await c.cmd('FETCH 1 (FLAGS)');
    assert.deepEqual(r.untagged, ['* 1 FETCH (FLAGS (\\Recent))']);
    r = await c.cmd('UID FETCH 1 (BODY[HEADER.FIELDS (SUBJECT)])');
    assert.deepEqual(r.untagged, ['* 1 FETCH (UID 1 BODY[HEADER.FIELDS (SUBJECT)] {16}\r\nSubject: one\r\n\r\n FLAGS (\\Seen \\Recent))']);
    r = await c.cmd('FETCH 1 (RFC822.SIZE BODY[] BODY[2])');
    const size = Buffer.byteLength(MSG('one', 'line1\r\nline2'));
    assert.deepEqual(r.untagged, [`* 1 FETCH (RFC822.SIZE ${size} BODY[] {${size}}\r\n${MSG('one', 'line1\r\nline2')} BODY[2] {0}\r\n)`]);
    assert.match((await c.cmd('FETCH 1 (BODY[BOGUS])')).tagged, /^BAD/);
    assert.match((await c.cmd('FETCH 5 FLAGS')).tagged, /^BAD .*Invalid messageset/);
    assert.match((await c.cmd('FETCH 1 (FLAGS')).tagged, /^BAD/);
    c.close();
  });

  it('never sends EXPUNGE during FETCH/STORE/SEARCH, does after NOOP and UID commands', async () => {
    const a = await login(srv);
    const b = await login(srv);
    await a.cmd('CREATE Upd');
    for (const s of ['m1', 'm2', 'm3']) await append(a, 'Upd', MSG(s));
    await a.cmd('SELECT Upd');
    await b.cmd('SELECT Upd');
    await b.cmd('STORE 1 +FLAGS.SILENT (\\Deleted)');
    assert.deepEqual((await b.cmd('EXPUNGE')).untagged, ['* 1 EXPUNGE']);
    // a still numbers the expunged message
    let r = await a.cmd('FETCH 1:* (UID)');
    assert.deepEqual(r.untagged, ['* 1 FETCH (UID 1)', '* 2 FETCH (UID 2)', '* 3 FETCH (UID 3)']);
    r = await a.cmd('SEARCH ALL');
    assert.deepEqual(r.untagged, ['* SEARCH 1 2 3']);
    r = await a.cmd('STORE 3 +FLAGS (\\Flagged)');
    assert.deepEqual(r.untagged, ['* 3 FETCH (FLAGS (\\Flagged \\Recent))']);
    r = await a.cmd('NOOP');
    assert.deepEqual(r.untagged.filter((l) => !l.endsWith('RECENT')), ['* 1 EXPUNGE']);
    // now numbering follows
    r = await a.cmd('FETCH 1:* (UID)');
    assert.deepEqual(r.untagged, ['* 1 FETCH (UID 2)', '* 2 FETCH (UID 3)']);
    // b sees a's flag change and a new message as FETCH and EXISTS
    await append(a, 'Upd', MSG('m4'));
    r = await b.cmd('NOOP');
    assert.deepEqual(r.untagged, ['* 3 EXISTS', '* 0 RECENT', '* 2 FETCH (UID 3 FLAGS (\\Flagged))']);
    // UID SEARCH may carry EXPUNGE
    await b.cmd('STORE 1 +FLAGS.SILENT (\\Deleted)');
    await b.cmd('EXPUNGE');
    r = await a.cmd('UID SEARCH ALL');
    assert.deepEqual(r.untagged.slice(0, 2), ['* SEARCH 2 3 4', '* 1 EXPUNGE']);
    a.close();
    b.close();
  });

  it('IDLE: DONE ends it, updates arrive while idling', async () => {
    const a = await login(srv);
    const b = await login(srv);
    await a.cmd('CREATE Idle');
    await a.cmd('SELECT Idle');
    a.write('I1 IDLE\r\n');
    assert.equal(await a.readLine(), '+ idling');
    await append(b, 'Idle', MSG('new'));
    assert.equal(await a.readLine(), '* 1 EXISTS');
    assert.equal(await a.readLine(), '* 1 RECENT');
    a.write('DONE\r\n');
    assert.equal((await a.until('I1')).tagged, 'OK Idle completed.');
    a.write('I2 IDLE\r\n');
    await a.readLine();
    a.write('NOPE\r\n');
    assert.match((await a.until('I2')).tagged, /^BAD/);
    a.close();
    b.close();
  });

  it('UID EXPUNGE, CLOSE, UNSELECT, EXAMINE read-only, COPYUID', async () => {
    const c = await login(srv);
    await c.cmd('CREATE Box');
    for (const s of ['1', '2', '3', '4']) await append(c, 'Box', MSG(s));
    await c.cmd('SELECT Box');
    await c.cmd('STORE 1:3 +FLAGS.SILENT (\\Deleted)');
    let r = await c.cmd('UID EXPUNGE 2');
    assert.deepEqual(r.untagged.filter((l) => l.includes('EXPUNGE')), ['* 2 EXPUNGE']);
    r = await c.cmd('COPY 1:2 INBOX');
    assert.match(r.tagged, /^OK \[COPYUID \d+ 1,3 \d+:\d+\]/);
    r = await c.cmd('CLOSE');
    assert.deepEqual(r.untagged, []);
    r = await c.cmd('EXAMINE Box');
    assert.ok(r.untagged.includes('* 1 EXISTS'), r.untagged.join('|'));
    assert.ok(r.untagged.includes('* OK [PERMANENTFLAGS ()] Read-only mailbox.'));
    assert.match(r.tagged, /^OK \[READ-ONLY\]/);
    assert.match((await c.cmd('STORE 1 +FLAGS (\\Seen)')).tagged, /^NO/);
    assert.match((await c.cmd('UNSELECT')).tagged, /^OK/);
    assert.match((await c.cmd('FETCH 1 FLAGS')).tagged, /^BAD No mailbox selected/);
    c.close();
  });

  it('CONDSTORE: SELECT (CONDSTORE), FETCH MODSEQ, CHANGEDSINCE, UNCHANGEDSINCE, SEARCH MODSEQ', async () => {
    const c = await login(srv);
    await c.cmd('CREATE CS');
    for (const s of ['1', '2', '3']) await append(c, 'CS', MSG(s));
    let r = await c.cmd('SELECT CS (CONDSTORE)');
    const hms = Number(/HIGHESTMODSEQ (\d+)/.exec(r.untagged.join('\n'))![1]);
    r = await c.cmd('STORE 2 (UNCHANGEDSINCE ' + hms + ') +FLAGS (\\Seen)');
    const m = /^\* 2 FETCH \(FLAGS \(\\Seen \\Recent\) MODSEQ \((\d+)\)\)$/.exec(r.untagged[0]);
    assert.ok(m, r.untagged.join('|'));
    const ms2 = Number(m[1]);
    assert.ok(ms2 > hms);
    r = await c.cmd(`STORE 1:2 (UNCHANGEDSINCE ${hms}) +FLAGS (\\Flagged)`);
    assert.equal(r.tagged, 'OK [MODIFIED 2] Conditional STORE failed');
    r = await c.cmd(`UID FETCH 1:* (FLAGS) (CHANGEDSINCE ${hms})`);
    assert.equal(r.untagged.length, 2);
    assert.ok(r.untagged.every((l) => /MODSEQ \(\d+\)/.test(l)));
    r = await c.cmd(`SEARCH MODSEQ ${ms2}`);
    assert.match(r.untagged[0], /^\* SEARCH 1 2 \(MODSEQ \d+\)$/);
    r = await c.cmd('STATUS CS (HIGHESTMODSEQ)');
    assert.match(r.untagged[0], /^\* STATUS CS \(HIGHESTMODSEQ \d+\)$/);
    r = await c.cmd('FETCH 0 (MODSEQ)');
    assert.match(r.tagged, /^BAD/);
    c.close();
  });

  it('LIST variants, LSUB, NAMESPACE, ID, ENABLE, STATUS, LIST-STATUS', async () => {
    const c = await login(srv, 'bob', 'bob-pw');
    await c.cmd('CREATE Archive.2024');
    await c.cmd('CREATE Sent');
    await c.cmd('SUBSCRIBE Archive.2024');
    assert.equal((await c.cmd('SUBSCRIBE Old-Stuff')).tagged, "NO Mailbox doesn't exist: Old-Stuff");
    let r = await c.cmd('LIST "" "%"');
    assert.deepEqual(r.untagged.sort(), ['* LIST (\\HasNoChildren \\Sent) "." Sent', '* LIST (\\HasNoChildren) "." INBOX', '* LIST (\\Noselect \\HasChildren) "." Archive'].sort());
    r = await c.cmd('LIST "" ""');
    assert.deepEqual(r.untagged, ['* LIST (\\Noselect) "." ""']);
    r = await c.cmd('LSUB "" "%"');
    assert.deepEqual(r.untagged, ['* LSUB (\\Noselect) "." Archive']);
    r = await c.cmd('LIST (SUBSCRIBED RECURSIVEMATCH) "" "%"');
    assert.deepEqual(r.untagged, ['* LIST (\\Noselect \\HasChildren) "." Archive ("CHILDINFO" ("SUBSCRIBED"))']);
    r = await c.cmd('LIST "" "inbox"');
    assert.deepEqual(r.untagged, ['* LIST (\\HasNoChildren) "." INBOX']);
    r = await c.cmd('LIST "" "*" RETURN (STATUS (MESSAGES UIDNEXT))');
    assert.ok(r.untagged.includes('* STATUS Sent (MESSAGES 0 UIDNEXT 1)'), r.untagged.join('|'));
    assert.ok(!r.untagged.some((l) => l.startsWith('* STATUS Archive ')));
    r = await c.cmd('NAMESPACE');
    assert.deepEqual(r.untagged, ['* NAMESPACE (("" ".")) NIL NIL']);
    r = await c.cmd('ID ("name" "test")');
    assert.deepEqual(r.untagged, ['* ID ("name" "facteur")']);
    r = await c.cmd('ENABLE CONDSTORE X-UNKNOWN');
    assert.deepEqual(r.untagged, ['* ENABLED CONDSTORE']);
    r = await c.cmd('STATUS Nope (MESSAGES)');
    assert.match(r.tagged, /^NO \[NONEXISTENT\]/);
    assert.match((await c.cmd('CREATE bad..name')).tagged, /^NO/);
    assert.match((await c.cmd('CREATE "Entw&xx"')).tagged, /^NO Mailbox name is not valid mUTF-7/);
    assert.match((await c.cmd('DELETE INBOX')).tagged, /^NO/);
    assert.match((await c.cmd('RENAME Sent Sent2')).tagged, /^OK/);
    c.close();
  });
});

describe('authentication policy', () => {
  it('advertises LOGINDISABLED and refuses plaintext on an insecure connection (disable_plaintext_auth = yes)', async () => {
    const srv = await startServer({ config: { disable_plaintext_auth: 'yes' }, remoteAddress: '192.0.2.7' });
    try {
      const c = await RawClient.connect(srv.port);
      let r = await c.cmd('CAPABILITY');
      assert.match(r.untagged[0], /LOGINDISABLED/);
      assert.doesNotMatch(r.untagged[0], /AUTH=PLAIN/);
      r = await c.cmd('LOGIN alice alice-pw');
      assert.match(r.tagged, /^NO \[PRIVACYREQUIRED\]/);
      r = await c.cmd('AUTHENTICATE PLAIN ' + Buffer.from('\0alice\0alice-pw').toString('base64'));
      assert.match(r.tagged, /^NO/);
      c.close();
    } finally {
      await srv.close();
    }
  });

  it('allows plaintext from loopback (secured) even with disable_plaintext_auth = yes; SASL-IR and continuation', async () => {
    const srv = await startServer({ config: { disable_plaintext_auth: 'yes' } });
    try {
      const c = await RawClient.connect(srv.port);
      let r = await c.cmd('CAPABILITY');
      assert.doesNotMatch(r.untagged[0], /LOGINDISABLED/);
      r = await c.cmd('AUTHENTICATE PLAIN ' + Buffer.from('\0alice\0wrong').toString('base64'));
      assert.equal(r.tagged, 'NO [AUTHENTICATIONFAILED] Authentication failed.');
      c.write('A9 AUTHENTICATE PLAIN\r\n');
      assert.equal(await c.readLine(), '+ ');
      c.write('*\r\n');
      assert.match((await c.until('A9')).tagged, /^BAD Authentication aborted/);
      c.write('A10 AUTHENTICATE PLAIN\r\n');
      await c.readLine();
      c.write(Buffer.from('\0alice\0alice-pw').toString('base64') + '\r\n');
      assert.match((await c.until('A10')).tagged, /^OK \[CAPABILITY IMAP4rev1 .*\] Logged in/);
      c.close();
    } finally {
      await srv.close();
    }
  });

  it('STARTTLS: discards pipelined input, then allows LOGIN', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'facteur-tls-'));
    const tls = new TlsProvider(Config.fromObject({ data_directory: dir, myhostname: 'mail.example.test' }));
    const srv = await startServer({ config: { disable_plaintext_auth: 'yes' }, remoteAddress: '192.0.2.7', tls });
    try {
      const c = await RawClient.connect(srv.port);
      let r = await c.cmd('CAPABILITY');
      assert.match(r.untagged[0], /STARTTLS/);
      c.write('S1 STARTTLS\r\nS2 LOGIN alice alice-pw\r\n');
      assert.equal((await c.until('S1')).tagged, 'OK Begin TLS negotiation now.');
      const secure = tlsConnect({ socket: c.socket, rejectUnauthorized: false });
      await new Promise<void>((resolve, reject) => {
        secure.once('secureConnect', resolve);
        secure.once('error', reject);
      });
      const t = new RawClient(secure);
      r = await t.cmd('CAPABILITY');
      assert.doesNotMatch(r.untagged[0], /LOGINDISABLED|STARTTLS/);
      assert.match(r.untagged[0], /AUTH=PLAIN/);
      r = await t.cmd('LOGIN alice alice-pw');
      assert.match(r.tagged, /^OK/);
      // S2 was discarded: no reply for it ever came
      r = await t.cmd('NOOP', 'S2');
      assert.equal(r.untagged.length, 0);
      t.close();
    } finally {
      await srv.close();
    }
  });
});

describe('shutdown', () => {
  it('says BYE to a waiting session, to an IDLE session, and after a running command', async () => {
    const srv = await startServer();
    try {
      const a = await RawClient.connect(srv.port);
      await a.cmd('LOGIN alice alice-pw');
      const b = await RawClient.connect(srv.port);
      await b.cmd('LOGIN bob bob-pw');
      await b.cmd('SELECT INBOX');
      b.write('I IDLE\r\n');
      assert.equal(await b.readLine(), '+ idling');
      for (const s of srv.sessions) s.shutdown('Server shutting down.');
      assert.equal(await a.readLine(), '* BYE Server shutting down.');
      assert.equal(await b.readLine(), '* BYE Server shutting down.');
      await Promise.all(srv.sessions.map((s) => s.closed));
    } finally {
      await srv.close();
    }
  });
});

describe('limits', () => {
  it('mail_max_userip_connections and imap_login_timeout', async () => {
    const srv = await startServer({ config: { mail_max_userip_connections: '1', imap_login_timeout: '1s' } });
    try {
      const a = await RawClient.connect(srv.port);
      assert.match((await a.cmd('LOGIN alice alice-pw')).tagged, /^OK/);
      const b = await RawClient.connect(srv.port);
      assert.match((await b.cmd('LOGIN alice alice-pw')).tagged, /^NO \[LIMIT\]/);
      assert.match((await b.cmd('LOGIN bob bob-pw')).tagged, /^OK/);
      a.close();
      await new Promise((r) => setTimeout(r, 100));
      const c = await RawClient.connect(srv.port);
      assert.match((await c.cmd('LOGIN alice alice-pw')).tagged, /^OK/);
      // a client that never logs in is disconnected
      const d = await RawClient.connect(srv.port);
      assert.match(await d.readLine(3000), /^\* BYE Disconnected for inactivity/);
      b.close();
      c.close();
    } finally {
      await srv.close();
    }
  });
});

describe('imap_hierarchy_separator = /', () => {
  it('shows "/" while the Maildir keeps .Parent.Child', async () => {
    const srv = await startServer({ config: { imap_hierarchy_separator: '/' } });
    try {
      const c = await RawClient.connect(srv.port);
      await c.cmd('LOGIN alice alice-pw');
      assert.match((await c.cmd('CREATE Work/Projects')).tagged, /^OK/);
      const { existsSync } = await import('node:fs');
      assert.ok(existsSync(join(srv.maildirOf('alice'), '.Work.Projects', 'cur')));
      const r = await c.cmd('LIST "" "Work/%"');
      assert.deepEqual(r.untagged, ['* LIST (\\HasNoChildren) "/" Work/Projects']);
      assert.deepEqual((await c.cmd('NAMESPACE')).untagged, ['* NAMESPACE (("" "/")) NIL NIL']);
      assert.match((await c.cmd('CREATE a.b')).tagged, /^NO/);
      assert.match((await c.cmd('SELECT Work/Projects')).tagged, /^OK \[READ-WRITE\]/);
      c.close();
    } finally {
      await srv.close();
    }
  });
});

describe('hostile input', () => {
  it('survives random command lines (every line gets an answer or is skipped, the session goes on)', async () => {
    const srv = await startServer({ config: { imap_max_line_length: '4096' } });
    try {
      const c = await RawClient.connect(srv.port);
      await c.cmd('LOGIN alice alice-pw');
      await c.cmd('SELECT INBOX');
      let seed = 12345;
      const rnd = (n: number) => {
        seed = (seed * 1103515245 + 12345) & 0x7fffffff;
        return seed % n;
      };
      const pieces = ['FETCH', 'STORE', 'SEARCH', 'UID', '1:*', '*', '(', ')', '[', ']', '"', '\\', '{3}', '{2+}', 'BODY[', 'HEADER.FIELDS', '<0.>', 'NIL', 'OR', 'NOT', '+FLAGS', 'LIST', '%', 'APPEND', 'INBOX', '\u00e9', '~{1}', 'CHARSET', 'X', '0', '4294967296'];
      for (let i = 0; i < 150; i++) {
        const words: string[] = [];
        for (let k = 0, n = 1 + rnd(8); k < n; k++) words.push(pieces[rnd(pieces.length)]);
        // never end a line with a literal announcement: the client would have to send it
        let line = words.join(rnd(3) === 0 ? '' : ' ').replace(/~?\{\d+\+?\}$/, '');
        if (line.endsWith('{3}') || line.endsWith('{2+}')) line += ' x';
        const r = await c.cmd(line, `H${i}`);
        assert.match(r.tagged, /^(OK|NO|BAD)/, line);
        if (i % 10 === 9) assert.match((await c.cmd('NOOP')).tagged, /^OK/);
      }
      assert.match((await c.cmd('NOOP')).tagged, /^OK/);
      // 20 invalid commands in a row end the connection (Dovecot's limit)
      for (let i = 0; i < 19; i++) assert.match((await c.cmd('BOGUS')).tagged, /^BAD/);
      c.write('Z BOGUS\r\n');
      assert.equal(await c.readLine(), 'Z BAD Error in IMAP command BOGUS: Unknown command.');
      assert.equal(await c.readLine(), '* BYE Too many invalid IMAP commands.');
      c.close();
    } finally {
      await srv.close();
    }
  });
});
