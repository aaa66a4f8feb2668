// What the server-side SASL mechanisms need from the auth service.
import type { AuthRequest, AuthResult, SaslStep } from '../types.js';
import type { ScramCredentials, ScramHash } from '../schemes/scram.js';

export type FailureStep = Extract<SaslStep, { kind: 'failure' }>;

/** The reason given to clients for bad credentials: none, as Dovecot (Postfix prints this text). */
export const REASON_UNAVAILABLE = '(reason unavailable)';

export interface SaslBackend {
  /** Verify a user name and password (PLAIN, LOGIN). Failures have waited the failure delay. */
  checkPassword(authcid: string, password: string, req: AuthRequest, mech: string): Promise<AuthResult>;
  /**
   * SCRAM credentials of `user`: from a stored {SCRAM-…} entry of the same hash, or derived
   * from a plaintext one. `problem` when there are none (the exchange goes on with fake
   * credentials and fails at the end, so that user names cannot be probed).
   */
  scramCredentials(user: string, hash: ScramHash, req: AuthRequest): Promise<{ user: string; creds: ScramCredentials } | { problem: string; temporary?: boolean }>;
  /** Wait the extra delay of a throttled client IP (before doing any work for it). */
  penalty(req: AuthRequest): Promise<void>;
  /** Count, log and delay a failure. */
  fail(req: AuthRequest, mech: string, user: string | undefined, detail: string, opts?: { temporary?: boolean; reason?: string }): Promise<FailureStep>;
  /** A successful exchange that did not go through checkPassword (SCRAM). */
  succeeded(req: AuthRequest, mech: string, user: string): void;
  /** The client cancelled an exchange: counts as a failure, no delay. */
  cancelled(req: AuthRequest, mech: string): void;
  /** Stable per-server secret (fake SCRAM salts for unknown users). */
  readonly secret: Buffer;
}

export function resultToStep(r: AuthResult): SaslStep {
  return r.ok ? { kind: 'success', user: r.user } : { kind: 'failure', reason: r.reason, temporary: r.temporary, user: r.user };
}

/** Decode SASL bytes as UTF-8; undefined when they are not valid UTF-8 or contain NUL. */
export function utf8OrUndefined(b: Buffer): string | undefined {
  try {
    const s = new TextDecoder('utf-8', { fatal: true }).decode(b);
    return s.includes('\0') ? undefined : s;
  } catch {
    return undefined;
  }
}
