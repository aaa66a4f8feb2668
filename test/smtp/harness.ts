// Test harness: a real net.Server on 127.0.0.1 handing sockets to the smtp ConnectionHandler,
// with fakes for the other rooms (a permissive but relay-safe policy, an in-memory user
// database, an in-memory outbound queue, a PLAIN/LOGIN auth service), and a raw line client.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import type { AuthRequest, AuthResult, AuthService, SaslServerExchange, SaslStep, UserDatabase, UserEntry } from '../../src/auth/types.js';
import { Config } from '../../src/config/config.js';
import type { ServiceName } from '../../src/config/params/types.js';
import { LocalDelivery } from '../../src/delivery/agent.js';
import { addLogSink, setLogLevel, setLogSinks, type LogRecord } from '../../src/log.js';
import type { OutboundQueue, QueueEnvelope, QueueFileWriter } from '../../src/queue/types.js';
import type { ConnectionInfo } from '../../src/server/connection.js';
import { ensureSelfSigned, TlsProvider } from '../../src/server/tls.js';
import type { PolicySession, PolicyVerdict, SmtpClientState } from '../../src/smtp/policy/types.js';
import { smtpConnectionHandler, type SmtpConnectionHandler } from '../../src/smtp/service.js';
import { cidrContains, parseCidr } from '../../src/config/values.js';

export class MemoryUsers implements UserDatabase {
  private entries: UserEntry[] = [];
  constructor(
    readonly base: string,
    names: string[],
  ) {
    for (const n of names) this.add(n);
  }
  add(name: string, extra: Record<string, string> = {}, home?: string): UserEntry {
    const [local, domain] = name.split('@');
    const e: UserEntry = { user: name, password: `{PLAIN}${local}-secret`, gecos: '', home: home ?? join(this.base, 'mail', domain ?? 'local', local), shell: '', extra };
    this.entries.push(e);
    return e;
  }
  lookup(name: string): UserEntry | undefined {
    const n = name.toLowerCase();
    return this.entries.find((e) => e.user.toLowerCase() === n);
  }
  all(): UserEntry[] {
    return this.entries;
  }
  domains(): Set<string> {
    return new Set(this.entries.filter((e) => e.user.includes('@')).map((e) => e.user.split('@')[1].toLowerCase()));
  }
}

/** Permissive but relay-safe: remote recipients only for mynetworks or authenticated clients. */
export class FakePolicy implements PolicySession {
  calls: string[] = [];
  constructor(
    private readonly config: Config,
    private readonly delivery: LocalDelivery,
    private readonly names: Record<string, string> = {},
    private readonly hooks: Partial<Record<'connect' | 'helo' | 'mail' | 'rcpt' | 'data' | 'endOfData', (s: SmtpClientState, arg?: string) => PolicyVerdict | undefined>> = {},
    private readonly connectDelayMs = 0,
  ) {}
  private trusted(s: SmtpClientState): boolean {
    return this.config.networks('mynetworks').some((n) => n.kind === 'cidr' && cidrContains(n.cidr, s.clientAddress));
  }
  async connect(s: SmtpClientState): Promise<PolicyVerdict> {
    this.calls.push('connect');
    if (this.connectDelayMs) await new Promise((r) => setTimeout(r, this.connectDelayMs));
    s.clientName = this.names[s.clientAddress] ?? (s.clientAddress === '127.0.0.1' ? 'localhost' : 'unknown');
    return this.hooks.connect?.(s) ?? { ok: true };
  }
  async helo(s: SmtpClientState): Promise<PolicyVerdict> {
    this.calls.push(`helo ${s.heloName}`);
    return this.hooks.helo?.(s) ?? { ok: true };
  }
  async mail(s: SmtpClientState): Promise<PolicyVerdict> {
    this.calls.push(`mail ${s.sender}`);
    return this.hooks.mail?.(s) ?? { ok: true };
  }
  async rcpt(s: SmtpClientState, rcpt: string): Promise<PolicyVerdict> {
    this.calls.push(`rcpt ${rcpt}`);
    const hook = this.hooks.rcpt?.(s, rcpt);
    if (hook) return hook;
    if (s.pipelining.unauthPipelined || s.pipelining.talkedBeforeGreeting) {
      if (!this.trusted(s)) return { ok: false, reply: { code: 503, enhanced: '5.5.0', text: `<${s.clientName}[${s.clientAddress}]>: Client host rejected: Improper use of SMTP command pipelining` } };
    }
    const cls = await this.delivery.directory.classify(rcpt);
    if (cls.domainClass === 'remote' && !this.trusted(s) && !s.saslUsername) {
      return { ok: false, reply: { code: 454, enhanced: '4.7.1', text: `<${rcpt}>: Relay access denied` } };
    }
    return { ok: true };
  }
  async data(s: SmtpClientState): Promise<PolicyVerdict> {
    this.calls.push('data');
    return this.hooks.data?.(s) ?? { ok: true };
  }
  async endOfData(s: SmtpClientState): Promise<PolicyVerdict> {
    this.calls.push(`eod ${s.size}`);
    return this.hooks.endOfData?.(s) ?? { ok: true };
  }
  async vrfy(_s: SmtpClientState, address: string): Promise<PolicyVerdict> {
    this.calls.push(`vrfy ${address}`);
    return { ok: true };
  }
  reset(): void {
    this.calls.push('reset');
  }
}

export interface QueuedMessage {
  envelope: QueueEnvelope;
  content: Buffer;
}

export class MemoryQueue implements OutboundQueue {
  committed: QueuedMessage[] = [];
  failCommit = false;
  async create(envelope: QueueEnvelope): Promise<QueueFileWriter> {
    const parts: Buffer[] = [];
    return {
      id: envelope.id,
      write: async (chunk) => {
        parts.push(Buffer.from(chunk));
      },
      commit: async () => {
        if (this.failCommit) throw Object.assign(new Error('queue full'), { code: 'ENOSPC' });
        this.committed.push({ envelope, content: Buffer.concat(parts) });
      },
      abort: async () => undefined,
    };
  }
}

/** PLAIN and LOGIN against the user database passwords `{PLAIN}x`. */
export class FakeAuth implements AuthService {
  failures = 0;
  constructor(private readonly users: MemoryUsers) {}
  mechanisms(opts: { allowPlaintext: boolean }): string[] {
    return opts.allowPlaintext ? ['PLAIN', 'LOGIN'] : [];
  }
  private check(user: string, pass: string): AuthResult {
    const e = this.users.lookup(user) ?? this.users.lookup(`${user}@example.test`);
    if (e && e.password === `{PLAIN}${pass}`) return { ok: true, user };
    this.failures++;
    return { ok: false, reason: '(reason unavailable)' };
  }
  start(mechanism: string, _req: AuthRequest): SaslServerExchange | undefined {
    const self = this;
    if (mechanism === 'PLAIN') {
      let asked = false;
      return {
        mechanism,
        async step(resp): Promise<SaslStep> {
          if (resp === undefined && !asked) {
            asked = true;
            return { kind: 'challenge', data: Buffer.alloc(0) };
          }
          const [, user, pass] = (resp ?? Buffer.alloc(0)).toString('utf8').split('\0');
          const r = self.check(user ?? '', pass ?? '');
          return r.ok ? { kind: 'success', user: r.user } : { kind: 'failure', reason: r.reason };
        },
        cancel() {
          self.failures++;
        },
      };
    }
    if (mechanism === 'LOGIN') {
      let user: string | undefined;
      let stage = 0;
      return {
        mechanism,
        async step(resp): Promise<SaslStep> {
          if (stage === 0) {
            stage = 1;
            if (resp === undefined) return { kind: 'challenge', data: Buffer.from('Username:') };
          }
          if (stage === 1) {
            user = resp!.toString('utf8');
            stage = 2;
            return { kind: 'challenge', data: Buffer.from('Password:') };
          }
          const r = self.check(user ?? '', resp!.toString('utf8'));
          return r.ok ? { kind: 'success', user: r.user } : { kind: 'failure', reason: r.reason };
        },
        cancel() {
          self.failures++;
        },
      };
    }
    return undefined;
  }
  async verifyPassword(user: string, password: string): Promise<AuthResult> {
    return this.check(user, password);
  }
  isThrottled(): boolean {
    return false;
  }
}

// tests read log lines from memory; FACTEUR_TEST_LOG=1 also prints them
setLogLevel('info');
setLogSinks(process.env.FACTEUR_TEST_LOG === '1' ? [(_r, line) => process.stderr.write(line + '\n')] : []);

let tlsFiles: { cert: string; key: string } | undefined;
export function testCertificate(): { cert: string; key: string } {
  tlsFiles ??= ensureSelfSigned(join(tmpdir(), 'facteur-test-tls'), 'mail.example.test');
  return tlsFiles;
}

export interface TestServer {
  port: number;
  dir: string;
  config: Config;
  users: MemoryUsers;
  delivery: LocalDelivery;
  queue: MemoryQueue;
  policies: FakePolicy[];
  handler: SmtpConnectionHandler;
  logs: string[];
  sleeps: number[];
  maildir(user: string, domain?: string): string;
  newFiles(user: string, domain?: string): string[];
  readNew(user: string, domain?: string): Buffer[];
  close(): Promise<void>;
}

export interface ServerOptions {
  params?: Record<string, string>;
  service?: ServiceName;
  implicitTls?: boolean;
  users?: string[];
  names?: Record<string, string>;
  hooks?: ConstructorParameters<typeof FakePolicy>[3];
  connectDelayMs?: number;
  noQueue?: boolean;
  auth?: boolean;
  files?: Record<string, string>;
}

export async function startServer(opts: ServerOptions = {}): Promise<TestServer> {
  const dir = mkdtempSync(join(tmpdir(), 'facteur-smtp-'));
  const cert = testCertificate();
  const files = opts.files ?? {};
  for (const [name, text] of Object.entries(files)) {
    (await import('node:fs')).writeFileSync(join(dir, name), text);
  }
  const config = Config.fromObject(
    {
      data_directory: dir,
      myhostname: 'mail.example.test',
      mydomain: 'example.test',
      myorigin: 'example.test',
      mydestination: '$myhostname, localhost.$mydomain, localhost, $mydomain',
      smtpd_banner: '$myhostname ESMTP Postfix (Debian/GNU)',
      smtpd_error_sleep_time: '0',
      smtpd_tls_cert_file: cert.cert,
      smtpd_tls_key_file: cert.key,
      smtpd_tls_received_header: 'yes',
      smtpd_sasl_auth_enable: 'yes',
      smtpd_tls_auth_only: 'no',
      disable_vrfy_command: 'no',
      // these tests check transport fidelity byte for byte; header rewriting for trusted
      // clients (cleanup) has its own tests (test/smtp/header-rewrite.test.ts)
      local_header_rewrite_clients: '',
      ...Object.fromEntries(Object.entries(opts.params ?? {}).map(([k, v]) => [k, v.replace(/\$DIR/g, dir)])),
    },
    { baseDir: dir },
  );
  if (config.errors.length > 0) throw new Error(config.errors.map((e) => e.message).join('; '));
  const users = new MemoryUsers(dir, opts.users ?? ['alice@example.test', 'bob@example.test']);
  const delivery = new LocalDelivery({ config, users, localAddresses: ['127.0.0.1'] });
  const queue = new MemoryQueue();
  const policies: FakePolicy[] = [];
  const logs: string[] = [];
  const sleeps: number[] = [];
  const removeSink = addLogSink((_r: LogRecord, line: string) => logs.push(line));
  const tls = new TlsProvider(config);
  const handler = smtpConnectionHandler({
    config,
    policy: (_view, _info: ConnectionInfo) => {
      const p = new FakePolicy(config, delivery, opts.names, opts.hooks, opts.connectDelayMs);
      policies.push(p);
      return p;
    },
    delivery,
    tls,
    auth: opts.auth === false ? undefined : new FakeAuth(users),
    queue: opts.noQueue ? undefined : queue,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
  });
  const service = opts.service ?? 'smtp';
  let counter = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    const info: ConnectionInfo = {
      service,
      id: `T${++counter}`,
      remoteAddress: (socket.remoteAddress ?? '').replace(/^::ffff:/, ''),
      remotePort: socket.remotePort ?? 0,
      localAddress: (socket.localAddress ?? '').replace(/^::ffff:/, ''),
      localPort: socket.localPort ?? 0,
      implicitTls: !!opts.implicitTls,
    };
    if (opts.implicitTls) {
      const { TLSSocket } = require_tls();
      const t = new TLSSocket(socket, { isServer: true, secureContext: tls.context(service) });
      t.once('secure', () => handler(t, info));
      t.on('error', () => undefined);
    } else handler(socket, info);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  const maildir = (user: string, domain = 'example.test') => join(dir, 'mail', domain, user, 'Maildir');
  const newFiles = (user: string, domain?: string): string[] => {
    try {
      return readdirSync(join(maildir(user, domain), 'new')).sort();
    } catch {
      return [];
    }
  };
  return {
    port,
    dir,
    config,
    users,
    delivery,
    queue,
    policies,
    handler,
    logs,
    sleeps,
    maildir,
    newFiles,
    readNew(user, domain) {
      return newFiles(user, domain).map((f) => readFileSync(join(maildir(user, domain), 'new', f)));
    },
    async close() {
      removeSink();
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(() => r(undefined)));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// node:tls TLSSocket without a top-level import cycle in the harness
function require_tls(): typeof import('node:tls') {
  return tlsModule;
}
import * as tlsModule from 'node:tls';

/** A raw SMTP client: exact bytes out, reply lines in. */
export class RawClient {
  private buf = '';
  private waiters: Array<() => void> = [];
  closedFlag = false;
  constructor(public socket: Socket | TLSSocket) {
    this.listen(socket);
  }
  private listen(socket: Socket | TLSSocket): void {
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      this.buf += d;
      this.wake();
    });
    socket.on('close', () => {
      this.closedFlag = true;
      this.wake();
    });
    socket.on('error', () => {
      this.closedFlag = true;
      this.wake();
    });
  }
  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
  static async connect(port: number, opts: { localAddress?: string; greeting?: boolean; tls?: boolean } = {}): Promise<RawClient> {
    const socket = opts.tls
      ? tlsConnect({ port, host: '127.0.0.1', rejectUnauthorized: false, ...(opts.localAddress ? { localAddress: opts.localAddress } : {}) })
      : connect({ port, host: '127.0.0.1', ...(opts.localAddress ? { localAddress: opts.localAddress } : {}) });
    await new Promise<void>((resolve, reject) => {
      socket.once(opts.tls ? 'secureConnect' : 'connect', () => resolve());
      socket.once('error', reject);
    });
    const c = new RawClient(socket);
    if (opts.greeting !== false) await c.reply();
    return c;
  }
  write(data: string | Buffer): void {
    this.socket.write(data);
  }
  /** Read one complete (possibly multi-line) reply; lines without CRLF. */
  async reply(timeoutMs = 5000): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const lines: string[] = [];
      let pos = 0;
      for (;;) {
        const i = this.buf.indexOf('\r\n', pos);
        if (i < 0) break;
        const line = this.buf.slice(pos, i);
        lines.push(line);
        pos = i + 2;
        if (/^\d{3}( |$)/.test(line)) {
          this.buf = this.buf.slice(pos);
          return lines;
        }
      }
      if (this.closedFlag) throw new Error(`connection closed; pending: ${JSON.stringify(this.buf)}`);
      if (Date.now() > deadline) throw new Error(`no reply; pending: ${JSON.stringify(this.buf)}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.max(1, deadline - Date.now()));
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }
  async cmd(line: string): Promise<string[]> {
    this.write(line + '\r\n');
    return this.reply();
  }
  async cmd1(line: string): Promise<string> {
    return (await this.cmd(line)).join('\n');
  }
  /** Wait until the server closes the connection; returns what it sent meanwhile. */
  async waitClose(timeoutMs = 5000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closedFlag && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    if (!this.closedFlag) throw new Error('server did not close the connection');
    return this.buf;
  }
  /** Nothing more arrives within `ms` (and the connection is still open). */
  async quiet(ms = 150): Promise<string> {
    await new Promise((r) => setTimeout(r, ms));
    return this.buf;
  }
  async startTls(): Promise<void> {
    const r = await this.cmd('STARTTLS');
    if (!r[0].startsWith('220')) throw new Error(`STARTTLS refused: ${r.join(' ')}`);
    await this.upgradeTls();
  }
  /** The TLS handshake, once the server said 220 to STARTTLS (anything buffered in clear is dropped). */
  async upgradeTls(): Promise<void> {
    const raw = this.socket as Socket;
    raw.removeAllListeners('data');
    const t = tlsConnect({ socket: raw, rejectUnauthorized: false, servername: 'mail.example.test' });
    await new Promise<void>((resolve, reject) => {
      t.once('secureConnect', () => resolve());
      t.once('error', reject);
    });
    this.socket = t;
    this.buf = '';
    this.listen(t);
  }
  close(): void {
    this.socket.destroy();
  }
}

export function ehloLines(r: string[]): string[] {
  return r.map((l) => l.slice(4));
}

export function tmpDir(prefix = 'facteur-t-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export { parseCidr };
