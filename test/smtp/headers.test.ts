// The delivered file compared with what Postfix 3.7's local(8) wrote for the same SMTP session
// (test/fixtures/smtp/*.eml + .session.txt): Return-Path, X-Original-To, Delivered-To, the
// Received header (from/by/with/id/for), the content. Only the queue id, the date and the
// mail_name (Postfix → facteur) differ.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { mailDate, receivedHeader } from '../../src/mail/received.js';
import { RawClient, startServer, type TestServer } from './harness.js';
import { parseTranscript, replay } from './transcript.js';

const fixtures = new URL('../fixtures/smtp/', import.meta.url);
const read = (name: string) => readFileSync(new URL(name, fixtures));

function normalize(b: Buffer | string): string {
  return b
    .toString()
    .replace(/ id [0-9A-F]+(;?)\n/g, ' id QUEUEID$1\n')
    .replace(/\w{3}, \d{1,2} \w{3} \d{4} \d\d:\d\d:\d\d [+-]\d{4} \(\w+\)/g, 'DATE')
    .replace(/\(Postfix\)/g, '(facteur)');
}

describe('headers as Postfix local(8) writes them', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startServer({ params: { mynetworks: '127.0.0.1/32', smtpd_sasl_authenticated_header: 'yes' }, names: { '127.0.0.4': 'client.fcrdns.test' } });
  });
  after(() => srv.close());

  for (const [name, file, user] of [
    ['01-smtp-helo', '01-smtp-helo.alice.eml', 'alice'],
    ['02-esmtp-fcrdns-extension', '02-esmtp-fcrdns-extension.alice.eml', 'alice'],
    ['07-two-recipients', '07-two-recipients-1.alice.eml', 'alice'],
    ['07-two-recipients', '07-two-recipients-2.bob.eml', 'bob'],
  ] as const) {
    it(`${name} → ${file}`, async () => {
      const session = parseTranscript(read(`${name}.session.txt`).toString())[0];
      const subject = /^Subject: .*$/m.exec(read(file).toString())![0];
      if (!srv.readNew(user).some((b) => b.includes(Buffer.from(subject)))) await replay(srv.port, session);
      const stored = srv.readNew(user).find((b) => b.includes(Buffer.from(subject)))!;
      assert.ok(stored, `delivered: ${subject}`);
      assert.equal(normalize(stored), normalize(read(file)));
    });
  }

  it('04-esmtpsa-submission-default: STARTTLS + AUTH PLAIN, (Authenticated sender: alice), ESMTPSA', async () => {
    const s2 = await startServer({
      service: 'submission',
      params: { smtpd_sasl_authenticated_header: 'yes', smtpd_tls_received_header: 'no' },
    });
    try {
      const c = await RawClient.connect(s2.port, { localAddress: '127.0.0.3' });
      await c.cmd('EHLO client.remote.test');
      assert.equal(await c.cmd1('STARTTLS'), '220 2.0.0 Ready to start TLS');
      await c.upgradeTls();
      const tc = c;
      const ehlo = await tc.cmd('EHLO client.remote.test');
      assert.ok(ehlo.includes('250-AUTH PLAIN LOGIN'));
      assert.equal(await tc.cmd1('AUTH PLAIN AGFsaWNlAGFsaWNlLXNlY3JldA=='), '235 2.7.0 Authentication successful');
      assert.equal(await tc.cmd1('MAIL FROM:<alice@example.test>'), '250 2.1.0 Ok');
      assert.equal(await tc.cmd1('RCPT TO:<bob@example.test>'), '250 2.1.5 Ok');
      assert.equal(await tc.cmd1('DATA'), '354 End data with <CR><LF>.<CR><LF>');
      const eml = read('04-esmtpsa-submission-default.bob.eml').toString();
      const content = eml.slice(eml.indexOf('\nFrom: ') + 1);
      tc.write(content.replace(/\n/g, '\r\n') + '.\r\n');
      assert.match((await tc.reply())[0], /^250 2\.0\.0 Ok: queued as/);
      tc.close();
      const stored = s2.readNew('bob')[0];
      assert.equal(normalize(stored), normalize(eml));
    } finally {
      await s2.close();
    }
  });
});

describe('Received header', () => {
  it('IPv6 literal, TLS details, SMTPUTF8 with authentication', () => {
    const d = new Date(2026, 10, 28, 23, 21, 26);
    const h = receivedHeader({
      helo: 'client.test',
      clientName: 'unknown',
      clientAddress: '2001:db8::1',
      myhostname: 'mail.example.test',
      mailName: 'facteur',
      protocol: 'ESMTP',
      smtputf8: true,
      tls: { protocol: 'TLSv1.3', cipher: 'TLS_AES_256_GCM_SHA384', useBits: 256, algBits: 256, keyExchange: 'X25519', serverSignature: 'RSA-PSS (2048 bits)', serverDigest: 'SHA256' },
      showTls: true,
      saslUsername: 'al(ice\\',
      showSasl: true,
      queueId: 'ABC123',
      recipients: ['a@b.test', 'c@d.test'],
      date: d,
    });
    assert.equal(
      h,
      [
        'Received: from client.test (unknown [IPv6:2001:db8::1])',
        '\t(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)',
        '\t key-exchange X25519 server-signature RSA-PSS (2048 bits) server-digest SHA256)',
        '\t(No client certificate requested)',
        '\t(Authenticated sender: al(ice?))',
        '\tby mail.example.test (facteur) with UTF8SMTPSA id ABC123;',
        `\t${mailDate(d)}`,
      ].join('\n'),
    );
  });
});

describe('cleanup header rewriting (local_header_rewrite_clients = permit_inet_interfaces, Postfix\'s default)', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startServer({ params: { mynetworks: '127.0.0.1/32', local_header_rewrite_clients: 'permit_inet_interfaces' } });
  });
  after(() => srv.close());
  // the added Message-Id carries the date and the queue id
  const norm = (b: Buffer | string) => normalize(b).replace(/<\d{14}\.[0-9A-F]+@/g, '<STAMP.QUEUEID@');

  it('06: a trusted client (an interface address) gets Message-Id, Date and From added after its headers', async () => {
    await replay(srv.port, parseTranscript(read('06-trusted-no-headers.session.txt').toString())[0]);
    const stored = srv.readNew('bob').find((b) => b.includes(Buffer.from('Subject: 06 no From')))!;
    assert.equal(norm(stored), norm(read('06-trusted-no-headers.bob.eml')));
  });

  it('08: an untrusted client\'s headers are left as they are', async () => {
    await replay(srv.port, parseTranscript(read('08-untrusted-no-headers.session.txt').toString())[0]);
    const stored = srv.readNew('alice').find((b) => b.includes(Buffer.from('Subject: 08 untrusted')))!;
    assert.equal(norm(stored), norm(read('08-untrusted-no-headers.alice.eml')));
  });

  it('17: unqualified addresses in From:/To: of a trusted client are qualified with $myorigin', async () => {
    const base = parseTranscript(readFileSync(new URL('base.transcript', fixtures), 'utf8'));
    await replay(srv.port, base.find((p) => p.id === 'trusted_unqualified')!);
    const stored = srv.readNew('bob').find((b) => b.includes(Buffer.from('Subject: base trusted unqualified')))!;
    assert.equal(norm(stored), norm(read('17-trusted-unqualified.bob.eml')));
  });
});
