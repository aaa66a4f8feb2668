import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { Config } from '../../src/config/config.js';
import { StaticResolver } from '../../src/dns/static.js';
import { TableCache } from '../../src/maps/index.js';
import { literalAddress, toExternalAddress, toInternalAddress, truncateDot, validHostname, validMailhostAddr } from '../../src/smtp/policy/address.js';
import { resolveClientNames } from '../../src/smtp/policy/client-names.js';
import { parseReplyFilter } from '../../src/smtp/policy/dnsxl.js';
import { createPolicy } from '../../src/smtp/policy/engine.js';
import { dsnFix, dsnSplit, formatReject, parseReply } from '../../src/smtp/policy/reply.js';
import { AddressResolver } from '../../src/smtp/policy/resolve.js';
import { checkPolicyTables, validatePolicyConfig } from '../../src/smtp/policy/validate.js';
import type { SmtpClientState } from '../../src/smtp/policy/types.js';
import { FixtureDirectory } from './helpers/directory.js';
import { MemoryLogger } from './helpers/script.js';

describe('address forms', () => {
  it('internal form: quotes removed, source route dropped, <> stripped', () => {
    assert.equal(toInternalAddress('<"user@remote.test"@example.test>'), 'user@remote.test@example.test');
    assert.equal(toInternalAddress('@a.test,@b.test:user@remote.test'), 'user@remote.test');
    assert.equal(toInternalAddress('"first last"@example.test'), 'first last@example.test');
    assert.equal(toInternalAddress('"a\\"b"@x.test'), 'a"b@x.test');
    assert.equal(toInternalAddress('user@[IPv6:::1]'), 'user@[IPv6:::1]');
    assert.equal(toInternalAddress('user@remote.test@example.test'), 'user@remote.test@example.test');
    assert.equal(toInternalAddress(''), '');
  });
  it('external form quotes local parts that need it', () => {
    assert.equal(toExternalAddress('first last@example.test'), '"first last"@example.test');
    assert.equal(toExternalAddress('user@remote.test@example.test'), '"user@remote.test"@example.test');
    assert.equal(toExternalAddress('alice+tag@example.test'), 'alice+tag@example.test');
  });
  it('valid_hostname: underscores yes, numeric names no, trailing dot no, hyphens inside labels only', () => {
    for (const ok of ['mail.example.test', 'a_b.remote.test', 'laptop', 'x-y.test', '1a.test']) assert.equal(validHostname(ok), true, ok);
    for (const bad of ['127.0.0.3', 'a..b', 'host.test.', '-a.test', 'a-.test', 'bad!name', '', 'x'.repeat(64) + '.test']) assert.equal(validHostname(bad), false, bad);
  });
  it('address literals and trailing dots', () => {
    assert.equal(validMailhostAddr('127.0.0.1'), true);
    assert.equal(validMailhostAddr('127.0.0.300'), false);
    assert.equal(validMailhostAddr('IPv6:::1'), true);
    assert.equal(validMailhostAddr('::1'), false);
    assert.equal(literalAddress('[IPv6:2001:db8::1]'), '2001:db8::1');
    assert.equal(literalAddress('[1.2.3]'), undefined);
    assert.equal(truncateDot('a.test.'), 'a.test');
    assert.equal(truncateDot('a.test..'), 'a.test..');
  });
});

describe('replies', () => {
  it('dsn_split, smtpd_dsn_fix and the code/class consistency rule', () => {
    assert.deepEqual(dsnSplit('5.7.1', '4.2.2 Mailbox full'), { dsn: '4.2.2', text: 'Mailbox full' });
    assert.deepEqual(dsnSplit('5.7.1', 'No status here'), { dsn: '5.7.1', text: 'No status here' });
    assert.equal(dsnFix('5.1.1', 'Sender address'), '4.1.0');
    assert.equal(dsnFix('5.1.2', 'Sender address'), '4.1.8');
    assert.equal(dsnFix('5.1.8', 'Recipient address'), '4.1.2');
    assert.equal(dsnFix('5.1.1', 'Client host'), '4.0.0');
    assert.equal(dsnFix('5.7.1', 'Sender address'), '5.7.1');
    assert.equal(formatReject(504, '4.5.2', 'x'), '504 5.5.2 x');
    assert.equal(formatReject(450, '5.7.1', 'x'), '450 4.7.1 x');
    assert.equal(formatReject(250, '2.0.0', 'x'), '450 4.7.1 Service unavailable');
    assert.equal(formatReject(554, '5.7.1', 'a\tb\x01c'), '554 5.7.1 a b c');
    assert.equal(formatReject(554, '5.7.1', 'x'.repeat(600)).length, 510);
    assert.deepEqual(parseReply('554 5.7.1 <x>: Relay access denied'), { code: 554, enhanced: '5.7.1', text: '<x>: Relay access denied' });
    assert.deepEqual(parseReply('459 <d>: service unavailable'), { code: 459, enhanced: '', text: '<d>: service unavailable' });
  });
  it('DNS list reply filters (ip_match)', () => {
    const f = parseReplyFilter('127.0.1.[1..9]');
    assert.equal(f('127.0.1.2'), true);
    assert.equal(f('127.0.1.10'), false);
    const g = parseReplyFilter('127.0.0.[2;4..6]');
    assert.deepEqual(['127.0.0.2', '127.0.0.3', '127.0.0.5'].map(g), [true, false, true]);
    assert.throws(() => parseReplyFilter('127.0.0'), /four octet/);
    assert.throws(() => parseReplyFilter('127.0.0.[9..2]'), /bad range/);
  });
});

describe('client names (forward-confirmed reverse DNS)', () => {
  const r = new StaticResolver({
    ptr: { '192.0.2.1': ['mail.example.test.'], '192.0.2.2': ['other.example.test'], '192.0.2.3': ['bad_name!.test'], '2001:db8::1': ['v6.example.test'] },
    a: { 'mail.example.test': ['192.0.2.1'], 'other.example.test': ['192.0.2.99'] },
    aaaa: { 'v6.example.test': ['2001:db8:0:0::1'] },
    tempfail: ['192.0.2.4'],
  });
  it('verified, unverified, missing, malformed, temporary failure, IPv6', async () => {
    assert.deepEqual(await resolveClientNames(r, '192.0.2.1'), { clientName: 'mail.example.test', reverseClientName: 'mail.example.test', nameStatus: 'ok', reverseNameStatus: 'ok' });
    assert.deepEqual(await resolveClientNames(r, '192.0.2.2'), { clientName: 'unknown', reverseClientName: 'other.example.test', nameStatus: 'perm', reverseNameStatus: 'ok' });
    assert.deepEqual(await resolveClientNames(r, '192.0.2.9'), { clientName: 'unknown', reverseClientName: 'unknown', nameStatus: 'perm', reverseNameStatus: 'perm' });
    assert.deepEqual(await resolveClientNames(r, '192.0.2.3'), { clientName: 'unknown', reverseClientName: 'unknown', nameStatus: 'perm', reverseNameStatus: 'perm' });
    assert.deepEqual(await resolveClientNames(r, '192.0.2.4'), { clientName: 'unknown', reverseClientName: 'unknown', nameStatus: 'temp', reverseNameStatus: 'temp' });
    assert.equal((await resolveClientNames(r, '2001:db8::1')).clientName, 'v6.example.test');
  });
});

describe('address resolution (relay control)', () => {
  const config = Config.fromText('myhostname = mx.example.test\nmydomain = example.test\nmyorigin = $mydomain\nmydestination = $myhostname, $mydomain\nrelay_domains = relay.test\n');
  const view = config.view('smtp');
  const dir = new FixtureDirectory(view);
  const res = new AddressResolver(
    { myhostname: 'mx.example.test', myorigin: 'example.test', mydomain: 'example.test', percentHack: true, swapBangpath: true, appendDotMydomain: false, emptyAddressRecipient: 'MAILER-DAEMON' },
    dir,
    (ip) => ip === '192.0.2.25',
  );
  it('strips local domains and follows routing operators', async () => {
    const cases: [string, string, string, boolean][] = [
      ['alice', 'alice@example.test', 'local', false],
      ['Alice@Example.TEST.', 'alice@example.test', 'local', false],
      ['user%remote.test@example.test', 'user@remote.test', 'remote', false],
      ['remote.test!user@example.test', 'user@remote.test', 'remote', false],
      ['user@remote.test@example.test', 'user@remote.test', 'remote', false],
      ['user%remote.test@relay.test', 'user%remote.test@relay.test', 'relay', true],
      ['alice@[192.0.2.25]', 'alice@[192.0.2.25]', 'local', false],
      ['user@[192.0.2.26]', 'user@[192.0.2.26]', 'remote', false],
      ['@example.test', 'mailer-daemon@example.test', 'local', false],
    ];
    for (const [input, recipient, cls, routed] of cases) {
      const r = await res.resolve(input);
      assert.deepEqual([r.recipient, r.domainClass, r.routed], [recipient, cls, routed], input);
    }
    assert.equal((await res.resolve('alice@[192.0.2.25]')).known, true);
    assert.equal((await res.resolve('nobody@example.test')).known, false);
    assert.equal((await res.resolve('user@remote..test')).error, true);
  });
});

describe('start-up validation', () => {
  it('refuses a configuration without relay control (Postfix: "specify at least one working instance")', () => {
    const c = Config.fromText('smtpd_relay_restrictions =\nsmtpd_recipient_restrictions = permit_mynetworks, permit_sasl_authenticated\n', 'main.cf');
    const d = validatePolicyConfig(c, ['smtp']);
    assert.equal(d.length, 1);
    assert.equal(d[0].severity, 'error');
    assert.equal(d[0].line, 1);
    assert.match(d[0].message, /specify at least one working instance of: reject_unauth_destination, defer_unauth_destination, reject, defer or defer_if_permit/);
  });
  it('accepts relay control in either list, in a restriction class, and the built-in defaults', () => {
    assert.deepEqual(validatePolicyConfig(Config.fromText('smtpd_relay_restrictions =\nsmtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination\n')), []);
    assert.deepEqual(validatePolicyConfig(Config.fromText('smtpd_restriction_classes = guard\nguard = reject_unauth_destination\nsmtpd_relay_restrictions = permit_mynetworks, guard\n')), []);
    assert.deepEqual(validatePolicyConfig(Config.fromText('')), []);
    // a permit before the relay control makes it useless
    const d = validatePolicyConfig(Config.fromText('smtpd_relay_restrictions = permit, reject_unauth_destination\n'), ['smtp']);
    assert.equal(d.length, 1);
    // warn_if_reject in front does not count
    assert.equal(validatePolicyConfig(Config.fromText('smtpd_relay_restrictions = warn_if_reject reject_unauth_destination\n'), ['smtp']).length, 1);
  });
  it('checks every SMTP service (submission has its own lists)', () => {
    const d = validatePolicyConfig(Config.fromText('submission.smtpd_relay_restrictions = permit_sasl_authenticated\n'));
    assert.deepEqual(
      d.map((x) => x.param),
      ['submission.smtpd_relay_restrictions'],
    );
  });
  it('reports classes without a definition, bad reply filters, bare tables in the DATA list, bad tempfail actions', () => {
    const c = Config.fromText(
      ['smtpd_restriction_classes = empty_class', 'smtpd_client_restrictions = reject_rbl_client zen.example=127.0.0.999', 'smtpd_data_restrictions = inline:{ a=b }', 'reject_tempfail_action = defer'].join('\n'),
      'main.cf',
    );
    const msgs = validatePolicyConfig(c, ['smtp']).map((x) => `${x.line}: ${x.message}`);
    assert.equal(msgs.length, 3, msgs.join('\n'));
    assert.match(msgs[0], /^1: restriction class "empty_class" needs a definition/);
    assert.match(msgs[1], /^2: reject_rbl_client zen.example=127.0.0.999: bad octet "999"/);
    assert.match(msgs[2], /^3: specify one of check_client_access/);
  });
  it('checkPolicyTables loads every table and reports its problems with file:line', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'facteur-policy-'));
    writeFileSync(join(dir, 'helo.pcre'), '/ok/ OK\n/a++/ REJECT\n');
    writeFileSync(join(dir, 'senders'), 'a OK\nbroken\n');
    const c = Config.fromText(`smtpd_helo_restrictions = check_helo_access pcre:${dir}/helo.pcre\nsmtpd_sender_restrictions = check_sender_access texthash:${dir}/senders\n`, join(dir, 'main.cf'));
    const d = await checkPolicyTables(c, ['smtp'], new TableCache());
    assert.deepEqual(
      d.map((x) => [x.file, x.line, x.param, x.severity]),
      [
        [join(dir, 'helo.pcre'), 2, 'smtpd_helo_restrictions', 'error'],
        [join(dir, 'senders'), 2, 'smtpd_sender_restrictions', 'warning'],
      ],
    );
  });
});

describe('the engine as the session uses it', () => {
  const base = (over: Partial<SmtpClientState> = {}): SmtpClientState => ({
    service: 'smtp',
    sessionId: 'T1',
    clientAddress: '198.51.100.7',
    clientPort: 40000,
    serverAddress: '192.0.2.25',
    serverPort: 25,
    tls: false,
    recipientCount: 0,
    pipelining: { talkedBeforeGreeting: false, unauthPipelined: false },
    ...over,
  });
  const config = Config.fromText('myhostname = mx.example.test\nmydomain = example.test\nmydestination = $myhostname, $mydomain\nsmtpd_client_restrictions = sleep 1, reject_unknown_client_hostname\n');

  it('fills clientName/reverseClientName at connect and reads the state live', async () => {
    const resolver = new StaticResolver({ ptr: { '198.51.100.7': ['host.client.test'] }, a: { 'host.client.test': ['198.51.100.7'] } });
    const log = new MemoryLogger();
    const policy = createPolicy(config.view('smtp'), { resolver, directory: new FixtureDirectory(config.view('smtp')), sleep: async () => undefined, log });
    const state = base();
    const s = policy.session();
    assert.deepEqual(await s.connect(state), { ok: true });
    assert.equal(state.clientName, 'host.client.test');
    assert.equal(state.reverseClientName, 'host.client.test');
    state.sender = 'x@remote.test';
    assert.deepEqual(await s.rcpt(state, 'alice@example.test'), { ok: true });
    const v = await s.rcpt(state, 'bob@remote.test');
    assert.deepEqual(v, { ok: false, reply: { code: 454, enhanced: '4.7.1', text: '<bob@remote.test>: Relay access denied' } });
    assert.ok(log.lines.some((l) => /NOQUEUE: reject: RCPT from host\.client\.test\[198\.51\.100\.7\]: 454 4\.7\.1 <bob@remote\.test>: Relay access denied; from=<x@remote\.test> to=<bob@remote\.test>/.test(l)), log.lines.join('\n'));
  });

  it('sleep does not block other sessions', async () => {
    const resolver = new StaticResolver({});
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const policy = createPolicy(config.view('smtp'), { resolver, directory: new FixtureDirectory(config.view('smtp')), sleep: () => gate, log: new MemoryLogger() });
    const a = policy.session();
    const b = policy.session();
    const sa = base({ sender: 'x@remote.test' });
    const sb = base({ sender: 'x@remote.test', clientAddress: '198.51.100.8' });
    await a.connect(sa);
    await b.connect(sb);
    const pending = a.rcpt(sa, 'alice@example.test');
    let aDone = false;
    void pending.then(() => (aDone = true));
    // b's own sleep is also gated; its HELO stage (no sleep) answers while a waits
    assert.deepEqual(await b.helo({ ...sb, heloName: 'x.test' }), { ok: true });
    assert.equal(aDone, false);
    release();
    const v = await pending;
    assert.equal(v.ok, false);
    assert.equal(!v.ok && v.reply.text, 'Client host rejected: cannot find your hostname, [198.51.100.7]');
  });
});

describe('address syntax (smtpd_check_addr)', () => {
  it('flags domains that are neither host names nor literals', async () => {
    const { addressSyntaxError } = await import('../../src/smtp/policy/address.js');
    for (const bad of ['foo@', 'a@b..c', 'x@[1.2.3]', 'x@-bad.test']) assert.equal(addressSyntaxError(bad), true, bad);
    for (const ok of ['alice', '', 'alice@example.test', 'alice@example.test.', 'x@[127.0.0.1]', 'x@[IPv6:::1]', 'user@remote.test@example.test']) assert.equal(addressSyntaxError(ok), false, ok);
  });
});
