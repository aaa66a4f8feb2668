// Protocol replies compared line by line with a real Postfix 3.7 (test/fixtures/smtp/*.transcript).
// The probes replayed are those whose replies come from smtpd itself (syntax, order, limits,
// pipelining, EHLO); the fake policy plays the restriction engine where a probe needs one
// (relay-safe, reject_unauth_pipelining for untrusted clients).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { startServer, type TestServer } from './harness.js';
import { parseTranscript, replay } from './transcript.js';

const fixtures = new URL('../fixtures/smtp/', import.meta.url);
const base = parseTranscript(readFileSync(new URL('base.transcript', fixtures), 'utf8'));
const limits = parseTranscript(readFileSync(new URL('limits.transcript', fixtures), 'utf8'));
const probe = (list: typeof base, id: string) => {
  const p = list.find((x) => x.id === id);
  assert.ok(p, `probe ${id} in fixture`);
  return p;
};

describe('base.transcript (Postfix 3.7, tutorial configuration)', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startServer({ params: { mynetworks: '127.0.0.1/32 [::1]/128' }, connectDelayMs: 60 });
  });
  after(() => srv.close());
  for (const id of [
    'ehlo_untrusted',
    'ehlo_trusted',
    'trusted_relay',
    'untrusted_local_delivery',
    'mail_syntax',
    'helo_empty',
    'helo_nonfqdn',
    'helo_address_literal',
    'helo_bare_ip',
    'pipelining_ehlo_ok',
    'pipelining_after_helo',
    'pipelining_ehlo_not_last',
    'pipelining_before_greeting',
    'pipelining_before_greeting_trusted',
    'mail_without_helo',
    'trusted_unqualified',
    'null_sender_delivery',
    'auth_plain_relay',
    'auth_plain_no_initial',
    'auth_login_ok',
  ]) {
    it(id, () => replay(srv.port, probe(base, id)));
  }

  it('delivered the accepted messages with Postfix local(8) headers', () => {
    const alice = srv.readNew('alice').map((b) => b.toString());
    assert.ok(alice.some((m) => m.includes('Subject: base local delivery\n') && m.startsWith('Return-Path: <sender@remote.test>\nX-Original-To: alice@example.test\nDelivered-To: alice@example.test\nReceived: from client.remote.test (unknown [127.0.0.3])\n')));
    // pipelined DATA content arrived in one write with the dot
    assert.ok(alice.some((m) => m.endsWith('Subject: pipelined\n\npipelined body\n')));
    const bob = srv.readNew('bob').map((b) => b.toString());
    assert.ok(bob.some((m) => m.startsWith('Return-Path: <alice@example.test>\nX-Original-To: bob\nDelivered-To: bob@example.test\n')), bob.join('\n---\n'));
  });
});

describe('limits.transcript (recipient, error, junk and size limits)', () => {
  let srv: TestServer;
  before(async () => {
    srv = await startServer({
      params: {
        mynetworks: '127.0.0.1/32',
        smtpd_recipient_limit: '3',
        smtpd_recipient_overshoot_limit: '2',
        smtpd_soft_error_limit: '3',
        smtpd_hard_error_limit: '6',
        smtpd_junk_command_limit: '4',
        message_size_limit: '4000',
        smtpd_error_sleep_time: '1s',
      },
    });
  });
  after(() => srv.close());
  for (const p of limits) it(p.id, () => replay(srv.port, p));

  it('delayed replies by smtpd_error_sleep_time once the soft error limit was reached', () => {
    // hard_error_limit probe: BOGUS4..6 and the 421; recipient_overshoot: RCPT 9, 10 and QUIT
    assert.ok(srv.sleeps.length >= 7, `sleeps: ${srv.sleeps.length}`);
    assert.ok(srv.sleeps.every((ms) => ms === 1000));
  });

  it('delivered the first three recipients of the recipient_limit probe only', () => {
    const alice = srv.readNew('alice').map((b) => b.toString());
    const bob = srv.readNew('bob').map((b) => b.toString());
    const tos = [...alice, ...bob].filter((m) => m.includes('Subject: limits recipient limit')).map((m) => /Delivered-To: (.*)/.exec(m)![1]);
    assert.deepEqual(tos.sort(), ['alice+2@example.test', 'alice@example.test', 'bob@example.test']);
  });
});
