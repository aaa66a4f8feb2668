// facteur and Dovecot writing the same Maildir at the same time, as in a production setup
// where both run as one mail user: `facteur serve -c FILE` as uid 65534 takes SMTP
// deliveries while dovecot-lda (same uid) delivers into the same INBOX. Both must honour
// dovecot-uidlist.lock: afterwards every message has one UID, the same for both, and
// nothing was lost or renumbered.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chownSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { canConnect, DOVECOT_LDA, Dovecot, dovecotSkip, freePort, MAIL_GID, MAIL_UID, PYTHON, python, sharedTmpDir, stopOnExit, stopPid, waitFor } from './peers.js';
import { doveadmView, imapClient, imapView } from './views.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const USER = 'carol@example.test';
const N = 12;

const SEND = `
import smtplib, sys
s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]), local_hostname='client.test', timeout=30)
for i in range(int(sys.argv[3]), int(sys.argv[4])):
    s.sendmail('x@remote.test', [sys.argv[2]], ('From: x@remote.test\\r\\nSubject: smtp %d\\r\\nMessage-ID: <smtp%d@remote.test>\\r\\n\\r\\nby facteur\\r\\n' % (i, i)).encode())
s.quit()
`;

describe('facteur (as the mail user) and dovecot-lda delivering into one INBOX at once', { skip: dovecotSkip || (!DOVECOT_LDA && 'dovecot-lda not installed') || (!PYTHON && 'python3 not installed') }, () => {
  let dir: string;
  let child: ChildProcess;
  let dv: Dovecot;
  let smtpPort = 0;
  let imapPort = 0;

  before(async () => {
    dir = sharedTmpDir('facteur-shared-');
    const data = join(dir, 'data');
    mkdirSync(data, { mode: 0o750 });
    chownSync(data, MAIL_UID, MAIL_GID);
    writeFileSync(join(dir, 'users'), `${USER}:{PLAIN}carol-pw::::::\n`, { mode: 0o644 });
    smtpPort = await freePort();
    imapPort = await freePort();
    writeFileSync(
      join(dir, 'facteur.conf'),
      [
        `data_directory = ${data}`,
        `user_database = passwd-file:${join(dir, 'users')}`,
        'myhostname = mx.facteur.test',
        'mydestination = $myhostname, localhost, example.test',
        `smtp_listen = 127.0.0.1:${smtpPort}`,
        'submission_listen =',
        'submissions_listen =',
        `imap_listen = 127.0.0.1:${imapPort}`,
        'imaps_listen =',
        'pop3_listen =',
        'pop3s_listen =',
        'auth_socket_path =',
      ].join('\n') + '\n',
    );
    const log = openSync(join(dir, 'facteur.log'), 'w');
    child = spawn(process.execPath, ['--import', 'tsx', join(root, 'src/cli/main.ts'), 'serve', '-c', join(dir, 'facteur.conf')], {
      cwd: root,
      uid: MAIL_UID,
      gid: MAIL_GID,
      env: { ...process.env, HOME: dir, FACTEUR_CONFIG: '' },
      stdio: ['ignore', log, log],
    });
    stopOnExit(child.pid);
    await waitFor('facteur serve to listen', async () => (await canConnect(smtpPort)) && (await canConnect(imapPort)), 30_000, () => readFileSync(join(dir, 'facteur.log'), 'utf8'));
    dv = await Dovecot.start({ usersFile: join(dir, 'users'), home: `${data}/mail/%d/%n`, extra: 'mail_fsync = always\n' });
  });
  after(async () => {
    if (child?.pid) await stopPid(child.pid, 30_000);
    await dv?.stop();
  });

  function lda(i: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const p = spawn(DOVECOT_LDA!, ['-c', dv.conf, '-d', USER, '-f', 'lda@remote.test'], { stdio: ['pipe', 'ignore', 'pipe'] });
      let err = '';
      p.stderr.on('data', (d) => (err += d));
      p.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`dovecot-lda exited ${code}: ${err}`))));
      p.stdin.end(`From: lda@remote.test\nSubject: lda ${i}\nMessage-ID: <lda${i}@remote.test>\n\nby dovecot-lda\n`);
    });
  }

  it(`${2 * N} interleaved deliveries: every message once, one UID each, the same in facteur and Dovecot`, async () => {
    // facteur creates the Maildir with the first delivery; then both write at once
    await python(SEND, [String(smtpPort), USER, '0', '1']);
    await Promise.all([
      python(SEND, [String(smtpPort), USER, '1', String(N / 2)]),
      python(SEND, [String(smtpPort), USER, String(N / 2), String(N)]),
      ...Array.from({ length: N }, (_, i) => lda(i)),
    ]);
    const theirs = await doveadmView(dv, USER);
    const mine = await imapView(imapPort, USER, 'carol-pw');
    const inbox = mine.mailboxes.INBOX;
    assert.equal(inbox.messages.length, 2 * N);
    const ids = inbox.messages.map((m) => /Message-ID: <([^>]+)>/.exec(m.text)?.[1]).sort();
    assert.deepEqual(ids, [...Array.from({ length: N }, (_, i) => `lda${i}@remote.test`), ...Array.from({ length: N }, (_, i) => `smtp${i}@remote.test`)].sort());
    assert.equal(new Set(inbox.messages.map((m) => m.uid)).size, 2 * N);
    assert.deepEqual(mine.mailboxes.INBOX, theirs.mailboxes.INBOX);
    // a second look changes nothing: no UID was reassigned
    assert.deepEqual((await doveadmView(dv, USER)).mailboxes.INBOX, inbox);
    assert.doesNotMatch(dv.log(), /Error:/);
  });
  it('a message dovecot-lda delivers while a facteur IMAP client idles is announced, with Dovecot\'s UID', async () => {
    const c = imapClient(imapPort, USER, 'carol-pw');
    await c.connect();
    try {
      const box = await c.mailboxOpen('INBOX');
      const before = box.exists;
      const announced = new Promise<number>((resolve) => c.on('exists', (e: { count: number }) => resolve(e.count)));
      // IDLE now (imapflow would only start it after 15 s of quiet)
      const idling = c.idle();
      await waitFor('IDLE to start', () => c.idling);
      await lda(999);
      const count = await Promise.race([announced, new Promise<number>((_, reject) => setTimeout(() => reject(new Error('no EXISTS within 20 s')), 20_000))]);
      assert.equal(count, before + 1);
      // the next command ends the IDLE
      const [msg] = await c.fetchAll(String(count), { uid: true, envelope: true });
      await idling;
      assert.equal(msg.envelope?.messageId, '<lda999@remote.test>');
      const theirs = await dv.doveadmJson(['fetch', '-u', USER, 'uid', 'mailbox', 'INBOX', 'header', 'Message-ID', 'lda999@remote.test']);
      assert.deepEqual(theirs, [{ uid: String(msg.uid) }]);
    } finally {
      await c.logout().catch(() => undefined);
    }
  });
});
