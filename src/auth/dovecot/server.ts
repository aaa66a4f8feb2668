// Dovecot's auth-client protocol, server side, on a UNIX socket (auth_socket_path), so that
// a real Postfix with `smtpd_sasl_type = dovecot` authenticates against facteur's users.
// Behaviour follows Dovecot 2.3 as recorded in test/fixtures/auth/dovecot-auth-transcript.txt:
// the handshake is sent at once; the client's VERSION (major 1) then CPID must come first;
// protocol errors (unknown command or mechanism, missing service=, bad or duplicate id)
// close the connection without a reply; invalid base64 fails at once with
// code=invalid_base64; CONT for an unknown id gets "Authentication request timed out";
// CANCEL gets no reply. Many requests may be in progress on one connection.
import { randomBytes } from 'node:crypto';
import { chmodSync, chownSync, lstatSync, mkdirSync, readFileSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import type { ConfigView } from '../../config/config.js';
import { logger, type Logger } from '../../log.js';
import { REASON_UNAVAILABLE } from '../sasl/backend.js';
import { isPlaintextMechanism } from '../service.js';
import { decodeBase64Strict } from '../schemes/util.js';
import type { AuthRequest, AuthService, SaslServerExchange, SaslStep } from '../types.js';
import { AUTH_PROTOCOL_MAJOR, AUTH_PROTOCOL_MINOR, MAX_LINE_LENGTH, parseArgs, readLines, tabEscape } from './protocol.js';

export interface DovecotAuthServerOptions {
  log?: Logger;
  maxLineLength?: number;
  /** Requests in progress per connection; more are failed with `temp` (default 256). */
  maxRequestsPerConnection?: number;
  /** A request waiting for the client's CONT longer than this is failed (default 60 s). */
  requestTimeoutMs?: number;
}

export interface AuthSocketOptions {
  /** File mode of the socket (auth_socket_mode). */
  mode?: number;
  /** Owner / group names or numbers (auth_socket_user / auth_socket_group). */
  user?: string;
  group?: string;
}

let cuidCounter = 0;

interface PendingRequest {
  id: string;
  exchange: SaslServerExchange;
  mech: string;
  busy: boolean;
  /** The client takes success data in the OK line (final-resp-ok). */
  finalRespOk: boolean;
  /** Success data sent as CONT; the next CONT completes with OK. */
  finalUser?: string;
  timer?: NodeJS.Timeout;
}

/** Look a user or group up by name in /etc/passwd or /etc/group (a number is taken as is). */
export function resolveId(name: string, file: '/etc/passwd' | '/etc/group'): number {
  if (/^\d+$/.test(name)) return Number(name);
  const text = readFileSync(file, 'utf8');
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f[0] === name && f[2] !== undefined && /^\d+$/.test(f[2])) return Number(f[2]);
  }
  throw new Error(`${file === '/etc/passwd' ? 'user' : 'group'} "${name}" not found`);
}

class AuthClientConnection {
  private state: 'version' | 'cpid' | 'ready' | 'closed' = 'version';
  private readonly requests = new Map<string, PendingRequest>();
  readonly cuid = ++cuidCounter;
  private readonly log: Logger;

  constructor(
    private readonly socket: Socket,
    private readonly server: DovecotAuthServer,
  ) {
    this.log = server.log;
    socket.on('error', () => this.close());
    socket.on('close', () => this.close());
    readLines(
      socket,
      (line) => this.onLine(line),
      () => this.protocolError('Authentication client sent a too long line'),
      server.options.maxLineLength ?? MAX_LINE_LENGTH,
    );
    this.sendHandshake();
  }

  private send(line: string): void {
    if (this.state === 'closed' || this.socket.destroyed) return;
    this.socket.write(line + '\n');
  }

  private sendHandshake(): void {
    const lines = [`VERSION\t${AUTH_PROTOCOL_MAJOR}\t${AUTH_PROTOCOL_MINOR}`];
    for (const m of this.server.service.mechanisms({ allowPlaintext: true })) {
      const flags = isPlaintextMechanism(m) ? ['plaintext'] : m.startsWith('SCRAM-') ? ['mutual-auth'] : [];
      lines.push(['MECH', m, ...flags].join('\t'));
    }
    lines.push(`SPID\t${process.pid}`, `CUID\t${this.cuid}`, `COOKIE\t${this.server.cookie}`, 'DONE');
    this.socket.write(lines.map((l) => l + '\n').join(''));
  }

  protocolError(message: string): void {
    this.log.error(message);
    this.close();
  }

  close(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    for (const r of this.requests.values()) if (r.timer) clearTimeout(r.timer);
    this.requests.clear();
    this.socket.destroy();
    this.server.forget(this);
  }

  private onLine(line: string): void {
    if (this.state === 'closed') return;
    const f = line.split('\t');
    if (this.state === 'version') {
      if (f[0] !== 'VERSION' || f.length < 3) return this.protocolError(`Authentication client sent invalid VERSION line: ${line}`);
      if (Number(f[1]) !== AUTH_PROTOCOL_MAJOR) return this.protocolError('Authentication client not compatible with this server (mixed old and new binaries?)');
      this.state = 'cpid';
      return;
    }
    if (this.state === 'cpid') {
      if (f[0] !== 'CPID' || !/^\d+$/.test(f[1] ?? '')) return this.protocolError(`BUG: Authentication client sent unknown handshake command: ${line}`);
      this.state = 'ready';
      return;
    }
    switch (f[0]) {
      case 'AUTH':
        return this.onAuth(f);
      case 'CONT':
        return this.onCont(f);
      case 'CANCEL':
        return this.onCancel(f);
      default:
        return this.protocolError(`BUG: Authentication client sent unknown command: ${line.replace(/\t/g, '?')}`);
    }
  }

  private validId(id: string | undefined): id is string {
    return id !== undefined && /^\d{1,10}$/.test(id) && Number(id) > 0 && Number(id) <= 0xffffffff;
  }

  private onAuth(f: string[]): void {
    const [, id, mechName] = f;
    if (!this.validId(id) || !mechName) return this.protocolError(`BUG: Authentication client ${this.cuid} sent broken AUTH request`);
    const mech = mechName.toUpperCase();
    const { values, flags } = parseArgs(f.slice(3));
    if (!this.server.service.mechanisms({ allowPlaintext: true }).includes(mech)) {
      return this.protocolError(`BUG: Authentication client ${this.cuid} requested unsupported authentication mechanism ${mech}`);
    }
    const service = values.get('service');
    if (!service) return this.protocolError(`BUG: Authentication client ${this.cuid} didn't specify service in request`);
    if (this.requests.has(id)) return this.protocolError(`BUG: Authentication client ${this.cuid} sent a duplicate ID ${id}`);
    if (this.requests.size >= (this.server.options.maxRequestsPerConnection ?? 256)) {
      this.send(`FAIL\t${id}\ttemp\treason=Too many requests in progress`);
      return;
    }
    const secured = flags.has('secured') || values.has('secured');
    const rport = Number(values.get('rport'));
    const req: AuthRequest = {
      service,
      remoteIp: values.get('rip') ?? '',
      remotePort: Number.isInteger(rport) && rport > 0 ? rport : undefined,
      localIp: values.get('lip'),
      tls: secured,
      secured,
      sessionId: values.get('session'),
    };
    const exchange = this.server.service.start(mech, req);
    if (!exchange) return this.protocolError(`BUG: Authentication client ${this.cuid} requested unsupported authentication mechanism ${mech}`);
    const r: PendingRequest = { id, exchange, mech, busy: false, finalRespOk: flags.has('final-resp-ok') };
    let initial: Buffer | undefined;
    if (values.has('resp')) {
      initial = decodeBase64Strict(values.get('resp')!);
      if (!initial) {
        this.send(`FAIL\t${id}\tcode=invalid_base64\treason=Invalid base64 data in initial response`);
        return;
      }
    }
    this.requests.set(id, r);
    this.run(r, initial);
  }

  private onCont(f: string[]): void {
    const id = f[1];
    if (!this.validId(id)) return this.protocolError(`BUG: Authentication client ${this.cuid} sent broken CONT request`);
    const r = this.requests.get(id);
    if (!r) {
      this.send(`FAIL\t${id}\treason=Authentication request timed out`);
      return;
    }
    if (r.busy) return this.protocolError(`BUG: Authentication client ${this.cuid} sent CONT for request ${id} while it was being handled`);
    if (r.timer) clearTimeout(r.timer);
    if (r.finalUser !== undefined) {
      // the client acknowledged the success data (SCRAM server-final)
      this.requests.delete(id);
      this.send(`OK\t${id}\tuser=${tabEscape(r.finalUser)}`);
      return;
    }
    const data = decodeBase64Strict(f[2] ?? '');
    if (!data) {
      this.requests.delete(id);
      this.send(`FAIL\t${id}\tcode=invalid_base64\treason=Invalid base64 data in continued response`);
      return;
    }
    this.run(r, data);
  }

  private onCancel(f: string[]): void {
    const id = f[1];
    if (!this.validId(id)) return this.protocolError(`BUG: Authentication client ${this.cuid} sent broken CANCEL request`);
    const r = this.requests.get(id);
    if (!r) return;
    this.requests.delete(id);
    if (r.timer) clearTimeout(r.timer);
    r.exchange.cancel();
  }

  private run(r: PendingRequest, data: Buffer | undefined): void {
    r.busy = true;
    r.exchange.step(data).then(
      (step) => this.reply(r, step),
      (err: unknown) => {
        this.log.error(`auth request ${r.id} failed: ${(err as Error).message}`);
        this.reply(r, { kind: 'failure', reason: 'Internal authentication failure', temporary: true });
      },
    );
  }

  private reply(r: PendingRequest, step: SaslStep): void {
    r.busy = false;
    if (this.state === 'closed' || this.requests.get(r.id) !== r) return; // cancelled or connection gone
    switch (step.kind) {
      case 'challenge':
        this.send(`CONT\t${r.id}\t${step.data.toString('base64')}`);
        this.armTimeout(r);
        return;
      case 'success':
        if (step.data && step.data.length > 0) {
          if (r.finalRespOk) {
            this.requests.delete(r.id);
            this.send(`OK\t${r.id}\tuser=${tabEscape(step.user)}\tresp=${step.data.toString('base64')}`);
          } else {
            r.finalUser = step.user;
            this.send(`CONT\t${r.id}\t${step.data.toString('base64')}`);
            this.armTimeout(r);
          }
          return;
        }
        this.requests.delete(r.id);
        this.send(`OK\t${r.id}\tuser=${tabEscape(step.user)}`);
        return;
      case 'failure': {
        this.requests.delete(r.id);
        const fields = ['FAIL', r.id];
        if (step.user) fields.push(`user=${tabEscape(step.user)}`);
        if (step.temporary) fields.push('temp');
        if (step.reason && step.reason !== REASON_UNAVAILABLE) fields.push(`reason=${tabEscape(step.reason)}`);
        this.send(fields.join('\t'));
        return;
      }
    }
  }

  private armTimeout(r: PendingRequest): void {
    const ms = this.server.options.requestTimeoutMs ?? 60_000;
    r.timer = setTimeout(() => {
      if (this.requests.get(r.id) !== r) return;
      this.requests.delete(r.id);
      r.exchange.cancel();
      this.send(`FAIL\t${r.id}\treason=Authentication request timed out`);
    }, ms);
    r.timer.unref();
  }
}

export class DovecotAuthServer {
  readonly log: Logger;
  readonly cookie = randomBytes(16).toString('hex');
  private server: Server | undefined;
  private path: string | undefined;
  private readonly connections = new Set<AuthClientConnection>();

  constructor(
    readonly service: AuthService,
    readonly options: DovecotAuthServerOptions = {},
  ) {
    this.log = options.log ?? logger('auth');
  }

  /** Serve one already-connected stream (tests; a TCP listener if someone wants one). */
  handle(socket: Socket): void {
    this.connections.add(new AuthClientConnection(socket, this));
  }

  forget(c: AuthClientConnection): void {
    this.connections.delete(c);
  }

  get connectionCount(): number {
    return this.connections.size;
  }

  /** Listen on a UNIX socket; a stale socket file is replaced, a live one is an error. */
  async listen(path: string, opts: AuthSocketOptions = {}): Promise<void> {
    if (this.server) throw new Error('auth socket already listening');
    mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
    await removeStaleSocket(path);
    const server = createServer((socket) => this.handle(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.log.error(`auth socket ${path}: ${err.message}`));
    this.server = server;
    this.path = path;
    try {
      chmodSync(path, opts.mode ?? 0o660);
      if (opts.user || opts.group) {
        const uid = opts.user ? resolveId(opts.user, '/etc/passwd') : -1;
        const gid = opts.group ? resolveId(opts.group, '/etc/group') : -1;
        chownSync(path, uid, gid);
      }
    } catch (err) {
      await this.close();
      throw new Error(`auth socket ${path}: ${(err as Error).message}`);
    }
    this.log.info(`listening on ${path} (Dovecot auth protocol)`);
  }

  async close(): Promise<void> {
    for (const c of [...this.connections]) c.close();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
    if (this.path) {
      try {
        unlinkSync(this.path);
      } catch {
        // already gone
      }
      this.path = undefined;
    }
  }
}

async function removeStaleSocket(path: string): Promise<void> {
  let isSocket: boolean;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch {
    return; // nothing there
  }
  if (!isSocket) throw new Error(`${path} exists and is not a socket`);
  const alive = await new Promise<boolean>((resolve) => {
    const s = createConnection(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
  if (alive) throw new Error(`${path} is in use by another process`);
  unlinkSync(path);
}

/** Start the auth socket described by auth_socket_* (undefined when auth_socket_path is empty). */
export async function startAuthSocket(view: ConfigView, service: AuthService, options: DovecotAuthServerOptions = {}): Promise<DovecotAuthServer | undefined> {
  const path = view.path('auth_socket_path');
  if (!path) return undefined;
  const server = new DovecotAuthServer(service, options);
  await server.listen(path, {
    mode: view.mode('auth_socket_mode'),
    user: view.get('auth_socket_user') || undefined,
    group: view.get('auth_socket_group') || undefined,
  });
  return server;
}
