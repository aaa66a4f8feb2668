// The contract between the SMTP session / local delivery and the outbound queue (issue #6).
// A message for remote recipients (or deferred local delivery) is written to a queue file
// and fsync'd before the client gets 250; the queue then owns it.

/** RFC 3461 DSN parameters of one recipient. */
export interface DsnRecipient {
  address: string;
  /** ORCPT=type;address as given (decoded xtext), e.g. `rfc822;bob@remote.test`. */
  orcpt?: string;
  /** NOTIFY=: ['NEVER'] or a subset of SUCCESS, FAILURE, DELAY; undefined = default (FAILURE, DELAY). */
  notify?: string[];
}

export interface QueueEnvelope {
  /** Postfix-style queue id, assigned by the session at MAIL (it appears in Received:). */
  id: string;
  /** Envelope sender; '' is the null sender. */
  sender: string;
  recipients: DsnRecipient[];
  /** RET=FULL|HDRS and ENVID= (RFC 3461). */
  ret?: 'FULL' | 'HDRS';
  envid?: string;
  /** 8BITMIME / SMTPUTF8 / BINARYMIME body as declared at MAIL. */
  body?: '7BIT' | '8BITMIME' | 'BINARYMIME';
  smtputf8?: boolean;
  /** When the message was received. */
  arrival: Date;
  /** Client description for logs (`name[ip]`), and the SASL user that sent it. */
  client?: string;
  saslUsername?: string;
}

/** Writes one queue file. The content given is the full message with our Received: header. */
export interface QueueFileWriter {
  readonly id: string;
  write(chunk: Buffer): Promise<void>;
  /** fsync and atomically move into the queue; after this resolves the message is durable. */
  commit(): Promise<void>;
  /** Remove the partial file. */
  abort(): Promise<void>;
}

export interface OutboundQueue {
  /** Start writing a new message into incoming/. */
  create(envelope: QueueEnvelope): Promise<QueueFileWriter>;
}
