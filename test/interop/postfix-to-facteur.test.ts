// Postfix 3.7 → facteur as the MX: a private Postfix relays (relayhost = [127.0.0.1]:port)
// to facteur's smtp service; the message lands in the user's Maildir byte for byte, over
// STARTTLS; facteur's 5xx for an unknown user makes Postfix bounce to the sender.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { StaticResolver } from '../../src/dns/static.js';
import { startTestFacteur, type TestFacteur } from './facteur.js';
import { freePort, maildirFiles, Postfix, postfixSkip, python, waitFor } from './peers.js';

// Python's smtplib submits to Postfix's smtpd: argv = port, sender, recipients (comma), stdin = message.
const SUBMIT = `
import smtplib, sys
msg = sys.stdin.buffer.read()
s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]), local_hostname='client.test', timeout=20)
r = s.sendmail(sys.argv[2], sys.argv[3].split(','), msg, mail_options=['BODY=8BITMIME'])
s.quit()
print(r)
`;

function lf(b: Buffer): Buffer {
  return Buffer.from(b.toString('latin1').replace(/\r\n/g, '\n'), 'latin1');
}

describe('Postfix → facteur (MX)', { skip: postfixSkip }, () => {
  let fx: TestFacteur;
  let pf: Postfix;
  before(async () => {
    // Postfix relays to facteur; facteur sends its notices (DSN) back to postfix.test's MX, Postfix
    const smtpPort = await freePort();
    pf = await Postfix.start({
      main: {
        relayhost: `[127.0.0.1]:${smtpPort}`,
        smtp_tls_security_level: 'may',
      },
    });
    const resolver = new StaticResolver({ mx: { 'postfix.test': [{ exchange: 'mx.postfix.test', priority: 10 }] }, a: { 'mx.postfix.test': ['127.0.0.1'] } });
    fx = await startTestFacteur(
      { mydestination: '$myhostname, localhost, example.test', smtp_listen: `127.0.0.1:${smtpPort}`, smtp_destination_port: String(pf.port), inet_protocols: 'ipv4' },
      [
        { user: 'alice@example.test', password: 'alice-pw' },
        { user: 'bob@example.test', password: 'bob-pw' },
      ],
      { resolver },
    );
  });
  after(async () => {
    await pf?.stop();
    await fx?.stop();
  });

  it('relays a message that lands in the Maildir byte for byte, over STARTTLS', async () => {
    const body = [
      'From: Sender <sender@postfix.test>',
      'To: Alice <alice@example.test>',
      'Subject: interop 1: =?UTF-8?Q?caf=C3=A9?=',
      'Date: Sat, 01 Jun 2024 10:00:00 +0000',
      'Message-ID: <interop-1@postfix.test>',
      'MIME-Version: 1.0',
      'Content-Type: text/plain; charset=utf-8',
      'Content-Transfer-Encoding: 8bit',
      '',
      'Hello Alice,',
      '.',
      '..two dots',
      '.leading dot',
      'From the start of a line',
      'trailing spaces   ',
      'ünïcödé bytes: café ☕',
      'x'.repeat(990),
      '',
      '',
    ].join('\r\n');
    const msg = Buffer.from(body, 'utf8');
    await python(SUBMIT, [String(pf.port), 'sender@postfix.test', 'alice@example.test'], msg);
    const files = await waitFor('the message in alice\'s Maildir', () => {
      const f = maildirFiles(fx.maildir('alice@example.test'));
      return f.length > 0 && f;
    }, 20_000, () => pf.log() + '\n' + fx.log());
    assert.equal(files.length, 1);
    const stored = files[0].data;
    // facteur's trace lines, then Postfix's Received:, then the message exactly as submitted (LF line ends, Dovecot's mail_save_crlf = no)
    const text = stored.toString('latin1');
    const headEnd = text.indexOf('From: Sender');
    assert.ok(headEnd > 0, text);
    assert.deepEqual(stored.subarray(Buffer.byteLength(text.slice(0, headEnd), 'latin1')), lf(msg));
    const trace = text.slice(0, headEnd);
    assert.match(trace, /^Return-Path: <sender@postfix\.test>\nX-Original-To: alice@example\.test\nDelivered-To: alice@example\.test\nReceived: from postfix\.test \((?:localhost|unknown) \[127\.0\.0\.1\]\)\n\t\(using TLSv1\.[23] with cipher [^\n]+\)\n\t\(No client certificate requested\)\n\tby mx\.facteur\.test \(facteur\) with ESMTPS id [0-9A-F]+\n\tfor <alice@example\.test>; /);
    assert.match(trace, /\nReceived: from client\.test \(localhost \[127\.0\.0\.1\]\)\n\tby postfix\.test \(Postfix\) with ESMTP id [0-9A-F]+\n/);
    // the Maildir file name carries the sizes Dovecot reads (S= physical, W= with CRLF)
    const lines = stored.toString('latin1').split('\n').length - 1;
    assert.match(files[0].name, new RegExp(`,S=${stored.length},W=${stored.length + lines}(:2,)?$`));
    // Postfix used STARTTLS and reports facteur's 250
    await pf.waitLog(/TLS connection established to 127\.0\.0\.1\[127\.0\.0\.1\]:\d+: TLSv1\.[23]/);
    const sent = await pf.waitLog(/to=<alice@example\.test>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:\d+, .*status=sent \(250 ([^)]*)\)/);
    assert.match(sent[1], /2\.0\.0 Ok: queued as [0-9A-F]+/);
  });

  it('delivers one copy per recipient when Postfix sends several RCPTs in one transaction', async () => {
    const msg = 'From: sender@postfix.test\r\nTo: alice@example.test, bob@example.test\r\nSubject: two\r\nDate: Sat, 01 Jun 2024 10:00:00 +0000\r\nMessage-ID: <interop-2@postfix.test>\r\n\r\nfor both\r\n';
    await python(SUBMIT, [String(pf.port), 'sender@postfix.test', 'alice@example.test,bob@example.test'], msg);
    const bob = await waitFor('bob\'s copy', () => maildirFiles(fx.maildir('bob@example.test')).find((f) => f.data.includes('interop-2')), 20_000, () => pf.log());
    const alice = await waitFor('alice\'s copy', () => maildirFiles(fx.maildir('alice@example.test')).find((f) => f.data.includes('interop-2')), 20_000, () => pf.log());
    assert.match(bob.data.toString(), /^Return-Path: <sender@postfix\.test>\nX-Original-To: bob@example\.test\nDelivered-To: bob@example\.test\n/);
    assert.match(alice.data.toString(), /^Return-Path: <sender@postfix\.test>\nX-Original-To: alice@example\.test\nDelivered-To: alice@example\.test\n/);
    assert.ok(bob.data.toString().endsWith('\n\nfor both\n'));
  });

  it('a 5xx from facteur for an unknown user makes Postfix bounce to the sender', async () => {
    const msg = 'From: sender@postfix.test\r\nTo: nobody-here@example.test\r\nSubject: to nobody\r\nDate: Sat, 01 Jun 2024 10:00:00 +0000\r\nMessage-ID: <interop-3@postfix.test>\r\n\r\nwill bounce\r\n';
    await python(SUBMIT, [String(pf.port), 'sender@postfix.test', 'nobody-here@example.test'], msg);
    const bounced = await pf.waitLog(/to=<nobody-here@example\.test>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:\d+, .*status=bounced \(host 127\.0\.0\.1\[127\.0\.0\.1\] said: (5\d\d [^)]*)\)/);
    assert.match(bounced[1], /^550 5\.1\.1 <nobody-here@example\.test>: Recipient address rejected: /);
    // the DSN reaches the sender's mailbox at Postfix, quoting facteur's reply
    const dsn = await waitFor('the bounce in sender@postfix.test', () => pf.mailbox('sender').find((f) => f.data.includes('nobody-here@example.test')), 20_000, () => pf.log());
    const text = dsn.data.toString();
    assert.match(text, /Content-Type: multipart\/report; report-type=delivery-status;/);
    assert.match(text, /Final-Recipient: rfc822; nobody-here@example\.test/);
    assert.match(text, /Action: failed/);
    assert.match(text, /Diagnostic-Code: smtp; 550 5\.1\.1 <nobody-here@example\.test>: Recipient address\s+rejected/);
    assert.equal(maildirFiles(fx.maildir('alice@example.test')).filter((f) => f.data.includes('interop-3')).length, 0);
  });
  it('SMTPUTF8: an internationalised sender address goes through Postfix to facteur intact', async () => {
    const script = `
import smtplib, sys
msg = sys.stdin.buffer.read()
s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]), local_hostname='client.test', timeout=20)
s.sendmail('jörg@postfix.test', ['alice@example.test'], msg, mail_options=['SMTPUTF8', 'BODY=8BITMIME'])
s.quit()
`;
    const msg = Buffer.from('From: Jörg <jörg@postfix.test>\r\nTo: alice@example.test\r\nSubject: grüße\r\nDate: Sat, 01 Jun 2024 10:00:00 +0000\r\nMessage-ID: <interop-utf8@postfix.test>\r\n\r\nUTF-8 headers, RFC 6532\r\n', 'utf8');
    await python(script, [String(pf.port)], msg);
    const got = await waitFor('the SMTPUTF8 message', () => maildirFiles(fx.maildir('alice@example.test')).find((f) => f.data.includes('interop-utf8')), 20_000, () => pf.log() + '\n' + fx.log());
    const text = got.data.toString('utf8');
    assert.match(text, /^Return-Path: <jörg@postfix\.test>\n/);
    assert.ok(got.data.subarray(got.data.length - lf(msg).length).equals(lf(msg)));
    await pf.waitLog(/to=<alice@example\.test>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:\d+, .*status=sent \(250 2\.0\.0 Ok: queued as [0-9A-F]+\)/, 20_000, 3);
  });

  it('a 4 MB message arrives byte for byte', async () => {
    const lines: string[] = [];
    for (let i = 0; i < 50_000; i++) lines.push(`${String(i).padStart(7, '0')} ${'abcdefghijklmnopqrstuvwxyz0123456789'.repeat(2)}`);
    const msg = Buffer.from(`From: sender@postfix.test\r\nTo: bob@example.test\r\nSubject: big\r\nDate: Sat, 01 Jun 2024 10:00:00 +0000\r\nMessage-ID: <interop-big@postfix.test>\r\n\r\n${lines.join('\r\n')}\r\n`);
    await python(SUBMIT, [String(pf.port), 'sender@postfix.test', 'bob@example.test'], msg);
    const got = await waitFor('the big message', () => maildirFiles(fx.maildir('bob@example.test')).find((f) => f.data.includes('interop-big')), 30_000, () => pf.log());
    assert.ok(got.data.length > 3_900_000);
    const want = lf(msg);
    const tail = got.data.subarray(got.data.length - want.length);
    let at = 0;
    while (at < tail.length && tail[at] === want[at]) at++;
    assert.equal(at, tail.length, `first difference at ${at}: ${JSON.stringify(tail.subarray(Math.max(0, at - 40), at + 40).toString())} vs ${JSON.stringify(want.subarray(Math.max(0, at - 40), at + 40).toString())}`);
  });
  it('DSN: NOTIFY=SUCCESS passes through Postfix and facteur, the final MTA, reports "delivered" back', async () => {
    const script = `
import smtplib, sys
msg = sys.stdin.buffer.read()
s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]), local_hostname='client.test', timeout=20)
s.sendmail('sender@postfix.test', ['alice@example.test'], msg, mail_options=['RET=HDRS', 'ENVID=interop-dsn-1'], rcpt_options=['NOTIFY=SUCCESS,FAILURE', 'ORCPT=rfc822;Alice@example.test'])
s.quit()
`;
    const msg = 'From: sender@postfix.test\r\nTo: alice@example.test\r\nSubject: tell me\r\nDate: Sat, 01 Jun 2024 10:00:00 +0000\r\nMessage-ID: <interop-dsn@postfix.test>\r\n\r\nplease confirm\r\n';
    await python(script, [String(pf.port)], msg);
    await waitFor('the message', () => maildirFiles(fx.maildir('alice@example.test')).find((f) => f.data.includes('interop-dsn@')), 20_000, () => pf.log() + '\n' + fx.log());
    const dsn = await waitFor('the success DSN at sender@postfix.test', () => pf.mailbox('sender').find((f) => f.data.includes('interop-dsn-1')), 20_000, () => fx.log() + '\n' + pf.log());
    const text = dsn.data.toString();
    assert.match(text, /Content-Type: multipart\/report; report-type=delivery-status;/);
    assert.match(text, /Reporting-MTA: dns; mx\.facteur\.test/);
    assert.match(text, /Original-Envelope-Id: interop-dsn-1/);
    assert.match(text, /Original-Recipient: rfc822; ?Alice@example\.test/);
    assert.match(text, /Final-Recipient: rfc822; alice@example\.test/);
    assert.match(text, /Action: delivered/);
    assert.match(text, /Status: 2\.\d\.\d/);
    // RET=HDRS: the headers come back, not the body
    assert.match(text, /Message-ID: <interop-dsn@postfix\.test>/);
    assert.doesNotMatch(text, /please confirm/);
    // Postfix did not send a "relayed" notice of its own: facteur announced DSN
    assert.equal(pf.mailbox('sender').filter((f) => /Action: relayed/.test(f.data.toString())).length, 0);
  });
});
