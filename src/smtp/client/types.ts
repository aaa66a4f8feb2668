// What the queue hands to the SMTP client and what it gets back (per recipient, as
// Postfix's smtp(8) reports to qmgr(8)).

export interface OutboundRecipient {
  address: string;
  /** RFC 3461 NOTIFY values (undefined: not given). */
  notify?: string[];
  /** ORCPT in decoded `type;address` form. */
  orcpt?: string;
}

export interface OutboundMessage {
  /** Queue id, for log lines. */
  queueId: string;
  sender: string;
  recipients: OutboundRecipient[];
  /** Content size in bytes as stored. */
  size: number;
  /** The content has bytes ≥ 0x80 in its body / in its header section. */
  eightBitBody: boolean;
  eightBitHeaders: boolean;
  /** BODY=8BITMIME was declared when the message was received. */
  declared8bit: boolean;
  /** SMTPUTF8 was requested when the message was received. */
  smtputf8: boolean;
  ret?: 'FULL' | 'HDRS';
  envid?: string;
  /** A fresh stream of the content each time it is called. */
  content(): AsyncIterable<Buffer>;
}

export type RecipientOutcome = 'sent' | 'deferred' | 'bounced';

export interface RecipientResult {
  outcome: RecipientOutcome;
  /** RFC 3463 status (`2.0.0`, `4.4.1`, `5.1.1`). */
  dsn: string;
  /**
   * Postfix's status text: `250 2.0.0 Ok: queued as X` for sent;
   * `host mx[ip] said: 550 5.1.1 … (in reply to RCPT TO command)`; `connect to mx[ip]:25: Connection refused`.
   */
  reason: string;
  /** `mx.example[192.0.2.1]:25`, or `none` when no connection was made. */
  relay: string;
  /** The remote MTA's name for the DSN's Remote-MTA field (`dns; name`). */
  remoteMta?: string;
  /** `smtp; 550 5.1.1 …` when the remote server's reply decided it. */
  diagnostic?: string;
  /** For sent recipients: `relayed` when the server lacked DSN and NOTIFY asked for SUCCESS. */
  action?: 'delivered' | 'relayed';
  /** The server accepted our NOTIFY/ORCPT (announced DSN): it owns success notices now. */
  dsnPassed?: boolean;
  /** Seconds spent in connection setup and in the transfer (for delays=a/b/c/d). */
  setupSeconds?: number;
  xferSeconds?: number;
}

/** Next hop: the recipient domain (MX lookup) or a host (relayhost). */
export interface NextHop {
  /** `example.com` or `[smtp.example.net]:587` — the destination name queues are keyed on. */
  name: string;
  host: string;
  port: number;
  /** Look up MX records for `host` (false for `[host]`). */
  mx: boolean;
  /** This next hop is the relayhost (SASL credentials may apply). */
  relay: boolean;
}
