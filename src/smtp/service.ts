// The ConnectionHandler of the smtp, submission and submissions services
// (src/server/connection.ts): per-client connection counting and rate (Postfix anvil's
// smtpd_client_connection_count_limit / _rate_limit, exempting
// smtpd_client_event_limit_exceptions), then one SmtpSession per connection. The service's
// session limit (default_process_limit) is the listener's (src/server/server.ts).
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { AuthService } from '../auth/types.js';
import type { Config, ConfigView } from '../config/config.js';
import type { ServiceName } from '../config/params/types.js';
import { logger } from '../log.js';
import type { OutboundQueue } from '../queue/types.js';
import type { ConnectionHandler, ConnectionInfo, SessionHandle } from '../server/connection.js';
import type { TlsProvider } from '../server/tls.js';
import { formatReply, reply } from './protocol/reply.js';
import type { PolicySession } from './policy/types.js';
import { SmtpSession, type SmtpDelivery } from './session.js';
import { inNetworks } from './session/settings.js';

const log = logger('smtpd');


export interface SmtpServiceDeps {
  /** The configuration (a function when it can be reloaded: each new connection reads the current one). */
  config: Config | (() => Config);
  /** Creates the restriction engine's session for a connection (issue #4). */
  policy: (view: ConfigView, info: ConnectionInfo) => PolicySession;
  /** Local delivery (src/delivery/agent.ts LocalDelivery), per service when parameters differ. */
  delivery: SmtpDelivery | ((service: ServiceName) => SmtpDelivery);
  tls?: TlsProvider;
  /** The auth service, or one per service (smtpd_sasl_type/smtpd_sasl_path may differ per service). */
  auth?: AuthService | ((view: ConfigView) => AuthService | undefined);
  queue?: OutboundQueue;
  sleep?: (ms: number) => Promise<void>;
  now?: () => Date;
}

export interface SmtpConnectionHandler extends ConnectionHandler {
  /** Open sessions per service and client IP (for status output and tests). */
  connectionCount(service: ServiceName, ip?: string): number;
  /** Ask every open session to finish (421 4.3.2 at the next command). */
  shutdownAll(reason: string): void;
}

export function smtpConnectionHandler(deps: SmtpServiceDeps): SmtpConnectionHandler {
  const perIp = new Map<string, number>();
  const perService = new Map<string, number>();
  const sessions = new Set<SmtpSession>();
  /** Connection times per service and client IP (smtpd_client_connection_rate_limit, anvil-style). */
  const arrivals = new Map<string, number[]>();
  const currentConfig = () => (typeof deps.config === 'function' ? deps.config() : deps.config);

  const handler = ((socket: Socket | TLSSocket, info: ConnectionInfo): SessionHandle => {
    const view = currentConfig().view(info.service);
    const ipKey = `${info.service}/${info.remoteAddress}`;
    const ipCount = (perIp.get(ipKey) ?? 0) + 1;
    const svcCount = (perService.get(info.service) ?? 0) + 1;
    const refuse = (text: string, code: number, enhanced: string, why: string): SessionHandle => {
      log.warn(`${why} from ${info.remoteAddress} for service ${info.service}`);
      socket.on('error', () => undefined);
      socket.end(formatReply(reply(code, enhanced, text)));
      setTimeout(() => socket.destroy(), 2000).unref();
      return { closed: new Promise((r) => socket.once('close', () => r())), shutdown: () => socket.destroy() };
    };
    const limit = view.int('smtpd_client_connection_count_limit');
    if (limit > 0 && ipCount > limit && !inNetworks(view.networks('smtpd_client_event_limit_exceptions'), info.remoteAddress)) {
      return refuse(`${view.get('myhostname')} Error: too many connections from ${info.remoteAddress}`, 421, '4.7.0', `Connection concurrency limit exceeded: ${ipCount}`);
    }
    const rateLimit = view.int('smtpd_client_connection_rate_limit');
    if (rateLimit > 0 && !inNetworks(view.networks('smtpd_client_event_limit_exceptions'), info.remoteAddress)) {
      const now = Date.now();
      const unit = view.time('anvil_rate_time_unit') * 1000;
      const times = (arrivals.get(ipKey) ?? []).filter((t) => now - t < unit);
      times.push(now);
      arrivals.set(ipKey, times);
      if (arrivals.size > 100_000) arrivals.clear();
      if (times.length > rateLimit) {
        return refuse(`${view.get('myhostname')} Error: too many connections from ${info.remoteAddress}`, 421, '4.7.0', `Connection rate limit exceeded: ${times.length}`);
      }
    }
    perIp.set(ipKey, ipCount);
    perService.set(info.service, svcCount);
    const delivery = typeof deps.delivery === 'function' ? deps.delivery(info.service) : deps.delivery;
    const session = new SmtpSession(socket, info, {
      view,
      policy: deps.policy(view, info),
      delivery,
      tls: deps.tls,
      auth: typeof deps.auth === 'function' ? deps.auth(view) : deps.auth,
      queue: deps.queue,
      sleep: deps.sleep,
      now: deps.now,
    });
    sessions.add(session);
    const done = () => {
      sessions.delete(session);
      const n = (perIp.get(ipKey) ?? 1) - 1;
      if (n <= 0) perIp.delete(ipKey);
      else perIp.set(ipKey, n);
      perService.set(info.service, Math.max(0, (perService.get(info.service) ?? 1) - 1));
    };
    const running = session.run().catch((err) => log.error(`session ${info.id}: ${(err as Error).message}`));
    const closed = Promise.all([running, session.closed]).then(() => done());
    return { closed, shutdown: (reason: string) => session.shutdown(reason) };
  }) as SmtpConnectionHandler;

  handler.connectionCount = (service, ip) => (ip ? (perIp.get(`${service}/${ip}`) ?? 0) : (perService.get(service) ?? 0));
  handler.shutdownAll = (reason) => {
    for (const s of sessions) s.shutdown(reason);
  };
  return handler;
}
