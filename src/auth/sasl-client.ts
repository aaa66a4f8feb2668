// Client side of SASL for the outbound SMTP client (relayhost AUTH, RFC 4954): PLAIN
// (RFC 4616), LOGIN, SCRAM-SHA-256 / SCRAM-SHA-1 (RFC 5802/7677, no channel binding).
// The protocol layer base64-encodes what these return and decodes challenges.
import { randomBytes } from 'node:crypto';
import { encodeSaslName, parseScramAttributes } from './sasl/scram.js';
import { digest, hmac, saltedPassword, type ScramHash } from './schemes/scram.js';
import { constantTimeEqual, decodeBase64Strict } from './schemes/util.js';

export interface SaslClientCredentials {
  username: string;
  password: string;
  /** Authorization identity (PLAIN/SCRAM); usually empty. */
  authzid?: string;
}

/** The server misbehaved (bad SCRAM signature, unexpected challenge …): abort with `*`. */
export class SaslClientError extends Error {}

export interface SaslClient {
  readonly mechanism: string;
  /** The initial response to send with AUTH (RFC 4954 §4), or undefined to wait for a challenge. */
  initialResponse(): Buffer | undefined;
  /** Answer one server challenge (a decoded 334 text). */
  respond(challenge: Buffer): Promise<Buffer>;
  /**
   * Call after the server reported success, with any success data. For SCRAM this checks
   * the server's signature (RFC 5802 §5: the client MUST verify it) and throws SaslClientError.
   */
  complete(successData?: Buffer): void;
}

/** Mechanisms this module implements, strongest first. */
export const SASL_CLIENT_MECHANISMS = ['SCRAM-SHA-256', 'SCRAM-SHA-1', 'PLAIN', 'LOGIN'] as const;

/** The first of `preference` the server offers (names compared case-insensitively). */
export function chooseSaslMechanism(offered: readonly string[], preference: readonly string[] = SASL_CLIENT_MECHANISMS): string | undefined {
  const set = new Set(offered.map((m) => m.toUpperCase()));
  return preference.map((p) => p.toUpperCase()).find((p) => set.has(p));
}

class PlainClient implements SaslClient {
  readonly mechanism = 'PLAIN';
  private sent = false;
  constructor(private readonly c: SaslClientCredentials) {}
  private message(): Buffer {
    return Buffer.from(`${this.c.authzid ?? ''}\0${this.c.username}\0${this.c.password}`, 'utf8');
  }
  initialResponse(): Buffer {
    this.sent = true;
    return this.message();
  }
  async respond(challenge: Buffer): Promise<Buffer> {
    // An empty challenge asks for the message when no initial response was sent.
    if (this.sent && challenge.length > 0) throw new SaslClientError('unexpected PLAIN challenge');
    this.sent = true;
    return this.message();
  }
  complete(): void {}
}

class LoginClient implements SaslClient {
  readonly mechanism = 'LOGIN';
  private steps = 0;
  constructor(private readonly c: SaslClientCredentials) {}
  initialResponse(): undefined {
    return undefined;
  }
  async respond(challenge: Buffer): Promise<Buffer> {
    const text = challenge.toString('utf8').toLowerCase();
    this.steps++;
    if (this.steps > 2) throw new SaslClientError('unexpected LOGIN challenge');
    // "Username:" then "Password:"; fall back on the order for servers with other texts
    const wantsPassword = text.includes('pass') || (this.steps === 2 && !text.includes('user'));
    return Buffer.from(wantsPassword ? this.c.password : this.c.username, 'utf8');
  }
  complete(): void {}
}

class ScramClient implements SaslClient {
  readonly mechanism: string;
  private readonly gs2Header: string;
  private readonly clientFirstBare: string;
  private state: 'first' | 'final' | 'verify' | 'done' = 'first';
  private expectedServerSignature: Buffer | undefined;
  private verified = false;

  constructor(
    private readonly c: SaslClientCredentials,
    private readonly hash: ScramHash,
    private readonly nonce = randomBytes(18).toString('base64'),
  ) {
    this.mechanism = hash === 'sha1' ? 'SCRAM-SHA-1' : 'SCRAM-SHA-256';
    this.gs2Header = `n,${c.authzid ? `a=${encodeSaslName(c.authzid)}` : ''},`;
    this.clientFirstBare = `n=${encodeSaslName(c.username)},r=${this.nonce}`;
  }

  initialResponse(): Buffer {
    return Buffer.from(this.gs2Header + this.clientFirstBare, 'utf8');
  }

  async respond(challenge: Buffer): Promise<Buffer> {
    const text = challenge.toString('utf8');
    if (this.state === 'first' && text === '') return this.initialResponse();
    if (this.state === 'first') return this.serverFirst(text);
    if (this.state === 'final') {
      this.checkServerFinal(text);
      return Buffer.alloc(0);
    }
    throw new SaslClientError('unexpected SCRAM challenge');
  }

  private async serverFirst(text: string): Promise<Buffer> {
    const attrs = parseScramAttributes(text);
    const get = (k: string) => attrs?.find(([key]) => key === k)?.[1];
    const r = get('r');
    const s = get('s');
    const i = Number(get('i'));
    if (!attrs || attrs[0][0] === 'm') throw new SaslClientError('invalid SCRAM server-first-message');
    if (!r || !r.startsWith(this.nonce) || r.length <= this.nonce.length) throw new SaslClientError('SCRAM server nonce does not extend ours');
    const salt = s === undefined ? undefined : decodeBase64Strict(s);
    if (!salt || salt.length === 0) throw new SaslClientError('invalid SCRAM salt');
    if (!Number.isInteger(i) || i < 1 || i > 10_000_000) throw new SaslClientError('invalid SCRAM iteration count');
    const sp = await saltedPassword(this.hash, Buffer.from(this.c.password, 'utf8'), salt, i);
    const clientKey = hmac(this.hash, sp, 'Client Key');
    const storedKey = digest(this.hash, clientKey);
    const withoutProof = `c=${Buffer.from(this.gs2Header, 'utf8').toString('base64')},r=${r}`;
    const authMessage = `${this.clientFirstBare},${text},${withoutProof}`;
    const sig = hmac(this.hash, storedKey, authMessage);
    const proof = Buffer.alloc(clientKey.length);
    for (let k = 0; k < proof.length; k++) proof[k] = clientKey[k] ^ sig[k];
    this.expectedServerSignature = hmac(this.hash, hmac(this.hash, sp, 'Server Key'), authMessage);
    this.state = 'final';
    return Buffer.from(`${withoutProof},p=${proof.toString('base64')}`, 'utf8');
  }

  private checkServerFinal(text: string): void {
    this.state = 'done';
    const attrs = parseScramAttributes(text);
    const e = attrs?.find(([k]) => k === 'e');
    if (e) throw new SaslClientError(`SCRAM server error: ${e[1]}`);
    const v = attrs?.find(([k]) => k === 'v');
    const sig = v ? decodeBase64Strict(v[1]) : undefined;
    if (!sig || !this.expectedServerSignature || !constantTimeEqual(sig, this.expectedServerSignature)) {
      throw new SaslClientError('SCRAM server signature mismatch: the server does not know the password');
    }
    this.verified = true;
  }

  complete(successData?: Buffer): void {
    if (!this.verified && successData && successData.length > 0 && this.state === 'final') this.checkServerFinal(successData.toString('utf8'));
    if (!this.verified) throw new SaslClientError('SCRAM server did not prove it knows the password');
  }
}

/** A client for `mechanism`, or undefined when it is not implemented. */
export function createSaslClient(mechanism: string, creds: SaslClientCredentials, opts: { nonce?: string } = {}): SaslClient | undefined {
  switch (mechanism.toUpperCase()) {
    case 'PLAIN':
      return new PlainClient(creds);
    case 'LOGIN':
      return new LoginClient(creds);
    case 'SCRAM-SHA-256':
      return new ScramClient(creds, 'sha256', opts.nonce);
    case 'SCRAM-SHA-1':
      return new ScramClient(creds, 'sha1', opts.nonce);
    default:
      return undefined;
  }
}
