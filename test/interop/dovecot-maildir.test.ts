// facteur and Dovecot 2.3 on the same Maildir (mail_location = maildir:~/Maildir, facteur's
// passwd-file as Dovecot's passdb and userdb): what one writes, the other reads with the
// same mailboxes, UIDs, UIDVALIDITY, UIDNEXT, flags, keywords, INTERNALDATEs, sizes and bytes,
// and POP3 UIDLs. Dovecot is looked at three ways: doveadm, its IMAP server and its POP3 server.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { startTestFacteur, type TestFacteur } from './facteur.js';
import { DOVECOT_LDA, Dovecot, dovecotSkip, maildirFiles, PYTHON, python, waitFor } from './peers.js';
import { doveadmView, imapClient, imapView, pop3View, type StoreView } from './views.js';

const ALICE = 'alice@example.test';
const BOB = 'bob@example.test';

const SEND = `
import smtplib, sys
s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]), local_hostname='client.test', timeout=20)
for i in range(int(sys.argv[3])):
    msg = ('From: Remote <x@remote.test>\\r\\nTo: %s\\r\\nSubject: message %d caf\\u00e9\\r\\nDate: Sat, 01 Jun 2024 10:0%d:00 +0000\\r\\nMessage-ID: <m%d@remote.test>\\r\\nMIME-Version: 1.0\\r\\nContent-Type: text/plain; charset=utf-8\\r\\nContent-Transfer-Encoding: 8bit\\r\\n\\r\\nbody %d \\u00fcber\\r\\n.\\r\\n..dots\\r\\n' % (sys.argv[2], i + 1, i, i + 1, i + 1)).encode('utf-8')
    s.sendmail('x@remote.test', [sys.argv[2]], msg)
s.quit()
`;

const DOVECOT_APPEND = `
import imaplib, sys, time
c = imaplib.IMAP4('127.0.0.1', int(sys.argv[1]))
c.login(sys.argv[2], sys.argv[3])
typ, data = c.append(sys.argv[4], sys.argv[5], imaplib.Time2Internaldate(int(sys.argv[6])), sys.stdin.buffer.read())
assert typ == 'OK', data
c.logout()
print(data[0].decode())
`;

const show = (v: unknown) => JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? String(x) : x instanceof Map ? [...x] : x));

/** Folders facteur creates and subscribes on a first login (mailbox_autocreate's default). */
const AUTOCREATED = ['Drafts', 'Sent', 'Trash', 'Junk', 'Archive'];

/** `view` less the empty folders facteur's first login added to what `before` had. */
function withoutAutocreated(view: StoreView, before: StoreView): StoreView {
  const extra = Object.keys(view.mailboxes).filter((k) => !(k in before.mailboxes));
  for (const k of extra) {
    assert.ok(AUTOCREATED.includes(k), `facteur added the folder ${k}`);
    assert.equal(view.mailboxes[k].messages.length, 0);
  }
  return {
    mailboxes: Object.fromEntries(Object.entries(view.mailboxes).filter(([k]) => !extra.includes(k))),
    subscribed: view.subscribed.filter((k) => !extra.includes(k)),
  };
}

function summary(v: StoreView): Record<string, { uids: number[]; flags: string[][] }> {
  return Object.fromEntries(Object.entries(v.mailboxes).map(([k, b]) => [k, { uids: b.messages.map((m) => m.uid), flags: b.messages.map((m) => m.flags) }]));
}

describe('facteur and Dovecot on one Maildir', { skip: dovecotSkip || (!PYTHON && 'python3 not installed') }, () => {
  let fx: TestFacteur;
  let dv: Dovecot;

  before(async () => {
    fx = await startTestFacteur({ mydestination: '$myhostname, localhost, example.test' }, [
      { user: ALICE, password: 'alice-pw' },
      { user: BOB, password: 'bob-pw' },
    ]);
    dv = await Dovecot.start({ usersFile: fx.usersFile, home: `${fx.dataDir}/mail/%d/%n`, imap: true, pop3: true });
  });
  after(async () => {
    await fx?.stop();
    await dv?.stop();
  });

  const facteurView = (user: string, pw: string) => imapView(fx.facteur.port('imap'), user, pw);
  const dovecotImapView = (user: string, pw: string) => imapView(dv.imapPort, user, pw);

  /** Both of Dovecot's views, after giving it the files facteur wrote as root. */
  async function dovecotViews(user: string, pw: string): Promise<[StoreView, StoreView]> {
    dv.handOver(fx.home(user));
    return [await doveadmView(dv, user), await dovecotImapView(user, pw)];
  }

  describe('Dovecot reads what facteur wrote', () => {
    it('deliveries, flags, keywords, folders, COPY/MOVE, APPEND and EXPUNGE through facteur', async () => {
      await python(SEND, [String(fx.facteur.port('smtp')), ALICE, '4']);
      await waitFor('4 deliveries', () => maildirFiles(fx.maildir(ALICE)).length === 4);
      const c = imapClient(fx.facteur.port('imap'), ALICE, 'alice-pw');
      await c.connect();
      await c.mailboxOpen('INBOX');
      await c.messageFlagsAdd('1', ['\\Seen', '\\Flagged', '$Label1', 'Work'], { uid: true });
      await c.messageFlagsAdd('2', ['\\Answered', 'Later'], { uid: true });
      await c.mailboxCreate('Entwürfe');
      await c.mailboxCreate(['Archive', '2024']);
      await c.messageCopy('1', 'Archive.2024', { uid: true });
      await c.messageMove('2', 'Entwürfe', { uid: true });
      await c.messageDelete('3', { uid: true });
      const appended = await c.append('Entwürfe', 'From: alice@example.test\r\nSubject: draft\r\n\r\nnot finished\r\n', ['\\Draft', '\\Seen', 'Custom'], new Date('2024-06-01T12:34:56Z'));
      assert.ok(appended && appended.uid === 2, show(appended));
      await c.mailboxUnsubscribe('Archive.2024');
      await c.logout();

      const mine = await facteurView(ALICE, 'alice-pw');
      // what facteur itself must show (so that the comparisons below compare something)
      assert.deepEqual(summary(mine).INBOX, { uids: [1, 4], flags: [['$Label1', 'Work', '\\Flagged', '\\Seen'], []] });
      assert.deepEqual(summary(mine)['Entwürfe'], { uids: [1, 2], flags: [['Later', '\\Answered'], ['Custom', '\\Draft', '\\Seen']] });
      assert.deepEqual(summary(mine)['Archive.2024'].uids, [1]);
      assert.equal(mine.mailboxes.INBOX.uidnext, 5);
      assert.ok(!mine.subscribed.includes('Archive.2024'));
      assert.ok(mine.subscribed.includes('Entwürfe'), mine.subscribed.join());
      assert.equal(mine.mailboxes['Entwürfe'].messages[1].date, Date.parse('2024-06-01T12:34:56Z') / 1000);
      assert.match(mine.mailboxes.INBOX.messages[0].text, /\nSubject: message 1 café\n[^]*\n\nbody 1 über\n\.\n\.\.dots\n$/);

      const [adm, imap] = await dovecotViews(ALICE, 'alice-pw');
      assert.deepEqual(adm, mine);
      assert.deepEqual(imap, mine);
      // Dovecot's SEARCH on facteur's keywords and flags (dovecot-keywords, file name letters)
      const search = async (...q: string[]) => (await dv.doveadm(['search', '-u', ALICE, 'mailbox', 'INBOX', ...q])).trim().split('\n').filter(Boolean).map((l) => Number(l.split(' ')[1]));
      assert.deepEqual(await search('keyword', 'Work'), [1]);
      assert.deepEqual(await search('keyword', '$Label1', 'flagged'), [1]);
      assert.deepEqual(await search('unseen'), [4]);
      assert.deepEqual(await dv.doveadm(['search', '-u', ALICE, 'mailbox', 'Entwürfe', 'keyword', 'Later']).then((o) => o.trim().split(' ')[1]), '1');
      // and both POP3 servers serve the same maildrop
      const pop = await pop3View(fx.facteur.port('pop3'), ALICE, 'alice-pw');
      assert.equal(pop.list.length, 2);
      assert.deepEqual(await pop3View(dv.pop3Port, ALICE, 'alice-pw'), pop);
    });
  });

  describe('facteur reads what Dovecot wrote', () => {
    let dovecotView: StoreView;
    let uidvalidity = 0;

    before(async () => {
      dv.handOver(fx.home(BOB));
      await dv.doveadm(['mailbox', 'create', '-u', BOB, 'Work', 'Entwürfe', 'Lists.Dovecot']);
      for (let i = 1; i <= 3; i++) {
        await dv.doveadm(['save', '-u', BOB], `From: x@remote.test\nTo: ${BOB}\nSubject: saved ${i}\nMessage-ID: <s${i}@remote.test>\n\nsaved by doveadm ${i}\n`);
      }
      await lda(['-d', BOB, '-f', 'lda@remote.test'], `From: lda@remote.test\nTo: ${BOB}\nSubject: by dovecot-lda\nMessage-ID: <lda1@remote.test>\n\ndelivered by dovecot-lda, ünïcödé\n`);
      await lda(['-d', BOB, '-f', 'lda@remote.test', '-m', 'Work'], `From: lda@remote.test\nTo: ${BOB}\nSubject: to Work\nMessage-ID: <lda2@remote.test>\n\ninto Work\n`);
      await python(DOVECOT_APPEND, [String(dv.imapPort), BOB, 'bob-pw', '"Entw&APw-rfe"', '(\\Draft $Forwarded Custom)', String(Date.parse('2024-05-04T03:02:01Z') / 1000)], 'From: bob@example.test\r\nSubject: a draft\r\n\r\nappended to Dovecot\r\n');
      await dv.doveadm(['flags', 'add', '-u', BOB, '\\Seen $Label1 Work', 'mailbox', 'INBOX', 'uid', '1']);
      await dv.doveadm(['flags', 'add', '-u', BOB, '\\Flagged \\Answered', 'mailbox', 'INBOX', 'uid', '2']);
      await dv.doveadm(['expunge', '-u', BOB, 'mailbox', 'INBOX', 'uid', '3']);
      await dv.doveadm(['mailbox', 'subscribe', '-u', BOB, 'INBOX', 'Work', 'Entwürfe']);
      dovecotView = await doveadmView(dv, BOB);
      uidvalidity = dovecotView.mailboxes.INBOX.uidvalidity;
    });

    function lda(args: string[], message: string): Promise<void> {
      return new Promise((resolve, reject) => {
        if (!DOVECOT_LDA) return reject(new Error('dovecot-lda not installed'));
        const child = spawn(DOVECOT_LDA, ['-c', dv.conf, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
        let err = '';
        child.stderr.on('data', (d) => (err += d));
        child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`dovecot-lda exited ${code}: ${err}`))));
        child.stdin.end(message);
      });
    }

    it('IMAP: the same mailboxes, UIDs (with the expunged gap), flags, keywords, dates, sizes and bytes', async () => {
      assert.deepEqual(summary(dovecotView).INBOX, { uids: [1, 2, 4], flags: [['$Label1', 'Work', '\\Seen'], ['\\Answered', '\\Flagged'], []] });
      assert.deepEqual(summary(dovecotView)['Entwürfe'].flags, [['$Forwarded', 'Custom', '\\Draft']]);
      const mine = await facteurView(BOB, 'bob-pw');
      assert.deepEqual(withoutAutocreated(mine, dovecotView), dovecotView);
      assert.ok(Object.keys(mine.mailboxes).includes('Drafts'), 'mailbox_autocreate made Drafts on the first login');
      // and Dovecot's IMAP server agrees with its doveadm (the autocreated folders now exist for it too)
      dv.handOver(fx.home(BOB));
      assert.deepEqual(withoutAutocreated(await dovecotImapView(BOB, 'bob-pw'), dovecotView), dovecotView);
    });

    it('POP3: facteur answers STAT, LIST, UIDL and TOP exactly as Dovecot\'s pop3 does', async () => {
      const theirs = await pop3View(dv.pop3Port, BOB, 'bob-pw');
      const mine = await pop3View(fx.facteur.port('pop3'), BOB, 'bob-pw');
      assert.deepEqual(mine, theirs);
      // pop3_uidl_format = %08Xu%08Xv: Dovecot 2.3's %X prints lower-case hex digits
      const hex = (n: number) => n.toString(16).padStart(8, '0');
      assert.deepEqual(
        mine.uidl,
        [1, 2, 4].map((uid, i) => `${i + 1} ${hex(uid)}${hex(uidvalidity)}`),
      );
      assert.equal(mine.list.length, 3);
    });

    it('what facteur changes in Dovecot\'s Maildir (flags, new keyword, MOVE, APPEND, CREATE) Dovecot sees', async () => {
      const c = imapClient(fx.facteur.port('imap'), BOB, 'bob-pw');
      await c.connect();
      await c.mailboxOpen('INBOX');
      await c.messageFlagsAdd('2', ['\\Seen', 'Later'], { uid: true });
      await c.messageFlagsRemove('1', ['$Label1'], { uid: true });
      const moved = await c.messageMove('4', 'Work', { uid: true });
      assert.ok(moved && moved.uidMap?.get(4) === 2, show(moved));
      await c.mailboxCreate('Projects');
      const appended = await c.append('Lists.Dovecot', 'From: list@lists.test\r\nSubject: list mail\r\n\r\nfrom a list\r\n', ['Listed', '\\Seen'], new Date('2024-03-02T01:00:00Z'));
      assert.ok(appended && appended.uid === 1);
      await c.logout();
      const mine = await facteurView(BOB, 'bob-pw');
      assert.deepEqual(summary(mine).INBOX, { uids: [1, 2], flags: [['Work', '\\Seen'], ['Later', '\\Answered', '\\Flagged', '\\Seen']] });
      assert.equal(mine.mailboxes.INBOX.uidvalidity, uidvalidity);
      const [adm, imap] = await dovecotViews(BOB, 'bob-pw');
      assert.deepEqual(adm, mine);
      assert.deepEqual(imap, mine);
    });
  });
});
