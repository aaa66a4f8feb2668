// Assembling a running server from a Config (DESIGN.md src/server/): one listener per
// configured address of each service, implicit TLS where the service wants it, the
// per-service session limit (default_process_limit; per-client limits are the
// protocol's: SMTP's anvil limits live in src/smtp/service.ts), graceful stop (SIGTERM) and reload (SIGHUP) without dropping
// connections: sessions that are running keep the configuration they started with.
import { createServer, type Server, type Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import type { Config } from '../config/config.js';
import { SERVICES, type ServiceName } from '../config/params/types.js';
import type { ListenAddress } from '../config/values.js';
import { logger, newSessionId } from '../log.js';
import { normalizeAddress, type ConnectionHandler, type ConnectionInfo, type SessionHandle } from './connection.js';
import { TlsProvider } from './tls.js';

const log = logger('master');

/** Services whose connections are TLS from the first byte. */
export function isImplicitTls(config: Config, service: ServiceName): boolean {
  if (service === 'imaps' || service === 'pop3s') return true;
  if (service === 'smtp' || service === 'submission' || service === 'submissions') return config.bool('smtpd_tls_wrappermode', service);
  return false;
}

function isSmtpService(service: ServiceName): boolean {
  return service === 'smtp' || service === 'submission' || service === 'submissions';
}

/** What a client gets when a connection is refused before any session starts. */
function refusalText(service: ServiceName, config: Config): string {
  if (isSmtpService(service)) return `421 4.3.2 ${config.get('myhostname')} Error: all server ports are busy\r\n`;
  if (service.startsWith('imap')) return '* BYE [UNAVAILABLE] Too many connections, try again later.\r\n';
  return '-ERR [SYS/TEMP] Too many connections, try again later.\r\n';
}

export type HandlerFactory = (config: Config, tls: TlsProvider) => Partial<Record<ServiceName, ConnectionHandler>>;

export interface Listening {
  service: ServiceName;
  address: string;
  port: number;
}

interface Listener {
  service: ServiceName;
  want: ListenAddress;
  server: Server;
  bound?: Listening;
}

export class FacteurServer {
  private config: Config;
  readonly tls: TlsProvider;
  private handlers: Partial<Record<ServiceName, ConnectionHandler>> = {};
  private listeners: Listener[] = [];
  private readonly sessions = new Set<SessionHandle>();
  private readonly sockets = new Set<Socket>();
  private readonly perService = new Map<ServiceName, number>();
  private stopping = false;

  constructor(
    config: Config,
    private readonly buildHandlers: HandlerFactory,
  ) {
    this.config = config;
    this.tls = new TlsProvider(config);
  }

  get currentConfig(): Config {
    return this.config;
  }

  /** Addresses actually bound (with the real port when 0 was asked). */
  get listening(): Listening[] {
    return this.listeners.flatMap((l) => (l.bound ? [l.bound] : []));
  }

  /** Services that have a handler (are built) and at least one listen address. */
  private wanted(): { service: ServiceName; want: ListenAddress }[] {
    const out: { service: ServiceName; want: ListenAddress }[] = [];
    for (const service of SERVICES) {
      if (!this.handlers[service]) continue;
      for (const want of this.config.listen(`${service}_listen`, service)) out.push({ service, want });
    }
    return out;
  }

  async start(): Promise<Listening[]> {
    this.handlers = this.buildHandlers(this.config, this.tls);
    // Make TLS material before listening, so that the first client does not pay for it
    // and a bad certificate stops the start-up.
    for (const service of SERVICES) {
      if (this.handlers[service] && this.config.listen(`${service}_listen`, service).length > 0) this.tls.context(service);
    }
    for (const { service, want } of this.wanted()) await this.open(service, want);
    return this.listening;
  }

  private key(service: ServiceName, want: ListenAddress): string {
    return `${service}|${want.host}|${want.port}`;
  }

  private open(service: ServiceName, want: ListenAddress): Promise<void> {
    const server = createServer({ pauseOnConnect: false, noDelay: true }, (socket) => this.accept(service, socket));
    server.maxConnections = 0x7fffffff;
    const listener: Listener = { service, want, server };
    this.listeners.push(listener);
    return new Promise((resolve, reject) => {
      const onError = (err: Error) => {
        this.listeners = this.listeners.filter((l) => l !== listener);
        reject(new Error(`${service}: cannot listen on ${want.text}: ${(err as NodeJS.ErrnoException).code ?? err.message}`));
      };
      server.once('error', onError);
      const host = want.host || undefined;
      server.listen({ host, port: want.port, ipv6Only: host === '::' }, () => {
        server.off('error', onError);
        server.on('error', (err) => log.error(`${service}: listener error: ${err.message}`));
        const addr = server.address();
        if (addr && typeof addr === 'object') listener.bound = { service, address: addr.address, port: addr.port };
        resolve();
      });
    });
  }

  private accept(service: ServiceName, raw: Socket): void {
    const config = this.config;
    const remoteAddress = normalizeAddress(raw.remoteAddress);
    raw.on('error', () => {});
    if (this.stopping) {
      raw.destroy();
      return;
    }
    const count = this.perService.get(service) ?? 0;
    const limit = config.int('default_process_limit', service);
    if (count >= limit) {
      log.warn(`${service}: refusing connection from [${remoteAddress}]: service limit ${limit} reached`);
      if (isImplicitTls(config, service)) raw.destroy();
      else raw.end(refusalText(service, config));
      return;
    }
    this.perService.set(service, count + 1);
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      this.perService.set(service, (this.perService.get(service) ?? 1) - 1);
    };
    raw.once('close', release);
    this.sockets.add(raw);
    raw.once('close', () => this.sockets.delete(raw));

    const info: ConnectionInfo = {
      service,
      id: newSessionId(),
      remoteAddress,
      remotePort: raw.remotePort ?? 0,
      localAddress: normalizeAddress(raw.localAddress),
      localPort: raw.localPort ?? 0,
      implicitTls: isImplicitTls(config, service),
    };
    const handler = this.handlers[service];
    if (!handler) {
      raw.destroy();
      return;
    }
    const run = (socket: Socket | TLSSocket) => {
      let handle: SessionHandle;
      try {
        handle = handler(socket, info);
      } catch (err) {
        log.error(`${service}: session failed to start: ${(err as Error).stack ?? err}`, { session: info.id });
        socket.destroy();
        return;
      }
      this.sessions.add(handle);
      handle.closed.finally(() => {
        this.sessions.delete(handle);
        release();
      });
    };
    if (!info.implicitTls) {
      run(raw);
      return;
    }
    const tlsSocket = new TLSSocket(raw, { isServer: true, secureContext: this.tls.context(service) });
    const timer = setTimeout(() => tlsSocket.destroy(), 60_000);
    tlsSocket.once('secure', () => {
      clearTimeout(timer);
      run(tlsSocket);
    });
    tlsSocket.once('error', (err) => {
      clearTimeout(timer);
      log.info(`${service}: TLS handshake failed from [${remoteAddress}]: ${err.message}`);
      tlsSocket.destroy();
    });
  }

  /** SIGHUP: apply a new configuration. Running sessions keep theirs. */
  async reload(next: Config): Promise<void> {
    this.tls.reload(next);
    this.config = next;
    this.handlers = this.buildHandlers(next, this.tls);
    const wanted = this.wanted();
    const wantedKeys = new Set(wanted.map((w) => this.key(w.service, w.want)));
    for (const l of [...this.listeners]) {
      if (!wantedKeys.has(this.key(l.service, l.want))) {
        l.server.close();
        this.listeners = this.listeners.filter((x) => x !== l);
      }
    }
    const have = new Set(this.listeners.map((l) => this.key(l.service, l.want)));
    for (const w of wanted) if (!have.has(this.key(w.service, w.want))) await this.open(w.service, w.want);
  }

  /** Stop accepting, ask sessions to finish, close what is left after `graceMs`. */
  async stop(graceMs = this.config.time('shutdown_timeout') * 1000): Promise<void> {
    this.stopping = true;
    // close() stops accepting at once; its callback would wait for every connection
    for (const l of this.listeners) l.server.close();
    this.listeners = [];
    for (const s of this.sessions) s.shutdown('server shutdown');
    const all = Promise.allSettled([...this.sessions].map((s) => s.closed));
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([all, new Promise<void>((r) => (timer = setTimeout(r, graceMs)))]);
    if (timer) clearTimeout(timer);
    if (this.sockets.size > 0) log.info(`closing ${this.sockets.size} connection(s) still open after ${graceMs} ms`);
    for (const s of this.sockets) s.destroy();
  }

  get sessionCount(): number {
    return this.sessions.size;
  }
}

