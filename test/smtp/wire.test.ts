// Raw-socket tests of the wire layer: SMTP smuggling variants (CVE-2023-51764 class),
// STARTTLS command injection (CVE-2011-0411), bare newline policies, over-long lines, BDAT
// (RFC 3030), timeouts and connection limits.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { RawClient, startServer, type TestServer } from './harness.js';

async function transaction(c: RawClient, rcpt = 'alice@example.test'): Promise<void> {
  assert.match(await c.cmd1('MAIL FROM:<sender@remote.test>'), /^250 2\.1\.0/);
  assert.match(await c.cmd1(`RCPT TO:<${rcpt}>`), /^250 2\.1\.5/);
  assert.match(await c.cmd1('DATA'), /^354 /);
}

const SMUGGLED = 'MAIL FROM:<evil@remote.test>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\nSubject: smuggled\r\n\r\nspoofed\r\n';

describe('SMTP smuggling: only <CR><LF>.<CR><LF> ends DATA', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startServer({ params: { mynetworks: '127.0.0.1/32' } });
  });
  after(() => srv.close());

  const variants: Array<[string, string]> = [
    ['LF.LF', '\n.\n'],
    ['LF.CRLF', '\n.\r\n'],
    ['CRLF.LF', '\r\n.\n'],
    ['CR.CR', '\r.\r'],
    ['CR.CRLF', '\r.\r\n'],
    ['CRLF.CR', '\r\n.\r'],
    ['CRLF.CRCRLF', '\r\n.\r\r\n'],
    ['LF.LF after LF line', 'x\n\n.\n'],
    ['CRLF.NUL CRLF', '\r\n.\x00\r\n'],
  ];
  for (const [name, seq] of variants) {
    it(`${name} neither ends the message nor starts a second one`, async () => {
      const beforeAlice = srv.newFiles('alice').length;
      const beforeBob = srv.newFiles('bob').length;
      const c = await RawClient.connect(srv.port, { localAddress: '127.0.0.1' });
      await c.cmd('EHLO client.test');
      await transaction(c);
      c.write(`Subject: smuggling ${name}\r\n\r\nbody${seq}${SMUGGLED}.\r\n`);
      const r = await c.reply();
      assert.match(r[0], /^250 2\.0\.0 Ok: queued as /);
      // nothing else was answered: the smuggled commands were content
      assert.equal(await c.quiet(100), '');
      assert.equal(await c.cmd1('QUIT'), '221 2.0.0 Bye');
      assert.equal(srv.newFiles('alice').length, beforeAlice + 1);
      assert.equal(srv.newFiles('bob').length, beforeBob, 'no message for the smuggled recipient');
      const msg = srv.readNew('alice').map((b) => b.toString('latin1')).find((m) => m.includes(`smuggling ${name}`))!;
      assert.ok(msg.includes('MAIL FROM:<evil@remote.test>\nRCPT TO:<bob@example.test>\nDATA\nSubject: smuggled\n'), JSON.stringify(msg));
    });
  }

  it('a lone "." next to a bare LF is dropped, as Postfix normalize does', async () => {
    const c = await RawClient.connect(srv.port, { localAddress: '127.0.0.1' });
    await c.cmd('EHLO client.test');
    await transaction(c);
    c.write('Subject: dropdot\r\n\r\na\n.\nb\r\n.\r\n');
    assert.match((await c.reply())[0], /^250 /);
    c.close();
    const msg = srv.readNew('alice').map((b) => b.toString()).find((m) => m.includes('Subject: dropdot'))!;
    assert.ok(msg.endsWith('\n\na\nb\n'), JSON.stringify(msg));
  });

  it('dot-stuffed lines are unstuffed and long lines kept whole', async () => {
    const c = await RawClient.connect(srv.port, { localAddress: '127.0.0.1' });
    await c.cmd('EHLO client.test');
    await transaction(c);
    const long = 'y'.repeat(200_000);
    c.write(`Subject: stuffing\r\n\r\n..\r\n...x\r\n.y\r\n${long}\r\n.${long}\r\n.\r\n`);
    assert.match((await c.reply())[0], /^250 /);
    c.close();
    const msg = srv.readNew('alice').map((b) => b.toString()).find((m) => m.includes('Subject: stuffing'))!;
    assert.ok(msg.endsWith(`\n\n.\n..x\ny\n${long}\n${long}\n`));
  });

  it('bare LF is rejected with smtpd_forbid_bare_newline = reject', async () => {
    const s2 = await startServer({ params: { smtpd_forbid_bare_newline: 'reject', smtpd_forbid_bare_newline_exclusions: '' } });
    try {
      const c = await RawClient.connect(s2.port, { localAddress: '127.0.0.1' });
      await c.cmd('EHLO client.test');
      await transaction(c);
      c.write(`Subject: x\r\n\r\nbody\n.\n${SMUGGLED}.\r\n`);
      assert.equal((await c.reply()).join(), '550 5.5.2 mail.example.test Error: bare <LF> received');
      assert.equal(s2.newFiles('alice').length, 0);
      assert.equal(s2.newFiles('bob').length, 0);
      // a command ending in a bare LF ends the session
      c.write('NOOP\n');
      assert.equal((await c.reply()).join(), '550 5.5.2 mail.example.test Error: bare <LF> received');
      await c.waitClose();
    } finally {
      await s2.close();
    }
  });
});

describe('STARTTLS', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startServer({ params: { mynetworks: '127.0.0.1/32' } });
  });
  after(() => srv.close());

  it('discards commands pipelined after STARTTLS (CVE-2011-0411) and requires EHLO again', async () => {
    const c = await RawClient.connect(srv.port, { localAddress: '127.0.0.3' });
    await c.cmd('EHLO client.test');
    c.write('STARTTLS\r\nMAIL FROM:<injected@remote.test>\r\nRCPT TO:<bob@example.test>\r\n');
    assert.equal((await c.reply()).join(), '220 2.0.0 Ready to start TLS');
    await c.upgradeTls();
    const tc = c;
    // the injected MAIL was not executed
    assert.equal(await tc.cmd1('RCPT TO:<alice@example.test>'), '503 5.5.1 Error: need MAIL command');
    assert.equal(await tc.cmd1('MAIL FROM:<sender@remote.test>'), '503 5.5.1 Error: send HELO/EHLO first');
    const ehlo = await tc.cmd('EHLO client.test');
    assert.ok(!ehlo.some((l) => l.includes('STARTTLS')), 'no STARTTLS after TLS');
    assert.equal(await tc.cmd1('STARTTLS'), '554 5.5.1 Error: TLS already active');
    assert.equal(await tc.cmd1('MAIL FROM:<sender@remote.test>'), '250 2.1.0 Ok');
    assert.equal(await tc.cmd1('RCPT TO:<alice@example.test>'), '250 2.1.5 Ok');
    assert.equal(await tc.cmd1('DATA'), '354 End data with <CR><LF>.<CR><LF>');
    tc.write('Subject: over tls\r\n\r\nhello\r\n.\r\n');
    assert.match((await tc.reply())[0], /^250 2\.0\.0 Ok: queued as/);
    tc.close();
    assert.ok(srv.logs.some((l) => l.includes('discarding') && l.includes('MAIL FROM:<injected@remote.test>')));
    const msg = srv.readNew('alice').map((b) => b.toString()).find((m) => m.includes('Subject: over tls'))!;
    assert.match(msg, /\n\t\(using TLSv1\.[23] with cipher \S+ \(\d+\/\d+ bits\)\)\n\t\(No client certificate requested\)\n\tby mail\.example\.test \(facteur\) with ESMTPS id /);
    assert.equal(srv.newFiles('bob').length, 0);
  });

  it('smtpd_tls_security_level = encrypt refuses MAIL and AUTH before STARTTLS', async () => {
    const s2 = await startServer({ params: { smtpd_tls_security_level: 'encrypt' } });
    try {
      const c = await RawClient.connect(s2.port);
      await c.cmd('EHLO client.test');
      assert.equal(await c.cmd1('MAIL FROM:<a@remote.test>'), '530 5.7.0 Must issue a STARTTLS command first');
      assert.equal(await c.cmd1('AUTH PLAIN AGFsaWNlAGFsaWNlLXNlY3JldA=='), '530 5.7.0 Must issue a STARTTLS command first');
      assert.equal(await c.cmd1('NOOP'), '250 2.0.0 Ok');
      await c.startTls();
      await c.cmd('EHLO client.test');
      assert.equal(await c.cmd1('AUTH PLAIN AGFsaWNlAGFsaWNlLXNlY3JldA=='), '235 2.7.0 Authentication successful');
      assert.equal(await c.cmd1('MAIL FROM:<alice@example.test>'), '250 2.1.0 Ok');
      c.close();
    } finally {
      await s2.close();
    }
  });
});

describe('line limits, BDAT, timeouts, connection limits', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startServer({ params: { mynetworks: '127.0.0.1/32', message_size_limit: '100000' } });
  });
  after(() => srv.close());

  it('an over-long command line gets 500 and the session goes on', async () => {
    const c = await RawClient.connect(srv.port);
    await c.cmd('EHLO client.test');
    assert.equal(await c.cmd1(`MAIL FROM:<${'a'.repeat(5000)}@remote.test>`), '500 5.5.2 Error: line too long');
    c.write(`NOOP ${'x'.repeat(100_000)}\r\n`);
    assert.equal((await c.reply()).join(), '500 5.5.2 Error: line too long');
    assert.equal(await c.cmd1('NOOP'), '250 2.0.0 Ok');
    c.close();
  });

  it('BDAT chunks: CRLF split across chunks, no dot-unstuffing, size in the reply', async () => {
    const c = await RawClient.connect(srv.port);
    await c.cmd('EHLO client.test');
    await c.cmd('MAIL FROM:<sender@remote.test>');
    await c.cmd('RCPT TO:<alice@example.test>');
    const part1 = 'Subject: chunked\r\n\r\nline one\r';
    const part2 = '\n.\r\n..two\r\n';
    c.write(`BDAT ${part1.length}\r\n${part1}BDAT ${part2.length}\r\n${part2}`);
    assert.equal((await c.reply()).join(), `250 2.0.0 Ok: ${part1.length} bytes`);
    assert.equal((await c.reply()).join(), `250 2.0.0 Ok: ${part2.length} bytes`);
    assert.equal(await c.cmd1('DATA'), '503 5.5.1 Error: DATA after BDAT');
    assert.equal(await c.cmd1('MAIL FROM:<x@remote.test>'), '503 5.5.1 Error: MAIL after BDAT');
    assert.equal(await c.cmd1('RCPT TO:<bob@example.test>'), '503 5.5.1 Error: RCPT after BDAT');
    const r = await c.cmd1('BDAT 0 LAST');
    const total = part1.length + part2.length;
    assert.match(r, new RegExp(`^250 2\\.0\\.0 Ok: ${total} bytes queued as [0-9A-F]+$`));
    c.close();
    const msg = srv.readNew('alice').map((b) => b.toString()).find((m) => m.includes('Subject: chunked'))!;
    assert.ok(msg.endsWith('Subject: chunked\n\nline one\n.\n..two\n'), JSON.stringify(msg));
  });

  it('BDAT errors: no transaction, null chunk, too big, syntax', async () => {
    const c = await RawClient.connect(srv.port);
    await c.cmd('EHLO client.test');
    c.write('BDAT 5 LAST\r\nhello');
    assert.equal((await c.reply()).join(), '503 5.5.1 Error: need RCPT command');
    assert.equal(await c.cmd1('NOOP'), '250 2.0.0 Ok');
    await c.cmd('MAIL FROM:<sender@remote.test>');
    await c.cmd('RCPT TO:<alice@example.test>');
    assert.equal(await c.cmd1('BDAT 0'), '551 5.7.1 Null BDAT request');
    c.write('BDAT 3\r\nabc');
    assert.equal((await c.reply()).join(), '551 5.0.0 Discarded 3 bytes after earlier error');
    assert.equal(await c.cmd1('RSET'), '250 2.0.0 Ok');
    await c.cmd('MAIL FROM:<sender@remote.test>');
    await c.cmd('RCPT TO:<alice@example.test>');
    c.write(`BDAT 100001 LAST\r\n${'z'.repeat(100001)}`);
    assert.equal((await c.reply()).join(), '552 5.3.4 Chunk exceeds message size limit');
    assert.equal(await c.cmd1('NOOP'), '250 2.0.0 Ok');
    assert.equal(await c.cmd1('BDAT x'), '521 5.5.4 Syntax: BDAT count [LAST]');
    await c.waitClose();
  });

  it('smtpd_timeout: 421 4.4.2 and disconnect', async () => {
    const s2 = await startServer({ params: { smtpd_timeout: '1s' } });
    try {
      const c = await RawClient.connect(s2.port);
      await c.cmd('EHLO client.test');
      assert.equal((await c.reply(5000)).join(), '421 4.4.2 mail.example.test Error: timeout exceeded');
      await c.waitClose();
    } finally {
      await s2.close();
    }
  });

  it('smtpd_client_connection_count_limit per client IP', async () => {
    const s2 = await startServer({ params: { smtpd_client_connection_count_limit: '2', smtpd_client_event_limit_exceptions: '' } });
    try {
      const a = await RawClient.connect(s2.port);
      const b = await RawClient.connect(s2.port);
      const c = await RawClient.connect(s2.port, { greeting: false });
      assert.equal((await c.reply()).join(), '421 4.7.0 mail.example.test Error: too many connections from 127.0.0.1');
      await c.waitClose();
      assert.equal(s2.handler.connectionCount('smtp', '127.0.0.1'), 2);
      // another address is not limited by 127.0.0.1's connections
      const d = await RawClient.connect(s2.port, { localAddress: '127.0.0.5' });
      assert.equal(await d.cmd1('NOOP'), '250 2.0.0 Ok');
      a.close();
      await b.cmd('QUIT');
      d.close();
    } finally {
      await s2.close();
    }
  });

  it('shutdown: an idle session gets 421 4.3.2', async () => {
    const c = await RawClient.connect(srv.port);
    await c.cmd('EHLO client.test');
    srv.handler.shutdownAll('test');
    assert.equal((await c.reply()).join(), '421 4.3.2 mail.example.test Service shutting down');
    await c.waitClose();
  });

  it('non-SMTP commands end the session (HTTP, header lines)', async () => {
    const c = await RawClient.connect(srv.port);
    assert.equal(await c.cmd1('GET / HTTP/1.0'), '221 2.7.0 Error: I can break rules, too. Goodbye.');
    await c.waitClose();
  });
});

describe('message limits, EHLO keyword discarding, VRFY, AUTH replies, unauthorized pipelining', () => {
  it('header_size_limit and hopcount_limit', async () => {
    const srv = await startServer({ params: { header_size_limit: '1000', hopcount_limit: '3' } });
    try {
      const c = await RawClient.connect(srv.port);
      await c.cmd('EHLO client.test');
      await transaction(c);
      c.write(`Subject: x\r\nX-Big: ${'h'.repeat(2000)}\r\n\r\nbody\r\n.\r\n`);
      assert.equal((await c.reply()).join(), '552 5.3.4 Error: message header too long');
      await transaction(c);
      c.write('Received: a\r\nReceived: b\r\nReceived: c\r\nReceived: d\r\n\r\nloop\r\n.\r\n');
      assert.equal((await c.reply()).join(), '554 5.4.0 Error: too many hops');
      await transaction(c);
      c.write('Received: a\r\nReceived: b\r\nReceived: c\r\n\r\nthree hops are fine\r\n.\r\n');
      assert.match((await c.reply()).join(), /^250 /);
      c.close();
      assert.equal(srv.newFiles('alice').length, 1);
    } finally {
      await srv.close();
    }
  });

  it('smtpd_discard_ehlo_keywords; BDAT without CHUNKING hangs up; VRFY disabled', async () => {
    const srv = await startServer({ params: { smtpd_discard_ehlo_keywords: 'chunking, pipelining, dsn', disable_vrfy_command: 'yes' } });
    try {
      const c = await RawClient.connect(srv.port);
      const ehlo = (await c.cmd('EHLO client.test')).map((l) => l.slice(4));
      assert.deepEqual(ehlo, ['mail.example.test', 'SIZE 10240000', 'ETRN', 'STARTTLS', 'AUTH PLAIN LOGIN', 'ENHANCEDSTATUSCODES', '8BITMIME', 'SMTPUTF8']);
      assert.equal(await c.cmd1('VRFY alice'), '502 5.5.1 VRFY command is disabled');
      assert.equal(await c.cmd1('MAIL FROM:<a@remote.test> RET=FULL'), '501 5.7.1 DSN support is disabled');
      assert.equal(await c.cmd1('BDAT 10 LAST'), '521 5.5.1 Error: command not implemented');
      await c.waitClose();
    } finally {
      await srv.close();
    }
  });

  it('AUTH: syntax, unknown mechanism, cancel, failure, success, already authenticated, encryption required', async () => {
    const srv = await startServer({ params: { mynetworks: '127.0.0.1/32' } });
    try {
      const c = await RawClient.connect(srv.port);
      assert.equal(await c.cmd1('AUTH PLAIN'), '503 5.5.1 Error: send HELO/EHLO first');
      await c.cmd('EHLO client.test');
      assert.equal(await c.cmd1('AUTH'), '501 5.5.4 Syntax: AUTH mechanism');
      assert.equal(await c.cmd1('AUTH CRAM-MD5'), '504 5.5.4 Unsupported authentication mechanism');
      assert.equal(await c.cmd1('AUTH PLAIN'), '334 ');
      assert.equal(await c.cmd1('*'), '501 5.7.0 Authentication aborted');
      assert.equal(await c.cmd1('AUTH PLAIN !!!notbase64'), '501 5.5.2 Invalid base64 data in initial response');
      assert.equal(await c.cmd1(`AUTH PLAIN ${Buffer.from('\0alice\0wrong').toString('base64')}`), '535 5.7.8 Error: authentication failed: (reason unavailable)');
      assert.equal(await c.cmd1('AUTH LOGIN'), '334 VXNlcm5hbWU6');
      assert.equal(await c.cmd1(Buffer.from('alice').toString('base64')), '334 UGFzc3dvcmQ6');
      assert.equal(await c.cmd1(Buffer.from('alice-secret').toString('base64')), '235 2.7.0 Authentication successful');
      assert.equal(await c.cmd1('AUTH PLAIN AGFsaWNlAGFsaWNlLXNlY3JldA=='), '503 5.5.1 Error: already authenticated');
      assert.equal(await c.cmd1('MAIL FROM:<alice@example.test>'), '250 2.1.0 Ok');
      assert.equal(await c.cmd1('RCPT TO:<bob@example.test>'), '250 2.1.5 Ok');
      c.close();
      assert.ok(srv.logs.some((l) => /warning: localhost\[127\.0\.0\.1\]: SASL PLAIN authentication failed: \(reason unavailable\)/.test(l)));
      assert.ok(srv.logs.some((l) => / client=localhost\[127\.0\.0\.1\], sasl_method=LOGIN, sasl_username=alice$/.test(l)));
    } finally {
      await srv.close();
    }
    const s2 = await startServer({ params: { smtpd_tls_auth_only: 'yes' } });
    try {
      const c = await RawClient.connect(s2.port);
      const ehlo = await c.cmd('EHLO client.test');
      assert.ok(!ehlo.some((l) => l.includes('AUTH')), 'no AUTH before TLS');
      assert.equal(await c.cmd1('AUTH PLAIN AGFsaWNlAGFsaWNlLXNlY3JldA=='), '538 5.7.11 Encryption required for requested authentication mechanism');
      await c.startTls();
      assert.ok((await c.cmd('EHLO client.test')).includes('250-AUTH PLAIN LOGIN'));
      c.close();
    } finally {
      await s2.close();
    }
  });

  it('smtpd_forbid_unauth_pipelining disconnects a client that pipelines after HELO', async () => {
    const srv = await startServer({ params: { smtpd_forbid_unauth_pipelining: 'yes' } });
    try {
      const c = await RawClient.connect(srv.port);
      await c.cmd('HELO client.test');
      c.write('MAIL FROM:<a@remote.test>\r\nRCPT TO:<alice@example.test>\r\n');
      assert.equal((await c.reply()).join(), '554 5.5.0 Error: SMTP protocol synchronization');
      await c.waitClose();
    } finally {
      await srv.close();
    }
  });
});

describe('access-table actions from the policy, and a failing policy', () => {
  it('PREPEND above Received:, REDIRECT to another mailbox, DISCARD accepted but not delivered', async () => {
    const srv = await startServer({
      hooks: {
        rcpt: (_s, rcpt) => {
          if (rcpt === 'alice@example.test') return { ok: true, actions: { prepend: ['X-Checked: yes'] } };
          if (rcpt === 'redirect@example.test') return { ok: true, actions: { redirect: 'bob@example.test' } };
          if (rcpt === 'discard@example.test') return { ok: true, actions: { discard: 'spam' } };
          if (rcpt === 'boom@example.test') throw new Error('policy exploded');
          return undefined;
        },
      },
      files: { aliases: 'redirect: alice\ndiscard: alice\nboom: alice\n' },
      params: { alias_maps: 'hash:$DIR/aliases' },
    });
    try {
      const c = await RawClient.connect(srv.port);
      await c.cmd('EHLO client.test');
      await transaction(c, 'alice@example.test');
      c.write('Subject: prepended\r\n\r\nx\r\n.\r\n');
      assert.match((await c.reply()).join(), /^250 /);
      const a = srv.readNew('alice').map((b) => b.toString()).find((m) => m.includes('Subject: prepended'))!;
      assert.match(a, /^Return-Path: <sender@remote\.test>\nX-Original-To: alice@example\.test\nDelivered-To: alice@example\.test\nX-Checked: yes\nReceived: from client\.test /);
      await transaction(c, 'redirect@example.test');
      c.write('Subject: redirected\r\n\r\nx\r\n.\r\n');
      assert.match((await c.reply()).join(), /^250 /);
      assert.ok(srv.readNew('bob').some((b) => b.includes(Buffer.from('Subject: redirected'))));
      assert.ok(!srv.readNew('alice').some((b) => b.includes(Buffer.from('Subject: redirected'))));
      await transaction(c, 'discard@example.test');
      c.write('Subject: discarded\r\n\r\nx\r\n.\r\n');
      assert.match((await c.reply()).join(), /^250 2\.0\.0 Ok: queued as /);
      assert.ok(!srv.readNew('alice').some((b) => b.includes(Buffer.from('Subject: discarded'))));
      assert.equal(await c.cmd1('MAIL FROM:<s@remote.test>'), '250 2.1.0 Ok');
      assert.equal(await c.cmd1('RCPT TO:<boom@example.test>'), '421 4.3.0 mail.example.test Server local data error');
      await c.waitClose();
      assert.ok(srv.logs.some((l) => l.includes('policy exploded')));
      // the server goes on
      const d = await RawClient.connect(srv.port);
      assert.equal(await d.cmd1('NOOP'), '250 2.0.0 Ok');
      d.close();
    } finally {
      await srv.close();
    }
  });
});

describe('per-client limits and AUTH exceptions', () => {
  it('smtpd_client_connection_rate_limit; smtpd_sasl_exceptions_networks hides AUTH', async () => {
    const srv = await startServer({ params: { smtpd_client_connection_rate_limit: '2', smtpd_client_event_limit_exceptions: '', smtpd_sasl_exceptions_networks: '127.0.0.6/32' } });
    try {
      for (let i = 0; i < 2; i++) (await RawClient.connect(srv.port)).close();
      const c = await RawClient.connect(srv.port, { greeting: false });
      assert.equal((await c.reply()).join(), '421 4.7.0 mail.example.test Error: too many connections from 127.0.0.1');
      const d = await RawClient.connect(srv.port, { localAddress: '127.0.0.6' });
      assert.ok(!(await d.cmd('EHLO x.test')).some((l) => l.includes('AUTH')));
      d.close();
      const e = await RawClient.connect(srv.port, { localAddress: '127.0.0.7' });
      assert.ok((await e.cmd('EHLO x.test')).includes('250-AUTH PLAIN LOGIN'));
      e.close();
    } finally {
      await srv.close();
    }
  });
});

describe('connect-time rejection and a server without an outbound queue', () => {
  it('a connect verdict replaces the greeting; then 503 5.7.0 for everything but QUIT', async () => {
    const srv = await startServer({
      hooks: { connect: (s) => (s.clientAddress === '127.0.0.8' ? { ok: false, reply: { code: 554, enhanced: '5.7.1', text: 'Service unavailable; Client host [127.0.0.8] blocked using bl.test' } } : undefined) },
    });
    try {
      const c = await RawClient.connect(srv.port, { localAddress: '127.0.0.8', greeting: false });
      assert.equal((await c.reply()).join(), '554 5.7.1 Service unavailable; Client host [127.0.0.8] blocked using bl.test');
      assert.equal(await c.cmd1('EHLO x.test'), '503 5.7.0 Error: access denied for unknown[127.0.0.8]');
      assert.equal(await c.cmd1('AUTH PLAIN'), '503 5.7.0 Error: access denied for unknown[127.0.0.8]');
      assert.equal(await c.cmd1('QUIT'), '221 2.0.0 Bye');
    } finally {
      await srv.close();
    }
  });

  it('remote recipients are refused with 451 4.3.5 when no queue is configured', async () => {
    const srv = await startServer({ noQueue: true, params: { mynetworks: '127.0.0.1/32' } });
    try {
      const c = await RawClient.connect(srv.port);
      await c.cmd('EHLO x.test');
      await c.cmd('MAIL FROM:<a@example.test>');
      assert.equal(await c.cmd1('RCPT TO:<far@remote.test>'), '451 4.3.5 <far@remote.test>: Recipient address rejected: Server configuration problem');
      assert.equal(await c.cmd1('RCPT TO:<alice@example.test>'), '250 2.1.5 Ok');
      assert.equal(await c.cmd1('RCPT TO:<nobody@example.test>'), '550 5.1.1 <nobody@example.test>: Recipient address rejected: User unknown in local recipient table');
      c.close();
    } finally {
      await srv.close();
    }
  });
});
