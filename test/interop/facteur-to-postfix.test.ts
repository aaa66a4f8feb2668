// facteur's outbound queue → a private Postfix 3.7 as the remote MX: once through relayhost,
// once through an MX record (StaticResolver) and smtp_destination_port; STARTTLS both ways
// checked in Postfix's own log and Received: line; Postfix delivers with virtual(8) into a
// Maildir, byte for byte; a Postfix 5xx becomes a facteur bounce in the sender's Maildir.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { StaticResolver } from '../../src/dns/static.js';
import { ensureSelfSigned } from '../../src/server/tls.js';
import { tmpDir } from '../helpers/tmp.js';
import { startTestFacteur, type TestFacteur } from './facteur.js';
import { maildirFiles, Postfix, postfixSkip, python, waitFor } from './peers.js';

// argv: port, user, password, sender, recipients (comma); stdin: the message. Submission with STARTTLS + AUTH PLAIN.
const SUBMIT_AUTH = `
import smtplib, ssl, sys
msg = sys.stdin.buffer.read()
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]), local_hostname='laptop.example.test', timeout=20)
s.starttls(context=ctx)
s.ehlo()
s.auth('PLAIN', lambda challenge=None: '\\0' + sys.argv[2] + '\\0' + sys.argv[3], initial_response_ok=True)
print(s.sendmail(sys.argv[4], sys.argv[5].split(','), msg))
s.quit()
`;
// argv: port, sender, recipients; plain SMTP from 127.0.0.1 (mynetworks)
const SUBMIT = `
import smtplib, sys
msg = sys.stdin.buffer.read()
s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]), local_hostname='client.test', timeout=20)
print(s.sendmail(sys.argv[2], sys.argv[3].split(','), msg))
s.quit()
`;

function lf(s: string): string {
  return s.replace(/\r\n/g, '\n');
}

async function startPostfixWithTls(extra: Record<string, string> = {}, files: Record<string, string> = {}): Promise<Postfix> {
  // the certificate is made before the instance exists: a directory of its own
  const cert = ensureSelfSigned(join(tmpDir('facteur-pfcert-'), 'tls'), 'postfix.test');
  return Postfix.start({
    main: {
      smtpd_tls_security_level: 'may',
      smtpd_tls_cert_file: cert.cert,
      smtpd_tls_key_file: cert.key,
      smtpd_tls_received_header: 'yes',
      ...extra,
    },
    files,
  });
}

describe('facteur → Postfix (relayhost)', { skip: postfixSkip }, () => {
  let fx: TestFacteur;
  let pf: Postfix;
  before(async () => {
    pf = await startPostfixWithTls();
    fx = await startTestFacteur({ relayhost: `[127.0.0.1]:${pf.port}`, smtp_tls_security_level: 'may' }, [{ user: 'alice@example.test', password: 'alice-pw' }]);
  });
  after(async () => {
    await fx?.stop();
    await pf?.stop();
  });

  it('a message submitted with AUTH reaches Postfix over STARTTLS and its Maildir byte for byte', async () => {
    const msg = [
      'From: Alice <alice@example.test>',
      'To: Bob <bob@postfix.test>',
      'Subject: interop 2',
      'Date: Sat, 01 Jun 2024 10:00:00 +0000',
      'Message-ID: <interop-2a@example.test>',
      '',
      'Hi Bob,',
      '.',
      '.. dots',
      'y'.repeat(998),
      '',
    ].join('\r\n');
    await python(SUBMIT_AUTH, [String(fx.facteur.port('submission')), 'alice@example.test', 'alice-pw', 'alice@example.test', 'bob@postfix.test'], msg);
    const got = await waitFor('the message at bob@postfix.test', () => pf.mailbox('bob').find((f) => f.data.includes('interop-2a')), 20_000, () => fx.log() + '\n' + pf.log());
    const text = got.data.toString();
    // virtual(8)'s and Postfix smtpd's lines, facteur's submission Received:, then the message
    assert.ok(text.endsWith(lf(msg)), text);
    const trace = text.slice(0, text.length - lf(msg).length);
    assert.match(trace, /^Return-Path: <alice@example\.test>\nX-Original-To: bob@postfix\.test\nDelivered-To: bob@postfix\.test\nReceived: from mx\.facteur\.test \(localhost \[127\.0\.0\.1\]\)\n\t\(using TLSv1\.[23] with cipher [^\n]+\n(\t[^\n]*\n)*\tby postfix\.test \(Postfix\) with ESMTPS id [0-9A-F]+\n\tfor <bob@postfix\.test>; /);
    assert.match(trace, /\nReceived: from laptop\.example\.test \([^)]*\[127\.0\.0\.1\]\)\n\t\(using TLSv1\.[23][^\n]*\n(\t[^\n]*\n)*\tby mx\.facteur\.test \(facteur\) with ESMTPSA id [0-9A-F]+/);
    await pf.waitLog(/TLS connection established from localhost\[127\.0\.0\.1\]: TLSv1\.[23]/);
    await pf.waitLog(/postfix\/virtual\[\d+\]: [0-9A-F]+: to=<bob@postfix\.test>, relay=virtual, .*status=sent \(delivered to maildir\)/);
    const sent = await fx.waitLog(/to=<bob@postfix\.test>, relay=127\.0\.0\.1\[127\.0\.0\.1\]:\d+, .*dsn=2\.0\.0, status=sent \(250 2\.0\.0 Ok: queued as [0-9A-F]+\)/);
    assert.ok(sent);
  });
});

describe('facteur → Postfix (MX record, smtp_destination_port)', { skip: postfixSkip }, () => {
  let fx: TestFacteur;
  let pf: Postfix;
  before(async () => {
    pf = await startPostfixWithTls(
      {
        smtpd_recipient_limit: '2',
        smtpd_recipient_restrictions: 'check_recipient_access texthash:${config_directory}/rcpt_access',
      },
      { rcpt_access: 'dave@postfix.test 450 4.2.0 try again later\n' },
    );
    const resolver = new StaticResolver({ mx: { 'postfix.test': [{ exchange: 'mx.postfix.test', priority: 10 }] }, a: { 'mx.postfix.test': ['127.0.0.1'] } });
    fx = await startTestFacteur(
      { smtp_destination_port: String(pf.port), smtp_tls_security_level: 'may', mydestination: '$myhostname, localhost, example.test', inet_protocols: 'ipv4' },
      [{ user: 'alice@example.test', password: 'alice-pw' }],
      { resolver },
    );
  });
  after(async () => {
    await fx?.stop();
    await pf?.stop();
  });

  it('delivers to the MX host with STARTTLS (several recipients in one transaction)', async () => {
    const msg = 'From: alice@example.test\r\nTo: bob@postfix.test, sender@postfix.test\r\nSubject: via MX\r\nDate: Sat, 01 Jun 2024 10:00:00 +0000\r\nMessage-ID: <interop-2b@example.test>\r\n\r\nvia the MX record\r\n';
    await python(SUBMIT, [String(fx.facteur.port('smtp')), 'alice@example.test', 'bob@postfix.test,sender@postfix.test'], msg);
    const bob = await waitFor('bob\'s copy', () => pf.mailbox('bob').find((f) => f.data.includes('interop-2b')), 20_000, () => fx.log() + '\n' + pf.log());
    const other = await waitFor('sender\'s copy', () => pf.mailbox('sender').find((f) => f.data.includes('interop-2b')), 20_000, () => pf.log());
    assert.ok(bob.data.toString().endsWith(lf(msg)));
    assert.ok(other.data.toString().endsWith(lf(msg)));
    assert.match(bob.data.toString(), /\tby postfix\.test \(Postfix\) with ESMTPS id /);
    // one queue file at Postfix for both recipients: facteur sent one transaction
    const ids = new Set([...pf.log().matchAll(/postfix\/virtual\[\d+\]: ([0-9A-F]+): to=<(?:bob|sender)@postfix\.test>.*status=sent/g)].map((m) => m[1]));
    assert.equal(ids.size, 1, pf.log());
    await fx.waitLog(/to=<bob@postfix\.test>, relay=mx\.postfix\.test\[127\.0\.0\.1\]:\d+, .*status=sent \(250 /);
  });

  it('a 5xx from Postfix (unknown virtual user) becomes a bounce in the sender\'s Maildir', async () => {
    const msg = 'From: alice@example.test\r\nTo: nosuch@postfix.test\r\nSubject: to nobody\r\nDate: Sat, 01 Jun 2024 10:00:00 +0000\r\nMessage-ID: <interop-2c@example.test>\r\n\r\nwill bounce\r\n';
    await python(SUBMIT, [String(fx.facteur.port('smtp')), 'alice@example.test', 'nosuch@postfix.test'], msg);
    await pf.waitLog(/NOQUEUE: reject: RCPT from localhost\[127\.0\.0\.1\]: 550 5\.1\.1 <nosuch@postfix\.test>: Recipient address rejected: User unknown in virtual mailbox table/);
    const dsn = await waitFor('the bounce in alice\'s Maildir', () => maildirFiles(fx.maildir('alice@example.test')).find((f) => f.data.includes('nosuch@postfix.test')), 20_000, () => fx.log());
    const text = dsn.data.toString();
    assert.match(text, /^Return-Path: <>\n/);
    assert.match(text, /Content-Type: multipart\/report; report-type=delivery-status;/);
    assert.match(text, /Final-Recipient: rfc822; nosuch@postfix\.test/);
    assert.match(text, /Action: failed/);
    assert.match(text, /Status: 5\.1\.1/);
    assert.match(text, /Remote-MTA: dns; mx\.postfix\.test/);
    assert.match(text, /Diagnostic-Code: smtp; 550 5\.1\.1 <nosuch@postfix\.test>: Recipient address\s+rejected: User unknown in virtual mailbox table/);
  });
  it('more recipients than Postfix takes in one transaction (452 4.5.3): the rest follow, all delivered', async () => {
    const msg = 'From: alice@example.test\r\nTo: bob@postfix.test, carol@postfix.test, sender@postfix.test\r\nSubject: three\r\nDate: Sat, 01 Jun 2024 10:00:00 +0000\r\nMessage-ID: <interop-2d@example.test>\r\n\r\nthree recipients, smtpd_recipient_limit = 2\r\n';
    await python(SUBMIT, [String(fx.facteur.port('smtp')), 'alice@example.test', 'bob@postfix.test,carol@postfix.test,sender@postfix.test'], msg);
    for (const box of ['bob', 'carol', 'sender']) {
      const got = await waitFor(`${box}'s copy`, () => pf.mailbox(box).find((f) => f.data.includes('interop-2d')), 20_000, () => fx.log() + '\n' + pf.log());
      assert.ok(got.data.toString().endsWith(lf(msg)));
    }
    // the third recipient went in a second transaction at once (RFC 5321 §4.5.3.1.10), not after a backoff
    assert.doesNotMatch(fx.log(), /to=<[^>]+@postfix\.test>.*status=deferred/);
    assert.match(pf.log(), /nrcpt=2 \(queue active\)[\s\S]*nrcpt=1 \(queue active\)/);
    // each address exactly once
    for (const box of ['bob', 'carol', 'sender']) assert.equal(pf.mailbox(box).filter((f) => f.data.includes('interop-2d')).length, 1);
  });

  it('a 450 from Postfix defers; after Postfix changes its mind, the retry delivers', async () => {
    const msg = 'From: alice@example.test\r\nTo: dave@postfix.test\r\nSubject: later\r\nDate: Sat, 01 Jun 2024 10:00:00 +0000\r\nMessage-ID: <interop-2e@example.test>\r\n\r\ndeferred first\r\n';
    await python(SUBMIT, [String(fx.facteur.port('smtp')), 'alice@example.test', 'dave@postfix.test'], msg);
    const deferred = await fx.waitLog(/to=<dave@postfix\.test>, relay=mx\.postfix\.test\[127\.0\.0\.1\]:\d+, .*dsn=4\.2\.0, status=deferred \([^\n]*\)/);
    assert.match(deferred, /450 4\.2\.0 <dave@postfix\.test>: Recipient address rejected: try again later/);
    assert.equal(pf.mailbox('dave').length, 0);
    pf.writeConfigFile('rcpt_access', 'dave@postfix.test OK\n');
    pf.reload();
    await fx.facteur.runtime.queue.flush();
    const got = await waitFor('dave\'s copy', () => pf.mailbox('dave').find((f) => f.data.includes('interop-2e')), 20_000, () => fx.log() + '\n' + pf.log());
    assert.ok(got.data.toString().endsWith(lf(msg)));
    await fx.waitLog(/to=<dave@postfix\.test>, relay=mx\.postfix\.test\[127\.0\.0\.1\]:\d+, .*status=sent/);
    // no bounce or delay notice for alice
    assert.equal(maildirFiles(fx.maildir('alice@example.test')).filter((f) => f.data.includes('dave@postfix.test')).length, 0);
  });
});
