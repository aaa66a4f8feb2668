// The contract between the listeners (src/server) and the protocol engines
// (src/smtp, src/imap, src/pop3): the server accepts a connection (doing the TLS
// handshake first for implicit-TLS services) and hands the socket to the service's
// handler, which runs one session and reports when it is over.
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { ServiceName } from '../config/params/types.js';

export interface ConnectionInfo {
  service: ServiceName;
  /** Session id for every log line of this connection. */
  id: string;
  remoteAddress: string;
  remotePort: number;
  localAddress: string;
  localPort: number;
  /** The connection is TLS from the first byte (submissions, imaps, pop3s). */
  implicitTls: boolean;
}

export interface SessionHandle {
  /** Resolves when the session has ended and the socket is closed. */
  readonly closed: Promise<void>;
  /**
   * Ask the session to end: at the next point where the protocol allows, send the
   * protocol's goodbye (SMTP 421 4.3.2, IMAP * BYE, POP3 -ERR) and close.
   */
  shutdown(reason: string): void;
}

export type ConnectionHandler = (socket: Socket | TLSSocket, info: ConnectionInfo) => SessionHandle;

/** Normalize `::ffff:127.0.0.1` to `127.0.0.1` (what Postfix logs and matches). */
export function normalizeAddress(addr: string | undefined): string {
  if (!addr) return '';
  return addr.startsWith('::ffff:') && addr.includes('.') ? addr.slice(7) : addr;
}
