process.env.TZ = 'UTC';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { main } from '../../src/cli/main.js';
import { formatJsonEntry, formatMailqEntry, mailqFooter, MAILQ_HEADER, type QueueEntry } from '../../src/queue/admin.js';
import { ManualClock } from '../../src/queue/clock.js';
import { signalQueueManager } from '../../src/queue/control.js';
import { QueueManager } from '../../src/queue/manager.js';
import { startRemoteMx } from '../smtp-client/remote-mx.js';
import { FakeLocalDelivery, queueConfig, remoteResolver, submit, tempDir, waitFor } from './helpers.js';

const fixtures = fileURLToPath(new URL('../fixtures/postfix-dsn/', import.meta.url));

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Run `facteur …` in-process and capture stdout/stderr. */
async function cli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const ow = process.stdout.write.bind(process.stdout);
  const ew = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((c: string | Uint8Array) => {
    out += c.toString();
    return true;
  }) as typeof process.stdout.write;
  process.stderr.write = ((c: string | Uint8Array) => {
    err += c.toString();
    return true;
  }) as typeof process.stderr.write;
  const saved = process.exitCode;
  process.exitCode = undefined;
  try {
    const code = await main(args);
    return { code, out, err };
  } finally {
    process.stdout.write = ow;
    process.stderr.write = ew;
    process.exitCode = saved;
  }
}

describe('mailq and postqueue -j layout', () => {
  it('reproduces Postfix 3.7 output for the same queue', () => {
    const expectedText = readFileSync(fixtures + 'mailq.txt', 'utf8');
    const jsonLines = readFileSync(fixtures + 'postqueue-j.jsonl', 'utf8').trimEnd().split('\n');
    const entries: QueueEntry[] = jsonLines.map((l) => {
      const j = JSON.parse(l) as { queue_name: QueueEntry['queue']; queue_id: string; arrival_time: number; message_size: number; sender: string; recipients: Array<{ address: string; delay_reason?: string }> };
      return {
        queue: j.queue_name,
        id: j.queue_id,
        arrival: j.arrival_time * 1000,
        size: j.message_size,
        sender: j.sender,
        recipients: j.recipients.map((r) => (r.delay_reason ? { address: r.address, reason: r.delay_reason } : { address: r.address })),
      };
    });
    const text = MAILQ_HEADER + '\n' + entries.map((e) => formatMailqEntry(e) + '\n').join('') + mailqFooter(entries.reduce((s, e) => s + e.size, 0), entries.length);
    assert.equal(text, expectedText);
    assert.deepEqual(
      entries.map((e) => formatJsonEntry(e).trimEnd()),
      jsonLines,
    );
    assert.equal(mailqFooter(0, 0), 'Mail queue is empty\n');
  });
});

describe('facteur queue commands', () => {
  it('list, show, hold, release, delete and flush — while the queue manager runs', async () => {
    let accept = false;
    const mx = await startRemoteMx({ rcpt: () => (accept ? undefined : { code: 450, message: '4.7.1 Service unavailable, try later' }) });
    const dir = tempDir();
    const config = queueConfig(dir, mx.port);
    const clock = new ManualClock();
    const qm = new QueueManager({ config, resolver: remoteResolver(), localDelivery: new FakeLocalDelivery(), clock });
    await qm.start();
    cleanups.push(() => mx.close(), () => qm.stop());
    const data = ['--data', dir];
    // myhostname etc. come from the environment-less embedded config; only the data directory matters here
    const id1 = await submit(qm, { recipients: ['bob@remote.test', 'carol@remote.test'] });
    const id2 = await submit(qm, { recipients: ['dave@remote.test'], sender: 'eve@example.test' });
    await qm.idle();

    const list = await cli(['queue', 'list', ...data]);
    assert.equal(list.code, 0, list.err);
    const lines = list.out.split('\n');
    assert.equal(lines[0], MAILQ_HEADER);
    const i1 = lines.findIndex((l) => l.startsWith(id1));
    assert.match(lines[i1], new RegExp(`^${id1} {1,7}\\d+ \\w{3} \\w{3} [ \\d]\\d \\d\\d:\\d\\d:\\d\\d  alice@example\\.test$`));
    const reason = `host mx.remote.test[127.0.0.1] said: 450 4.7.1 Service unavailable, try later (in reply to RCPT TO command)`;
    assert.equal(lines[i1 + 1], `${' '.repeat(Math.max(0, 76 - reason.length))}(${reason})`);
    assert.equal(lines[i1 + 2], ' '.repeat(41) + 'bob@remote.test');
    assert.equal(lines[i1 + 3], ' '.repeat(41) + 'carol@remote.test', 'same reason: one reason line');
    assert.match(list.out, /\n-- \d+ Kbytes in 2 Requests\.\n$/);

    const json = await cli(['queue', 'list', '-j', ...data]);
    const objs = json.out.trim().split('\n').map((l) => JSON.parse(l));
    const o1 = objs.find((o) => o.queue_id === id1);
    assert.equal(o1.queue_name, 'deferred');
    assert.equal(o1.sender, 'alice@example.test');
    assert.deepEqual(o1.recipients, [
      { address: 'bob@remote.test', delay_reason: reason },
      { address: 'carol@remote.test', delay_reason: reason },
    ]);

    const show = await cli(['queue', 'show', id1, ...data]);
    assert.equal(show.code, 0, show.err);
    assert.match(show.out, new RegExp(`^\\*\\*\\* ENVELOPE RECORDS deferred/${id1} \\*\\*\\*\\n`));
    assert.match(show.out, /\nsender: alice@example\.test\n/);
    assert.match(show.out, /\nrecipient: bob@remote\.test\ndelivery_status: dsn=4\.7\.1, relay=mx\.remote\.test\[127\.0\.0\.1\]:\d+ \(host /);
    assert.match(show.out, /\*\*\* MESSAGE CONTENTS deferred\/[0-9A-F]+ \*\*\*\nFrom: <alice@example\.test>\n/);
    assert.match(show.out, /\*\*\* MESSAGE FILE END deferred\/[0-9A-F]+ \*\*\*\n$/);

    const hold = await cli(['queue', 'hold', id1, ...data]);
    assert.equal(hold.code, 0, hold.err);
    assert.match(hold.out, new RegExp(`${id1}: placed on hold\\n.*Placed on hold: 1 message`, 's'));
    assert.deepEqual(readdirSync(join(dir, 'queue', 'hold')), [id1]);
    assert.match((await cli(['queue', 'list', ...data])).out, new RegExp(`\\n${id1}! {1,7}\\d+ `));

    // flush while held: only the other message goes
    accept = true;
    const flush = await cli(['queue', 'flush', ...data]);
    assert.equal(flush.code, 0, flush.err);
    await waitFor(() => mx.messages.length === 1, 5000, 'the flushed message');
    await qm.idle();
    assert.deepEqual(mx.messages[0].rcpts.map((r) => r.address), ['dave@remote.test']);
    assert.deepEqual(readdirSync(join(dir, 'queue', 'hold')), [id1]);

    const release = await cli(['queue', 'release', 'ALL', ...data]);
    assert.match(release.out, /Released from hold: 1 message/);
    await waitFor(() => mx.messages.length === 2, 5000, 'the released message');
    await qm.idle();
    assert.deepEqual(mx.messages[1].rcpts.map((r) => r.address).sort(), ['bob@remote.test', 'carol@remote.test']);
    assert.equal((await cli(['queue', 'list', ...data])).out, 'Mail queue is empty\n');

    // delete: a deferred message disappears, a missing id is an error
    accept = false;
    const id3 = await submit(qm, { recipients: ['zed@remote.test'] });
    await qm.idle();
    const del = await cli(['queue', 'delete', 'deferred', ...data]);
    assert.match(del.out, new RegExp(`${id3}: removed\\n.*Deleted: 1 message`, 's'));
    const missing = await cli(['queue', 'delete', id3, ...data]);
    assert.equal(missing.code, 1);
    assert.match(missing.err, /no such message/);
    void id2;
  });

  it('flush reports that the mail system is down when no queue manager runs', async () => {
    const dir = tempDir();
    const r = await cli(['queue', 'flush', '--data', dir]);
    assert.equal(r.code, 1);
    assert.match(r.err, /Cannot flush mail queue - mail system is down/);
    assert.equal((await signalQueueManager(join(dir, 'queue'), 'flush')).delivered, false);
  });

  it('holding a message while it is being delivered keeps what was done: nothing is sent twice after release', async () => {
    let stall = true;
    const mx = await startRemoteMx({ stallRcpt: (a) => (a.startsWith('slow') && stall ? 1500 : 0) });
    const dir = tempDir();
    const qm = new QueueManager({ config: queueConfig(dir, mx.port), resolver: remoteResolver(['remote.test', 'other.test']), localDelivery: new FakeLocalDelivery() });
    await qm.start();
    cleanups.push(() => mx.close(), () => qm.stop());
    const id = await submit(qm, { recipients: ['fast@other.test', 'slow@remote.test'] });
    // hold while slow@ is still in its RCPT
    await waitFor(() => mx.messages.length >= 1, 5000, 'the fast recipient');
    const held = await cli(['queue', 'hold', id, '--data', dir]);
    assert.match(held.out, /placed on hold/);
    await qm.idle();
    assert.deepEqual(readdirSync(join(dir, 'queue', 'hold')), [id]);
    assert.equal(mx.messages.length, 2, 'the delivery that was under way completed');
    stall = false;
    await cli(['queue', 'release', id, '--data', dir]);
    await qm.idle();
    await new Promise((r) => setTimeout(r, 100));
    await qm.idle();
    assert.equal(mx.messages.length, 2, 'no recipient was sent twice');
    assert.equal(readdirSync(join(dir, 'queue', 'deferred')).length + readdirSync(join(dir, 'queue', 'active')).length, 0);
  });
});
