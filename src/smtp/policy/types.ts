// The contract between the SMTP session (src/smtp/session.ts) and the restriction
// engine (issue #4). The session owns the wire; the engine owns Postfix's semantics:
// which list runs when (smtpd_delay_reject), what each directive does and which reply
// it produces. A session creates one PolicySession per connection and asks it at each
// step; a verdict is either "go on" or a reply to send.

/** An SMTP reply: `554 5.7.1 <x@y>: Relay access denied`. */
export interface SmtpReply {
  code: number;
  /** RFC 3463 enhanced status code, e.g. `5.7.1` (empty for replies without one). */
  enhanced: string;
  /** Text after the codes (may contain several lines separated by \n). */
  text: string;
}

/** What the session knows about its client when it asks. Updated by the session as the dialogue goes on. */
export interface SmtpClientState {
  /** Service name (smtp, submission, submissions). */
  service: string;
  sessionId: string;
  clientAddress: string;
  clientPort: number;
  serverAddress: string;
  serverPort: number;
  /** Forward-confirmed reverse name, or `unknown` (Postfix's client_name). Filled by the engine's connect step if the session leaves it undefined. */
  clientName?: string;
  /** The PTR name without forward confirmation, or `unknown` (reverse_client_name). */
  reverseClientName?: string;
  heloName?: string;
  /** `ESMTP` after EHLO, `SMTP` after HELO. */
  protocol?: 'SMTP' | 'ESMTP';
  tls: boolean;
  /** Set after a successful AUTH. */
  saslUsername?: string;
  saslMethod?: string;
  /** MAIL FROM address (without <>); '' is the null sender. Undefined before MAIL. */
  sender?: string;
  /** The transaction's queue id once a recipient was accepted (log lines say NOQUEUE before). */
  queueId?: string;
  /** Number of recipients accepted so far in this transaction. */
  recipientCount: number;
  /** Size announced with SIZE= (or counted, at end of data). */
  size?: number;
  /** reject_unauth_pipelining inputs, set by the session's reader. */
  pipelining: {
    /** The client sent something before the 220 greeting. */
    talkedBeforeGreeting: boolean;
    /** Input was pending when a command was read where pipelining is not allowed (after HELO, before EHLO's PIPELINING, or before a reply that needs it). */
    unauthPipelined: boolean;
  };
}

/**
 * What a verdict can ask besides accept/reject (access-table actions):
 * HOLD/DISCARD/REDIRECT/PREPEND/WARN/FILTER, recorded for the session to apply to the message.
 */
export interface PolicyActions {
  hold?: string;
  discard?: string;
  redirect?: string;
  prepend?: string[];
  filter?: string;
}

export type PolicyVerdict =
  | { ok: true; actions?: PolicyActions }
  /** `close`: disconnect after sending (421 replies). */
  | { ok: false; reply: SmtpReply; close?: boolean; actions?: PolicyActions };

/** How the policy learns whether an address exists here (implemented by src/delivery). */
export interface AddressClass {
  /**
   * local: mydestination (users by local part, aliases); virtual: virtual_mailbox_domains
   * or a user-database domain; alias: virtual_alias_domains; relay: relay_domains;
   * remote: anything else.
   */
  domainClass: 'local' | 'virtual' | 'alias' | 'relay' | 'remote';
  /** For local/virtual/alias/relay: whether the full address is a known recipient. Undefined for remote. */
  known?: boolean;
}

export interface AddressDirectory {
  classify(address: string): Promise<AddressClass>;
}

/**
 * Per-connection policy state machine (src/smtp/policy/engine.ts implements it).
 *
 * How the session uses it:
 *  - `connect` first: it fills `clientName`/`reverseClientName` when they are undefined
 *    (leave them undefined so that a temporary DNS failure is known as such; or set both
 *    from `resolveClientNames`). A rejection replaces the 220 greeting (smtpd_delay_reject
 *    = no); then answer every command but QUIT with `503 5.7.0 Error: access denied for
 *    name[ip]`.
 *  - Set `heloName`/`protocol` before `helo`, `sender` before `mail`; when the verdict
 *    rejects, do not keep the HELO name / the sender (Postfix does not).
 *  - `state.pipelining` and the other fields are read when a restriction runs (also while
 *    a `sleep N` is waiting), so keep updating the same object.
 *  - Replies are Postfix's: send `code enhanced text` (parseReply/replyLine help); after a
 *    verdict with `close`, send the reply and disconnect (421).
 *  - An accepted verdict may carry `actions` (HOLD, DISCARD, REDIRECT, FILTER, PREPEND from
 *    access tables): the latest verdict's actions are the transaction's actions so far.
 *  - Call `reset` after RSET, after the end of a transaction and after MAIL is rejected.
 */
export interface PolicySession {
  /** At connection: with smtpd_delay_reject = no, client restrictions run here (the reply replaces the greeting). */
  connect(state: SmtpClientState): Promise<PolicyVerdict>;
  helo(state: SmtpClientState): Promise<PolicyVerdict>;
  mail(state: SmtpClientState): Promise<PolicyVerdict>;
  /** `recipient` is the address as parsed (without <>). */
  rcpt(state: SmtpClientState, recipient: string): Promise<PolicyVerdict>;
  data(state: SmtpClientState): Promise<PolicyVerdict>;
  endOfData(state: SmtpClientState): Promise<PolicyVerdict>;
  vrfy(state: SmtpClientState, address: string): Promise<PolicyVerdict>;
  /**
   * ETRN domain: smtpd_etrn_restrictions (after the client and HELO lists with smtpd_delay_reject).
   * Optional so that existing test doubles still type-check; the engine implements it.
   */
  etrn?(state: SmtpClientState, domain: string): Promise<PolicyVerdict>;
  /** RSET / new transaction: forget per-transaction state. */
  reset(): void;
}

/** What the server builds once per configuration and asks for one PolicySession per connection. */
export interface Policy {
  session(): PolicySession;
}
