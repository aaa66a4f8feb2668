// POP3 maildrops backed by the Maildir store: the user's INBOX, locked for the session,
// with UIDs and UIDVALIDITY from dovecot-uidlist (shared with IMAP and Dovecot).
import { Readable } from 'node:stream';
import type { UserDatabase } from '../auth/types.js';
import type { ConfigView } from '../config/config.js';
import { Maildrop } from '../store/maildrop.js';
import { MailStore } from '../store/mailstore.js';
import type { FolderRegistry } from '../store/registry.js';
import type { MaildropOpenResult, Pop3MaildropProvider } from './maildrop.js';

export function createStoreMaildrops(config: ConfigView, users: UserDatabase, registry?: FolderRegistry): Pop3MaildropProvider {
  return {
    async open(user: string): Promise<MaildropOpenResult> {
      const entry = users.lookup(user);
      if (!entry) return { ok: false, code: 'SYS/TEMP', text: 'User is missing from the user database.' };
      const store = MailStore.forUser(entry, { mailLocation: config.get('mail_location'), fsync: config.bool('maildir_fsync'), registry });
      let drop: Maildrop | 'in-use';
      try {
        drop = await Maildrop.open(store);
      } catch (err) {
        return { ok: false, code: 'SYS/TEMP', text: `Couldn't open INBOX: ${(err as Error).message}` };
      }
      if (drop === 'in-use') return { ok: false, code: 'IN-USE', text: "Couldn't open INBOX: Mailbox is locked by another POP3 session." };
      const d = drop;
      return {
        ok: true,
        maildrop: {
          uidValidity: d.uidvalidity,
          messages: d.messages,
          async open(index: number) {
            const buf = await d.read(d.messages[index].uid);
            if (!buf) throw new Error('the message was expunged by another session');
            return Readable.from([buf]);
          },
          markSeen: (indexes) => d.markSeen(indexes.map((i) => d.messages[i].uid)),
          expunge: (indexes) => d.delete(indexes.map((i) => d.messages[i].uid)),
          close: async () => d.close(),
        },
      };
    },
  };
}
