// The contract of local delivery (issue #3), used by the SMTP session for local
// recipients and by the queue (issue #6) for deferred local mail and for DSN bounces to
// local senders.

export interface LocalMessage {
  queueId: string;
  /** Envelope sender ('' = null sender); becomes Return-Path:. */
  sender: string;
  /** Local recipients as given in RCPT TO (alias expansion happens in delivery). */
  recipients: string[];
  /** The message file (with our Received: header), CRLF or LF line ends. */
  contentPath: string;
}

export type LocalDeliveryStatus = 'delivered' | 'deferred' | 'bounced';

export interface LocalDeliveryResult {
  recipient: string;
  status: LocalDeliveryStatus;
  /** RFC 3463 status, e.g. 2.0.0, 4.2.2, 5.1.1 */
  dsnStatus: string;
  /** Human text for logs and DSNs, e.g. `delivered to maildir` or `mailbox unavailable: EACCES`. */
  text: string;
  /** Addresses this recipient was rewritten to that must go to the outbound queue (aliases to remote addresses). */
  forwarded?: string[];
}

export interface LocalDeliveryAgent {
  /** Deliver to every recipient; each gets its own copy (own Delivered-To:), durable before this resolves. */
  deliver(message: LocalMessage): Promise<LocalDeliveryResult[]>;
}
