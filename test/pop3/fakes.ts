// In-memory fakes of the auth service and the maildrop store for POP3 session tests.
import { Readable } from 'node:stream';
import type { AuthRequest, AuthResult, AuthService, SaslServerExchange, SaslStep } from '../../src/auth/types.js';
import type { MaildropOpenResult, Pop3Maildrop, Pop3MaildropProvider } from '../../src/pop3/maildrop.js';

export class FakeAuth implements AuthService {
  failures = 0;
  constructor(private readonly users: Record<string, string>) {}
  mechanisms(opts: { allowPlaintext: boolean }): string[] {
    return opts.allowPlaintext ? ['PLAIN', 'LOGIN'] : [];
  }
  start(mechanism: string, req: AuthRequest): SaslServerExchange | undefined {
    if (mechanism !== 'PLAIN') return undefined;
    const self = this;
    return {
      mechanism,
      async step(response: Buffer | undefined): Promise<SaslStep> {
        if (response === undefined) return { kind: 'challenge', data: Buffer.alloc(0) };
        const [, user, pass] = response.toString().split('\0');
        const r = await self.verifyPassword(user, pass, req);
        return r.ok ? { kind: 'success', user: r.user } : { kind: 'failure', reason: r.reason };
      },
      cancel() {},
    };
  }
  async verifyPassword(user: string, password: string, _req?: AuthRequest): Promise<AuthResult> {
    if (this.users[user] !== undefined && this.users[user] === password) return { ok: true, user };
    this.failures++;
    return { ok: false, reason: 'bad password' };
  }
  isThrottled(): boolean {
    return false;
  }
}

export interface FakeMessage {
  uid: number;
  content: string;
  seen?: boolean;
}

/** A maildrop per user, with the lock and the changes recorded for assertions. */
export class FakeMaildrops implements Pop3MaildropProvider {
  locked = new Set<string>();
  constructor(
    public boxes: Record<string, FakeMessage[]>,
    public uidValidity = 0x6b0b620e,
  ) {}
  async open(user: string): Promise<MaildropOpenResult> {
    if (this.locked.has(user)) return { ok: false, code: 'IN-USE', text: 'Mailbox is locked by another POP3 session.' };
    this.locked.add(user);
    const box = this.boxes[user] ?? [];
    const snapshot = [...box];
    const crlf = (s: string) => Buffer.from(s.replace(/\r?\n/g, '\r\n'));
    const drop: Pop3Maildrop = {
      uidValidity: this.uidValidity,
      messages: snapshot.map((m) => ({ uid: m.uid, size: crlf(m.content).length })),
      open: async (i) => Readable.from([Buffer.from(snapshot[i].content)]),
      markSeen: async (idx) => {
        for (const i of idx) snapshot[i].seen = true;
      },
      expunge: async (idx) => {
        const gone = new Set(idx.map((i) => snapshot[i]));
        this.boxes[user] = box.filter((m) => !gone.has(m));
      },
      close: async () => {
        this.locked.delete(user);
      },
    };
    return { ok: true, maildrop: drop };
  }
}
