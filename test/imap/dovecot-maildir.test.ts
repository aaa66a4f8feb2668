// Interop: facteur serves the Maildir Dovecot 2.3 wrote (test/fixtures/dovecot-maildir)
// and answers LIST/LSUB/STATUS/EXAMINE/UID FETCH as Dovecot did (STATE.md).
import { strict as assert } from 'node:assert';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { FIXTURE_ROOT, materializeFixture } from '../store/fixture-maildir.js';
import { RawClient, startServer, type TestServer } from './harness.js';
import { readRecording, statusOf } from './recording.js';

process.env.TZ = 'UTC';

/** Dovecot's LIST order is its directory order; compare LIST/LSUB responses as sets. */
function sortedLines(text: string): string[] {
  return text
    .split('\r\n')
    .filter((l) => l)
    .sort();
}

/**
 * \Recent lives in Dovecot's binary index (first_recent_uid), which the fixture does not
 * include: without it Dovecot too reports every message \Recent. Remove \Recent and
 * RECENT counts before comparing; everything else must be byte-identical.
 */
function withoutRecent(text: string): string {
  return text
    .split('\r\n')
    .filter((l) => !/^\* \d+ RECENT$/.test(l))
    .map((l) => l.replace(/ \\Recent\b/g, '').replace(/\(\\Recent ?/g, '('))
    .join('\r\n');
}

describe('Dovecot-written Maildir', () => {
  let srv: TestServer;
  let c: RawClient;
  before(async () => {
    const home = materializeFixture();
    srv = await startServer({
      users: { bob: 'bob-pw-2' },
      homes: { bob: home },
      // Debian's stock Dovecot: Drafts/Junk/Trash/Sent special-use, not auto-created
      config: { mailbox_special_use: 'Drafts=\\Drafts Junk=\\Junk Trash=\\Trash Sent=\\Sent' },
    });
    c = await RawClient.connect(srv.port);
    assert.match((await c.cmd('LOGIN bob bob-pw-2')).tagged, /^OK/);
  });
  after(async () => {
    c.close();
    await srv.close();
  });

  it('LIST and LSUB as Dovecot (expected/list.txt)', async () => {
    for (const rec of readRecording(join(FIXTURE_ROOT, 'expected/list.txt'))) {
      const r = await c.cmd(rec.command);
      assert.deepEqual(sortedLines(r.untagged.map((l) => l + '\r\n').join('')), sortedLines(rec.untagged), rec.command);
      assert.equal(statusOf(r.tagged), statusOf(rec.tagged), rec.command);
    }
  });

  it('STATUS with Dovecot\'s UIDVALIDITY/UIDNEXT (expected/status.txt)', async () => {
    for (const rec of readRecording(join(FIXTURE_ROOT, 'expected/status.txt'))) {
      const r = await c.cmd(rec.command);
      assert.equal(r.untagged.map((l) => l + '\r\n').join(''), rec.untagged, rec.command);
      assert.equal(statusOf(r.tagged), statusOf(rec.tagged));
    }
  });

  for (const file of ['INBOX', 'Sent', 'Trash', 'Archive.2024', 'Entw_APw-rfe']) {
    it(`EXAMINE and UID FETCH ${file} (expected/examine-${file}.txt)`, async () => {
      for (const rec of readRecording(join(FIXTURE_ROOT, `expected/examine-${file}.txt`))) {
        const r = await c.cmd(rec.command);
        let got = r.untagged.map((l) => l + '\r\n').join('');
        let want = rec.untagged;
        // the first EXAMINE of this test run has no mailbox to close before it
        if (file === 'INBOX') want = want.replace('* OK [CLOSED] Previous mailbox closed.\r\n', '');
        if (file === 'INBOX' && rec.command.startsWith('EXAMINE')) got = got.replace('* OK [CLOSED] Previous mailbox closed.\r\n', '');
        assert.equal(withoutRecent(got), withoutRecent(want), rec.command);
        assert.equal(statusOf(r.tagged), statusOf(rec.tagged), rec.command);
      }
    });
  }

  it('a second session after a read-write SELECT gives \\Recent once, as Dovecot', async () => {
    const a = await RawClient.connect(srv.port);
    await a.cmd('LOGIN bob bob-pw-2');
    const r1 = await a.cmd('SELECT Sent');
    assert.ok(r1.untagged.includes('* 1 RECENT'));
    const b = await RawClient.connect(srv.port);
    await b.cmd('LOGIN bob bob-pw-2');
    const r2 = await b.cmd('EXAMINE Sent');
    assert.ok(r2.untagged.includes('* 0 RECENT'), r2.untagged.join('|'));
    a.close();
    b.close();
  });
});
