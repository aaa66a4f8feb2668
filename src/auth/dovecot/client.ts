// Dovecot's auth-client protocol, client side: `smtpd_sasl_type = dovecot` sends SMTP AUTH
// exchanges to a Dovecot auth socket (smtpd_sasl_path: relative to queue_directory as in
// Postfix, an absolute path, or inet:host:port). One connection is reused for every
// request (ids count up per connection, as Postfix does); when it breaks, requests in
// progress fail temporarily (SMTP 454 4.7.0) and the next request reconnects.
import { createConnection, type Socket } from 'node:net';
import { isAbsolute, resolve } from 'node:path';
import type { ConfigView } from '../../config/config.js';
import { logger, type Logger } from '../../log.js';
import { REASON_UNAVAILABLE } from '../sasl/backend.js';
import { decodeBase64Strict } from '../schemes/util.js';
import { FailureThrottle } from '../throttle.js';
import type { AuthRequest, AuthResult, AuthService, SaslServerExchange, SaslStep } from '../types.js';
import { AUTH_PROTOCOL_MAJOR, AUTH_PROTOCOL_MINOR, parseArgs, readLines, tabEscape } from './protocol.js';

export type AuthEndpoint = { kind: 'unix'; path: string } | { kind: 'inet'; host: string; port: number };

/** Where smtpd_sasl_path points (Postfix: a relative path is under queue_directory). */
export function resolveSaslPath(view: ConfigView): AuthEndpoint {
  const raw = view.get('smtpd_sasl_path').trim();
  const inet = /^inet:(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(raw);
  if (inet) return { kind: 'inet', host: inet[1] ?? inet[2], port: Number(inet[3]) };
  const p = raw.replace(/^unix:/, '');
  if (isAbsolute(p)) return { kind: 'unix', path: resolve(p) };
  return { kind: 'unix', path: resolve(view.path('queue_directory'), p) };
}

export function describeEndpoint(e: AuthEndpoint): string {
  return e.kind === 'unix' ? e.path : `inet:${e.host}:${e.port}`;
}

export interface DovecotAuthClientOptions {
  log?: Logger;
  /** auth_failure_limit / auth_failure_window for isThrottled() (failures seen through this client). */
  failureLimit?: number;
  failureWindowMs?: number;
  connectTimeoutMs?: number;
  /** A request without an answer for this long fails temporarily (default 60 s). */
  requestTimeoutMs?: number;
  /** After a failed connection attempt, wait this long before trying again (default 1 s). */
  reconnectDelayMs?: number;
  /** service= sent for SMTP requests (Postfix's smtpd_sasl_service, default smtp). */
  smtpServiceName?: string;
}

type Reply = { kind: 'cont'; data: Buffer } | { kind: 'ok'; user: string; data?: Buffer } | { kind: 'fail'; user?: string; reason?: string; temporary: boolean };

interface Waiter {
  resolve: (r: Reply) => void;
  timer: NodeJS.Timeout;
}

export const CONNECTION_LOST = 'Connection lost to authentication server';

class Connection {
  readonly mechs = new Map<string, Set<string>>();
  private readonly waiters = new Map<string, Waiter>();
  private nextId = 1;
  closed = false;
  /** No request was sent on it yet. */
  fresh = true;
  readonly ready: Promise<void>;

  constructor(
    readonly socket: Socket,
    private readonly owner: DovecotAuthClient,
  ) {
    let handshakeDone: () => void;
    let handshakeFailed: (err: Error) => void;
    this.ready = new Promise<void>((res, rej) => {
      handshakeDone = res;
      handshakeFailed = rej;
    });
    let handshake = true;
    let versionOk = false;
    const fail = (err: Error) => {
      if (handshake) handshakeFailed(err);
      this.close(err.message);
    };
    socket.on('error', (err) => fail(err));
    socket.on('close', () => fail(new Error(CONNECTION_LOST)));
    readLines(
      socket,
      (line) => {
        const f = line.split('\t');
        if (handshake) {
          if (f[0] === 'VERSION') {
            if (Number(f[1]) !== AUTH_PROTOCOL_MAJOR) return fail(new Error(`authentication server speaks protocol version ${f[1]}`));
            versionOk = true;
          } else if (f[0] === 'MECH' && f[1]) {
            this.mechs.set(f[1].toUpperCase(), new Set(f.slice(2)));
          } else if (f[0] === 'DONE') {
            if (!versionOk) return fail(new Error('authentication server sent no VERSION'));
            handshake = false;
            handshakeDone();
          }
          // SPID, CUID, COOKIE: only for master/login processes
          return;
        }
        this.onReply(f);
      },
      () => fail(new Error('authentication server sent a too long line')),
    );
    socket.write(`VERSION\t${AUTH_PROTOCOL_MAJOR}\t${AUTH_PROTOCOL_MINOR}\nCPID\t${process.pid}\n`);
  }

  private onReply(f: string[]): void {
    const [cmd, id] = f;
    const w = id === undefined ? undefined : this.waiters.get(id);
    if (!w) return; // late answer to a cancelled or timed-out request
    const { values, flags } = parseArgs(f.slice(cmd === 'CONT' ? 3 : 2));
    let reply: Reply;
    if (cmd === 'CONT') {
      const data = decodeBase64Strict(f[2] ?? '');
      reply = data ? { kind: 'cont', data } : { kind: 'fail', reason: 'authentication server sent invalid base64', temporary: true };
    } else if (cmd === 'OK') {
      const resp = values.get('resp');
      reply = { kind: 'ok', user: values.get('user') ?? '', data: resp !== undefined ? decodeBase64Strict(resp) : undefined };
    } else if (cmd === 'FAIL') {
      reply = { kind: 'fail', user: values.get('user'), reason: values.get('reason'), temporary: flags.has('temp') };
    } else {
      return;
    }
    this.waiters.delete(id!);
    clearTimeout(w.timer);
    w.resolve(reply);
  }

  /** Send a request line and wait for its answer. */
  request(id: string, line: string, timeoutMs: number): Promise<Reply> {
    return new Promise<Reply>((resolve) => {
      if (this.closed) return resolve({ kind: 'fail', reason: CONNECTION_LOST, temporary: true });
      const timer = setTimeout(() => {
        this.waiters.delete(id);
        this.send(`CANCEL\t${id}`);
        resolve({ kind: 'fail', reason: 'Authentication server timed out', temporary: true });
      }, timeoutMs);
      timer.unref();
      this.waiters.set(id, { resolve, timer });
      this.send(line);
    });
  }

  /** CANCEL a request (Dovecot sends no answer): its waiter resolves now as a failure. */
  cancel(id: string): void {
    const w = this.waiters.get(id);
    if (w) {
      this.waiters.delete(id);
      clearTimeout(w.timer);
      w.resolve({ kind: 'fail', reason: 'Authentication cancelled', temporary: false });
    }
    this.send(`CANCEL\t${id}`);
  }

  newId(): string {
    return String(this.nextId++);
  }

  send(line: string): void {
    if (!this.closed) this.socket.write(line + '\n');
  }

  close(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.destroy();
    for (const [id, w] of this.waiters) {
      clearTimeout(w.timer);
      this.waiters.delete(id);
      w.resolve({ kind: 'fail', reason: CONNECTION_LOST, temporary: true });
    }
    this.owner.lost(this, reason);
  }
}

export class DovecotAuthClient implements AuthService {
  private conn: Connection | undefined;
  private connecting: Promise<Connection> | undefined;
  private lastFailure = 0;
  private lastMechs = new Map<string, Set<string>>();
  private readonly log: Logger;
  private readonly throttle: FailureThrottle;

  constructor(
    readonly endpoint: AuthEndpoint,
    private readonly options: DovecotAuthClientOptions = {},
  ) {
    this.log = options.log ?? logger('smtpd');
    this.throttle = new FailureThrottle({ limit: options.failureLimit ?? 0, windowMs: options.failureWindowMs ?? 600_000 });
  }

  /** A client configured from smtpd_sasl_path and the auth_failure_* parameters. */
  static fromConfig(view: ConfigView, options: DovecotAuthClientOptions = {}): DovecotAuthClient {
    return new DovecotAuthClient(resolveSaslPath(view), {
      failureLimit: view.int('auth_failure_limit'),
      failureWindowMs: view.time('auth_failure_window') * 1000,
      smtpServiceName: view.get('smtpd_sasl_service') || 'smtp',
      ...options,
    });
  }

  lost(c: Connection, reason: string): void {
    if (this.conn === c) {
      this.conn = undefined;
      this.log.warn(`SASL: connection to ${describeEndpoint(this.endpoint)} closed: ${reason}`);
    }
  }

  /** Connect and read the handshake (reusing a live connection). */
  connect(): Promise<Connection> {
    if (this.conn && !this.conn.closed) return Promise.resolve(this.conn);
    if (this.connecting) return this.connecting;
    const wait = this.options.reconnectDelayMs ?? 1000;
    if (Date.now() - this.lastFailure < wait) return Promise.reject(new Error(`Connect to ${describeEndpoint(this.endpoint)} failed recently`));
    const e = this.endpoint;
    const p = new Promise<Connection>((resolveConn, reject) => {
      const socket = e.kind === 'unix' ? createConnection(e.path) : createConnection(e.port, e.host);
      const timer = setTimeout(() => socket.destroy(new Error('connect timeout')), this.options.connectTimeoutMs ?? 10_000);
      const c = new Connection(socket, this);
      c.ready.then(
        () => {
          clearTimeout(timer);
          this.conn = c;
          this.lastMechs = c.mechs;
          resolveConn(c);
        },
        (err: Error) => {
          clearTimeout(timer);
          reject(err);
        },
      );
    });
    this.connecting = p.then(
      (c) => {
        this.connecting = undefined;
        return c;
      },
      (err: Error) => {
        this.connecting = undefined;
        this.lastFailure = Date.now();
        this.log.warn(`SASL: Connect to ${describeEndpoint(this.endpoint)} failed: ${err.message}`);
        throw err;
      },
    );
    return this.connecting;
  }

  /** Connect now (startup); false when the server cannot be reached. */
  async ready(): Promise<boolean> {
    try {
      await this.connect();
      return true;
    } catch {
      return false;
    }
  }

  close(): void {
    const c = this.conn;
    this.conn = undefined;
    c?.close('closed by facteur');
  }

  mechanisms(opts: { allowPlaintext: boolean }): string[] {
    if (!this.conn && !this.connecting) void this.connect().catch(() => undefined);
    const out: string[] = [];
    for (const [name, flags] of this.lastMechs) {
      if (flags.has('private')) continue;
      if (!opts.allowPlaintext && flags.has('plaintext')) continue;
      out.push(name);
    }
    return out;
  }

  start(mechanism: string, req: AuthRequest): SaslServerExchange | undefined {
    const m = mechanism.toUpperCase();
    if (this.lastMechs.size > 0 && !this.lastMechs.has(m)) return undefined;
    return new RelayedExchange(this, m, req);
  }

  async verifyPassword(user: string, password: string, req: AuthRequest): Promise<AuthResult> {
    const mech = this.lastMechs.size === 0 || this.lastMechs.has('PLAIN') ? 'PLAIN' : 'LOGIN';
    const ex = new RelayedExchange(this, mech, req);
    let step = await ex.step(mech === 'PLAIN' ? Buffer.from(`\0${user}\0${password}`, 'utf8') : Buffer.from(user, 'utf8'));
    if (step.kind === 'challenge' && mech === 'LOGIN') step = await ex.step(Buffer.from(password, 'utf8'));
    if (step.kind === 'challenge') {
      ex.cancel();
      return { ok: false, reason: 'unexpected challenge from the authentication server', temporary: true, user };
    }
    return step.kind === 'success' ? { ok: true, user: step.user } : { ok: false, reason: step.reason, temporary: step.temporary, user: step.user ?? user };
  }

  isThrottled(remoteIp: string): boolean {
    return this.throttle.isThrottled(remoteIp);
  }

  /** Used by exchanges. */
  noteResult(req: AuthRequest, ok: boolean): void {
    if (ok) this.throttle.recordSuccess(req.remoteIp);
    else this.throttle.recordFailure(req.remoteIp);
  }

  get requestTimeoutMs(): number {
    return this.options.requestTimeoutMs ?? 60_000;
  }

  serviceName(req: AuthRequest): string {
    return req.service === 'imap' || req.service === 'pop3' ? req.service : this.options.smtpServiceName ?? 'smtp';
  }
}

class RelayedExchange implements SaslServerExchange {
  private conn: Connection | undefined;
  private id: string | undefined;
  private done = false;

  constructor(
    private readonly client: DovecotAuthClient,
    readonly mechanism: string,
    private readonly req: AuthRequest,
  ) {}

  async step(response: Buffer | undefined): Promise<SaslStep> {
    if (this.done) return { kind: 'failure', reason: 'exchange already finished' };
    let reply: Reply;
    if (!this.conn) {
      // A reused connection may have died since its last use: retry once on a new one.
      for (let attempt = 0; ; attempt++) {
        let conn: Connection;
        try {
          conn = await this.client.connect();
        } catch {
          this.done = true;
          return { kind: 'failure', reason: CONNECTION_LOST, temporary: true };
        }
        if (!conn.mechs.has(this.mechanism)) {
          this.done = true;
          return { kind: 'failure', reason: 'Invalid authentication mechanism' };
        }
        const fresh = conn.fresh;
        conn.fresh = false;
        this.conn = conn;
        this.id = conn.newId();
        // Postfix's xsasl_dovecot_server: service=smtp nologin lip= rip= [secured] [resp=]
        const fields = ['AUTH', this.id, this.mechanism, `service=${this.client.serviceName(this.req)}`, 'nologin'];
        if (this.req.localIp) fields.push(`lip=${tabEscape(this.req.localIp)}`);
        if (this.req.remoteIp) fields.push(`rip=${tabEscape(this.req.remoteIp)}`);
        if (this.req.secured || this.req.tls) fields.push('secured');
        if (response !== undefined) fields.push(`resp=${response.toString('base64')}`);
        reply = await conn.request(this.id, fields.join('\t'), this.client.requestTimeoutMs);
        if (reply.kind === 'fail' && reply.reason === CONNECTION_LOST && !fresh && attempt === 0) continue;
        break;
      }
    } else {
      reply = await this.conn.request(this.id!, `CONT\t${this.id}\t${(response ?? Buffer.alloc(0)).toString('base64')}`, this.client.requestTimeoutMs);
    }
    switch (reply.kind) {
      case 'cont':
        return { kind: 'challenge', data: reply.data };
      case 'ok':
        this.done = true;
        this.client.noteResult(this.req, true);
        return { kind: 'success', user: reply.user, data: reply.data && reply.data.length > 0 ? reply.data : undefined };
      case 'fail':
        this.done = true;
        if (!reply.temporary) this.client.noteResult(this.req, false);
        return reply.user === undefined
          ? { kind: 'failure', reason: reply.reason ?? REASON_UNAVAILABLE, temporary: reply.temporary || undefined }
          : { kind: 'failure', reason: reply.reason ?? REASON_UNAVAILABLE, temporary: reply.temporary || undefined, user: reply.user };
    }
  }

  cancel(): void {
    if (this.done) return;
    this.done = true;
    this.client.noteResult(this.req, false);
    if (this.conn && this.id) this.conn.cancel(this.id);
  }
}
