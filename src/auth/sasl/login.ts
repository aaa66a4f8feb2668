// SASL LOGIN (draft-murchison-sasl-login): "Username:" then "Password:" challenges. An
// initial response is the user name (an empty one asks for it, as Dovecot does).
import type { AuthRequest, SaslServerExchange, SaslStep } from '../types.js';
import { resultToStep, utf8OrUndefined, type SaslBackend } from './backend.js';

const USERNAME = Buffer.from('Username:');
const PASSWORD = Buffer.from('Password:');

export class LoginExchange implements SaslServerExchange {
  readonly mechanism = 'LOGIN';
  private state: 'start' | 'user' | 'password' | 'checking' | 'done' = 'start';
  private user = '';

  constructor(
    private readonly backend: SaslBackend,
    private readonly req: AuthRequest,
  ) {}

  async step(response: Buffer | undefined): Promise<SaslStep> {
    switch (this.state) {
      case 'start':
        if (response === undefined || response.length === 0) {
          this.state = 'user';
          return { kind: 'challenge', data: USERNAME };
        }
        return this.gotUser(response);
      case 'user':
        return this.gotUser(response ?? Buffer.alloc(0));
      case 'password': {
        this.state = 'checking';
        try {
          const password = utf8OrUndefined(response ?? Buffer.alloc(0));
          if (password === undefined) return await this.backend.fail(this.req, this.mechanism, this.user, 'invalid password encoding');
          return resultToStep(await this.backend.checkPassword(this.user, password, this.req, this.mechanism));
        } finally {
          this.state = 'done';
        }
      }
      default:
        return { kind: 'failure', reason: 'exchange already finished' };
    }
  }

  private async gotUser(response: Buffer): Promise<SaslStep> {
    const user = utf8OrUndefined(response);
    if (user === undefined || user === '') {
      this.state = 'done';
      return this.backend.fail(this.req, this.mechanism, undefined, 'invalid user name');
    }
    this.user = user;
    this.state = 'password';
    return { kind: 'challenge', data: PASSWORD };
  }

  cancel(): void {
    if (this.state === 'done') return;
    this.state = 'done';
    this.backend.cancelled(this.req, this.mechanism);
  }
}
