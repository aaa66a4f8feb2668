// The store as POP3 (issue #8) sees it: the INBOX as a locked maildrop with a fixed
// message list for the session (RFC 1939 §8), sizes in CRLF octets, UIDs and
// UIDVALIDITY from dovecot-uidlist (for Dovecot's pop3_uidl_format %08Xu%08Xv),
// \Seen for RETR'd messages and deletion at QUIT. Changes go through the shared Folder,
// so IMAP sessions see them (and POP3 sees IMAP's at the next login).
import { toCrlf } from '../mail/line-ends.js';
import type { Folder } from './folder.js';
import type { MailStore } from './mailstore.js';
import { FLAG_SEEN } from './maildir/names.js';

export interface MaildropMessage {
  uid: number;
  /** Size with CRLF line ends (what RETR sends before dot-stuffing; LIST/STAT). */
  size: number;
}

/** In-process POP3 locks, by folder directory ([IN-USE] for a second session). */
const locked = new Set<string>();

export class Maildrop {
  private closed = false;
  private constructor(
    private readonly store: MailStore,
    private readonly folder: Folder,
    readonly uidvalidity: number,
    /** The messages of this session, in UID order (POP3 message n = messages[n-1]). */
    readonly messages: readonly MaildropMessage[],
  ) {}

  /**
   * Lock and open the INBOX (moving new/ to cur/, as Dovecot's POP3 does).
   * Returns 'in-use' when another POP3 session holds the maildrop.
   */
  static async open(store: MailStore): Promise<Maildrop | 'in-use'> {
    const dir = store.dirOf('INBOX');
    if (locked.has(dir)) return 'in-use';
    locked.add(dir);
    let folder: Folder | undefined;
    try {
      folder = await store.open('INBOX');
      await folder.sync({ moveNew: true });
      const msgs: MaildropMessage[] = [];
      for (const r of folder.messages) {
        if (r.vsize < 0) await folder.ensureSizes(r);
        if (r.vsize >= 0) msgs.push({ uid: r.uid, size: r.vsize });
      }
      return new Maildrop(store, folder, folder.uidvalidity, msgs);
    } catch (e) {
      locked.delete(dir);
      if (folder) store.release(folder);
      throw e;
    }
  }

  /** The message in CRLF form; undefined when it was removed meanwhile (e.g. by IMAP). */
  async read(uid: number): Promise<Buffer | undefined> {
    const r = this.folder.byUid(uid);
    if (!r) return undefined;
    const raw = await this.folder.readRaw(r);
    return raw ? toCrlf(raw) : undefined;
  }

  /** Set \Seen (RETR; Dovecot's pop3 does the same). */
  async markSeen(uids: readonly number[]): Promise<void> {
    if (uids.length) await this.folder.storeFlags(uids, 'add', FLAG_SEEN);
  }

  /** Remove messages (the UPDATE state after QUIT). */
  async delete(uids: readonly number[]): Promise<void> {
    if (uids.length) await this.folder.remove(uids);
  }

  /** Unlock and release; call exactly once (also when the connection drops). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    locked.delete(this.folder.dir);
    this.store.release(this.folder);
  }
}
