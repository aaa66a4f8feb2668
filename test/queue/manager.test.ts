import assert from 'node:assert/strict';
import { readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { StaticResolver } from '../../src/dns/static.js';
import { ManualClock } from '../../src/queue/clock.js';
import { readQueueFile } from '../../src/queue/file.js';
import { newQueueId } from '../../src/queue/id.js';
import { QueueManager } from '../../src/queue/manager.js';
import { startRemoteMx, type RemoteMx } from '../smtp-client/remote-mx.js';
import { FakeLocalDelivery, captureLogs, noticeParts, queueConfig, remoteResolver, submit, tempDir, SAMPLE } from './helpers.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function files(dir: string, queue: string): string[] {
  try {
    return readdirSync(join(dir, 'queue', queue));
  } catch {
    return [];
  }
}

async function setup(opts: { mx?: Parameters<typeof startRemoteMx>[0]; config?: Record<string, string>; clock?: ManualClock; resolver?: StaticResolver } = {}) {
  const mx = await startRemoteMx(opts.mx);
  const dir = tempDir();
  const local = new FakeLocalDelivery();
  const logs = captureLogs();
  const qm = new QueueManager({
    config: queueConfig(dir, mx.port, opts.config),
    resolver: opts.resolver ?? remoteResolver(['remote.test', 'other.test']),
    localDelivery: local,
    clock: opts.clock,
    controlSocket: false,
  });
  await qm.start();
  cleanups.push(() => mx.close(), () => qm.stop(), () => logs.stop());
  return { mx, dir, local, logs, qm };
}

describe('queue manager: delivery to a remote MX', () => {
  it('delivers over STARTTLS, logs the Postfix line, removes the queue file', async () => {
    const { mx, dir, qm, logs } = await setup();
    const id = await submit(qm, { recipients: ['bob@remote.test'] });
    await qm.idle();
    assert.equal(mx.messages.length, 1);
    assert.equal(mx.messages[0].secure, true);
    assert.equal(mx.messages[0].from, 'alice@example.test');
    assert.equal(mx.messages[0].data.toString(), SAMPLE.replace(/\n/g, '\r\n'));
    for (const q of ['incoming', 'active', 'deferred']) assert.deepEqual(files(dir, q), [], q);
    assert.equal(logs.grep(new RegExp(`${id}: from=<alice@example.test>, size=${SAMPLE.length}, nrcpt=1 \\(queue active\\)`)).length, 1);
    const sent = logs.grep(
      new RegExp(`facteur/smtp\\[\\d+\\]: ${id}: to=<bob@remote.test>, relay=mx\\.remote\\.test\\[127\\.0\\.0\\.1\\]:${mx.port}, delay=[\\d.]+, delays=[\\d.]+/[\\d.]+/[\\d.]+/[\\d.]+, dsn=2\\.0\\.0, status=sent \\(250 2\\.0\\.0 Ok: queued as REMOTE1\\)$`),
    );
    assert.equal(sent.length, 1, logs.lines.join('\n'));
    assert.equal(logs.grep(new RegExp(`${id}: removed$`)).length, 1);
  });

  it('defers on 4xx and delivers on the retry after minimal_backoff_time (injected clock)', async () => {
    const clock = new ManualClock();
    const { mx, dir, qm, logs } = await setup({ clock, mx: { rcpt: (_a, n) => (n === 0 ? { code: 450, message: '4.2.0 <bob@remote.test>: greylisted, try again later' } : undefined) } });
    const id = await submit(qm, { recipients: ['bob@remote.test'] });
    await qm.idle();
    assert.equal(mx.messages.length, 0);
    assert.deepEqual(files(dir, 'deferred'), [id]);
    const st = await readQueueFile(join(dir, 'queue', 'deferred', id));
    assert.equal(st.attempts, 1);
    assert.equal(st.rcpt[0].status, 'pending');
    assert.match(st.rcpt[0].reason!, /said: 450 4\.2\.0 <bob@remote\.test>: greylisted, try again later \(in reply to RCPT TO command\)$/);
    // next attempt = now + minimal_backoff_time (300 s), kept as the file's mtime
    assert.equal(Math.round((statSync(join(dir, 'queue', 'deferred', id)).mtimeMs - clock.now()) / 1000), 300);
    assert.equal(logs.grep(/status=deferred \(host mx\.remote\.test\[127\.0\.0\.1\] said: 450 4\.2\.0/).length, 1);

    clock.advance(200_000);
    await qm.scanDeferred();
    await qm.idle();
    assert.equal(mx.messages.length, 0, 'not before the backoff');

    clock.advance(101_000);
    await qm.scanDeferred();
    await qm.idle();
    assert.equal(mx.messages.length, 1);
    assert.deepEqual(files(dir, 'deferred'), []);
    assert.equal(logs.grep(new RegExp(`${id}: to=<bob@remote.test>.*status=sent`)).length, 1);
  });

  it('bounces on 5xx: one RFC 3464 notice with the remote reply verbatim, delivered to the local sender', async () => {
    const { local, qm, logs, dir } = await setup({ mx: { rcpt: (a) => (a.startsWith('nobody') ? { code: 550, message: `5.1.1 <${a}>: Recipient address rejected: User unknown in virtual mailbox table` } : undefined) } });
    const id = await submit(qm, { recipients: ['nobody@remote.test', 'nobody2@remote.test'] });
    await qm.idle();
    assert.equal(local.delivered.length, 1, 'one notice for both failed recipients');
    const n = local.delivered[0];
    assert.equal(n.sender, '');
    assert.equal(n.recipient, 'alice@example.test');
    const { headers, parts } = noticeParts(n.content);
    assert.match(headers, /^From: Mail Delivery System <MAILER-DAEMON@example\.test>$/m);
    assert.match(headers, /^Subject: Undelivered Mail Returned to Sender$/m);
    assert.match(headers, /^To: alice@example\.test$/m);
    assert.match(headers, /^Auto-Submitted: auto-replied$/m);
    assert.match(headers, /^Content-Type: multipart\/report; report-type=delivery-status;$/m);
    assert.equal(parts.length, 3);
    assert.match(parts[0], /^Content-Description: Notification\n/);
    assert.match(
      parts[0],
      /\n<nobody@remote\.test>: host mx\.remote\.test\[127\.0\.0\.1\] said: 550 5\.1\.1\n {4}<nobody@remote\.test>: Recipient address rejected: User unknown in virtual\n {4}mailbox table \(in reply to RCPT TO command\)\n/,
    );
    assert.match(parts[1], /^Content-Description: Delivery report\nContent-Type: message\/delivery-status\n/);
    assert.match(parts[1], new RegExp(`X-facteur-Queue-ID: ${id}\n`));
    assert.match(parts[1], /\nFinal-Recipient: rfc822; nobody@remote\.test\nOriginal-Recipient: rfc822;nobody@remote\.test\nAction: failed\nStatus: 5\.1\.1\nRemote-MTA: dns; mx\.remote\.test\nDiagnostic-Code: smtp; 550 5\.1\.1 <nobody@remote\.test>: Recipient address\n {4}rejected: User unknown in virtual mailbox table\n/);
    assert.match(parts[1], /Final-Recipient: rfc822; nobody2@remote\.test/);
    assert.match(parts[2], /^Content-Description: Undelivered Message\nContent-Type: message\/rfc822\nContent-Transfer-Encoding: 8bit\n\n/);
    assert.ok(parts[2].includes(SAMPLE), 'the whole original message is returned');
    const noticeLine = logs.grep(new RegExp(`facteur/bounce\\[\\d+\\]: ${id}: sender non-delivery notification: [0-9A-F]+$`));
    assert.equal(noticeLine.length, 1);
    for (const q of ['active', 'deferred', 'incoming']) assert.deepEqual(files(dir, q), [], q);
  });

  it('partial success: the accepted recipient gets the message once, the notice lists only the failed one', async () => {
    const { mx, local, qm } = await setup({ mx: { rcpt: (a) => (a.startsWith('nobody') ? { code: 550, message: '5.1.1 User unknown' } : undefined) } });
    await submit(qm, { recipients: ['bob@remote.test', 'nobody@remote.test', 'carol@other.test'] });
    await qm.idle();
    const rcpts = mx.messages.flatMap((m) => m.rcpts.map((r) => r.address)).sort();
    assert.deepEqual(rcpts, ['bob@remote.test', 'carol@other.test']);
    assert.equal(local.delivered.length, 1);
    const report = noticeParts(local.delivered[0].content).parts[1];
    assert.match(report, /Final-Recipient: rfc822; nobody@remote\.test/);
    assert.doesNotMatch(report, /bob@remote\.test|carol@other\.test/);
  });

  it('a null MX bounces at once (5.1.0, relay=none)', async () => {
    const resolver = remoteResolver();
    resolver.add('mx', 'nomail.test', [{ exchange: '.', priority: 0 }]);
    const { local, qm, logs } = await setup({ resolver });
    const id = await submit(qm, { recipients: ['x@nomail.test'] });
    await qm.idle();
    assert.equal(logs.grep(new RegExp(`${id}: to=<x@nomail.test>, relay=none, .*dsn=5\\.1\\.0, status=bounced \\(Domain nomail\\.test does not accept mail \\(nullMX\\)\\)$`)).length, 1);
    assert.equal(local.delivered.length, 1);
    assert.match(local.delivered[0].content, /\n<x@nomail\.test>: Domain nomail\.test does not accept mail \(nullMX\)\n/);
    assert.match(local.delivered[0].content, /Diagnostic-Code: X-facteur; Domain nomail\.test does not accept mail \(nullMX\)/);
  });

  it('never bounces a message with a null sender', async () => {
    const { local, qm, logs, dir } = await setup({ mx: { rcpt: () => ({ code: 550, message: '5.1.1 User unknown' }) } });
    const id = await submit(qm, { sender: '', recipients: ['nobody@remote.test'] });
    await qm.idle();
    assert.equal(local.delivered.length, 0);
    assert.equal(logs.grep(new RegExp(`${id}: undeliverable notice to <nobody@remote.test> discarded`)).length, 1);
    assert.deepEqual(files(dir, 'active'), []);
  });

  it('honours NOTIFY: NEVER gets no bounce; SUCCESS gets a "relayed" report from a server without DSN, none from one with DSN', async () => {
    const { local, qm } = await setup({ mx: { rcpt: (a) => (a.startsWith('nobody') ? { code: 550, message: '5.1.1 User unknown' } : undefined) } });
    await submit(qm, { recipients: [{ address: 'nobody@remote.test', notify: ['NEVER'] }] });
    await qm.idle();
    assert.equal(local.delivered.length, 0);
    await submit(qm, { recipients: [{ address: 'bob@remote.test', notify: ['SUCCESS'] }], envid: 'ENV-42', ret: 'HDRS' });
    await qm.idle();
    assert.equal(local.delivered.length, 0, 'the DSN-capable server took NOTIFY=SUCCESS over');

    const other = await setup({ mx: { hide: ['DSN'] } });
    await submit(other.qm, { recipients: [{ address: 'bob@remote.test', notify: ['SUCCESS'] }], envid: 'ENV-43' });
    await other.qm.idle();
    assert.equal(other.local.delivered.length, 1);
    const text = other.local.delivered[0].content;
    assert.match(text, /^Subject: Successful Mail Delivery Report$/m);
    assert.match(text, /\nOriginal-Envelope-Id: ENV-43\n/);
    assert.match(text, /\nAction: relayed\nStatus: 2\.0\.0\nRemote-MTA: dns; mx\.remote\.test\nDiagnostic-Code: smtp; 250 2\.0\.0 Ok: queued as REMOTE1\n/);
    assert.match(text, new RegExp(`<bob@remote\\.test>: delivery via mx\\.remote\\.test\\[127\\.0\\.0\\.1\\]:${other.mx.port}: 250 2\\.0\\.0 Ok:(\\n {4}| )queued as(\\n {4}| )REMOTE1\\n`));
    assert.match(text, /Content-Description: Message Headers\nContent-Type: text\/rfc822-headers\n/);
    assert.doesNotMatch(text, /Hello\./, 'headers only');
  });

  it('sends one delay warning after delay_warning_time, then bounces when maximal_queue_lifetime is over', async () => {
    const clock = new ManualClock();
    const { local, qm, logs, dir } = await setup({
      clock,
      config: { delay_warning_time: '1h', maximal_queue_lifetime: '3h', minimal_backoff_time: '300s', maximal_backoff_time: '4000s' },
      mx: { rcpt: () => ({ code: 451, message: '4.3.0 mailbox temporarily unavailable' }) },
    });
    const id = await submit(qm, { recipients: ['bob@remote.test'], arrival: new Date(clock.now()) });
    await qm.idle();
    assert.equal(local.delivered.length, 0);
    clock.advance(3700_000);
    await qm.scanDeferred();
    await qm.idle();
    assert.equal(local.delivered.length, 1, 'a delay warning');
    const warn = local.delivered[0].content;
    assert.match(warn, /^Subject: Delayed Mail \(still being retried\)$/m);
    assert.match(warn, /# THIS IS A WARNING ONLY\.  YOU DO NOT NEED TO RESEND YOUR MESSAGE\. #/);
    assert.match(warn, /Your message could not be delivered for more than 1 hour\(s\)\.\nIt will be retried until it is 0 day\(s\) old\./);
    assert.match(warn, /\nAction: delayed\nStatus: 4\.3\.0\n/);
    assert.match(warn, /\nWill-Retry-Until: /);
    assert.match(warn, /Content-Description: Undelivered Message Headers\nContent-Type: text\/rfc822-headers/);
    assert.equal(logs.grep(new RegExp(`${id}: sender delay notification: `)).length, 1);

    clock.advance(3700_000);
    await qm.scanDeferred();
    await qm.idle();
    assert.equal(local.delivered.length, 1, 'only one warning');

    // attempts at 0, 1h02 (backoff = age), 2h03 (backoff capped at maximal_backoff_time), then 3h10 > 3h
    clock.advance(4400_000);
    await qm.scanDeferred();
    await qm.idle();
    assert.equal(local.delivered.length, 2, 'expired: returned to sender');
    const bounce = local.delivered[1].content;
    assert.match(bounce, /^Subject: Undelivered Mail Returned to Sender$/m);
    assert.match(bounce, /\nAction: failed\nStatus: 4\.3\.0\n/);
    assert.match(bounce.replace(/\n {4}/g, ' '), /<bob@remote\.test>: host mx\.remote\.test\[127\.0\.0\.1\] said: 451 4\.3\.0 mailbox temporarily unavailable \(in reply to RCPT TO command\)/);
    assert.equal(logs.grep(new RegExp(`${id}: from=<alice@example.test>, status=expired, returned to sender$`)).length, 1);
    assert.deepEqual(files(dir, 'deferred'), []);
  });

  it('delivers local recipients of queued mail through the LocalDeliveryAgent and retries a local deferral', async () => {
    const clock = new ManualClock();
    const { local, qm, mx } = await setup({ clock });
    local.answer = (r, n) => (r === 'bob@example.test' && n === 0 ? { status: 'deferred', dsnStatus: '4.2.2', text: 'mailbox full' } : undefined);
    await submit(qm, { recipients: ['alice@example.test', 'bob@example.test', 'carol@remote.test'] });
    await qm.idle();
    assert.deepEqual(local.delivered.map((d) => d.recipient), ['alice@example.test']);
    assert.equal(mx.messages.length, 1);
    clock.advance(301_000);
    await qm.scanDeferred();
    await qm.idle();
    assert.deepEqual(local.delivered.map((d) => d.recipient), ['alice@example.test', 'bob@example.test']);
    assert.equal(mx.messages.length, 1, 'the remote recipient was not sent twice');
  });

  it('defers a recipient whose domain class a table cannot tell (address resolver failure); the others go on', async () => {
    const { local, qm, mx, dir, logs } = await setup({ config: { virtual_alias_domains: 'fail:down' } });
    const id = await submit(qm, { recipients: ['alice@example.test', 'carol@remote.test'] });
    await qm.idle();
    assert.deepEqual(local.delivered.map((d) => d.recipient), ['alice@example.test']);
    assert.equal(mx.messages.length, 0);
    const st = await readQueueFile(join(dir, 'queue', 'deferred', id));
    assert.deepEqual(st.rcpt.map((r) => [r.status, r.reason]), [
      ['done', 'delivered to maildir'],
      ['pending', 'address resolver failure'],
    ]);
    assert.equal(logs.grep(/to=<carol@remote\.test>, relay=none, .*dsn=4\.3\.0, status=deferred \(address resolver failure\)$/).length, 1, logs.lines.join('\n'));
  });

  it('limits connections per destination and recipients per transaction', async () => {
    const { mx, qm } = await setup({ config: { default_destination_concurrency_limit: '2', default_destination_recipient_limit: '2' } });
    await Promise.all(Array.from({ length: 12 }, (_, i) => submit(qm, { recipients: [`a${i}@remote.test`, `b${i}@remote.test`, `c${i}@remote.test`] })));
    await qm.idle();
    assert.equal(mx.messages.length, 24, 'three recipients in two transactions per message');
    assert.ok(mx.messages.every((m) => m.rcpts.length <= 2));
    assert.ok(mx.maxConcurrent <= 2, `at most 2 connections, saw ${mx.maxConcurrent}`);
  });

  it('keeps at most qmgr_message_active_limit messages in memory', async () => {
    const { mx, qm } = await setup({ config: { qmgr_message_active_limit: '3' } });
    let most = 0;
    const timer = setInterval(() => (most = Math.max(most, qm.stats().loaded)), 1);
    await Promise.all(Array.from({ length: 20 }, (_, i) => submit(qm, { recipients: [`r${i}@remote.test`] })));
    await qm.idle();
    clearInterval(timer);
    assert.equal(mx.messages.length, 20);
    assert.ok(most <= 3, `at most 3 loaded, saw ${most}`);
  });

  it('moves a corrupt queue file to corrupt/ with a log line', async () => {
    const { qm, logs, dir } = await setup();
    await qm.stop();
    const id = newQueueId();
    writeFileSync(join(dir, 'queue', 'active', id), 'FQ1 000000000010 1\n{"not":"an envelope"}\n0123456789');
    await qm.start();
    await qm.idle();
    assert.deepEqual(files(dir, 'corrupt'), [id]);
    assert.equal(logs.grep(new RegExp(`${id}: warning: corrupt queue file: envelope lacks required fields; moved to corrupt/`)).length, 1);
  });

  it('relays through relayhost [host]:port with SASL AUTH', async () => {
    const dir0 = tempDir();
    const passwd = join(dir0, 'sasl_passwd');
    const mx = await startRemoteMx({ auth: { user: 'me@isp.test', pass: 's3cret' } });
    writeFileSync(passwd, `[127.0.0.1]:${mx.port}    me@isp.test:s3cret\n`);
    const dir = tempDir();
    const local = new FakeLocalDelivery();
    const qm = new QueueManager({
      config: queueConfig(dir, 25, { relayhost: `[127.0.0.1]:${mx.port}`, smtp_sasl_auth_enable: 'yes', smtp_sasl_password_maps: `texthash:${passwd}` }),
      resolver: new StaticResolver(),
      localDelivery: local,
      controlSocket: false,
    });
    await qm.start();
    cleanups.push(() => mx.close(), () => qm.stop());
    await submit(qm, { recipients: ['friend@anywhere.test', 'other@elsewhere.test'] });
    await qm.idle();
    assert.equal(mx.messages.length, 1, 'one transaction through the relay for both domains');
    assert.equal(mx.messages[0].user, 'me@isp.test');
    assert.equal(mx.messages[0].secure, true);
  });

  it('suspends a dead destination: later jobs are deferred at once, "delivery temporarily suspended"', async () => {
    const { mx, qm, logs, dir } = await setup({ config: { default_destination_concurrency_limit: '1' } });
    await mx.close(); // nothing listens on the MX port any more
    for (let i = 0; i < 3; i++) await submit(qm, { recipients: [`r${i}@remote.test`] });
    await qm.idle();
    assert.equal(files(dir, 'deferred').length, 3);
    const refused = logs.grep(/status=deferred \(connect to mx\.remote\.test\[127\.0\.0\.1\]:\d+: Connection refused\)$/);
    const suspended = logs.grep(/status=deferred \(delivery temporarily suspended: connect to mx\.remote\.test\[127\.0\.0\.1\]:\d+: Connection refused\)$/);
    assert.equal(refused.length + suspended.length, 3);
    assert.ok(suspended.length >= 1, logs.lines.join('\n'));
    assert.ok(refused.every((l) => /relay=none/.test(l)));
  });

  it('refuses to start a second queue manager on the same queue directory', async () => {
    const mx = await startRemoteMx();
    const dir = tempDir();
    const a = new QueueManager({ config: queueConfig(dir, mx.port), resolver: remoteResolver() });
    await a.start();
    cleanups.push(() => mx.close(), () => a.stop());
    const b = new QueueManager({ config: queueConfig(dir, mx.port), resolver: remoteResolver() });
    await assert.rejects(b.start(), /another queue manager is running/);
  });
});
