// Real clients (nodemailer, Python's smtplib) send through the session over 127.0.0.1; the
// test reads the files in Maildir/new and checks headers and byte-exact bodies.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import nodemailer from 'nodemailer';
import MailComposer from 'nodemailer/lib/mail-composer/index.js';
import { startServer, type TestServer } from './harness.js';

const run = promisify(execFile);

/** The stored file minus Return-Path/X-Original-To/Delivered-To and our Received: header. */
function afterReceived(file: Buffer): Buffer {
  const text = file.toString('latin1');
  const i = text.indexOf('Received: from ');
  assert.ok(i >= 0);
  // the Received header ends at the first line that does not start with a tab
  let pos = text.indexOf('\n', i) + 1;
  while (text[pos] === '\t') pos = text.indexOf('\n', pos) + 1;
  return file.subarray(pos);
}

function lf(b: Buffer): Buffer {
  return Buffer.from(b.toString('latin1').replace(/\r\n/g, '\n'), 'latin1');
}

describe('nodemailer', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startServer({ params: { mynetworks: '127.0.0.1/32', message_size_limit: '30000000' } });
  });
  after(() => srv.close());

  it('sends a message with UTF-8 text, a binary attachment and long lines over STARTTLS; stored byte for byte', async () => {
    const attachment = randomBytes(300_000);
    const raw: Buffer = await new Promise((resolve, reject) =>
      new MailComposer({
        from: 'Sender <sender@remote.test>',
        to: 'alice@example.test',
        subject: 'Grüße — 日本語 ✓',
        text: `Hallo Jörg,\n.leading dot\n..two dots\n${'long '.repeat(3000)}\nEnde.\n`,
        attachments: [{ filename: 'blob.bin', content: attachment }],
      })
        .compile()
        .build((err, msg) => (err ? reject(err) : resolve(msg))),
    );
    const t = nodemailer.createTransport({ host: '127.0.0.1', port: srv.port, secure: false, requireTLS: true, tls: { rejectUnauthorized: false } });
    const info = await t.sendMail({ envelope: { from: 'sender@remote.test', to: ['alice@example.test'] }, raw });
    t.close();
    assert.match(info.response, /^250 2\.0\.0 Ok: queued as [0-9A-F]+$/);
    const files = srv.readNew('alice');
    const stored = files.find((f) => f.includes(Buffer.from('blob.bin')))!;
    assert.ok(stored);
    assert.ok(lf(raw).equals(afterReceived(stored)), 'content stored exactly, with LF line ends');
    assert.match(stored.toString(), /with ESMTPS id [0-9A-F]+\n\tfor <alice@example\.test>; /);
  });

  it('sends a 10 MB message (streamed to disk, never whole in memory)', async () => {
    const body = randomBytes(7_500_000).toString('base64').replace(/.{76}/g, '$&\r\n');
    const raw = Buffer.from(`From: sender@remote.test\r\nTo: bob@example.test\r\nSubject: big\r\n\r\n${body}\r\n`);
    assert.ok(raw.length > 10_000_000);
    const t = nodemailer.createTransport({ host: '127.0.0.1', port: srv.port, secure: false, ignoreTLS: true });
    await t.sendMail({ envelope: { from: 'sender@remote.test', to: ['bob@example.test'] }, raw });
    t.close();
    const stored = srv.readNew('bob').find((f) => f.length > 10_000_000)!;
    assert.equal(createHash('sha256').update(afterReceived(stored)).digest('hex'), createHash('sha256').update(lf(raw)).digest('hex'));
    const name = srv.newFiles('bob').find((n) => /,S=\d{8},/.test(n))!;
    const [, s, w] = /,S=(\d+),W=(\d+)$/.exec(name)!;
    assert.equal(Number(s), stored.length);
    assert.equal(Number(w), stored.length + stored.toString('latin1').split('\n').length - 1);
  });
});

describe("Python's smtplib", () => {
  let srv: TestServer;
  before(async () => {
    srv = await startServer({ params: { mynetworks: '127.0.0.1/32' }, users: ['alice@example.test', 'bob@example.test', 'jörg@example.test'] });
  });
  after(() => srv.close());

  it('sendmail with dot lines, 8-bit bytes, two recipients (one copy each) and SMTPUTF8', async () => {
    const script = `
import smtplib, sys
port = int(sys.argv[1])
body = b"From: sender@remote.test\\r\\nTo: alice@example.test\\r\\nSubject: py 8bit\\r\\n\\r\\n.dot first\\r\\n..\\r\\n.\\r\\ncaf\\xe9 \\xff\\xfe binary-ish \\x01\\x02\\r\\nend\\r\\n"
with smtplib.SMTP("127.0.0.1", port) as s:
    s.ehlo("python.test")
    s.sendmail("sender@remote.test", ["alice@example.test", "bob@example.test"], body, mail_options=["BODY=8BITMIME"])
    s.sendmail("sender@remote.test", ["jörg@example.test"], "From: x@remote.test\\r\\nSubject: utf8 ✓\\r\\n\\r\\nhéllo\\r\\n".encode(), mail_options=["SMTPUTF8", "BODY=8BITMIME"])
print("ok")
`;
    const { stdout } = await run('python3', ['-c', script, String(srv.port)]);
    assert.equal(stdout.trim(), 'ok');
    const expected = Buffer.from('From: sender@remote.test\nTo: alice@example.test\nSubject: py 8bit\n\n.dot first\n..\n.\ncaf\xe9 \xff\xfe binary-ish \x01\x02\nend\n', 'latin1');
    for (const user of ['alice', 'bob']) {
      const stored = srv.readNew(user).find((f) => f.includes(Buffer.from('py 8bit')))!;
      assert.ok(afterReceived(stored).equals(expected), user);
      assert.ok(stored.toString().startsWith(`Return-Path: <sender@remote.test>\nX-Original-To: ${user}@example.test\nDelivered-To: ${user}@example.test\n`));
      // two recipients: no "for <...>" (Postfix)
      assert.match(stored.toString(), /with ESMTP id [0-9A-F]+;\n\t\w{3}, /);
    }
    const utf8 = srv.readNew('jörg')[0];
    assert.ok(utf8, 'delivered to the UTF-8 address');
    assert.ok(utf8.toString().includes('Delivered-To: jörg@example.test\n'));
    assert.match(utf8.toString(), /with UTF8SMTP id [0-9A-F]+\n\tfor <jörg@example\.test>; /);
    assert.ok(afterReceived(utf8).equals(Buffer.from('From: x@remote.test\nSubject: utf8 ✓\n\nhéllo\n')));
  });

  it('AUTH PLAIN and LOGIN from smtplib', async () => {
    const script = `
import smtplib, sys
port = int(sys.argv[1])
for mech in ("PLAIN", "LOGIN"):
    with smtplib.SMTP("127.0.0.1", port) as s:
        s.ehlo("python.test")
        s.user, s.password = "alice", "alice-secret"
        code, resp = s.auth(mech, getattr(s, "auth_" + mech.lower()))
        print(code)
try:
    with smtplib.SMTP("127.0.0.1", port) as s:
        s.ehlo("python.test")
        s.login("alice", "wrong")
except smtplib.SMTPAuthenticationError as e:
    print(e.smtp_code, e.smtp_error.decode())
`;
    const { stdout } = await run('python3', ['-c', script, String(srv.port)]);
    assert.deepEqual(stdout.trim().split('\n'), ['235', '235', '535 5.7.8 Error: authentication failed: (reason unavailable)']);
  });
});

describe('submissions (implicit TLS, RFC 8314)', () => {
  it('nodemailer with secure: true, AUTH PLAIN, ESMTPSA with the TLS comment', async () => {
    const srv = await startServer({ service: 'submissions', implicitTls: true, params: { smtpd_sasl_authenticated_header: 'yes' } });
    try {
      const t = nodemailer.createTransport({ host: '127.0.0.1', port: srv.port, secure: true, auth: { user: 'alice', pass: 'alice-secret' }, tls: { rejectUnauthorized: false } });
      const info = await t.sendMail({ from: 'alice@example.test', to: 'bob@example.test', subject: 'via 465', text: 'hi' });
      t.close();
      assert.match(info.response, /^250 2\.0\.0 Ok: queued as /);
      const stored = srv.readNew('bob')[0].toString();
      assert.match(stored, /\n\t\(using TLSv1\.3 with cipher TLS_\w+ \(\d+\/\d+ bits\)\)\n\t\(No client certificate requested\)\n\t\(Authenticated sender: alice\)\n\tby mail\.example\.test \(facteur\) with ESMTPSA id [0-9A-F]+\n\tfor <bob@example\.test>; /);
    } finally {
      await srv.close();
    }
  });
});
