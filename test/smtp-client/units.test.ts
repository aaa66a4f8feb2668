import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { StaticResolver } from '../../src/dns/static.js';
import { downgradeTo7bit, quotedPrintable } from '../../src/smtp/client/downgrade.js';
import { DotStuffer, dotStuff } from '../../src/smtp/client/dotstuff.js';
import { lookupHosts, parseRelayhost } from '../../src/smtp/client/mx.js';
import { credentialKeys, lookupCredentials } from '../../src/smtp/client/passwords.js';
import { TableCache } from '../../src/maps/index.js';
import { ReplyParser, parseEhlo, replyStatus, replyText } from '../../src/smtp/client/reply.js';
import { chooseMechanism } from '../../src/smtp/client/sasl.js';
import { orcptParam, xtextDecode, xtextEncode } from '../../src/smtp/client/xtext.js';

describe('dot-stuffing and line ends (RFC 5321 §4.5.2)', () => {
  it('doubles leading dots, turns LF into CRLF, ends with CRLF.CRLF', () => {
    assert.equal(dotStuff(Buffer.from('a\n.b\n..c\r\nd')).toString(), 'a\r\n..b\r\n...c\r\nd\r\n.\r\n');
    assert.equal(dotStuff(Buffer.from('.\n')).toString(), '..\r\n.\r\n');
    assert.equal(dotStuff(Buffer.from('')).toString(), '.\r\n');
    assert.equal(dotStuff(Buffer.from('x\r\n')).toString(), 'x\r\n.\r\n');
  });

  it('gives the same bytes whatever the chunking (CR and LF split across chunks, dots at chunk starts)', () => {
    const input = Buffer.from('Subject: x\r\n\r\n.one\n..two\r\n.\r\nend\r');
    const whole = dotStuff(input).toString();
    for (let size = 1; size <= 5; size++) {
      const d = new DotStuffer();
      const parts: Buffer[] = [];
      for (let i = 0; i < input.length; i += size) parts.push(d.push(input.subarray(i, i + size)));
      parts.push(d.end());
      assert.equal(Buffer.concat(parts).toString(), whole, `chunks of ${size}`);
    }
    assert.equal(whole, 'Subject: x\r\n\r\n..one\r\n...two\r\n..\r\nend\r\n.\r\n');
  });
});

describe('reply parsing', () => {
  it('joins multi-line replies and finds the enhanced status code', () => {
    const p = new ReplyParser();
    p.feed(Buffer.from('550-5.1.1 The email account that you tried to reach does not exist.\r\n550 5.1.1 Please try'));
    assert.equal(p.take(), undefined);
    p.feed(Buffer.from(' again\r\n250 ok\n'));
    const r = p.take()!;
    assert.equal(r.code, 550);
    assert.equal(r.enhanced, '5.1.1');
    assert.equal(replyText(r), '550-5.1.1 The email account that you tried to reach does not exist. 550 5.1.1 Please try again');
    assert.equal(replyStatus(r), '5.1.1');
    const ok = p.take()!;
    assert.equal(ok.code, 250);
    assert.equal(replyStatus(ok), '2.0.0', 'no enhanced code: X.0.0');
  });

  it('rejects garbage and changing codes', () => {
    assert.throws(() => new ReplyParser().feed(Buffer.from('hello\r\n')));
    assert.throws(() => new ReplyParser().feed(Buffer.from('250-a\r\n550 b\r\n')));
    assert.throws(() => new ReplyParser().feed(Buffer.alloc(9000, 0x41)));
  });

  it('reads EHLO keywords', () => {
    const p = new ReplyParser();
    p.feed(Buffer.from('250-mx.example\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-AUTH PLAIN LOGIN\r\n250-AUTH=LOGIN\r\n250-8BITMIME\r\n250 DSN\r\n'));
    const ext = parseEhlo(p.take()!);
    assert.equal(ext.get('SIZE'), '10240000');
    assert.equal(ext.get('AUTH'), 'PLAIN LOGIN LOGIN');
    assert.ok(ext.has('PIPELINING') && ext.has('8BITMIME') && ext.has('DSN'));
  });
});

describe('xtext, SASL client encoding', () => {
  it('xtext-encodes ENVID/ORCPT values', () => {
    assert.equal(xtextEncode('a+b=c d'), 'a+2Bb+3Dc+20d');
    assert.equal(xtextDecode('a+2Bb+3Dc+20d'), 'a+b=c d');
    assert.equal(orcptParam('rfc822;x+y@example.test'), 'rfc822;x+2By@example.test');
  });

  it('chooses a mechanism the server offers, honouring noplaintext', () => {
    assert.equal(chooseMechanism(['LOGIN', 'PLAIN', 'SCRAM-SHA-256'], ['noanonymous']), 'SCRAM-SHA-256');
    assert.equal(chooseMechanism(['PLAIN', 'SCRAM-SHA-256'], ['noplaintext']), 'SCRAM-SHA-256');
    assert.equal(chooseMechanism(['LOGIN', 'PLAIN'], ['noanonymous']), 'PLAIN');
    assert.equal(chooseMechanism(['LOGIN'], ['noanonymous']), 'LOGIN');
    assert.equal(chooseMechanism(['PLAIN'], ['noplaintext', 'noanonymous']), undefined);
    assert.equal(chooseMechanism(['CRAM-MD5'], []), undefined);
  });
});

describe('next hops and hosts', () => {
  it('parses relayhost forms', () => {
    assert.deepEqual(parseRelayhost('[smtp.isp.test]:587', 25), { name: '[smtp.isp.test]:587', host: 'smtp.isp.test', port: 587, mx: false, relay: true });
    assert.deepEqual(parseRelayhost('isp.test', 25), { name: 'isp.test', host: 'isp.test', port: 25, mx: true, relay: true });
    assert.deepEqual(parseRelayhost('isp.test:2525', 25), { name: 'isp.test:2525', host: 'isp.test', port: 2525, mx: true, relay: true });
    assert.equal(parseRelayhost('  ', 25), undefined);
  });

  it('orders MX hosts by preference, randomly among equals, then falls back to A', async () => {
    const r = new StaticResolver({
      mx: { 'd.test': [{ exchange: 'b.d.test', priority: 20 }, { exchange: 'a1.d.test', priority: 10 }, { exchange: 'a2.d.test', priority: 10 }] },
      a: { 'a1.d.test': ['192.0.2.1'], 'a2.d.test': ['192.0.2.2'], 'b.d.test': ['192.0.2.3'], 'plain.test': ['192.0.2.9'] },
    });
    const hop = (h: string) => ({ name: h, host: h, port: 25, mx: true, relay: false });
    const seen = new Set<string>();
    for (const rnd of [0, 0.99]) {
      const res = await lookupHosts(r, hop('d.test'), { inet: 'ipv4', addressLimit: 5, random: () => rnd });
      assert.ok(res.ok);
      if (!res.ok) return;
      assert.equal(res.hosts[2].name, 'b.d.test', 'the higher preference comes last');
      seen.add(res.hosts[0].name);
    }
    assert.deepEqual([...seen].sort(), ['a1.d.test', 'a2.d.test'], 'equal preferences are shuffled');
    const implicit = await lookupHosts(r, hop('plain.test'), { inet: 'ipv4', addressLimit: 5 });
    assert.deepEqual(implicit.ok && implicit.hosts, [{ name: 'plain.test', ip: '192.0.2.9', preference: 0 }]);
    const limited = await lookupHosts(r, hop('d.test'), { inet: 'ipv4', addressLimit: 1 });
    assert.equal(limited.ok && limited.hosts.length, 1);
  });

  it('null MX bounces, NXDOMAIN bounces, SERVFAIL defers, an MX pointing at us is a loop', async () => {
    const r = new StaticResolver({ mx: { 'null.test': [{ exchange: '', priority: 0 }], 'loop.test': [{ exchange: 'mail.example.test', priority: 10 }] }, tempfail: ['flaky.test'] });
    const hop = (h: string) => ({ name: h, host: h, port: 25, mx: true, relay: false });
    const opts = { inet: 'all' as const, addressLimit: 5, myHostnames: ['mail.example.test'] };
    assert.deepEqual(await lookupHosts(r, hop('null.test'), opts), { ok: false, outcome: 'bounced', dsn: '5.1.0', reason: 'Domain null.test does not accept mail (nullMX)' });
    assert.deepEqual(await lookupHosts(r, hop('nowhere.test'), opts), {
      ok: false,
      outcome: 'bounced',
      dsn: '5.4.4',
      reason: 'Host or domain name not found. Name service error for name=nowhere.test type=MX: Host not found',
    });
    assert.deepEqual(await lookupHosts(r, hop('flaky.test'), opts), {
      ok: false,
      outcome: 'deferred',
      dsn: '4.4.3',
      reason: 'Host or domain name not found. Name service error for name=flaky.test type=MX: Host not found, try again',
    });
    assert.deepEqual(await lookupHosts(r, hop('loop.test'), opts), { ok: false, outcome: 'bounced', dsn: '5.4.6', reason: 'mail for loop.test loops back to myself' });
  });

  it('reads a smtp_sasl_password_maps source file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'facteur-sasl-'));
    writeFileSync(join(dir, 'sasl_passwd'), '# comment\n[smtp.isp.test]:587 user@isp.test:pa:ss\n\nother.test  u2:p2\n  continued\n');
    const tables = [{ type: 'texthash', name: join(dir, 'sasl_passwd'), text: `texthash:${join(dir, 'sasl_passwd')}` }];
    const cache = new TableCache();
    assert.deepEqual(await lookupCredentials(tables, parseRelayhost('[smtp.isp.test]:587', 25)!, cache), { user: 'user@isp.test', password: 'pa:ss' });
    // a continuation line keeps its leading whitespace (postmap's logical lines, src/maps)
    assert.deepEqual(await lookupCredentials(tables, parseRelayhost('other.test', 25)!, cache), { user: 'u2', password: 'p2  continued' });
    assert.deepEqual(credentialKeys(parseRelayhost('[smtp.isp.test]:587', 25)!), ['[smtp.isp.test]:587', '[smtp.isp.test]', 'smtp.isp.test:587', 'smtp.isp.test']);
  });
});

describe('8BITMIME downgrade', () => {
  it('quoted-printable keeps lines under 76 characters and encodes trailing blanks', () => {
    const qp = quotedPrintable(Buffer.from('é'.repeat(40) + ' \r\nok\t\r\n', 'utf8')).toString();
    assert.ok(qp.split('\r\n').every((l) => l.length <= 76));
    assert.match(qp, /=20\r\nok=09\r\n$/);
  });

  it('converts each 8-bit leaf of a multipart message and keeps 7-bit parts as they are', () => {
    const msg = [
      'Subject: x',
      'MIME-Version: 1.0',
      'Content-Type: multipart/mixed; boundary="b1"',
      '',
      'preamble',
      '--b1',
      'Content-Type: text/plain; charset=utf-8',
      'Content-Transfer-Encoding: 8bit',
      '',
      'Grüße',
      '--b1',
      'Content-Type: application/octet-stream',
      'Content-Transfer-Encoding: base64',
      '',
      'AAAA',
      '--b1--',
      '',
    ].join('\n');
    const out = downgradeTo7bit(Buffer.from(msg, 'utf8'))!.toString('latin1');
    assert.ok(out);
    assert.match(out, /Content-Transfer-Encoding: quoted-printable\r\n\r\nGr=C3=BC=C3=9Fe\r\n--b1\r\n/);
    assert.match(out, /Content-Transfer-Encoding: base64\r\n\r\nAAAA\r\n--b1--\r\n/);
    assert.ok(![...Buffer.from(out, 'latin1')].some((b) => b >= 0x80));
  });

  it('refuses 8-bit headers (those need SMTPUTF8)', () => {
    assert.equal(downgradeTo7bit(Buffer.from('Subject: Grüße\n\nbody\n', 'utf8')), undefined);
  });
});
