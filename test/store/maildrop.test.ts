import { strict as assert } from 'node:assert';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { MailStore } from '../../src/store/mailstore.js';
import { Maildrop } from '../../src/store/maildrop.js';
import { FolderRegistry } from '../../src/store/registry.js';
import { FLAG_SEEN } from '../../src/store/maildir/names.js';
import { materializeFixture } from './fixture-maildir.js';

const registry = new FolderRegistry(0);
after(() => registry.closeAll());

describe('Maildrop (the POP3 view of the store)', () => {
  it('lists INBOX as Dovecot\'s POP3 did (expected/pop3.txt): sizes, UIDs, UIDVALIDITY; moves new/ to cur/', async () => {
    const home = materializeFixture();
    const store = MailStore.forUser({ user: 'bob', home }, { mailLocation: 'maildir:~/Maildir', fsync: false, registry });
    const drop = await Maildrop.open(store);
    assert.ok(drop !== 'in-use');
    // +OK 7 2144; LIST 317 293 307 304 304 312 307; UIDL %08Xu%08Xv
    assert.deepEqual(
      drop.messages.map((m) => m.size),
      [317, 293, 307, 304, 304, 312, 307],
    );
    assert.equal(drop.messages.reduce((a, m) => a + m.size, 0), 2144);
    const uidl = drop.messages.map((m) => m.uid.toString(16).padStart(8, '0') + drop.uidvalidity.toString(16).padStart(8, '0'));
    assert.deepEqual(uidl, ['000000016b0b620e', '000000026b0b620e', '000000046b0b620e', '000000056b0b620e', '000000066b0b620e', '000000086b0b620e', '000000096b0b620e']);
    assert.ok(existsSync(join(home, 'Maildir/cur/1795908109.M468304P29973.vm,S=302,W=312:2,')));
    // the maildrop is locked for a second session
    assert.equal(await Maildrop.open(store), 'in-use');
    const msg = await drop.read(8);
    assert.equal(msg!.length, 312);
    assert.ok(!msg!.toString('latin1').replace(/\r\n/g, '').includes('\n'));
    await drop.markSeen([8]);
    await drop.delete([1]);
    drop.close();
    const again = await Maildrop.open(store);
    assert.ok(again !== 'in-use');
    assert.deepEqual(
      again.messages.map((m) => m.uid),
      [2, 4, 5, 6, 8, 9],
    );
    again.close();
    const inbox = await store.open('INBOX');
    assert.equal(inbox.byUid(8)!.flags & FLAG_SEEN, FLAG_SEEN);
    store.release(inbox);
  });
});
