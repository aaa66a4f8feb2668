// The running parts behind the listeners (DESIGN.md data flow): user database, auth
// service (and its Dovecot-protocol socket), DNS resolver, restriction engine per
// service, local delivery, the outbound queue, the mailbox store; and the connection
// handler of each service built from them. Started before the listeners open and stopped
// after they close, in dependency order.
import type { AuthService } from '../auth/types.js';
import { AuthServiceResolver, closeCryptPool, createAuthService, openUserDatabase, startAuthSocket, type BuiltinAuthService, type DovecotAuthServer, type PasswdFileDatabase } from '../auth/index.js';
import type { Config, ConfigView } from '../config/config.js';
import type { ServiceName } from '../config/params/types.js';
import { LocalDelivery } from '../delivery/agent.js';
import type { Resolver } from '../dns/resolver.js';
import { SystemResolver } from '../dns/system.js';
import { createImapHandler } from '../imap/server.js';
import { logger } from '../log.js';
import { TableCache } from '../maps/index.js';
import { createPop3Handler } from '../pop3/service.js';
import { createStoreMaildrops } from '../pop3/store-maildrops.js';
import { QueueManager } from '../queue/manager.js';
import { createPolicy } from '../smtp/policy/engine.js';
import type { Policy } from '../smtp/policy/types.js';
import { smtpConnectionHandler } from '../smtp/service.js';
import { folderRegistry, type FolderRegistry } from '../store/registry.js';
import type { ConnectionHandler } from './connection.js';
import type { TlsProvider } from './tls.js';

const log = logger('master');

export interface RuntimeOptions {
  /** DNS for policy and outbound delivery (default: the system's, or dns_servers). */
  resolver?: Resolver;
  /** Overrides auth_failure_delay (tests). */
  authFailureDelayMs?: number;
  /** Sleep used by the restriction engine (`sleep N`) and SMTP error delays (tests). */
  sleep?: (ms: number) => Promise<void>;
  /** Mailbox registry (tests give each server its own). */
  registry?: FolderRegistry;
  /** Listen on $queue_directory/public/qmgr for `facteur queue flush` (default true). */
  queueControlSocket?: boolean;
  /** Start the Dovecot auth-protocol socket (default: when auth_socket_path is set). */
  authSocket?: boolean;
}

export function resolverFor(config: Config): Resolver {
  const servers = config.list('dns_servers');
  return new SystemResolver({ servers, timeoutMs: config.time('dns_timeout') * 1000 });
}

const SMTP_SERVICES: ServiceName[] = ['smtp', 'submission', 'submissions'];

export class Runtime {
  config: Config;
  readonly resolver: Resolver;
  readonly users: PasswdFileDatabase;
  readonly auth: BuiltinAuthService;
  readonly smtpAuth: AuthServiceResolver;
  readonly registry: FolderRegistry;
  readonly tables = new TableCache();
  delivery!: LocalDelivery;
  queue!: QueueManager;
  private policies = new Map<ServiceName, Policy>();
  private deliveries = new Map<ServiceName, LocalDelivery>();
  private authSocket?: DovecotAuthServer;

  constructor(
    config: Config,
    private readonly opts: RuntimeOptions = {},
  ) {
    this.config = config;
    this.resolver = opts.resolver ?? resolverFor(config);
    this.registry = opts.registry ?? folderRegistry;
    this.users = openUserDatabase(config.view(), { watch: true });
    this.auth = createAuthService(config, this.users, { failureDelayMs: opts.authFailureDelayMs });
    this.smtpAuth = new AuthServiceResolver(this.auth);
    this.build(config);
  }

  /** Parts that depend on the configuration (rebuilt on reload; running sessions keep theirs). */
  private build(config: Config): void {
    this.config = config;
    this.policies = new Map();
    this.deliveries = new Map();
    this.delivery = new LocalDelivery({ config, users: this.users, tables: this.tables });
    if (this.queue) this.queue.reload(config);
    else {
      this.queue = new QueueManager({
        config,
        resolver: this.resolver,
        localDelivery: this.delivery,
        isLocal: (address) => this.isLocal(address),
        controlSocket: this.opts.queueControlSocket ?? true,
      });
    }
  }

  /** Local for the queue: the same domain classes local delivery uses (with the user database's domains). */
  private isLocal(address: string): Promise<boolean> {
    return this.delivery.resolver.isLocalAddress(address);
  }

  private deliveryFor(service: ServiceName): LocalDelivery {
    let d = this.deliveries.get(service);
    if (!d) {
      d = new LocalDelivery({ config: this.config, service, users: this.users, tables: this.tables });
      this.deliveries.set(service, d);
    }
    return d;
  }

  private policyFor(view: ConfigView): Policy {
    const service = view.service ?? 'smtp';
    let p = this.policies.get(service);
    if (!p) {
      p = createPolicy(view, { resolver: this.resolver, directory: this.deliveryFor(service).directory, sleep: this.opts.sleep, tableCache: this.tables });
      this.policies.set(service, p);
    }
    return p;
  }

  /**
   * Connect to the Dovecot auth servers named by smtpd_sasl_type = dovecot: Postfix's smtpd
   * reads the server's mechanism list before it answers EHLO, so must we, or the first
   * client after a start (or reload) is offered no AUTH. False for a server not reachable.
   */
  private connectSaslServers(config: Config): Promise<boolean[]> {
    for (const s of SMTP_SERVICES) {
      const view = config.view(s);
      if (view.bool('smtpd_sasl_auth_enable')) this.smtpAuth.forView(view);
    }
    return Promise.all(
      this.smtpAuth.externalClients().map(async (c) => {
        const ok = await c.ready();
        if (!ok) log.warn('the Dovecot auth socket (smtpd_sasl_path) does not answer yet; SMTP AUTH is offered once it does');
        return ok;
      }),
    );
  }

  /** Start what must run before clients arrive: the queue (recovers incoming/), the auth socket, the external SASL servers. */
  async start(): Promise<void> {
    await this.connectSaslServers(this.config);
    await this.queue.start();
    if (this.opts.authSocket ?? true) {
      try {
        this.authSocket = await startAuthSocket(this.config.view(), this.auth);
      } catch (err) {
        // the socket is an extra for an external Postfix; the mail services work without it
        log.error(`cannot start the auth socket at ${this.config.path('auth_socket_path')}: ${(err as Error).message}`);
      }
    }
  }

  /** The connection handler of each service, for the listeners (src/server/server.ts). */
  handlers(config: Config, tls: TlsProvider): Partial<Record<ServiceName, ConnectionHandler>> {
    if (config !== this.config) {
      this.build(config);
      void this.connectSaslServers(config);
    }
    const smtp = smtpConnectionHandler({
      config: () => this.config,
      policy: (view) => this.policyFor(view).session(),
      delivery: (service) => this.deliveryFor(service),
      tls,
      auth: (view): AuthService | undefined => (view.bool('smtpd_sasl_auth_enable') ? this.smtpAuth.forView(view) : undefined),
      queue: this.queue,
      sleep: this.opts.sleep,
    });
    const imap = createImapHandler({ config, auth: this.auth, users: this.users, tls, registry: this.registry });
    const pop3 = createPop3Handler({ config, tls, auth: this.auth, maildrops: createStoreMaildrops(config.view('pop3'), this.users, this.registry) });
    const out: Partial<Record<ServiceName, ConnectionHandler>> = { imap, imaps: imap, pop3, pop3s: pop3 };
    for (const s of SMTP_SERVICES) out[s] = smtp;
    return out;
  }

  /** After the listeners closed and sessions ended. */
  async stop(): Promise<void> {
    await this.authSocket?.close();
    await this.queue.stop();
    this.smtpAuth.close();
    await this.registry.closeAll();
    this.users.close();
    await closeCryptPool();
  }
}
