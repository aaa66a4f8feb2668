// What a user of the whole server does, through the wire, across every room: submission
// with AUTH (587 STARTTLS and 465), the queue delivering to a remote MX on loopback,
// bounces landing in the sender's Maildir, IMAP IDLE seeing an SMTP delivery, POP3, the
// tutorial's `smtpd_sasl_type = dovecot` pointing at facteur's own socket, and brute-force
// protection. Real clients: nodemailer, Python's smtplib/imaplib, imapflow, raw sockets.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { ImapFlow } from 'imapflow';
import nodemailer from 'nodemailer';
import { createSaslClient } from '../../src/auth/sasl-client.js';
import { StaticResolver } from '../../src/dns/static.js';
import { addLogSink, setLogLevel } from '../../src/log.js';
import { startRemoteMx, type RemoteMx } from '../smtp-client/remote-mx.js';
import { SmtpWire, startFullServer, type FullServer } from './harness.js';

const run = promisify(execFile);

async function waitFor<T>(f: () => T | undefined | false, what: string, ms = 15_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = f();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('a whole facteur: submission, queue, bounces, IMAP, POP3', () => {
  let srv: FullServer;
  let mx: RemoteMx;
  before(async () => {
    mx = await startRemoteMx({
      rcpt: (address) => (address.startsWith('nobody@') ? { code: 550, message: '5.1.1 <nobody@remote.test>: Recipient address rejected: no such user here' } : undefined),
    });
    const resolver = new StaticResolver({ mx: { 'remote.test': [{ exchange: 'mx.remote.test', priority: 10 }] }, a: { 'mx.remote.test': ['127.0.0.1'] } });
    srv = await startFullServer({
      users: { 'alice@example.test': 'alice-secret', 'bob@example.test': 'bob-secret' },
      conf: ['myhostname = mail.example.test', 'mynetworks = 127.0.0.1/32', `smtp_destination_port = ${mx.port}`, 'smtpd_sasl_authenticated_header = yes'].join('\n'),
      runtime: { resolver },
    });
  });
  after(async () => {
    await srv?.close();
    await mx?.close();
  });

  it('587: nodemailer with STARTTLS and AUTH PLAIN sends to a remote domain; the queue delivers it to the MX over TLS', async () => {
    const t = nodemailer.createTransport({ host: '127.0.0.1', port: srv.port('submission'), secure: false, requireTLS: true, tls: { rejectUnauthorized: false }, auth: { user: 'alice@example.test', pass: 'alice-secret', method: 'PLAIN' } });
    const info = await t.sendMail({ from: 'alice@example.test', to: 'carol@remote.test', subject: 'via submission', text: 'Hello Carol.\n.dot line\n' });
    assert.match(info.response, /^250 2\.0\.0 Ok: queued as [0-9A-F]+$/);
    const m = await waitFor(() => mx.messages.find((x) => x.rcpts.some((r) => r.address === 'carol@remote.test')), 'delivery to the remote MX');
    assert.equal(m.from, 'alice@example.test');
    assert.equal(m.secure, true, 'the queue used STARTTLS with the MX');
    const text = m.data.toString();
    // as Postfix writes it (the static resolver has no name for 127.0.0.1: unknown)
    assert.match(text, /^Received: from \[127\.0\.0\.1\] \(unknown \[127\.0\.0\.1\]\)\r\n\t\(using TLSv1\.[23] with cipher [^\r]+ \(256\/256 bits\)\)\r\n\t\(No client certificate requested\)\r\n\t\(Authenticated sender: alice@example\.test\)\r\n\tby mail\.example\.test \(facteur\) with ESMTPSA id [0-9A-F]+\r\n\tfor <carol@remote\.test>; /);
    assert.match(text, /\r\nSubject: via submission\r\n/);
    assert.match(text, /\r\n\.dot line\r\n/);
  });

  it('465: Python smtplib over implicit TLS with AUTH LOGIN delivers to a local user', async () => {
    const script = `
import smtplib, ssl
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
s = smtplib.SMTP_SSL('127.0.0.1', ${srv.port('submissions')}, context=ctx)
s.ehlo('client.example.test'); s.login('bob@example.test', 'bob-secret')
print(s.sendmail('bob@example.test', ['alice@example.test'], b'Subject: over 465\\r\\n\\r\\nhi alice\\r\\n'))
s.quit()`;
    await run('python3', ['-c', script]);
    const mail = await waitFor(() => srv.newMail('alice@example.test').find((m) => m.includes('Subject: over 465')), 'local delivery');
    assert.match(mail, /^Return-Path: <bob@example\.test>\nX-Original-To: alice@example\.test\nDelivered-To: alice@example\.test\nReceived: from client\.example\.test \(unknown \[127\.0\.0\.1\]\)\n\t\(using TLSv1\.[23]/);
    assert.match(mail, /\n\t\(Authenticated sender: bob@example\.test\)\n\tby mail\.example\.test \(facteur\) with ESMTPSA id /);
  });

  it('AUTH SCRAM-SHA-256 on 587 (a SCRAM client from src/auth over a raw socket)', async () => {
    const c = await SmtpWire.open(srv.port('submission'));
    await c.reply();
    await c.cmd('EHLO client.example.test');
    assert.deepEqual(await c.cmd('STARTTLS'), ['220 2.0.0 Ready to start TLS']);
    await c.starttls();
    const ehlo = await c.cmd('EHLO client.example.test');
    assert.ok(ehlo.some((l) => /AUTH .*SCRAM-SHA-256/.test(l)), ehlo.join('|'));
    const scram = createSaslClient('SCRAM-SHA-256', { username: 'alice@example.test', password: 'alice-secret' })!;
    let r = await c.cmd(`AUTH SCRAM-SHA-256 ${scram.initialResponse()!.toString('base64')}`);
    while (r[0].startsWith('334 ')) {
      const challenge = Buffer.from(r[0].slice(4), 'base64');
      r = await c.cmd((await scram.respond(challenge)).toString('base64'));
    }
    assert.deepEqual(r, ['235 2.7.0 Authentication successful']);
    c.close();
  });

  it('587 refuses AUTH and MAIL before STARTTLS, and relaying without AUTH', async () => {
    const c = await SmtpWire.open(srv.port('submission'));
    await c.reply();
    const ehlo = await c.cmd('EHLO client.example.test');
    assert.ok(!ehlo.some((l) => l.includes('AUTH')), 'no AUTH before TLS');
    // smtpd_tls_security_level = encrypt: as Postfix, STARTTLS first, for AUTH as for MAIL
    assert.deepEqual(await c.cmd('AUTH PLAIN AGFsaWNlAGFsaWNlLXNlY3JldA=='), ['530 5.7.0 Must issue a STARTTLS command first']);
    assert.deepEqual(await c.cmd('MAIL FROM:<alice@example.test>'), ['530 5.7.0 Must issue a STARTTLS command first']);
    await c.cmd('STARTTLS');
    await c.starttls();
    await c.cmd('EHLO client.example.test');
    assert.deepEqual(await c.cmd('MAIL FROM:<alice@example.test>'), ['250 2.1.0 Ok']);
    const r = await c.cmd('RCPT TO:<carol@remote.test>');
    assert.match(r[0], /^554 5\.7\.1 <[^>]+>: (Client host rejected: Access denied|Relay access denied)/);
    c.close();
  });

  it('an authenticated user cannot send as someone else (reject_sender_login_mismatch)', async () => {
    const t = nodemailer.createTransport({ host: '127.0.0.1', port: srv.port('submission'), secure: false, requireTLS: true, tls: { rejectUnauthorized: false }, auth: { user: 'alice@example.test', pass: 'alice-secret' } });
    await assert.rejects(t.sendMail({ from: 'bob@example.test', to: 'carol@remote.test', subject: 'spoof', text: 'x' }), (e: Error & { response?: string }) => {
      assert.equal(e.response, '553 5.7.1 <bob@example.test>: Sender address rejected: not owned by user alice@example.test');
      return true;
    });
  });

  it('port 25 refuses to relay for an untrusted client and accepts mail for local users; each refusal is logged once', async () => {
    const lines: string[] = [];
    setLogLevel('info');
    const stop = addLogSink((_r, line) => lines.push(line));
    const c = await SmtpWire.open(srv.port('smtp'), { localAddress: '127.0.0.3' });
    assert.match((await c.reply())[0], /^220 mail\.example\.test ESMTP facteur$/);
    await c.cmd('EHLO client.remote.test');
    await c.cmd('MAIL FROM:<someone@remote.test>');
    assert.deepEqual(await c.cmd('RCPT TO:<carol@remote.test>'), ['454 4.7.1 <carol@remote.test>: Relay access denied']);
    assert.deepEqual(await c.cmd('RCPT TO:<nobody@example.test>'), ['550 5.1.1 <nobody@example.test>: Recipient address rejected: User unknown in virtual mailbox table']);
    assert.deepEqual(await c.cmd('RCPT TO:<bob@example.test>'), ['250 2.1.5 Ok']);
    c.close();
    stop();
    setLogLevel('fatal');
    const rejects = lines.filter((l) => / reject: RCPT from unknown\[127\.0\.0\.3\]/.test(l));
    assert.equal(rejects.length, 2, rejects.join('\n'));
    assert.match(rejects[0], /facteur\/smtpd\[\d+\]: NOQUEUE: reject: RCPT from unknown\[127\.0\.0\.3\]: 454 4\.7\.1 <carol@remote\.test>: Relay access denied; from=<someone@remote\.test> to=<carol@remote\.test> proto=ESMTP helo=<client\.remote\.test>/);
  });

  it('a remote 5xx comes back as a DSN in the local sender\'s Maildir, with the remote text', async () => {
    const t = nodemailer.createTransport({ host: '127.0.0.1', port: srv.port('submission'), secure: false, requireTLS: true, tls: { rejectUnauthorized: false }, auth: { user: 'bob@example.test', pass: 'bob-secret' } });
    await t.sendMail({ from: 'bob@example.test', to: 'nobody@remote.test', subject: 'will bounce', text: 'x' });
    const dsn = await waitFor(() => srv.newMail('bob@example.test').find((m) => m.includes('Undelivered Mail Returned to Sender')), 'the bounce');
    assert.match(dsn, /^Return-Path: <>\n/);
    assert.match(dsn, /\nFrom: MAILER-DAEMON@mail\.example\.test \(Mail Delivery System\)\n|\nFrom: Mail Delivery System <MAILER-DAEMON@mail\.example\.test>\n/);
    assert.match(dsn, /Content-Type: multipart\/report; report-type=delivery-status;/);
    assert.match(dsn, /\nDiagnostic-Code: smtp; 550 5\.1\.1 <nobody@remote\.test>: Recipient address\n    rejected: no such user here\n/);
    assert.match(dsn, /<nobody@remote\.test>: host mx\.remote\.test\[127\.0\.0\.1\] said: 550 5\.1\.1\n/);
    assert.match(dsn, /\nFinal-Recipient: rfc822; nobody@remote\.test\nOriginal-Recipient: rfc822;nobody@remote\.test\nAction: failed\nStatus: 5\.1\.1\n/);
    assert.match(dsn, /\nSubject: will bounce\n/, 'the original headers are returned');
  });

  it('IMAP IDLE sees a message delivered by SMTP at once; POP3 sees the same INBOX', async () => {
    const imap = new ImapFlow({ host: '127.0.0.1', port: srv.port('imap'), secure: false, doSTARTTLS: true, tls: { rejectUnauthorized: false }, auth: { user: 'bob@example.test', pass: 'bob-secret' }, logger: false });
    await imap.connect();
    const lock = await imap.getMailboxLock('INBOX');
    const before = (imap.mailbox as { exists: number }).exists;
    const seen = new Promise<number>((resolve) => imap.on('exists', (d: { count: number }) => resolve(d.count)));
    void imap.idle(); // resolves when IDLE ends: imapflow ends it for the next command
    await run('python3', ['-c', `import smtplib; s = smtplib.SMTP('127.0.0.1', ${srv.port('smtp')}); s.sendmail('x@remote.test', ['bob@example.test'], b'Subject: idle test\\r\\n\\r\\nwake up\\r\\n'); s.quit()`]);
    const count = await Promise.race([seen, new Promise<number>((_, rej) => setTimeout(() => rej(new Error('no EXISTS within 5 s')), 5000))]);
    assert.equal(count, before + 1);
    let subject = '';
    for await (const m of imap.fetch(`${count}`, { envelope: true })) subject = m.envelope?.subject ?? '';
    assert.equal(subject, 'idle test');
    lock.release();
    await imap.logout();
    const { stdout } = await run('python3', ['-c', `import poplib, ssl
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
p = poplib.POP3_SSL('127.0.0.1', ${srv.port('pop3s')}, context=ctx); p.user('bob@example.test'); p.pass_('bob-secret')
n = p.stat()[0]; print(n); print(b'\\n'.join(p.retr(n)[1]).decode()); p.quit()`]);
    const [n, ...msg] = stdout.split('\n');
    assert.equal(Number(n), count);
    assert.ok(msg.join('\n').includes('Subject: idle test'));
  });

  it('repeated bad passwords from one client are refused, delayed, then cut off, while other clients log in', async () => {
    const attempt = async (localAddress: string, pass: string) => {
      const c = await SmtpWire.open(srv.port('submissions'), { tls: true, localAddress });
      await c.reply();
      await c.cmd('EHLO x.example.test');
      const r = await c.cmd(`AUTH PLAIN ${Buffer.from(`\0alice@example.test\0${pass}`).toString('base64')}`);
      c.close();
      return r[0] ?? '(closed)';
    };
    const answers: string[] = [];
    for (let i = 0; i < 15; i++) answers.push(await attempt('127.0.0.8', 'wrong-' + i));
    assert.ok(answers.every((a) => !a.startsWith('235')), 'never authenticated');
    assert.match(answers[0], /^535 5\.7\.8 Error: authentication failed:/);
    assert.ok(answers.some((a) => /^421 4\.7\.0 .*too many authentication failures/.test(a) || a === '(closed)'), answers.join('\n'));
    assert.equal(await attempt('127.0.0.9', 'alice-secret'), '235 2.7.0 Authentication successful');
  });
});

describe('the tutorial\'s smtpd_sasl_type = dovecot', () => {
  it('smtpd_sasl_path = private/auth-client means facteur\'s own auth service; another path is a Dovecot client to it', async () => {
    const a = await startFullServer({ users: { alice: 'alice-secret' }, conf: 'smtpd_sasl_auth_enable = yes\nsmtpd_sasl_type = dovecot\nsmtpd_sasl_path = private/auth-client\nsmtpd_tls_auth_only = no', services: ['smtp'] });
    const b = await startFullServer({ users: {}, conf: `smtpd_sasl_auth_enable = yes\nsmtpd_sasl_type = dovecot\nsmtpd_sasl_path = ${a.data}/queue/private/auth-client\nsmtpd_tls_auth_only = no\nauth_socket_path =`, services: ['smtp'] });
    try {
      for (const srv of [a, b]) {
        const c = await SmtpWire.open(srv.port('smtp'));
        await c.reply();
        const ehlo = await c.cmd('EHLO client.example.test');
        assert.ok(ehlo.includes('250-AUTH PLAIN LOGIN SCRAM-SHA-256 SCRAM-SHA-1') || ehlo.some((l) => /^250-AUTH PLAIN LOGIN/.test(l)), ehlo.join('|'));
        assert.deepEqual(await c.cmd(`AUTH PLAIN ${Buffer.from('\0alice\0alice-secret').toString('base64')}`), ['235 2.7.0 Authentication successful']);
        c.close();
        const d = await SmtpWire.open(srv.port('smtp'));
        await d.reply();
        await d.cmd('EHLO client.example.test');
        assert.match((await d.cmd(`AUTH PLAIN ${Buffer.from('\0alice\0nope').toString('base64')}`))[0], /^535 5\.7\.8 Error: authentication failed:/);
        d.close();
      }
    } finally {
      await b.close();
      await a.close();
    }
  });
});
