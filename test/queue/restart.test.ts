import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { appendFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { readQueueFile } from '../../src/queue/file.js';
import { QueueManager } from '../../src/queue/manager.js';
import { QueueStore } from '../../src/queue/store.js';
import { startRemoteMx } from '../smtp-client/remote-mx.js';
import { FakeLocalDelivery, captureLogs, queueConfig, remoteResolver, submit, tempDir, waitFor } from './helpers.js';

const child = fileURLToPath(new URL('./crash-child.ts', import.meta.url));
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe('crash and restart', () => {
  it('kill -9 between recipients: after a restart nothing is lost and nothing is sent twice', async () => {
    let stall = true;
    const mx = await startRemoteMx({ stallRcpt: (a) => (a.startsWith('slow') && stall ? 60_000 : 0) });
    cleanups.push(() => mx.close());
    const dir = tempDir();
    const config = queueConfig(dir, mx.port);
    // queue the message before the manager runs, through the same writer the SMTP session uses
    const store = new QueueStore(config.path('queue_directory'));
    await store.init();
    const id = await submit({ create: (e) => store.create(e) }, { recipients: ['fast@other.test', 'slow@remote.test', 'also-fast@other.test'] });
    assert.deepEqual(readdirSync(join(dir, 'queue', 'active')), [id]);

    const proc = spawn(process.execPath, ['--import', 'tsx', child, dir, String(mx.port), JSON.stringify(['remote.test', 'other.test'])], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    proc.stdout.on('data', (d) => (out += d));
    cleanups.push(() => void proc.kill('SIGKILL'));
    // wait until the fast recipients are done *and* recorded in the queue file
    await waitFor(
      async () => {
        try {
          const st = await readQueueFile(join(dir, 'queue', 'active', id));
          return st.rcpt[0].status === 'done' && st.rcpt[2].status === 'done';
        } catch {
          return false;
        }
      },
      20_000,
      'the journal to record the fast recipients',
    );
    assert.equal(mx.messages.length, 1);
    assert.match(out, new RegExp(`${id}: to=<fast@other.test>.*status=sent`));
    assert.doesNotMatch(out, /slow@remote\.test.*status=/, 'the slow recipient is still in its RCPT');
    proc.kill('SIGKILL');
    await new Promise((r) => proc.once('exit', r));

    // restart in this process, the remote answers normally now
    stall = false;
    const logs = captureLogs();
    cleanups.push(() => logs.stop());
    const qm = new QueueManager({ config, resolver: remoteResolver(['remote.test', 'other.test']), localDelivery: new FakeLocalDelivery(), controlSocket: false });
    await qm.start();
    cleanups.push(() => qm.stop());
    await qm.idle();
    const all = mx.messages.flatMap((m) => m.rcpts.map((r) => r.address)).sort();
    assert.deepEqual(all, ['also-fast@other.test', 'fast@other.test', 'slow@remote.test']);
    assert.equal(logs.grep(new RegExp(`${id}: to=<fast@other.test>`)).length, 0, 'not attempted again');
    assert.deepEqual(readdirSync(join(dir, 'queue', 'active')), []);
  });

  it('a committed file left in incoming/ (crash before the rename) is delivered; a partial one is dropped', async () => {
    const mx = await startRemoteMx();
    cleanups.push(() => mx.close());
    const dir = tempDir();
    const config = queueConfig(dir, mx.port);
    const store = new QueueStore(config.path('queue_directory'));
    await store.init();
    // a partial write: the session died before commit
    const w = await store.create({ id: 'AAAA0000000001', sender: 'a@example.test', recipients: [{ address: 'x@remote.test' }], arrival: new Date() });
    await w.write(Buffer.from('Subject: partial\n'));
    // a complete one whose rename to active/ did not happen: simulate by moving it back
    const id = await submit({ create: (e) => store.create(e) }, { recipients: ['y@remote.test'] });
    await store.move(id, 'active', 'incoming');
    const logs = captureLogs();
    cleanups.push(() => logs.stop());
    const qm = new QueueManager({ config, resolver: remoteResolver(), controlSocket: false });
    await qm.start();
    cleanups.push(() => qm.stop());
    await qm.idle();
    assert.deepEqual(mx.messages.map((m) => m.rcpts[0].address), ['y@remote.test']);
    assert.deepEqual(readdirSync(join(dir, 'queue', 'incoming')), []);
    assert.equal(logs.grep(/AAAA0000000001: removed incomplete queue file/).length, 1);
    assert.equal(logs.grep(new RegExp(`${id}: recovered from incoming queue`)).length, 1);
  });

  it('a torn journal record (crash mid-append) is ignored and cut off', async () => {
    const mx = await startRemoteMx({ rcpt: (a) => (a.startsWith('later') ? { code: 450, message: '4.2.0 later' } : undefined) });
    cleanups.push(() => mx.close());
    const dir = tempDir();
    const config = queueConfig(dir, mx.port);
    const local = new FakeLocalDelivery();
    let qm = new QueueManager({ config, resolver: remoteResolver(), localDelivery: local, controlSocket: false });
    await qm.start();
    const id = await submit(qm, { recipients: ['now@remote.test', 'later@remote.test'] });
    await qm.idle();
    await qm.stop();
    const path = join(dir, 'queue', 'deferred', id);
    appendFileSync(path, '{"r":[1],"s":"sent","dsn":"2.0'); // torn: no newline, not JSON
    const st = await readQueueFile(path);
    assert.equal(st.rcpt[0].status, 'done');
    assert.equal(st.rcpt[1].status, 'pending', 'the torn record is not trusted');
    assert.ok(st.fileLength > st.journalEnd);

    qm = new QueueManager({ config, resolver: remoteResolver(), localDelivery: local, controlSocket: false });
    await qm.start();
    cleanups.push(() => qm.stop());
    await qm.flush();
    await qm.idle();
    const st2 = await readQueueFile(path);
    assert.equal(st2.fileLength, st2.journalEnd, 'cut off before the next record');
    assert.equal(st2.attempts, 2);
    assert.equal(mx.messages.filter((m) => m.rcpts.some((r) => r.address === 'now@remote.test')).length, 1);
  });
});
