// Delivering one message to one next hop (Postfix smtp(8) smtp_connect.c): find the
// hosts, try them in order until the recipients are decided, reuse an idle
// connection to the same next hop when one is cached (smtp_connection_cache_on_demand),
// and report per-recipient results. Temporary session failures move on to the next
// MX host (at most smtp_mx_session_limit sessions, smtp_mx_address_limit addresses).
import type { Resolver } from '../../dns/resolver.js';
import { logger, type Logger } from '../../log.js';
import { SmtpClientConnection, SmtpClientError } from './connection.js';
import { lookupHosts, type MxHost } from './mx.js';
import { lookupCredentials, type SaslCredentials } from './passwords.js';
import { SessionSetupError, SmtpClientSession, type SessionFailure, type SessionSettings, type TlsLevel, type ClientTimeouts } from './session.js';
import type { NextHop, OutboundMessage, RecipientResult } from './types.js';
import type { TableRef } from '../../config/values.js';
import type { ConfigView } from '../../config/config.js';

export interface TransportSettings {
  heloName: string;
  tlsLevel: TlsLevel;
  connectTimeoutMs: number;
  timeouts: ClientTimeouts;
  inet: 'all' | 'ipv4' | 'ipv6';
  /** smtp_mx_address_limit */
  mxAddressLimit: number;
  /** smtp_mx_session_limit */
  mxSessionLimit: number;
  myHostnames: string[];
  saslEnabled: boolean;
  saslPasswordMaps: TableRef[];
  saslSecurityOptions: string[];
  saslTlsSecurityOptions: string[];
  /** smtp_connection_cache_time_limit (ms): how long an idle connection is kept for the next message. */
  connectionCacheTimeMs: number;
  /** smtp_connection_reuse_count_limit: most transactions per connection (0: no limit). */
  reuseCountLimit: number;
}

export function transportSettings(view: ConfigView): TransportSettings {
  const ms = (name: string) => Math.round(view.time(name) * 1000);
  const level = view.get('smtp_tls_security_level').trim();
  const inet = view.get('inet_protocols').replace(/\s+/g, '');
  return {
    heloName: view.get('smtp_helo_name') || view.get('myhostname'),
    tlsLevel: level === '' ? 'none' : (level as TlsLevel),
    connectTimeoutMs: ms('smtp_connect_timeout'),
    timeouts: {
      helo: ms('smtp_helo_timeout'),
      starttls: ms('smtp_starttls_timeout'),
      mail: ms('smtp_mail_timeout'),
      rcpt: ms('smtp_rcpt_timeout'),
      dataInit: ms('smtp_data_init_timeout'),
      dataXfer: ms('smtp_data_xfer_timeout'),
      dataDone: ms('smtp_data_done_timeout'),
      quit: ms('smtp_quit_timeout'),
    },
    inet: inet === 'ipv4' ? 'ipv4' : inet === 'ipv6' ? 'ipv6' : 'all',
    mxAddressLimit: view.int('smtp_mx_address_limit'),
    mxSessionLimit: view.int('smtp_mx_session_limit'),
    myHostnames: [view.get('myhostname')],
    saslEnabled: view.bool('smtp_sasl_auth_enable'),
    saslPasswordMaps: view.tables('smtp_sasl_password_maps'),
    saslSecurityOptions: view.list('smtp_sasl_security_options'),
    saslTlsSecurityOptions: view.list('smtp_sasl_tls_security_options'),
    connectionCacheTimeMs: ms('smtp_connection_cache_time_limit'),
    reuseCountLimit: view.int('smtp_connection_reuse_count_limit'),
  };
}

interface IdleSession {
  session: SmtpClientSession;
  timer: NodeJS.Timeout;
}

export interface DeliveryReport {
  /** One result per recipient of the message, in order. */
  results: RecipientResult[];
  /**
   * No mail transaction could even start (DNS failure, no host reachable, session setup
   * refused): the destination itself is in trouble, not this message. The queue manager
   * then suspends the destination for a while, as Postfix marks a site dead.
   */
  siteFailure?: boolean;
}

export class SmtpTransport {
  private idle = new Map<string, IdleSession[]>();
  private readonly log: Logger;
  private closed = false;

  constructor(
    private readonly resolver: Resolver,
    private settings: TransportSettings,
    log?: Logger,
  ) {
    this.log = log ?? logger('smtp');
  }

  updateSettings(settings: TransportSettings): void {
    this.settings = settings;
  }

  private takeIdle(hop: string): SmtpClientSession | undefined {
    const list = this.idle.get(hop);
    while (list && list.length > 0) {
      const it = list.pop()!;
      clearTimeout(it.timer);
      if (it.session.usable && !it.session.conn.closed) return it.session;
    }
    return undefined;
  }

  private release(hop: string, session: SmtpClientSession): void {
    const limit = this.settings.reuseCountLimit;
    if (this.closed || !session.usable || session.conn.closed || (limit > 0 && session.transactions >= limit) || this.settings.connectionCacheTimeMs <= 0) {
      void session.quit();
      return;
    }
    const list = this.idle.get(hop) ?? [];
    const entry: IdleSession = {
      session,
      timer: setTimeout(() => {
        const l = this.idle.get(hop);
        if (l) {
          const i = l.indexOf(entry);
          if (i >= 0) l.splice(i, 1);
          if (l.length === 0) this.idle.delete(hop);
        }
        void session.quit();
      }, this.settings.connectionCacheTimeMs),
    };
    entry.timer.unref?.();
    list.push(entry);
    this.idle.set(hop, list);
  }

  /** Number of open connections (idle ones) per next hop, for tests and the bench. */
  idleCount(hop?: string): number {
    if (hop) return this.idle.get(hop)?.length ?? 0;
    let n = 0;
    for (const l of this.idle.values()) n += l.length;
    return n;
  }

  /** Close every cached connection (QUIT). */
  async close(): Promise<void> {
    this.closed = true;
    const all: Promise<void>[] = [];
    for (const list of this.idle.values()) {
      for (const it of list) {
        clearTimeout(it.timer);
        all.push(it.session.quit());
      }
    }
    this.idle.clear();
    await Promise.all(all);
  }

  private sessionSettings(creds: SaslCredentials | undefined): SessionSettings {
    const s = this.settings;
    return {
      heloName: s.heloName,
      tlsLevel: s.tlsLevel,
      timeouts: s.timeouts,
      sasl: creds ? { credentials: creds, securityOptions: s.saslSecurityOptions, tlsSecurityOptions: s.saslTlsSecurityOptions } : undefined,
    };
  }

  private async openSession(host: MxHost, port: number, creds: SaslCredentials | undefined, queueId: string): Promise<SmtpClientSession> {
    const connectOpts = { host: host.name, ip: host.ip, port, connectTimeoutMs: this.settings.connectTimeoutMs };
    let conn = await SmtpClientConnection.connect(connectOpts);
    try {
      const session = await SmtpClientSession.open(conn, this.sessionSettings(creds));
      if (session.tls) {
        this.log.withId(queueId).info(`${session.tls.trusted ? 'Trusted' : 'Untrusted'} TLS connection established to ${conn.relay}: ${session.tls.protocol} with cipher ${session.tls.cipher} (${session.tls.bits}/${session.tls.bits} bits)`);
      }
      return session;
    } catch (err) {
      if (err instanceof SessionSetupError && err.failure.retryWithoutTls) {
        // smtp_tls_security_level = may: a failed handshake falls back to plaintext
        this.log.withId(queueId).warn(`${err.failure.reason}; trying ${conn.peerName} again without TLS`);
        conn = await SmtpClientConnection.connect(connectOpts);
        return SmtpClientSession.open(conn, this.sessionSettings(creds), { noTls: true });
      }
      throw err;
    }
  }

  /** Deliver `msg` to its recipients through `hop`. Never throws. */
  async deliver(hop: NextHop, msg: OutboundMessage): Promise<DeliveryReport> {
    const n = msg.recipients.length;
    const final: Array<RecipientResult | undefined> = new Array(n).fill(undefined);
    let pending = [...Array(n).keys()];
    let lastFailure: SessionFailure | undefined;
    let lastRelay = 'none';
    const started = performance.now();
    let transactions = 0;

    const run = async (session: SmtpClientSession, setupSeconds: number): Promise<boolean> => {
      const sub: OutboundMessage = { ...msg, recipients: pending.map((i) => msg.recipients[i]) };
      const t = performance.now();
      transactions++;
      const tr = await session.deliver(sub);
      const xferSeconds = (performance.now() - t) / 1000;
      const before = pending;
      const undecided: number[] = [];
      tr.results.forEach((r, k) => {
        const i = pending[k];
        if (r) final[i] = { ...r, setupSeconds, xferSeconds };
        else undecided.push(i);
      });
      lastRelay = session.conn.relay;
      if (tr.failure) lastFailure = tr.failure;
      pending = undecided;
      // RFC 5321 §4.5.3.1.10: a 452 to RCPT after other recipients were accepted means "too many
      // recipients for this transaction": send those in the next transaction, on this connection, now
      const accepted = tr.results.some((r) => r?.outcome === 'sent');
      const tooMany = accepted ? sub.recipients.map((_r, k) => k).filter((k) => tr.results[k]?.outcome === 'deferred' && /^smtp; 452\b/.test(tr.results[k]?.diagnostic ?? '')) : [];
      if (tooMany.length > 0 && !tr.failure && session.usable && transactions <= n) {
        const again = tooMany.map((k) => before[k]);
        for (const i of again) final[i] = undefined;
        pending = [...pending, ...again];
        return run(session, 0);
      }
      if (session.usable) this.release(hop.name, session);
      else session.conn.close();
      return !tr.failure || tr.failure.tryNextMx;
    };

    try {
      // a cached connection first; if it turns out dead before anything was decided, go on normally
      const cached = this.takeIdle(hop.name);
      if (cached) {
        const goOn = await run(cached, 0);
        // anything decided, or a failure after the final dot (maybe delivered): no second try now
        if (!goOn || pending.length < n) return this.finish(final, pending, lastFailure, lastRelay, transactions);
        lastFailure = undefined;
      }

      const creds = hop.relay && this.settings.saslEnabled ? await lookupCredentials(this.settings.saslPasswordMaps, hop) : undefined;
      const lookup = await lookupHosts(this.resolver, hop, {
        inet: this.settings.inet,
        addressLimit: this.settings.mxAddressLimit,
        myHostnames: this.settings.myHostnames,
      });
      if (!lookup.ok) {
        const r: RecipientResult = { outcome: lookup.outcome, dsn: lookup.dsn, reason: lookup.reason, relay: 'none' };
        for (const i of pending) final[i] = { ...r, setupSeconds: (performance.now() - started) / 1000 };
        return this.finish(final, [], undefined, 'none', 0);
      }
      let sessions = 0;
      for (const host of lookup.hosts) {
        if (pending.length === 0) break;
        if (this.settings.mxSessionLimit > 0 && sessions >= this.settings.mxSessionLimit) break;
        let session: SmtpClientSession;
        try {
          session = await this.openSession(host, hop.port, creds, msg.queueId);
        } catch (err) {
          if (err instanceof SessionSetupError) {
            sessions++;
            lastRelay = `${host.name}[${host.ip}]:${hop.port}`;
            if (err.failure.outcome === 'bounced') {
              for (const i of pending) final[i] = { outcome: 'bounced', dsn: err.failure.dsn, reason: err.failure.reason, relay: lastRelay, remoteMta: host.name, diagnostic: err.failure.diagnostic };
              pending = [];
              break;
            }
            lastFailure = err.failure;
            if (!err.failure.tryNextMx) break;
            continue;
          }
          if (err instanceof SmtpClientError) {
            if (err.kind !== 'connect') {
              sessions++;
              lastRelay = `${host.name}[${host.ip}]:${hop.port}`;
            }
            lastFailure = { outcome: 'deferred', dsn: err.dsn, reason: err.message, tryNextMx: true };
            continue;
          }
          throw err;
        }
        sessions++;
        const setupSeconds = (performance.now() - started) / 1000;
        const goOn = await run(session, setupSeconds);
        if (!goOn) break;
      }
      return this.finish(final, pending, lastFailure, lastRelay, transactions);
    } catch (err) {
      // a bug, not a remote failure: defer what is left and say so
      this.log.withId(msg.queueId).error(`SMTP delivery failed unexpectedly: ${(err as Error).stack ?? err}`);
      return this.finish(final, pending, { outcome: 'deferred', dsn: '4.3.0', reason: `internal error: ${(err as Error).message}`, tryNextMx: false }, lastRelay);
    }
  }

  private finish(final: Array<RecipientResult | undefined>, pending: number[], failure: SessionFailure | undefined, relay: string, transactions = 1): DeliveryReport {
    const f = failure ?? { outcome: 'deferred' as const, dsn: '4.4.1', reason: 'no SMTP server could be reached', tryNextMx: false };
    for (const i of pending) {
      final[i] = { outcome: 'deferred', dsn: f.dsn.startsWith('5') ? `4${f.dsn.slice(1)}` : f.dsn, reason: f.reason, relay: f.dsn === '4.4.1' ? 'none' : relay, diagnostic: f.diagnostic };
    }
    const results = final as RecipientResult[];
    return { results, siteFailure: transactions === 0 && results.every((r) => r.outcome === 'deferred') };
  }
}
