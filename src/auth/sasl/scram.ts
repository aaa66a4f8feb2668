// SCRAM-SHA-1 / SCRAM-SHA-256 server (RFC 5802, RFC 7677) without channel binding:
// gs2 header `n,,` or `y,,` (optionally with a=authzid equal to the user); `p=` is refused.
import { randomBytes } from 'node:crypto';
import type { AuthRequest, SaslServerExchange, SaslStep } from '../types.js';
import { digest, hmac, type ScramCredentials, type ScramHash } from '../schemes/scram.js';
import { constantTimeEqual, decodeBase64Strict } from '../schemes/util.js';
import { utf8OrUndefined, type SaslBackend } from './backend.js';

/** RFC 5802 §5.1 saslname: `=2C` is ',', `=3D` is '='; any other '=' is an error. */
export function decodeSaslName(s: string): string | undefined {
  if (/=(?!2C|3D)/.test(s)) return undefined;
  return s.replace(/=2C/g, ',').replace(/=3D/g, '=');
}

export function encodeSaslName(s: string): string {
  return s.replace(/=/g, '=3D').replace(/,/g, '=2C');
}

/** Split `a=1,b=2` into ordered [key, value] pairs; undefined when an attribute is malformed. */
export function parseScramAttributes(s: string): [string, string][] | undefined {
  const out: [string, string][] = [];
  for (const part of s.split(',')) {
    const m = /^([A-Za-z])=(.*)$/s.exec(part);
    if (!m) return undefined;
    out.push([m[1], m[2]]);
  }
  return out;
}

const PRINTABLE_NONCE = /^[\x21-\x2b\x2d-\x7e]+$/;

export class ScramExchange implements SaslServerExchange {
  readonly mechanism: string;
  private state: 'start' | 'first' | 'final' | 'checking' | 'done' = 'start';
  private user = '';
  private gs2Header = '';
  private clientFirstBare = '';
  private serverFirst = '';
  private nonce = '';
  private creds: ScramCredentials | undefined;
  private problem: { detail: string; temporary?: boolean } | undefined;

  constructor(
    private readonly backend: SaslBackend,
    private readonly req: AuthRequest,
    private readonly hash: ScramHash,
  ) {
    this.mechanism = hash === 'sha1' ? 'SCRAM-SHA-1' : 'SCRAM-SHA-256';
  }

  async step(response: Buffer | undefined): Promise<SaslStep> {
    switch (this.state) {
      case 'start':
        if (response === undefined) {
          this.state = 'first';
          return { kind: 'challenge', data: Buffer.alloc(0) };
        }
        return this.clientFirst(response);
      case 'first':
        return this.clientFirst(response ?? Buffer.alloc(0));
      case 'final':
        this.state = 'checking';
        try {
          return await this.clientFinal(response ?? Buffer.alloc(0));
        } finally {
          this.state = 'done';
        }
      default:
        return { kind: 'failure', reason: 'exchange already finished' };
    }
  }

  private async failNow(detail: string, user?: string): Promise<SaslStep> {
    this.state = 'done';
    return this.backend.fail(this.req, this.mechanism, user, detail);
  }

  private async clientFirst(msg: Buffer): Promise<SaslStep> {
    this.state = 'checking';
    const text = utf8OrUndefined(msg);
    if (text === undefined) return this.failNow('invalid client-first-message');
    // gs2-header = gs2-cbind-flag "," [ authzid ] ","
    const c1 = text.indexOf(',');
    const c2 = c1 < 0 ? -1 : text.indexOf(',', c1 + 1);
    if (c1 < 0 || c2 < 0) return this.failNow('invalid client-first-message');
    const flag = text.slice(0, c1);
    const authzPart = text.slice(c1 + 1, c2);
    if (flag.startsWith('p=')) return this.failNow('channel binding is not supported');
    if (flag !== 'n' && flag !== 'y') return this.failNow('invalid gs2 header');
    let authzid = '';
    if (authzPart !== '') {
      if (!authzPart.startsWith('a=')) return this.failNow('invalid gs2 header');
      const a = decodeSaslName(authzPart.slice(2));
      if (a === undefined) return this.failNow('invalid authzid');
      authzid = a;
    }
    this.gs2Header = text.slice(0, c2 + 1);
    this.clientFirstBare = text.slice(c2 + 1);
    const attrs = parseScramAttributes(this.clientFirstBare);
    if (!attrs || attrs.length < 2) return this.failNow('invalid client-first-message');
    if (attrs[0][0] === 'm') return this.failNow('unsupported mandatory extension');
    if (attrs[0][0] !== 'n' || attrs[1][0] !== 'r') return this.failNow('invalid client-first-message');
    const user = decodeSaslName(attrs[0][1]);
    const cnonce = attrs[1][1];
    if (user === undefined || user === '') return this.failNow('invalid user name');
    if (!PRINTABLE_NONCE.test(cnonce)) return this.failNow('invalid nonce', user);
    if (authzid !== '' && authzid !== user) return this.failNow(`authorization id ${authzid} differs from ${user}`, user);
    this.user = user;

    await this.backend.penalty(this.req);
    const found = await this.backend.scramCredentials(user, this.hash, this.req);
    if ('creds' in found) {
      this.creds = found.creds;
      this.user = found.user;
    } else {
      // RFC 5802 §9: go on with a fake, stable salt so that unknown users look like known ones
      this.problem = { detail: found.problem, temporary: found.temporary };
      this.creds = {
        hash: this.hash,
        iterations: 4096,
        salt: hmac('sha256', this.backend.secret, `scram-salt:${user.toLowerCase()}`).subarray(0, 16),
        storedKey: Buffer.alloc(0),
        serverKey: Buffer.alloc(0),
      };
    }
    this.nonce = cnonce + randomBytes(18).toString('base64');
    this.serverFirst = `r=${this.nonce},s=${this.creds.salt.toString('base64')},i=${this.creds.iterations}`;
    this.state = 'final';
    return { kind: 'challenge', data: Buffer.from(this.serverFirst) };
  }

  private async clientFinal(msg: Buffer): Promise<SaslStep> {
    const text = utf8OrUndefined(msg);
    const attrs = text === undefined ? undefined : parseScramAttributes(text);
    if (!text || !attrs || attrs.length < 3) return this.backend.fail(this.req, this.mechanism, this.user, 'invalid client-final-message');
    const [c, r] = attrs;
    const p = attrs[attrs.length - 1];
    if (c[0] !== 'c' || r[0] !== 'r' || p[0] !== 'p') return this.backend.fail(this.req, this.mechanism, this.user, 'invalid client-final-message');
    const cbind = decodeBase64Strict(c[1]);
    if (!cbind || cbind.toString('latin1') !== this.gs2Header) return this.backend.fail(this.req, this.mechanism, this.user, 'channel binding data mismatch');
    if (r[1] !== this.nonce) return this.backend.fail(this.req, this.mechanism, this.user, 'nonce mismatch');
    const proof = decodeBase64Strict(p[1]);
    const withoutProof = text.slice(0, text.lastIndexOf(',p='));
    const authMessage = `${this.clientFirstBare},${this.serverFirst},${withoutProof}`;
    const creds = this.creds!;
    if (this.problem) {
      return this.backend.fail(this.req, this.mechanism, this.user, this.problem.detail, { temporary: this.problem.temporary });
    }
    if (!proof || proof.length !== creds.storedKey.length) return this.backend.fail(this.req, this.mechanism, this.user, 'invalid proof');
    const clientSignature = hmac(this.hash, creds.storedKey, authMessage);
    const clientKey = Buffer.alloc(proof.length);
    for (let i = 0; i < proof.length; i++) clientKey[i] = proof[i] ^ clientSignature[i];
    if (!constantTimeEqual(digest(this.hash, clientKey), creds.storedKey)) {
      return this.backend.fail(this.req, this.mechanism, this.user, 'Password mismatch');
    }
    this.backend.succeeded(this.req, this.mechanism, this.user);
    const serverSignature = hmac(this.hash, creds.serverKey, authMessage);
    return { kind: 'success', user: this.user, data: Buffer.from(`v=${serverSignature.toString('base64')}`) };
  }

  cancel(): void {
    if (this.state === 'done') return;
    this.state = 'done';
    this.backend.cancelled(this.req, this.mechanism);
  }
}
