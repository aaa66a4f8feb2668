// In-process notification that a mailbox changed, so that an IMAP IDLE session sees a
// message delivered by facteur's SMTP at once (issue #7) without polling. Delivery
// emits after the rename into new/; the store and IMAP subscribe by Maildir folder path.
import { EventEmitter } from 'node:events';

export type MailboxChange = {
  /** Absolute path of the Maildir folder (the INBOX root or a `.Folder` directory). */
  folder: string;
  kind: 'delivered' | 'changed';
};

class MailboxEvents extends EventEmitter {
  notify(change: MailboxChange): void {
    this.emit('change', change);
    this.emit(`change:${change.folder}`, change);
  }
  /** Listen for changes of one folder; returns the unsubscribe function. */
  watch(folder: string, listener: (c: MailboxChange) => void): () => void {
    const ev = `change:${folder}`;
    this.on(ev, listener);
    return () => {
      this.off(ev, listener);
    };
  }
}

export const mailboxEvents = new MailboxEvents();
mailboxEvents.setMaxListeners(0);
