// Which AuthService SMTP uses (smtpd_sasl_type): the built-in one, or a Dovecot auth
// socket at smtpd_sasl_path. When smtpd_sasl_path resolves to facteur's own
// auth_socket_path (the tutorial's `smtpd_sasl_path = private/auth-client`), the built-in
// service is used directly instead of talking to ourselves over the socket.
import { resolve } from 'node:path';
import type { ConfigView } from '../config/config.js';
import type { Logger } from '../log.js';
import { DovecotAuthClient, describeEndpoint, resolveSaslPath, type DovecotAuthClientOptions } from './dovecot/client.js';
import type { AuthService } from './types.js';

/** smtpd_sasl_type = dovecot pointing at facteur's own auth_socket_path. */
export function isOwnAuthSocket(view: ConfigView): boolean {
  const own = view.path('auth_socket_path');
  if (!own) return false;
  const e = resolveSaslPath(view);
  return e.kind === 'unix' && resolve(e.path) === resolve(own);
}

/** One external auth client per endpoint, shared by the services that name it. */
export class AuthServiceResolver {
  private readonly clients = new Map<string, DovecotAuthClient>();

  constructor(
    private readonly builtin: AuthService,
    private readonly options: DovecotAuthClientOptions & { log?: Logger } = {},
  ) {}

  /** The AuthService for a service's view (submission.smtpd_sasl_type … apply). */
  forView(view: ConfigView): AuthService {
    if (view.get('smtpd_sasl_type') !== 'dovecot' || isOwnAuthSocket(view)) return this.builtin;
    const endpoint = resolveSaslPath(view);
    const key = describeEndpoint(endpoint);
    let c = this.clients.get(key);
    if (!c) {
      c = DovecotAuthClient.fromConfig(view, this.options);
      this.clients.set(key, c);
    }
    return c;
  }

  /** External clients created so far (to connect at startup). */
  externalClients(): DovecotAuthClient[] {
    return [...this.clients.values()];
  }

  close(): void {
    for (const c of this.clients.values()) c.close();
    this.clients.clear();
  }
}

/** Single lookup without sharing (prefer AuthServiceResolver in the server assembly). */
export function authServiceFor(view: ConfigView, builtin: AuthService, options: DovecotAuthClientOptions = {}): AuthService {
  if (view.get('smtpd_sasl_type') !== 'dovecot' || isOwnAuthSocket(view)) return builtin;
  return DovecotAuthClient.fromConfig(view, options);
}
