// A facteur IMAP server on 127.0.0.1:0 for wire tests, with in-memory fakes of the
// auth service and user database (the real ones are another room's).
import { mkdtempSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuthRequest, AuthResult, AuthService, SaslServerExchange, SaslStep, UserDatabase, UserEntry } from '../../src/auth/types.js';
import { Config } from '../../src/config/config.js';
import { newSessionId, setLogLevel } from '../../src/log.js';
import { normalizeAddress, type SessionHandle } from '../../src/server/connection.js';
import type { TlsProvider } from '../../src/server/tls.js';
import { FolderRegistry } from '../../src/store/registry.js';
import { createImapHandler } from '../../src/imap/server.js';

setLogLevel((process.env.FACTEUR_LOG_LEVEL as 'debug' | undefined) ?? 'fatal');

export class FakeAuth implements AuthService {
  failures = 0;
  constructor(private readonly passwords: Map<string, string>) {}
  mechanisms(opts: { allowPlaintext: boolean }): string[] {
    return opts.allowPlaintext ? ['PLAIN', 'LOGIN'] : [];
  }
  async verifyPassword(user: string, password: string, _req: AuthRequest): Promise<AuthResult> {
    const want = this.passwords.get(user.toLowerCase());
    if (want !== undefined && want === password) return { ok: true, user: user.toLowerCase() };
    this.failures++;
    return { ok: false, reason: 'bad password' };
  }
  start(mechanism: string, req: AuthRequest): SaslServerExchange | undefined {
    const self = this;
    if (mechanism === 'PLAIN') {
      return {
        mechanism,
        async step(resp: Buffer | undefined): Promise<SaslStep> {
          if (resp === undefined) return { kind: 'challenge', data: Buffer.alloc(0) };
          const [, user, pass] = resp.toString('utf8').split('\0');
          const r = await self.verifyPassword(user ?? '', pass ?? '', req);
          return r.ok ? { kind: 'success', user: r.user } : { kind: 'failure', reason: r.reason };
        },
        cancel() {},
      };
    }
    if (mechanism === 'LOGIN') {
      let user: string | undefined;
      let started = false;
      return {
        mechanism,
        async step(resp: Buffer | undefined): Promise<SaslStep> {
          if (!started) {
            started = true;
            if (resp === undefined || resp.length === 0) return { kind: 'challenge', data: Buffer.from('Username:') };
            user = resp.toString('utf8');
            return { kind: 'challenge', data: Buffer.from('Password:') };
          }
          if (user === undefined) {
            user = resp?.toString('utf8') ?? '';
            return { kind: 'challenge', data: Buffer.from('Password:') };
          }
          const r = await self.verifyPassword(user, resp?.toString('utf8') ?? '', req);
          return r.ok ? { kind: 'success', user: r.user } : { kind: 'failure', reason: r.reason };
        },
        cancel() {},
      };
    }
    return undefined;
  }
  isThrottled(): boolean {
    return false;
  }
}

export class FakeUsers implements UserDatabase {
  constructor(private readonly entries: UserEntry[]) {}
  lookup(name: string): UserEntry | undefined {
    return this.entries.find((e) => e.user.toLowerCase() === name.toLowerCase());
  }
  all(): UserEntry[] {
    return this.entries;
  }
  domains(): Set<string> {
    return new Set();
  }
}

export interface TestServer {
  port: number;
  base: string;
  homeOf(user: string): string;
  maildirOf(user: string): string;
  registry: FolderRegistry;
  auth: FakeAuth;
  sessions: SessionHandle[];
  close(): Promise<void>;
}

export interface ServerOptions {
  users?: Record<string, string>;
  /** Existing home directories per user (e.g. a materialised fixture). */
  homes?: Record<string, string>;
  config?: Record<string, string>;
  tls?: TlsProvider;
  /** Pretend the client connects from this address (for plaintext policy tests). */
  remoteAddress?: string;
}

export async function startServer(opts: ServerOptions = {}): Promise<TestServer> {
  const base = mkdtempSync(join(tmpdir(), 'facteur-imap-'));
  const users = opts.users ?? { alice: 'alice-pw', bob: 'bob-pw' };
  const passwords = new Map(Object.entries(users).map(([u, p]) => [u.toLowerCase(), p]));
  const entries: UserEntry[] = Object.keys(users).map((u) => ({
    user: u,
    password: '',
    gecos: '',
    home: opts.homes?.[u] ?? join(base, u),
    shell: '',
    extra: {},
  }));
  const config = Config.fromObject({
    data_directory: base,
    maildir_fsync: 'no',
    disable_plaintext_auth: 'no',
    mailbox_autocreate: '',
    mailbox_autosubscribe: '',
    imap_idle_notify_interval: '1h',
    ...opts.config,
  });
  const registry = new FolderRegistry(0);
  const auth = new FakeAuth(passwords);
  const handler = createImapHandler({ config, auth, users: new FakeUsers(entries), tls: opts.tls, registry });
  const sessions: SessionHandle[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((sock) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
    sessions.push(
      handler(sock, {
        service: 'imap',
        id: newSessionId(),
        remoteAddress: opts.remoteAddress ?? normalizeAddress(sock.remoteAddress),
        remotePort: sock.remotePort ?? 0,
        localAddress: normalizeAddress(sock.localAddress),
        localPort: sock.localPort ?? 0,
        implicitTls: false,
      }),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    base,
    registry,
    auth,
    sessions,
    homeOf: (u) => entries.find((e) => e.user === u)!.home,
    maildirOf: (u) => join(entries.find((e) => e.user === u)!.home, 'Maildir'),
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.all(sessions.map((s) => s.closed));
      await registry.closeAll();
    },
  };
}

/**
 * A raw IMAP client over a socket: send lines, read responses up to a tagged one.
 * Literals in responses are read by byte count.
 */
export class RawClient {
  private bufStore: Buffer = Buffer.alloc(0);
  private chunks: Buffer[] = [];
  private get buf(): Buffer {
    if (this.chunks.length) {
      this.bufStore = Buffer.concat([this.bufStore, ...this.chunks]);
      this.chunks = [];
    }
    return this.bufStore;
  }
  private set buf(b: Buffer) {
    this.bufStore = b;
  }
  private waiters: (() => void)[] = [];
  private n = 0;
  closed = false;

  constructor(readonly socket: Socket) {
    socket.on('data', (d) => {
      this.chunks.push(d);
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => undefined);
  }

  static async connect(port: number): Promise<RawClient> {
    const { connect } = await import('node:net');
    const sock = connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      sock.once('connect', resolve);
      sock.once('error', reject);
    });
    const c = new RawClient(sock);
    await c.readLine(); // greeting
    return c;
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  private wait(): Promise<void> {
    return new Promise((r) => this.waiters.push(r));
  }

  /** One response line, with any literals it announces appended (bytes as latin1). */
  async readLine(timeoutMs = 5000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    let out = '';
    for (;;) {
      const i = this.buf.indexOf('\r\n');
      if (i < 0) {
        if (this.closed) throw new Error(`connection closed; got so far: ${JSON.stringify(out + this.buf.toString('latin1'))}`);
        if (Date.now() > deadline) throw new Error(`timeout waiting for a line; got so far: ${JSON.stringify(out + this.buf.toString('latin1'))}`);
        await Promise.race([this.wait(), new Promise((r) => setTimeout(r, 50))]);
        continue;
      }
      const line = this.buf.toString('latin1', 0, i);
      this.buf = this.buf.subarray(i + 2);
      out += line;
      const m = /~?\{(\d+)\}$/.exec(line);
      if (!m) return out;
      const n = Number(m[1]);
      while (this.buf.length < n) {
        if (this.closed) throw new Error('connection closed in literal');
        await Promise.race([this.wait(), new Promise((r) => setTimeout(r, 50))]);
      }
      out += '\r\n' + this.buf.toString('latin1', 0, n);
      this.buf = this.buf.subarray(n);
    }
  }

  /** Strings are sent as latin1 (one byte per character), so recorded 8-bit commands go out unchanged. */
  write(data: string | Buffer): void {
    this.socket.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
  }

  /** Send a command (tag added); returns untagged lines and the tagged completion. */
  async cmd(text: string, tag = `T${++this.n}`): Promise<{ untagged: string[]; tagged: string }> {
    this.write(`${tag} ${text}\r\n`);
    return this.until(tag);
  }

  async until(tag: string): Promise<{ untagged: string[]; tagged: string }> {
    const untagged: string[] = [];
    for (;;) {
      const line = await this.readLine();
      if (line.startsWith(tag + ' ')) return { untagged, tagged: line.slice(tag.length + 1) };
      untagged.push(line);
    }
  }

  close(): void {
    this.socket.destroy();
  }
}
