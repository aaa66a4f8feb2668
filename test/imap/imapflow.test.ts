// Wire tests through a real client library (imapflow).
import { strict as assert } from 'node:assert';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ImapFlow } from 'imapflow';
import { mailboxEvents } from '../../src/store/events.js';
import { startServer, type TestServer } from './harness.js';

let srv: TestServer;
const clients: ImapFlow[] = [];

function client(user = 'alice', pass = 'alice-pw'): ImapFlow {
  const c = new ImapFlow({ host: '127.0.0.1', port: srv.port, secure: false, auth: { user, pass }, logger: false, tls: { rejectUnauthorized: false }, doSTARTTLS: false });
  c.on('error', () => undefined);
  clients.push(c);
  return c;
}

const MSG = (subject: string, body = 'hello world') =>
  `From: Alice <alice@example.test>\r\nTo: Bob <bob@example.test>\r\nSubject: ${subject}\r\nDate: Mon, 4 Mar 2024 09:15:00 +0000\r\nMessage-ID: <${subject.replace(/\W/g, '')}@example.test>\r\n\r\n${body}\r\n`;

before(async () => {
  srv = await startServer({ config: { mailbox_autocreate: 'Sent Trash Drafts', mailbox_autosubscribe: 'Sent Trash' } });
});
after(async () => {
  for (const c of clients) await c.logout().catch(() => c.close());
  await srv.close();
});

describe('imapflow', () => {
  it('logs in, lists special-use folders, creates/renames/deletes non-ASCII names', async () => {
    const c = client();
    await c.connect();
    const list = await c.list();
    const byPath = new Map(list.map((m) => [m.path, m]));
    assert.ok(byPath.has('INBOX'));
    assert.equal(byPath.get('Sent')?.specialUse, '\\Sent');
    assert.equal(byPath.get('Trash')?.specialUse, '\\Trash');
    assert.equal(byPath.get('Sent')?.subscribed, true);
    await c.mailboxCreate('Entwürfe');
    await c.mailboxCreate(['Projekte', 'Größe']);
    assert.ok(existsSync(join(srv.maildirOf('alice'), '.Entw&APw-rfe', 'cur')));
    assert.ok(existsSync(join(srv.maildirOf('alice'), '.Projekte.Gr&APYA3w-e', 'cur')));
    let names = (await c.list()).map((m) => m.path);
    assert.ok(names.includes('Entwürfe'), names.join(','));
    assert.ok(names.includes('Projekte.Größe'), names.join(','));
    await c.mailboxRename('Projekte', 'Privé');
    names = (await c.list()).map((m) => m.path);
    assert.ok(names.includes('Privé.Größe') && !names.includes('Projekte.Größe'), names.join(','));
    await c.mailboxDelete('Privé.Größe');
    names = (await c.list()).map((m) => m.path);
    assert.ok(!names.includes('Privé.Größe'), names.join(','));
    const again = await c.mailboxCreate('Entwürfe');
    assert.equal(again.created, false);
  });

  it('appends with flags and date, fetches every item, searches, stores, copies, moves, expunges', async () => {
    const c = client();
    await c.connect();
    await c.mailboxCreate('Work');
    const date = new Date('2024-04-01T09:07:00Z');
    const a = await c.append('Work', MSG('first message', 'the quick brown fox'), ['\\Seen', '$Label1'], date);
    assert.ok(a && a.uid === 1 && typeof a.uidValidity === 'bigint');
    await c.append('Work', MSG('second message', 'lazy dog'), [], new Date('2024-04-02T10:00:00Z'));
    await c.append('Work', MSG('third message', 'another fox'), ['\\Flagged']);
    const box = await c.mailboxOpen('Work');
    assert.equal(box.exists, 3);
    const [m1] = await c.fetchAll('1', { uid: true, flags: true, internalDate: true, size: true, envelope: true, bodyStructure: true, source: true, headers: true });
    assert.equal(m1.uid, 1);
    assert.deepEqual([...(m1.flags ?? [])].sort(), ['$Label1', '\\Recent', '\\Seen']);
    assert.equal((m1.internalDate as Date).toISOString(), date.toISOString());
    assert.equal(m1.size, Buffer.byteLength(MSG('first message', 'the quick brown fox')));
    assert.equal(m1.envelope?.subject, 'first message');
    assert.equal(m1.source?.toString(), MSG('first message', 'the quick brown fox'));
    assert.equal(m1.bodyStructure?.type, 'text/plain');
    const fox = await c.search({ body: 'fox' });
    assert.deepEqual(fox, [1, 3]);
    assert.deepEqual(await c.search({ flagged: true }), [3]);
    assert.deepEqual(await c.search({ since: new Date('2024-04-02T00:00:00Z'), before: new Date('2024-04-03T00:00:00Z') }), [2]);
    assert.deepEqual(await c.search({ keyword: '$Label1' }), [1]);
    assert.deepEqual(await c.search({ uid: '2:*' }, { uid: true }), [2, 3]);
    await c.messageFlagsAdd('1:2', ['\\Answered']);
    assert.deepEqual(await c.search({ answered: true }), [1, 2]);
    await c.messageFlagsRemove('1', ['$Label1']);
    assert.deepEqual(await c.search({ keyword: '$Label1' }), []);
    const copied = await c.messageCopy('1:2', 'INBOX');
    assert.ok(copied && copied.uidMap && copied.uidMap.size === 2);
    const moved = await c.messageMove('3', 'Trash');
    assert.ok(moved && moved.uidMap?.get(3));
    assert.equal(c.mailbox && c.mailbox.exists, 2);
    await c.messageDelete('1');
    assert.equal(c.mailbox && c.mailbox.exists, 1);
    const st = await c.status('Work', { messages: true, unseen: true, uidNext: true });
    assert.deepEqual([st && st.messages, st && st.uidNext], [1, 4]);
    // nothing left in tmp/
    for (const d of ['', '.Work', '.Trash']) assert.deepEqual(readdirSync(join(srv.maildirOf('alice'), d, 'tmp')), []);
  });

  it('IDLE receives a delivery from facteur (in-process event) and from another program', async () => {
    const c = client('bob', 'bob-pw');
    await c.connect();
    await c.mailboxOpen('INBOX');
    const exists: number[] = [];
    c.on('exists', (e: { count: number }) => exists.push(e.count));
    const idling = c.idle();
    await new Promise((r) => setTimeout(r, 100));
    // what the SMTP delivery does: write into new/, then notify
    const md = srv.maildirOf('bob');
    writeFileSync(join(md, 'new', '1700000000.M1P1Q1.test,S=20,W=22'), 'Subject: x\n\ndelivered\n');
    mailboxEvents.notify({ folder: md + '/', kind: 'delivered' });
    for (let i = 0; i < 50 && exists.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(exists, [1]);
    // dropped by another program, no notification: the directory watch notices
    writeFileSync(join(md, 'new', '1700000001.M1P1Q2.test'), 'Subject: y\n\nother\n');
    for (let i = 0; i < 100 && exists.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(exists, [1, 2]);
    await c.noop();
    await idling;
  });

  it('two sessions on one mailbox see each other\'s changes', async () => {
    const a = client();
    const b = client();
    await a.connect();
    await b.connect();
    await a.mailboxCreate('Shared');
    await a.append('Shared', MSG('one'));
    await a.append('Shared', MSG('two'));
    await a.mailboxOpen('Shared');
    await b.mailboxOpen('Shared');
    const flagsSeen: string[][] = [];
    const expunged: number[] = [];
    a.on('flags', (f: { flags: Set<string> }) => flagsSeen.push([...f.flags]));
    a.on('expunge', (e: { seq: number }) => expunged.push(e.seq));
    await b.messageFlagsAdd('2', ['\\Flagged']);
    await a.noop();
    assert.deepEqual(flagsSeen, [['\\Flagged', '\\Recent']]);
    await b.append('Shared', MSG('three'));
    await a.noop();
    assert.equal(a.mailbox && a.mailbox.exists, 3);
    await b.messageDelete('1');
    await a.noop();
    assert.deepEqual(expunged, [1]);
    assert.equal(a.mailbox && a.mailbox.exists, 2);
  });

  it('CONDSTORE: MODSEQ, HIGHESTMODSEQ, CHANGEDSINCE, UNCHANGEDSINCE', async () => {
    const c = client();
    await c.connect();
    await c.mailboxCreate('Cond');
    await c.append('Cond', MSG('a'));
    await c.append('Cond', MSG('b'));
    const box = await c.mailboxOpen('Cond');
    assert.equal(typeof box.highestModseq, 'bigint');
    const start = box.highestModseq!;
    await c.messageFlagsAdd('2', ['\\Seen']);
    const changed = await c.fetchAll('1:*', { uid: true, flags: true }, { changedSince: start });
    assert.deepEqual(
      changed.map((m) => m.uid),
      [2],
    );
    assert.ok(changed[0].modseq! > start);
    // a conditional store against an old modseq fails for the changed message
    await c.messageFlagsAdd('2', ['\\Answered'], { unchangedSince: start });
    const [m2] = await c.fetchAll('2', { flags: true });
    assert.ok(!m2.flags?.has('\\Answered'));
    await c.messageFlagsAdd('2', ['\\Answered'], { unchangedSince: m2.modseq });
    const [m2b] = await c.fetchAll('2', { flags: true });
    assert.ok(m2b.flags?.has('\\Answered'));
    const st = await c.status('Cond', { highestModseq: true });
    assert.ok(st && st.highestModseq! > start);
  });
});
