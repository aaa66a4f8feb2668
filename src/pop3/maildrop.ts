// What the POP3 session needs from the store (issue #8): a locked snapshot of a user's
// INBOX, in UID order, with the sizes RETR will send (CRLF), and the two changes POP3
// can make: \Seen on RETR/TOP-whole, and expunge at QUIT (UPDATE state).
import type { Readable } from 'node:stream';

export interface Pop3Message {
  uid: number;
  /** Size as RETR sends it: CRLF line ends, before dot-stuffing (RFC 1939 "exact size"). */
  size: number;
}

export interface Pop3Maildrop {
  readonly uidValidity: number;
  /** Messages at the time the maildrop was opened, in UID order (message number = index + 1). */
  readonly messages: readonly Pop3Message[];
  /** The message content as stored (LF or CRLF line ends; the session converts to CRLF). */
  open(index: number): Promise<Readable>;
  /** Set \Seen on these messages (indexes into `messages`). */
  markSeen(indexes: number[]): Promise<void>;
  /** Remove these messages for good. */
  expunge(indexes: number[]): Promise<void>;
  /** Release the lock. Called exactly once, whatever happened. */
  close(): Promise<void>;
}

export type MaildropOpenResult =
  | { ok: true; maildrop: Pop3Maildrop }
  /** in-use: another POP3 session holds the lock; temp: a store problem. */
  | { ok: false; code: 'IN-USE' | 'SYS/TEMP'; text: string };

export interface Pop3MaildropProvider {
  open(user: string): Promise<MaildropOpenResult>;
}
