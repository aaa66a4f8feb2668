// SASL PLAIN (RFC 4616): message = [authzid] NUL authcid NUL passwd. Only an empty
// authzid or one equal to authcid is allowed (no proxy authorization).
import type { AuthRequest, SaslServerExchange, SaslStep } from '../types.js';
import { resultToStep, utf8OrUndefined, type SaslBackend } from './backend.js';

export class PlainExchange implements SaslServerExchange {
  readonly mechanism = 'PLAIN';
  private state: 'start' | 'waiting' | 'checking' | 'done' = 'start';

  constructor(
    private readonly backend: SaslBackend,
    private readonly req: AuthRequest,
  ) {}

  async step(response: Buffer | undefined): Promise<SaslStep> {
    if (this.state === 'done' || this.state === 'checking') return { kind: 'failure', reason: 'exchange already finished' };
    if (response === undefined) {
      if (this.state === 'start') {
        // RFC 4422 §5: no initial response, send an empty challenge
        this.state = 'waiting';
        return { kind: 'challenge', data: Buffer.alloc(0) };
      }
      response = Buffer.alloc(0);
    }
    this.state = 'checking';
    try {
      return await this.check(response);
    } finally {
      this.state = 'done';
    }
  }

  private async check(msg: Buffer): Promise<SaslStep> {
    const first = msg.indexOf(0);
    const second = first < 0 ? -1 : msg.indexOf(0, first + 1);
    if (first < 0 || second < 0 || msg.indexOf(0, second + 1) >= 0) {
      return this.backend.fail(this.req, this.mechanism, undefined, 'invalid PLAIN message');
    }
    const authzid = utf8OrUndefined(msg.subarray(0, first));
    const authcid = utf8OrUndefined(msg.subarray(first + 1, second));
    const password = utf8OrUndefined(msg.subarray(second + 1));
    if (authzid === undefined || authcid === undefined || password === undefined || authcid === '') {
      return this.backend.fail(this.req, this.mechanism, authcid || undefined, 'invalid PLAIN message');
    }
    if (authzid !== '' && authzid !== authcid) {
      return this.backend.fail(this.req, this.mechanism, authcid, `authorization id ${authzid} differs from ${authcid} (proxy authorization is not allowed)`);
    }
    return resultToStep(await this.backend.checkPassword(authcid, password, this.req, this.mechanism));
  }

  cancel(): void {
    if (this.state === 'done') return;
    this.state = 'done';
    this.backend.cancelled(this.req, this.mechanism);
  }
}
