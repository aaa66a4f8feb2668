import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Config } from '../../src/config/config.js';
import { StaticResolver } from '../../src/dns/static.js';
import { parseRelayhost } from '../../src/smtp/client/mx.js';
import { SmtpTransport, transportSettings, type TransportSettings } from '../../src/smtp/client/transport.js';
import type { NextHop, OutboundMessage } from '../../src/smtp/client/types.js';
import { startRemoteMx, type RemoteMx } from './remote-mx.js';

function settings(extra: Record<string, string> = {}): TransportSettings {
  return transportSettings(Config.fromObject({ myhostname: 'mail.example.test', ...extra }).view());
}

function message(content: string | Buffer, recipients: string[], extra: Partial<OutboundMessage> = {}): OutboundMessage {
  const buf = Buffer.isBuffer(content) ? content : Buffer.from(content);
  let has8 = false;
  for (const b of buf) if (b >= 0x80) has8 = true;
  return {
    queueId: 'ABCDEF123',
    sender: 'alice@example.test',
    recipients: recipients.map((address) => ({ address })),
    size: buf.length,
    eightBitBody: has8,
    eightBitHeaders: false,
    declared8bit: has8,
    smtputf8: false,
    content: async function* () {
      // small chunks: dot-stuffing and line ends across chunk boundaries
      for (let i = 0; i < buf.length; i += 7) yield buf.subarray(i, i + 7);
    },
    ...extra,
  };
}

const hop = (port: number): NextHop => ({ name: 'remote.test', host: 'remote.test', port, mx: true, relay: false });
const resolver = new StaticResolver({ mx: { 'remote.test': [{ exchange: 'mx.remote.test', priority: 10 }] }, a: { 'mx.remote.test': ['127.0.0.1'] } });

describe('SMTP client transport against a remote MX on loopback', () => {
  let mx: RemoteMx;
  before(async () => {
    mx = await startRemoteMx({
      rcpt: (a) => (a.startsWith('nobody') ? { code: 550, message: '5.1.1 <' + a + '>: Recipient address rejected: User unknown' } : a.startsWith('later') ? { code: 450, message: '4.2.0 try again later' } : undefined),
    });
  });
  after(() => mx.close());

  it('delivers over STARTTLS with pipelining, dot-stuffing and CRLF line ends', async () => {
    const t = new SmtpTransport(resolver, settings());
    const body = 'Subject: hi\n\n.leading dot\nline\r\n..two\nlast line without newline';
    const r = await t.deliver(hop(mx.port), message(body, ['bob@remote.test']));
    await t.close();
    assert.equal(r.results[0].outcome, 'sent', r.results[0].reason);
    assert.equal(r.results[0].relay, `mx.remote.test[127.0.0.1]:${mx.port}`);
    assert.match(r.results[0].reason, /^250 2\.0\.0 Ok: queued as REMOTE/);
    const got = mx.messages.at(-1)!;
    assert.equal(got.secure, true);
    assert.equal(got.data.toString(), 'Subject: hi\r\n\r\n.leading dot\r\nline\r\n..two\r\nlast line without newline\r\n');
    assert.equal(got.rcpts[0].address, 'bob@remote.test');
  });

  it('reports each recipient: 2xx sent, 4xx deferred, 5xx bounced with the remote text', async () => {
    const t = new SmtpTransport(resolver, settings());
    const r = await t.deliver(hop(mx.port), message('Subject: x\n\nbody\n', ['ok@remote.test', 'later@remote.test', 'nobody@remote.test']));
    await t.close();
    assert.deepEqual(
      r.results.map((x) => [x.outcome, x.dsn]),
      [
        ['sent', '2.0.0'],
        ['deferred', '4.2.0'],
        ['bounced', '5.1.1'],
      ],
    );
    assert.equal(
      r.results[2].reason,
      `host mx.remote.test[127.0.0.1] said: 550 5.1.1 <nobody@remote.test>: Recipient address rejected: User unknown (in reply to RCPT TO command)`,
    );
    assert.equal(r.results[2].diagnostic, 'smtp; 550 5.1.1 <nobody@remote.test>: Recipient address rejected: User unknown');
    assert.equal(r.results[2].remoteMta, 'mx.remote.test');
    assert.deepEqual(mx.messages.at(-1)!.rcpts.map((x) => x.address), ['ok@remote.test']);
  });

  it('passes DSN parameters when the server offers DSN', async () => {
    const t = new SmtpTransport(resolver, settings());
    const msg = message('Subject: x\n\nbody\n', ['bob@remote.test'], { ret: 'HDRS', envid: 'env id+1' });
    msg.recipients[0].notify = ['SUCCESS', 'FAILURE'];
    msg.recipients[0].orcpt = 'rfc822;Bob@remote.test';
    const r = await t.deliver(hop(mx.port), msg);
    await t.close();
    assert.equal(r.results[0].outcome, 'sent');
    assert.equal(r.results[0].dsnPassed, true);
    assert.equal(r.results[0].action, 'delivered');
    const got = mx.messages.at(-1)!;
    assert.equal(got.mailArgs.RET, 'HDRS');
    assert.equal(got.mailArgs.ENVID, 'env id+1'); // sent as xtext env+20id+2B1, decoded by the server
    assert.equal(got.rcpts[0].args.NOTIFY, 'SUCCESS,FAILURE');
    assert.equal(got.rcpts[0].args.ORCPT, 'rfc822;Bob@remote.test');
  });

  it('reuses one connection for consecutive messages to the same destination', async () => {
    const before = mx.connections;
    const t = new SmtpTransport(resolver, settings());
    for (let i = 0; i < 3; i++) {
      const r = await t.deliver(hop(mx.port), message(`Subject: ${i}\n\nbody\n`, ['bob@remote.test']));
      assert.equal(r.results[0].outcome, 'sent');
    }
    assert.equal(t.idleCount('remote.test'), 1);
    await t.close();
    assert.equal(mx.connections - before, 1);
  });
});

describe('SMTP client: server features', () => {
  it('refuses a message larger than the announced SIZE before sending it', async () => {
    const mx = await startRemoteMx({ size: 100 });
    try {
      const t = new SmtpTransport(resolver, settings());
      const r = await t.deliver(hop(mx.port), message('Subject: big\n\n' + 'x'.repeat(200) + '\n', ['bob@remote.test']));
      await t.close();
      assert.equal(r.results[0].outcome, 'bounced');
      assert.equal(r.results[0].dsn, '5.3.4');
      assert.match(r.results[0].reason, /^message size 215 exceeds size limit 100 of server mx\.remote\.test\[127\.0\.0\.1\]$/);
      assert.equal(mx.messages.length, 0);
    } finally {
      await mx.close();
    }
  });

  it('converts 8-bit content to quoted-printable for a server without 8BITMIME', async () => {
    const mx = await startRemoteMx({ hide: ['8BITMIME'] });
    try {
      const t = new SmtpTransport(resolver, settings());
      const r = await t.deliver(hop(mx.port), message('Subject: caf\n\nCafé crème\n', ['bob@remote.test']));
      await t.close();
      assert.equal(r.results[0].outcome, 'sent', r.results[0].reason);
      const got = mx.messages[0];
      assert.equal(got.mailArgs.BODY, undefined);
      const text = got.data.toString('latin1');
      assert.ok(![...got.data].some((b) => b >= 0x80), 'nothing 8-bit on the wire');
      assert.match(text, /Content-Transfer-Encoding: quoted-printable/);
      assert.match(text, /Content-Type: text\/plain; charset=utf-8/);
      assert.match(text, /Caf=C3=A9 cr=C3=A8me/);
    } finally {
      await mx.close();
    }
  });

  it('bounces 8-bit content it cannot convert (8-bit inside a base64 part) instead of sending it broken', async () => {
    const mx = await startRemoteMx({ hide: ['8BITMIME'] });
    try {
      const t = new SmtpTransport(resolver, settings());
      const content = 'Subject: x\nMIME-Version: 1.0\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n\nCafé\n';
      const r = await t.deliver(hop(mx.port), message(content, ['bob@remote.test']));
      await t.close();
      assert.equal(r.results[0].outcome, 'bounced');
      assert.equal(r.results[0].dsn, '5.6.3');
      assert.equal(mx.messages.length, 0);
    } finally {
      await mx.close();
    }
  });

  it('works without PIPELINING and without STARTTLS (level may)', async () => {
    const mx = await startRemoteMx({ hide: ['PIPELINING', 'STARTTLS'] });
    try {
      const t = new SmtpTransport(resolver, settings());
      const r = await t.deliver(hop(mx.port), message('Subject: x\n\nbody\n', ['a@remote.test', 'b@remote.test']));
      await t.close();
      assert.deepEqual(r.results.map((x) => x.outcome), ['sent', 'sent']);
      assert.equal(mx.messages[0].secure, false);
    } finally {
      await mx.close();
    }
  });

  it('defers when TLS is required (encrypt) but not offered', async () => {
    const mx = await startRemoteMx({ hide: ['STARTTLS'] });
    try {
      const t = new SmtpTransport(resolver, settings({ smtp_tls_security_level: 'encrypt' }));
      const r = await t.deliver(hop(mx.port), message('Subject: x\n\nbody\n', ['a@remote.test']));
      await t.close();
      assert.equal(r.results[0].outcome, 'deferred');
      assert.equal(r.results[0].dsn, '4.7.4');
      assert.equal(r.results[0].reason, 'TLS is required, but was not offered by host mx.remote.test[127.0.0.1]');
      assert.equal(mx.messages.length, 0);
    } finally {
      await mx.close();
    }
  });

  it('authenticates to a relayhost with credentials from smtp_sasl_password_maps', async () => {
    const mx = await startRemoteMx({ auth: { user: 'relayuser', pass: 'relay:secret' } });
    const dir = mkdtempSync(join(tmpdir(), 'facteur-sasl-'));
    const file = join(dir, 'sasl_passwd');
    try {
      writeFileSync(file, `# relay credentials\n[127.0.0.1]:${mx.port} relayuser:relay:secret\n`);
      const s = settings({ smtp_sasl_auth_enable: 'yes', smtp_sasl_password_maps: `texthash:${file}` });
      const relay = parseRelayhost(`[127.0.0.1]:${mx.port}`, 25)!;
      const t = new SmtpTransport(new StaticResolver(), s);
      const r = await t.deliver(relay, message('Subject: x\n\nbody\n', ['someone@far.test']));
      await t.close();
      assert.equal(r.results[0].outcome, 'sent', r.results[0].reason);
      assert.equal(mx.messages[0].user, 'relayuser');
      assert.equal(mx.messages[0].secure, true);

      // wrong password: deferred (soft bounce), never bounced
      writeFileSync(file, `[127.0.0.1]:${mx.port} relayuser:wrong\n`);
      const t2 = new SmtpTransport(new StaticResolver(), s);
      const r2 = await t2.deliver(relay, message('Subject: x\n\nbody\n', ['someone@far.test']));
      await t2.close();
      assert.equal(r2.results[0].outcome, 'deferred');
      assert.match(r2.results[0].reason, /^SASL authentication failed; server 127\.0\.0\.1\[127\.0\.0\.1\] said: 535/);
    } finally {
      await mx.close();
    }
  });
});

describe('SMTP client: connection failures', () => {
  it('reports a refused connection as Postfix does, relay=none', async () => {
    const srv = createServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    const port = (srv.address() as AddressInfo).port;
    await new Promise<void>((r) => srv.close(() => r()));
    const t = new SmtpTransport(resolver, settings());
    const r = await t.deliver(hop(port), message('Subject: x\n\nbody\n', ['a@remote.test']));
    assert.equal(r.results[0].outcome, 'deferred');
    assert.equal(r.results[0].dsn, '4.4.1');
    assert.equal(r.results[0].relay, 'none');
    assert.equal(r.results[0].reason, `connect to mx.remote.test[127.0.0.1]:${port}: Connection refused`);
    assert.equal(r.siteFailure, true);
  });

  it('times out a server that never greets (smtp_helo_timeout)', async () => {
    const sockets: import('node:net').Socket[] = [];
    const srv: Server = createServer((s) => sockets.push(s));
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
    const port = (srv.address() as AddressInfo).port;
    try {
      const t = new SmtpTransport(resolver, settings({ smtp_helo_timeout: '0.2s' }));
      const r = await t.deliver(hop(port), message('Subject: x\n\nbody\n', ['a@remote.test']));
      assert.equal(r.results[0].outcome, 'deferred');
      assert.equal(r.results[0].dsn, '4.4.2');
      assert.equal(r.results[0].reason, 'conversation with mx.remote.test[127.0.0.1] timed out while receiving the initial server greeting');
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => srv.close(() => r()));
    }
  });

  it('bounces at once for a null MX (RFC 7505)', async () => {
    const nullMx = new StaticResolver({ mx: { 'nomail.test': [{ exchange: '.', priority: 0 }] } });
    const t = new SmtpTransport(nullMx, settings());
    const r = await t.deliver({ name: 'nomail.test', host: 'nomail.test', port: 25, mx: true, relay: false }, message('Subject: x\n\nbody\n', ['a@nomail.test']));
    assert.equal(r.results[0].outcome, 'bounced');
    assert.equal(r.results[0].dsn, '5.1.0');
    assert.equal(r.results[0].reason, 'Domain nomail.test does not accept mail (nullMX)');
    assert.equal(r.results[0].relay, 'none');
  });
});
