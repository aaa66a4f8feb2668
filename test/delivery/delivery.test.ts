// Local delivery: recipient resolution (aliases, postmaster, extensions, virtual domains),
// Maildir file names and sizes, mbox format and locking, all-or-nothing failures, the
// LocalDeliveryAgent contract and routing of remote alias targets to the queue.
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Config } from '../../src/config/config.js';
import { LocalDelivery } from '../../src/delivery/agent.js';
import { MboxrdQuoter, mboxFromLine, lockMbox } from '../../src/delivery/mbox.js';
import { syncDirectory } from '../../src/store/dir-sync.js';
import { SizeCounter, uniqueMaildirName } from '../../src/store/maildir/deliver.js';
import { mailboxEvents } from '../../src/store/events.js';
import { MemoryUsers, RawClient, startServer, tmpDir, type TestServer } from '../smtp/harness.js';

function delivery(dir: string, params: Record<string, string>, users = ['alice@example.test', 'bob@example.test']) {
  const config = Config.fromObject({ data_directory: dir, myhostname: 'mail.example.test', myorigin: 'example.test', mydestination: '$myhostname, example.test, localhost', ...params }, { baseDir: dir });
  assert.deepEqual(config.errors, []);
  const u = new MemoryUsers(dir, users);
  return { d: new LocalDelivery({ config, users: u, localAddresses: ['127.0.0.1', '192.0.2.7'] }), users: u };
}

describe('recipient resolution', () => {
  const dir = tmpDir();
  writeFileSync(
    join(dir, 'aliases'),
    [
      '# aliases(5)',
      'postmaster: root',
      'root: alice',
      'team: alice,',
      '  bob, friend@remote.test',
      '"quoted name": bob',
      'list: :include:' + join(dir, 'list.inc'),
      'self: self, bob',
      'pipe: |/usr/bin/true, alice',
      'loop1: loop2',
      'loop2: loop1',
    ].join('\n'),
  );
  writeFileSync(join(dir, 'list.inc'), '# members\nalice\nsomeone@remote.test\n');
  const { d, users } = delivery(dir, { alias_maps: `hash:${join(dir, 'aliases')}` });
  users.add('self@example.test');

  const targets = async (a: string) => {
    const r = await d.route(a);
    assert.equal(r.status, 'local', `${a}: ${JSON.stringify(r)}`);
    if (r.status !== 'local') throw new Error();
    return { boxes: r.targets.map((t) => `${t.user}|${t.deliveredTo}`).sort(), forwards: r.forwards };
  };

  it('users by local part in mydestination, address extensions, case, trailing dot, [ip]', async () => {
    assert.deepEqual((await targets('alice@example.test')).boxes, ['alice@example.test|alice@example.test']);
    assert.deepEqual((await targets('ALICE+Tag@Example.TEST')).boxes, ['alice@example.test|ALICE+Tag@Example.TEST']);
    assert.deepEqual((await targets('alice@mail.example.test')).boxes, ['alice@example.test|alice@mail.example.test']);
    assert.deepEqual((await targets('alice@example.test.')).boxes, ['alice@example.test|alice@example.test']);
    assert.deepEqual((await targets('alice@[192.0.2.7]')).boxes, ['alice@example.test|alice@[192.0.2.7]']);
    assert.deepEqual((await targets('bob')).boxes, ['bob@example.test|bob@example.test']);
    assert.deepEqual(await d.route('nobody@example.test'), { status: 'unknown', domainClass: 'local' });
    assert.deepEqual(await d.route('x@remote.test'), { status: 'remote', domainClass: 'remote', address: 'x@remote.test' });
    assert.deepEqual(await d.route('x@[192.0.2.99]'), { status: 'remote', domainClass: 'remote', address: 'x@[192.0.2.99]' });
    // routing operators in a local domain name the real destination (trivial-rewrite)
    assert.deepEqual(await d.route('x%remote.test@example.test'), { status: 'remote', domainClass: 'remote', address: 'x@remote.test' });
    assert.deepEqual(await d.route('remote.test!x@example.test'), { status: 'remote', domainClass: 'remote', address: 'x@remote.test' });
    assert.deepEqual(await d.route('"x@remote.test"@example.test'), { status: 'remote', domainClass: 'remote', address: 'x@remote.test' });
  });

  it('aliases: one-to-many with remote targets, :include:, quoted names, self reference, pipes ignored', async () => {
    assert.deepEqual(await targets('team@example.test'), { boxes: ['alice@example.test|team@example.test', 'bob@example.test|team@example.test'], forwards: ['friend@remote.test'] });
    assert.deepEqual(await targets('list@example.test'), { boxes: ['alice@example.test|list@example.test'], forwards: ['someone@remote.test'] });
    assert.deepEqual((await targets('quoted name@example.test')).boxes, ['bob@example.test|quoted name@example.test']);
    assert.deepEqual((await targets('self@example.test')).boxes, ['bob@example.test|self@example.test', 'self@example.test|self@example.test']);
    assert.deepEqual((await targets('pipe@example.test')).boxes, ['alice@example.test|pipe@example.test']);
    assert.equal((await d.route('loop1@example.test')).status, 'unknown');
  });

  it('postmaster always exists: alias chain, else postmaster_recipient, else the first user', async () => {
    assert.deepEqual((await targets('postmaster')).boxes, ['alice@example.test|postmaster@example.test']);
    assert.deepEqual((await targets('PostMaster@mail.example.test')).boxes, ['alice@example.test|PostMaster@mail.example.test']);
    const d2 = delivery(tmpDir(), {}, ['zoe@example.test', 'bob@example.test']).d;
    const r = await d2.route('postmaster@example.test');
    assert.equal(r.status === 'local' && r.targets[0].user, 'zoe@example.test');
    const d3 = delivery(tmpDir(), { postmaster_recipient: 'admin@remote.test' }).d;
    const r3 = await d3.route('postmaster@example.test');
    assert.deepEqual(r3.status === 'local' && r3.forwards, ['admin@remote.test']);
    // a virtual domain's postmaster too
    const r4 = await d2.route('postmaster@example.test');
    assert.equal(r4.status, 'local');
  });

  it('virtual domains from the user database and virtual_mailbox_domains; AddressDirectory', async () => {
    const { d: dv } = delivery(tmpDir(), { mydestination: 'localhost', virtual_mailbox_domains: 'other.test' }, ['carol@virtual.test', 'dave@other.test']);
    assert.deepEqual(await dv.directory.classify('carol@virtual.test'), { domainClass: 'virtual', known: true });
    assert.deepEqual(await dv.directory.classify('carol+x@virtual.test'), { domainClass: 'virtual', known: true });
    assert.deepEqual(await dv.directory.classify('nobody@virtual.test'), { domainClass: 'virtual', known: false });
    assert.deepEqual(await dv.directory.classify('dave@other.test'), { domainClass: 'virtual', known: true });
    assert.deepEqual(await dv.directory.classify('x@remote.test'), { domainClass: 'remote' });
    assert.deepEqual(await d.directory.classify('team@example.test'), { domainClass: 'local', known: true });
  });

  it('an unreadable alias file is a temporary failure, never "unknown"', async () => {
    const dd = tmpDir();
    writeFileSync(join(dd, 'aliases'), 'a: b\n');
    const { d: dt } = delivery(dd, { alias_maps: `hash:${join(dd, 'aliases')}` });
    (await import('node:fs')).rmSync(join(dd, 'aliases'));
    const r = await dt.route('alice@example.test');
    assert.equal(r.status, 'tempfail');
    await assert.rejects(dt.directory.classify('alice@example.test'));
  });

  it('every src/maps table type: inline alias_maps, regexp virtual_alias_maps, texthash domain lists, relay_domains parents', async () => {
    const dd = tmpDir();
    writeFileSync(join(dd, 'virtual.regexp'), '/^sales(\\+.*)?@shop\\.test$/ bob@example.test, buyer@remote.test\n/^(.*)@old\\.test$/ $1@example.test\n');
    writeFileSync(join(dd, 'domains'), 'shop.test OK\nold.test OK\n');
    const { d: dt } = delivery(dd, {
      alias_maps: 'inline:{ helpdesk=alice, { staff = alice, bob } }',
      virtual_alias_domains: `texthash:${join(dd, 'domains')}`,
      virtual_alias_maps: `regexp:${join(dd, 'virtual.regexp')}`,
      relay_domains: 'relay.test',
    });
    const boxes = async (a: string) => {
      const r = await dt.route(a);
      assert.equal(r.status, 'local', `${a}: ${JSON.stringify(r)}`);
      return r.status === 'local' ? { boxes: r.targets.map((t) => t.user).sort(), forwards: r.forwards } : undefined;
    };
    assert.deepEqual(await boxes('helpdesk@example.test'), { boxes: ['alice@example.test'], forwards: [] });
    assert.deepEqual(await boxes('staff@example.test'), { boxes: ['alice@example.test', 'bob@example.test'], forwards: [] });
    assert.deepEqual(await boxes('sales+x@shop.test'), { boxes: ['bob@example.test'], forwards: ['buyer@remote.test'] });
    assert.deepEqual(await boxes('alice@old.test'), { boxes: ['alice@example.test'], forwards: [] });
    assert.deepEqual(await dt.route('nobody@shop.test'), { status: 'unknown', domainClass: 'alias' });
    // relay_domains is in parent_domain_matches_subdomains by default
    assert.deepEqual(await dt.route('x@sub.relay.test'), { status: 'remote', domainClass: 'relay', address: 'x@sub.relay.test' });
    assert.equal(await dt.resolver.isLocalAddress('x@old.test'), true);
    assert.equal(await dt.resolver.isLocalAddress('x@sub.relay.test'), false);
    assert.equal(await dt.resolver.isLocalAddress('bob'), true);
  });

  it('a table that cannot answer (fail:, a missing domain-list file) is a temporary failure', async () => {
    const { d: df } = delivery(tmpDir(), { virtual_alias_maps: 'fail:down' });
    assert.equal((await df.route('alice@example.test')).status, 'tempfail');
    await assert.rejects(df.directory.classify('alice@example.test'));
    const dd = tmpDir();
    writeFileSync(join(dd, 'domains'), 'virtual.test\n');
    const { d: dm } = delivery(dd, { virtual_mailbox_domains: join(dd, 'domains') });
    assert.equal(await dm.resolver.isLocalAddress('x@virtual.test'), true);
    rmSync(join(dd, 'domains'));
    const r = await dm.route('x@elsewhere.test');
    assert.equal(r.status, 'tempfail');
    await assert.rejects(dm.resolver.isLocalAddress('x@elsewhere.test'));
  });
});

describe('Maildir and mbox files', () => {
  it('unique names in Dovecot format; S= and W= sizes', () => {
    const a = uniqueMaildirName();
    const b = uniqueMaildirName();
    assert.match(a, /^\d+\.M\d+P\d+Q\d+\.[^/:]+$/);
    assert.notEqual(a, b);
    const c = new SizeCounter();
    c.add(Buffer.from('a\r'));
    c.add(Buffer.from('\nb\n'));
    assert.deepEqual([c.size, c.vsize], [5, 6]);
  });

  it('group commit: concurrent directory fsyncs all resolve', async () => {
    const dir = tmpDir();
    await Promise.all(Array.from({ length: 50 }, () => syncDirectory(dir)));
  });

  it('mboxrd quoting across chunk boundaries; From line', () => {
    const q = new MboxrdQuoter();
    const out = Buffer.concat([q.transform(Buffer.from('From me\n>From x\nFr')), q.transform(Buffer.from('om y\nxFrom z\n>>From')), q.transform(Buffer.from(' w\nFrom')), q.flush()]).toString();
    assert.equal(out, '>From me\n>>From x\n>From y\nxFrom z\n>>>From w\nFrom');
    assert.equal(mboxFromLine('', new Date(2026, 10, 8, 1, 2, 3)), 'From MAILER-DAEMON Sun Nov  8 01:02:03 2026\n');
  });

  it('mbox dot-lock: waits for a held lock, breaks a stale one', async () => {
    const dir = tmpDir();
    const box = join(dir, 'alice');
    writeFileSync(box + '.lock', '1\n');
    await assert.rejects(lockMbox(box, 500, 200), /exists/);
    const old = new Date(Date.now() - 600_000);
    utimesSync(box + '.lock', old, old);
    const l = await lockMbox(box, 500, 200);
    assert.ok(statSync(box + '.lock').isFile());
    await l.release();
    assert.throws(() => statSync(box + '.lock'));
  });
});

describe('delivery through SMTP', () => {
  let srv: TestServer;
  const events: string[] = [];
  let unwatch: () => void;
  before(async () => {
    srv = await startServer({
      params: { mynetworks: '127.0.0.1/32', alias_maps: 'hash:$DIR/aliases' },
      files: { aliases: 'team: alice, bob, friend@remote.test\nfar: someone@remote.test\n' },
    });
    const f = (c: { folder: string }) => events.push(c.folder);
    mailboxEvents.on('change', f);
    unwatch = () => mailboxEvents.off('change', f);
  });
  after(async () => {
    unwatch();
    await srv.close();
  });

  async function send(rcpts: string[], body = 'Subject: t\r\n\r\nhello\r\n', params = ''): Promise<string> {
    const c = await RawClient.connect(srv.port, { localAddress: '127.0.0.3' });
    await c.cmd('EHLO client.test');
    await c.cmd('MAIL FROM:<sender@remote.test>');
    for (const r of rcpts) assert.equal(await c.cmd1(`RCPT TO:<${r}>${params}`), '250 2.1.5 Ok');
    await c.cmd('DATA');
    c.write(body + '.\r\n');
    const r = (await c.reply()).join('\n');
    await c.cmd('QUIT');
    return r;
  }

  it('creates the Maildir with 0700, each copy with its own Delivered-To, tells IMAP', async () => {
    assert.match(await send(['team@example.test', 'alice+x@example.test']), /^250 /);
    const md = srv.maildir('alice');
    for (const sub of ['cur', 'new', 'tmp']) assert.equal(statSync(join(md, sub)).mode & 0o777, 0o700);
    const alice = srv.readNew('alice').map((b) => /Delivered-To: (.*)/.exec(b.toString())![1]).sort();
    assert.deepEqual(alice, ['alice+x@example.test', 'team@example.test']);
    assert.equal(srv.readNew('bob').length, 1);
    assert.deepEqual(readdirSync(join(md, 'tmp')), []);
    assert.ok(events.includes(md));
    // the remote alias target went to the queue, with ORCPT naming the alias
    const q = srv.queue.committed.at(-1)!;
    assert.deepEqual(q.envelope.recipients, [{ address: 'friend@remote.test', orcpt: 'rfc822;team@example.test', notify: undefined }]);
    assert.ok(q.content.toString().startsWith('Received: from client.test (unknown [127.0.0.3])\r\n'));
    assert.ok(q.content.toString().endsWith('\r\nSubject: t\r\n\r\nhello\r\n'));
  });

  it('NOTIFY=SUCCESS for a local recipient goes through the queue', async () => {
    const before = srv.queue.committed.length;
    const n = srv.newFiles('bob').length;
    assert.match(await send(['bob@example.test'], 'Subject: dsn\r\n\r\nx\r\n', ' NOTIFY=SUCCESS ORCPT=rfc822;bob@example.test'), /^250 /);
    assert.equal(srv.queue.committed.length, before + 1);
    assert.deepEqual(srv.queue.committed.at(-1)!.envelope.recipients, [{ address: 'bob@example.test', orcpt: 'rfc822;bob@example.test', notify: ['SUCCESS'] }]);
    assert.equal(srv.newFiles('bob').length, n);
  });

  it('a mailbox failure answers 4xx and leaves nothing delivered anywhere', async () => {
    const bobTmp = join(srv.maildir('bob'), 'tmp');
    const aliceBefore = srv.newFiles('alice').length;
    const queued = srv.queue.committed.length;
    // break bob's Maildir: tmp/ becomes a file (works even as root, unlike permissions)
    const { rmSync } = await import('node:fs');
    rmSync(bobTmp, { recursive: true, force: true });
    writeFileSync(bobTmp, 'not a directory');
    const r = await send(['team@example.test']);
    assert.equal(r, '451 4.3.0 Error: queue file write error');
    assert.equal(srv.newFiles('alice').length, aliceBefore);
    assert.deepEqual(readdirSync(join(srv.maildir('alice'), 'tmp')), []);
    assert.equal(srv.queue.committed.length, queued, 'nothing queued either');
    rmSync(bobTmp);
    mkdirSync(bobTmp, { mode: 0o700 });
    // a queue that cannot commit: the local copies are rolled back too
    srv.queue.failCommit = true;
    assert.equal(await send(['team@example.test']), '452 4.3.1 Insufficient system storage');
    srv.queue.failCommit = false;
    assert.equal(srv.newFiles('alice').length, aliceBefore);
  });
});

describe('mbox delivery and the LocalDeliveryAgent contract', () => {
  it('home_mailbox = Mailbox appends with From line and quoting; deliver() reports per recipient', async () => {
    const dir = tmpDir();
    writeFileSync(join(dir, 'aliases'), 'fwd: far@remote.test\n');
    const { d } = delivery(dir, { home_mailbox: 'Mailbox', alias_maps: `texthash:${join(dir, 'aliases')}` });
    const content = join(dir, 'msg');
    writeFileSync(content, 'Received: from x\r\nSubject: m\r\n\r\nFrom the start\r\n>From quoted\r\nlast line no newline');
    const results = await d.deliver({ queueId: 'Q1', sender: 'sender@remote.test', recipients: ['alice@example.test', 'nobody@example.test', 'fwd@example.test'], contentPath: content });
    assert.deepEqual(
      results.map((r) => [r.recipient, r.status, r.dsnStatus, r.forwarded]),
      [
        ['alice@example.test', 'delivered', '2.0.0', undefined],
        ['nobody@example.test', 'bounced', '5.1.1', undefined],
        ['fwd@example.test', 'delivered', '2.0.0', ['far@remote.test']],
      ],
    );
    const box = join(dir, 'mail', 'example.test', 'alice', 'Mailbox');
    const text = readFileSync(box, 'utf8');
    assert.match(text, /^From sender@remote\.test \w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}\nReturn-Path: <sender@remote\.test>\nX-Original-To: alice@example\.test\nDelivered-To: alice@example\.test\nReceived: from x\nSubject: m\n\n>From the start\n>>From quoted\nlast line no newline\n\n$/);
    // a second message appends
    await d.deliver({ queueId: 'Q2', sender: '', recipients: ['alice@example.test'], contentPath: content });
    assert.equal(readFileSync(box, 'utf8').split(/^From /m).length - 1, 2);
    assert.ok(readFileSync(box, 'utf8').includes('\nFrom MAILER-DAEMON '));
  });

  it('mailbox_size_limit: the append is rolled back and the mbox unchanged', async () => {
    const dir = tmpDir();
    const { d } = delivery(dir, { home_mailbox: 'Mailbox', mailbox_size_limit: '400' });
    const content = join(dir, 'msg');
    writeFileSync(content, 'Subject: m\r\n\r\n' + 'x'.repeat(100) + '\r\n');
    const [r1] = await d.deliver({ queueId: 'Q1', sender: 's@remote.test', recipients: ['alice@example.test'], contentPath: content });
    assert.equal(r1.status, 'delivered');
    const box = join(dir, 'mail', 'example.test', 'alice', 'Mailbox');
    const size = statSync(box).size;
    writeFileSync(content, 'Subject: m\r\n\r\n' + 'x'.repeat(300) + '\r\n');
    const [r2] = await d.deliver({ queueId: 'Q2', sender: 's@remote.test', recipients: ['alice@example.test'], contentPath: content });
    assert.equal(r2.status, 'deferred');
    assert.equal(statSync(box).size, size);
    assert.throws(() => statSync(box + '.lock'));
  });

  it('mail_spool_directory when home_mailbox is empty; userdb mail=maildir:~/x', async () => {
    const dir = tmpDir();
    const spool = join(dir, 'spool');
    const { d, users } = delivery(dir, { home_mailbox: '', mail_spool_directory: spool });
    const e = users.add('carol@example.test', { mail: 'maildir:~/Mail/Inbox' });
    const content = join(dir, 'msg');
    writeFileSync(content, 'Subject: s\n\nbody\n');
    await d.deliver({ queueId: 'Q', sender: 's@remote.test', recipients: ['alice@example.test', 'carol@example.test'], contentPath: content });
    assert.match(readFileSync(join(spool, 'alice@example.test'), 'utf8'), /^From s@remote\.test /);
    assert.equal(readdirSync(join(e.home, 'Mail', 'Inbox', 'new')).length, 1);
  });
});
