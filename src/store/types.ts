// Shapes shared by the store and its users (IMAP, POP3).

/** One message of an open folder. Records are shared by every session (never copied per session). */
export interface MessageRecord {
  uid: number;
  /** File name in new/ or cur/ (base + ":2,…" info). */
  name: string;
  /** The file is in new/ (not yet seen by a read-write session). */
  inNew: boolean;
  /** System flag bits and keyword bits (see maildir/names.ts). */
  flags: number;
  /** Info letters we do not interpret (kept on rename). */
  extra: string;
  /** Size of the file on disk; -1 when not known yet. */
  size: number;
  /** RFC822.SIZE (size with CRLF line ends); -1 when not known yet. */
  vsize: number;
  /** INTERNALDATE as ms since the epoch (the file's mtime). */
  mtime: number;
  /** RFC 7162 mod-sequence of the last change to this message. */
  modseq: number;
  /** Offset of this message's entry in the folder cache file, -1 if none. */
  cacheOffset: number;
  /** The record was expunged (kept alive only by sessions that have not been told yet). */
  expunged?: boolean;
}

/** Flag changes for STORE. */
export type FlagOperation = 'set' | 'add' | 'remove';

export interface StoreFlagsResult {
  /** Records whose flags changed (new modseq). */
  changed: MessageRecord[];
  /** UIDs not changed because their modseq was above UNCHANGEDSINCE (RFC 7162 §3.1.3). */
  modified: number[];
}

/** Per-message cached data computed once from the message file (FETCH/SEARCH). */
export interface CachedParts {
  envelope?: Buffer;
  bodystructure?: Buffer;
  body?: Buffer;
  /** Date: header as ms since the epoch, NaN when missing/unparseable. */
  sentDate?: number;
}

/** What a folder's listeners (sessions with it selected) are told. */
export interface FolderListener {
  /** The listener wants new/ messages moved to cur/ and may own \Recent (read-write SELECT). */
  readonly readWrite: boolean;
  /** New messages exist (UIDs up to `maxUid`); `recent` are UIDs this listener owns as \Recent. */
  onNew(maxUid: number, recent: readonly number[]): void;
  /** Messages were expunged; records still carry their last flags. */
  onExpunge(records: readonly MessageRecord[]): void;
  /** Flags of these messages changed (by `origin`, or by another program when undefined). */
  onFlags(records: readonly MessageRecord[], origin: FolderListener | undefined): void;
  /** The keyword list of the folder grew (IMAP sends a new FLAGS response). */
  onKeywords(): void;
}

export interface FolderStatus {
  messages: number;
  recent: number;
  uidnext: number;
  uidvalidity: number;
  unseen: number;
  highestModseq: number;
  /** Sum of RFC822.SIZE (RFC 8438 STATUS=SIZE). */
  size: number;
}

export interface MailboxInfo {
  /** Storage name: modified UTF-7, "." between levels; "INBOX" for the root. */
  name: string;
  /** Exists as a folder (else only implied by a child: \Noselect). */
  exists: boolean;
  hasChildren: boolean;
  /** RFC 6154 attribute (\Sent …) from the configuration, if any. */
  specialUse?: string;
}
