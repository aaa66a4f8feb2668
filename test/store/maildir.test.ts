import { strict as assert } from 'node:assert';
import { existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { MailStore } from '../../src/store/mailstore.js';
import { resolveMailLocation } from '../../src/store/location.js';
import { FolderRegistry } from '../../src/store/registry.js';
import { FLAG_DELETED, FLAG_FLAGGED, FLAG_SEEN, parseName } from '../../src/store/maildir/names.js';
import { lockUidlist, parseUidlist } from '../../src/store/maildir/uidlist.js';
import { parseSubscriptions, formatSubscriptions } from '../../src/store/maildir/subscriptions.js';
import type { Folder } from '../../src/store/folder.js';
import { materializeFixture } from './fixture-maildir.js';

const registries: FolderRegistry[] = [];
function storeFor(home: string, extra: Partial<ConstructorParameters<typeof MailStore>[0]> = {}): MailStore {
  const registry = new FolderRegistry(0);
  registries.push(registry);
  return new MailStore({ location: resolveMailLocation('maildir:~/Maildir', 'bob', home), fsync: false, registry, ...extra });
}
after(async () => {
  for (const r of registries) await r.closeAll();
});

function flagsOf(f: Folder): Array<[number, number, string[]]> {
  return f.messages.map((r) => [r.uid, r.flags & 31, f.keywordNames(r.flags)]);
}

describe('Dovecot fixture Maildir', () => {
  it('keeps the UIDs, flags, keywords, UIDVALIDITY and UIDNEXT Dovecot gave', async () => {
    const home = materializeFixture();
    const store = storeFor(home);
    const inbox = await store.open('INBOX');
    try {
      assert.equal(inbox.uidvalidity, 1795908110);
      assert.equal(inbox.nextUid, 10);
      assert.deepEqual(
        inbox.messages.map((r) => r.uid),
        [1, 2, 4, 5, 6, 8, 9],
      );
      assert.deepEqual(flagsOf(inbox), [
        [1, FLAG_SEEN, ['ProjectX']],
        [2, FLAG_SEEN, []],
        [4, 1 | FLAG_FLAGGED, ['$Forwarded']],
        [5, FLAG_SEEN, ['ProjectX']],
        [6, FLAG_SEEN | 16, []],
        [8, 0, []],
        [9, FLAG_FLAGGED, []],
      ]);
      assert.deepEqual(
        inbox.messages.map((r) => r.vsize),
        [317, 293, 307, 304, 304, 312, 307],
      );
      assert.equal(new Date(inbox.byUid(8)!.mtime).toISOString(), '2025-09-10T06:00:00.000Z');
      const st = inbox.status();
      assert.deepEqual([st.messages, st.uidnext, st.uidvalidity, st.unseen], [7, 10, 1795908110, 3]);
    } finally {
      store.release(inbox);
    }
    const archive = await store.open('Archive.2024');
    assert.deepEqual(flagsOf(archive), [
      [1, FLAG_SEEN, []],
      [2, FLAG_SEEN | FLAG_FLAGGED, ['ProjectX']],
    ]);
    assert.equal(archive.uidvalidity, 1795908112);
    assert.equal(archive.nextUid, 3);
    store.release(archive);
    for (const [name, v, next] of [
      ['Sent', 1795908109, 2],
      ['Trash', 1795908111, 2],
      ['Entw&APw-rfe', 1795908113, 2],
    ] as const) {
      const f = await store.open(name);
      assert.equal(f.uidvalidity, v, name);
      assert.equal(f.status().uidnext, next, name);
      assert.equal(f.status().messages, 1, name);
      store.release(f);
    }
  });

  it('lists folders with implied parents and reads Dovecot subscriptions', async () => {
    const home = materializeFixture();
    const store = storeFor(home);
    const list = await store.list();
    const byName = new Map(list.map((m) => [m.name, m]));
    assert.deepEqual([...byName.keys()].sort(), ['Archive', 'Archive.2024', 'Entw&APw-rfe', 'INBOX', 'Sent', 'Trash']);
    assert.equal(byName.get('Archive')!.exists, false);
    assert.equal(byName.get('Archive')!.hasChildren, true);
    assert.equal(byName.get('Archive.2024')!.exists, true);
    assert.deepEqual(await store.subscriptions(), ['Sent', 'Trash', 'Archive.2024', 'Entw&APw-rfe']);
  });

  it('does not move new/ to cur/ without a read-write open, and does on one', async () => {
    const home = materializeFixture();
    const store = storeFor(home);
    const inbox = await store.open('INBOX');
    assert.ok(existsSync(join(home, 'Maildir/new/1795908109.M468304P29973.vm,S=302,W=312')));
    await inbox.sync({ moveNew: true });
    assert.ok(!existsSync(join(home, 'Maildir/new/1795908109.M468304P29973.vm,S=302,W=312')));
    assert.ok(existsSync(join(home, 'Maildir/cur/1795908109.M468304P29973.vm,S=302,W=312:2,')));
    assert.equal(inbox.byUid(8)!.inNew, false);
    store.release(inbox);
  });

  it('rebuilds a deleted index from the Maildir alone, keeping UIDs, with a HIGHESTMODSEQ that does not go back', async () => {
    const home = materializeFixture();
    const store = storeFor(home);
    let inbox = await store.open('INBOX');
    await inbox.storeFlags([2], 'add', FLAG_FLAGGED);
    const before = inbox.highestModseq;
    store.release(inbox);
    await registries[registries.length - 1].closeAll(); // the index is written at close
    assert.ok(existsSync(join(home, 'Maildir/facteur.index')));
    rmSync(join(home, 'Maildir/facteur.index'));
    inbox = await store.open('INBOX');
    assert.deepEqual(
      inbox.messages.map((r) => r.uid),
      [1, 2, 4, 5, 6, 8, 9],
    );
    assert.equal(inbox.byUid(2)!.flags & FLAG_FLAGGED, FLAG_FLAGGED);
    assert.ok(inbox.highestModseq > before, `${inbox.highestModseq} > ${before}`);
    store.release(inbox);
  });

  it('keeps HIGHESTMODSEQ monotonic when the process died after handing out modseqs', async () => {
    const home = materializeFixture();
    const { Folder } = await import('../../src/store/folder.js');
    const opts = { fsync: false, newUidvalidity: async () => 1 };
    const dir = join(home, 'Maildir');
    const a = await Folder.open(dir, opts);
    await a.save(); // periodic save while in use
    await a.storeFlags([1, 2], 'add', FLAG_FLAGGED);
    const issued = a.highestModseq;
    // "crash": no close(), the snapshot on disk is older than `issued`
    const b = await Folder.open(dir, opts);
    assert.ok(b.highestModseq >= issued, `${b.highestModseq} >= ${issued}`);
    await b.close();
    const c = await Folder.open(dir, opts);
    assert.equal(c.highestModseq, b.highestModseq); // a clean close is trusted as is
    await c.close();
    await a.close();
  });

  it('re-reads dovecot-keywords changed by another program', async () => {
    const home = materializeFixture();
    const store = storeFor(home);
    const inbox = await store.open('INBOX');
    writeFileSync(join(home, 'Maildir/dovecot-keywords'), '0 $Forwarded\n1 ProjectX\n2 Urgent\n');
    renameSync(join(home, 'Maildir/cur/1795908109.M429726P29971.vm,S=283,W=293:2,S'), join(home, 'Maildir/cur/1795908109.M429726P29971.vm,S=283,W=293:2,Sc'));
    await inbox.sync({ force: true });
    assert.deepEqual(inbox.keywordNames(inbox.byUid(2)!.flags), ['Urgent']);
    store.release(inbox);
  });

  it('picks up a file dropped into new/ and a rename by another program', async () => {
    const home = materializeFixture();
    const store = storeFor(home);
    const inbox = await store.open('INBOX');
    const ms0 = inbox.highestModseq;
    writeFileSync(join(home, 'Maildir/new/1800000000.M1P1.other'), 'Subject: dropped\n\nhello\n');
    renameSync(join(home, 'Maildir/cur/1795908109.M429726P29971.vm,S=283,W=293:2,S'), join(home, 'Maildir/cur/1795908109.M429726P29971.vm,S=283,W=293:2,FS'));
    await inbox.sync({ force: true });
    assert.equal(inbox.byUid(10)?.name, '1800000000.M1P1.other');
    assert.equal(inbox.nextUid, 11);
    assert.equal(inbox.byUid(2)!.flags, FLAG_SEEN | FLAG_FLAGGED);
    assert.ok(inbox.byUid(2)!.modseq > ms0);
    const list = parseUidlist(readFileSync(join(home, 'Maildir/dovecot-uidlist'), 'utf8'))!;
    assert.deepEqual(list.entries[list.entries.length - 1], { uid: 10, base: '1800000000.M1P1.other', fields: '' });
    // the other program removes a file
    rmSync(join(home, 'Maildir/cur/1795908109.M471403P29973.vm,S=297,W=307:2,F'));
    await inbox.sync({ force: true });
    assert.equal(inbox.byUid(9), undefined);
    await inbox.ensureSizes(inbox.byUid(10)!);
    assert.equal(inbox.byUid(10)!.vsize, 'Subject: dropped\r\n\r\nhello\r\n'.length);
    store.release(inbox);
  });

  it('stores flags and keywords in file names and dovecot-keywords; expunges files', async () => {
    const home = materializeFixture();
    const store = storeFor(home);
    const inbox = await store.open('INBOX');
    const bits = await inbox.keywordBits(['Important', 'projectx']);
    const r = await inbox.storeFlags([8], 'add', FLAG_SEEN | FLAG_DELETED | bits);
    assert.equal(r.changed.length, 1);
    assert.equal(readFileSync(join(home, 'Maildir/dovecot-keywords'), 'utf8'), '0 $Forwarded\n1 ProjectX\n2 Important\n');
    const names = readdirSync(join(home, 'Maildir/cur'));
    assert.ok(names.includes('1795908109.M468304P29973.vm,S=302,W=312:2,STbc'), names.join(' '));
    assert.deepEqual(inbox.keywordNames(inbox.byUid(8)!.flags), ['ProjectX', 'Important']);
    const gone = await inbox.expunge();
    assert.deepEqual(gone, [8]);
    assert.ok(!readdirSync(join(home, 'Maildir/cur')).some((n) => n.startsWith('1795908109.M468304P29973')));
    // UNCHANGEDSINCE
    const ms = inbox.byUid(1)!.modseq;
    const c = await inbox.storeFlags([1, 2], 'add', FLAG_FLAGGED, undefined, ms - 1);
    assert.deepEqual(c.modified, [1, 2].filter((u) => inbox.byUid(u)!.modseq > ms - 1));
    store.release(inbox);
  });

  it('appends durably with UIDs from dovecot-uidlist, copies with hard links and moves', async () => {
    const home = materializeFixture();
    const store = storeFor(home);
    const inbox = await store.open('INBOX');
    const w = await inbox.beginAppend();
    await w.write(Buffer.from('Subject: hi\r\n\r\nbody\r'));
    await w.write(Buffer.from('\nline 2\r\n'));
    await w.finish(new Date('2024-01-02T03:04:05Z'));
    const rec = await inbox.commitAppend(w, FLAG_SEEN, new Date('2024-01-02T03:04:05Z'));
    assert.equal(rec.uid, 10);
    const file = join(home, 'Maildir/cur', rec.name);
    assert.equal(readFileSync(file, 'utf8'), 'Subject: hi\n\nbody\nline 2\n');
    assert.match(rec.name, /,S=25,W=29:2,S$/);
    assert.equal(statSync(file).mtime.toISOString(), '2024-01-02T03:04:05.000Z');
    assert.deepEqual(readdirSync(join(home, 'Maildir/tmp')), []);
    const trash = await store.open('Trash');
    const pairs = await inbox.copyTo(trash, [4, 10]);
    assert.deepEqual(pairs, [
      [4, 2],
      [10, 3],
    ]);
    // keyword $Forwarded got a letter in Trash's own dovecot-keywords
    assert.equal(readFileSync(join(home, 'Maildir/.Trash/dovecot-keywords'), 'utf8'), '0 $Forwarded\n');
    const copied = trash.byUid(2)!;
    assert.equal(copied.name, '1795908109.M433082P29971.vm,S=297,W=307:2,FRa');
    assert.equal(statSync(join(home, 'Maildir/.Trash/cur', copied.name)).nlink, 2);
    await inbox.remove([4]);
    assert.equal(inbox.byUid(4), undefined);
    store.release(inbox);
    store.release(trash);
  });

  it('creates, renames and deletes folders with Dovecot\'s layout', async () => {
    const home = mkdtempSync(join(tmpdir(), 'facteur-store-'));
    const store = storeFor(home, { autocreate: ['Sent', 'Trash'], autosubscribe: ['Sent'], specialUse: new Map([['Sent', '\\Sent']]) });
    await store.ensureAutocreate();
    const md = join(home, 'Maildir');
    for (const d of ['cur', 'new', 'tmp', '.Sent/cur', '.Sent/new', '.Sent/tmp', '.Trash/cur']) assert.ok(existsSync(join(md, d)), d);
    assert.ok(existsSync(join(md, '.Sent/maildirfolder')));
    assert.ok(!existsSync(join(md, 'maildirfolder')));
    assert.match(readFileSync(join(md, '.Sent/dovecot-uidlist'), 'utf8'), /^3 V\d+ N1 G[0-9a-f]{32}\n$/);
    assert.match(readFileSync(join(md, 'dovecot-uidvalidity'), 'utf8'), /^[0-9a-f]{8}$/);
    assert.equal(readFileSync(join(md, 'subscriptions'), 'utf8'), 'V\t2\n\nSent\n');
    await store.create('Entw&APw-rfe.Unter');
    await store.subscribe('Entw&APw-rfe.Unter');
    assert.ok(existsSync(join(md, '.Entw&APw-rfe.Unter/cur')));
    assert.equal(readFileSync(join(md, 'subscriptions'), 'utf8'), 'V\t2\n\nSent\nEntw&APw-rfe\tUnter\n');
    await assert.rejects(store.create('Sent'), /already exists/);
    await store.create('A');
    await store.create('A.B');
    await store.rename('A', 'Z');
    assert.ok(existsSync(join(md, '.Z/cur')) && existsSync(join(md, '.Z.B/cur')) && !existsSync(join(md, '.A')));
    await store.delete('Z');
    assert.ok(!existsSync(join(md, '.Z')) && existsSync(join(md, '.Z.B')));
    const list = await store.list();
    assert.deepEqual(list.find((m) => m.name === 'Z'), { name: 'Z', exists: false, hasChildren: true, specialUse: undefined });
    await assert.rejects(store.delete('INBOX'), /can't be deleted/);
    await assert.rejects(store.create('bad..name'), /Invalid/);
  });

  it('renames INBOX by moving its messages', async () => {
    const home = materializeFixture();
    const store = storeFor(home);
    await store.rename('INBOX', 'Old');
    const old = await store.open('Old');
    const inbox = await store.open('INBOX');
    assert.equal(old.messages.length, 7);
    assert.equal(inbox.messages.length, 0);
    assert.equal(inbox.uidvalidity, 1795908110);
    store.release(old);
    store.release(inbox);
  });
});

describe('dovecot-uidlist', () => {
  it('parses version 3 with extension fields and lagging N', () => {
    const u = parseUidlist('3 V1795908110 N9 G95a0\n1 :a,S=1\n8 W312 :b\n9 :c\n')!;
    assert.equal(u.uidvalidity, 1795908110);
    assert.equal(u.nextUid, 10);
    assert.deepEqual(u.entries[1], { uid: 8, base: 'b', fields: 'W312' });
  });

  it('locks with O_EXCL, waits for the holder and breaks a stale lock of a dead process', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'facteur-lock-'));
    const a = await lockUidlist(dir);
    let got = false;
    const b = lockUidlist(dir).then((l) => {
      got = true;
      return l;
    });
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(got, false);
    await a.release();
    await (await b).release();
    // a lock left by a process that no longer exists
    writeFileSync(join(dir, 'dovecot-uidlist.lock'), `999999:${(await import('node:os')).hostname()}`);
    const c = await lockUidlist(dir, 2000);
    await c.release();
    assert.ok(!existsSync(join(dir, 'dovecot-uidlist.lock')));
  });
});

describe('names and subscriptions', () => {
  it('parses Maildir names', () => {
    const p = parseName('1795908109.M433082P29971.vm,S=297,W=307:2,FRa');
    assert.deepEqual([p.base, p.flags, p.size, p.vsize], ['1795908109.M433082P29971.vm,S=297,W=307', 3 | 32, 297, 307]);
  });
  it('reads and writes Dovecot subscriptions', () => {
    const names = parseSubscriptions('V\t2\n\nSent\nTrash\nArchive\t2024\nEntw&APw-rfe\n');
    assert.deepEqual(names, ['Sent', 'Trash', 'Archive.2024', 'Entw&APw-rfe']);
    assert.equal(formatSubscriptions(names), 'V\t2\n\nSent\nTrash\nArchive\t2024\nEntw&APw-rfe\n');
  });
});

describe('mail_location', () => {
  it('expands %u %n %d and ~, reads INBOX= and LAYOUT=fs', async () => {
    const { resolveMailLocation: r } = await import('../../src/store/location.js');
    assert.deepEqual(r('maildir:~/Maildir', 'alice@example.test', '/home/a'), { root: '/home/a/Maildir', inbox: '/home/a/Maildir', layout: 'maildir++' });
    assert.deepEqual(r('maildir:/var/mail/%d/%n:INBOX=/var/mail/%d/%n/inbox:LAYOUT=fs', 'alice@example.test', '/home/a'), {
      root: '/var/mail/example.test/alice',
      inbox: '/var/mail/example.test/alice/inbox',
      layout: 'fs',
    });
    assert.throws(() => r('mbox:~/mail', 'a', '/h'), /only maildir/);
  });

  it('LAYOUT=fs keeps folders as nested directories', async () => {
    const home = mkdtempSync(join(tmpdir(), 'facteur-fs-'));
    const registry = new FolderRegistry(0);
    registries.push(registry);
    const store = new MailStore({ location: resolveMailLocation('maildir:~/Mail:LAYOUT=fs', 'u', home), fsync: false, registry });
    await store.ensureAutocreate();
    await store.create('Work.Projects');
    assert.ok(existsSync(join(home, 'Mail/Work/Projects/cur')));
    assert.deepEqual((await store.list()).map((m) => [m.name, m.exists]).sort(), [
      ['INBOX', true],
      ['Work', false],
      ['Work.Projects', true],
    ]);
    await store.rename('Work', 'Jobs');
    assert.ok(existsSync(join(home, 'Mail/Jobs/Projects/cur')));
    await assert.rejects(store.create('Jobs.cur'), /Invalid/);
    const f = await store.open('Jobs.Projects');
    assert.ok(f.uidvalidity > 0);
    store.release(f);
    await store.delete('Jobs.Projects');
    assert.ok(!existsSync(join(home, 'Mail/Jobs/Projects')));
  });
});
