// The AUTH command (RFC 4954) over an AuthService (src/auth/types.ts): initial response
// (`=` for an empty one), 334 challenges, `*` cancels, additional data on success sent as a
// final 334, Postfix's replies.
import type { AuthRequest, AuthService } from '../../auth/types.js';
import type { CommandLine } from '../protocol/reader.js';
import { reply, type SmtpReply } from '../protocol/reply.js';

export interface AuthIo {
  /** Send a 334 line and flush. */
  challenge(data: Buffer): Promise<void>;
  readLine(limit: number): Promise<CommandLine | null>;
}

export interface AuthSettings {
  service: AuthService;
  request: AuthRequest;
  /** TLS is active. */
  tls: boolean;
  /** smtpd_tls_auth_only */
  tlsAuthOnly: boolean;
  /** Plaintext mechanisms may be offered on this connection. */
  allowPlaintext: boolean;
  /** smtpd_sasl_response_limit */
  responseLimit: number;
  /** smtpd_sasl_type */
  saslType?: string;
}

/**
 * An unknown mechanism: Postfix with smtpd_sasl_type = dovecot passes it to Dovecot and
 * answers with Dovecot's reason (recorded: 535 5.7.8 … Invalid authentication mechanism);
 * facteur's own backend answers like Postfix's Cyrus backend, 504 5.5.4.
 */
function unknownMechanism(s: AuthSettings): SmtpReply {
  return s.saslType === 'dovecot'
    ? reply(535, '5.7.8', 'Error: authentication failed: Invalid authentication mechanism')
    : reply(504, '5.5.4', 'Unsupported authentication mechanism');
}

export type AuthOutcome =
  | { ok: true; user: string; mechanism: string }
  | { ok: false; reply: SmtpReply; mechanism?: string; reason?: string; aborted?: boolean; lost?: boolean };

const B64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function decode(s: string): Buffer | undefined {
  if (s === '=') return Buffer.alloc(0);
  if (!B64.test(s)) return undefined;
  return Buffer.from(s, 'base64');
}

/** The mechanisms to announce in EHLO on this connection (empty: no AUTH keyword). */
export function offeredMechanisms(service: AuthService | undefined, tls: boolean, tlsAuthOnly: boolean, allowPlaintext: boolean): string[] {
  if (!service) return [];
  if (!tls && tlsAuthOnly) return [];
  return service.mechanisms({ allowPlaintext });
}

export async function runAuth(args: string, s: AuthSettings, io: AuthIo): Promise<AuthOutcome> {
  const words = args.trim() === '' ? [] : args.trim().split(/\s+/);
  if (words.length === 0 || words.length > 2) return { ok: false, reply: reply(501, '5.5.4', 'Syntax: AUTH mechanism') };
  const mechanism = words[0].toUpperCase();
  if (!s.tls && s.tlsAuthOnly) return { ok: false, mechanism, reply: reply(538, '5.7.11', 'Encryption required for requested authentication mechanism') };
  const offered = s.service.mechanisms({ allowPlaintext: s.allowPlaintext });
  if (!offered.includes(mechanism)) {
    if (s.service.mechanisms({ allowPlaintext: true }).includes(mechanism)) {
      return { ok: false, mechanism, reply: reply(538, '5.7.11', 'Encryption required for requested authentication mechanism') };
    }
    return { ok: false, mechanism, reply: unknownMechanism(s) };
  }
  const exchange = s.service.start(mechanism, s.request);
  if (!exchange) return { ok: false, mechanism, reply: unknownMechanism(s) };
  let response: Buffer | undefined;
  if (words.length === 2) {
    response = decode(words[1]);
    if (!response) {
      exchange.cancel();
      return { ok: false, mechanism, reply: reply(501, '5.5.2', 'Invalid base64 data in initial response') };
    }
  }
  for (;;) {
    const step = await exchange.step(response);
    if (step.kind === 'failure') {
      if (step.temporary) return { ok: false, mechanism, reason: step.reason, reply: reply(454, '4.7.0', `Temporary authentication failure: ${step.reason}`) };
      return { ok: false, mechanism, reason: step.reason, reply: reply(535, '5.7.8', `Error: authentication failed: ${step.reason}`) };
    }
    if (step.kind === 'success') {
      if (step.data && step.data.length > 0) {
        // RFC 4954 §4: additional data with success goes in a last challenge, answered by an empty line
        await io.challenge(step.data);
        const line = await io.readLine(s.responseLimit);
        if (!line) return { ok: false, mechanism, lost: true, reply: reply(421, '4.4.2', 'lost connection') };
        if (line.text.trim() === '*') return { ok: false, mechanism, aborted: true, reply: reply(501, '5.7.0', 'Authentication aborted') };
      }
      return { ok: true, user: step.user, mechanism };
    }
    await io.challenge(step.data);
    const line = await io.readLine(s.responseLimit);
    if (!line) {
      exchange.cancel();
      return { ok: false, mechanism, lost: true, reply: reply(421, '4.4.2', 'lost connection') };
    }
    const text = line.text.trim();
    if (line.tooLong) {
      exchange.cancel();
      return { ok: false, mechanism, reply: reply(500, '5.5.6', 'SASL response limit exceeded') };
    }
    if (text === '*') {
      exchange.cancel();
      return { ok: false, mechanism, aborted: true, reply: reply(501, '5.7.0', 'Authentication aborted') };
    }
    response = text === '' ? Buffer.alloc(0) : decode(text);
    if (!response) {
      exchange.cancel();
      return { ok: false, mechanism, reply: reply(501, '5.5.2', 'Invalid base64 data in continued response') };
    }
  }
}
