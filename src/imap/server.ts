// The IMAP service entry point: `createImapHandler(deps)` gives the server assembly a
// ConnectionHandler (src/server/connection.ts) for the imap and imaps listeners.
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { AuthService, UserDatabase } from '../auth/types.js';
import { isSecuredConnection } from '../auth/secured.js';
import type { Config } from '../config/config.js';
import { logger } from '../log.js';
import type { ConnectionHandler, ConnectionInfo, SessionHandle } from '../server/connection.js';
import { upgradeToTls, type TlsProvider } from '../server/tls.js';
import { folderRegistry, type FolderRegistry } from '../store/registry.js';
import { Session, type SessionSettings } from './session.js';
import { encodeMailboxName } from './utf7.js';

/**
 * What the IMAP service needs.
 * - `config`: the effective configuration; each connection reads it through
 *   `config.view(info.service)` (imap or imaps), so `imaps.imap_client_timeout = …` works.
 * - `auth`: LOGIN → verifyPassword, AUTHENTICATE → start/step (SASL-IR supported).
 * - `users`: maps the authenticated name to a home directory; the Maildir is found
 *   with `mail_location` (or the user's `userdb_mail`/`mail` extra field).
 * - `tls`: certificates for STARTTLS (absent: STARTTLS is not offered). Implicit TLS
 *   (imaps) is done by the listener before the socket reaches the handler.
 * - `registry`: the shared open-folder registry (default: the process-wide one, which
 *   POP3 uses too, so both see the same state). Call `registry.flushAll()` at shutdown.
 */
export interface ImapDeps {
  config: Config;
  auth: AuthService;
  users: UserDatabase;
  tls?: TlsProvider;
  registry?: FolderRegistry;
}

const log = logger('imap');

/** "Sent=\Sent" list → storage name (modified UTF-7) → attribute. */
export function specialUseMap(items: readonly string[]): Map<string, string> {
  const m = new Map<string, string>();
  for (const it of items) {
    const eq = it.lastIndexOf('=');
    if (eq <= 0) continue;
    const attr = it.slice(eq + 1);
    const name = it.slice(0, eq);
    m.set(encodeMailboxName(name), attr.startsWith('\\') ? attr : '\\' + attr);
  }
  return m;
}

/** Per-user, per-IP connection count (mail_max_userip_connections). */
const userIpConnections = new Map<string, number>();

export function createImapHandler(deps: ImapDeps): ConnectionHandler {
  return (socket: Socket | TLSSocket, info: ConnectionInfo): SessionHandle => {
    const view = deps.config.view(info.service);
    const remoteIp = info.remoteAddress;
    const secured = isSecuredConnection(view, { remoteIp, localIp: info.localAddress, tls: info.implicitTls });
    const tlsProvider = deps.tls;
    const settings: SessionSettings = {
      auth: deps.auth,
      users: deps.users,
      registry: deps.registry ?? folderRegistry,
      startTls: tlsProvider ? (s) => upgradeToTls(s, tlsProvider.context(info.service)) : undefined,
      plaintextAllowedWithoutTls: !view.bool('disable_plaintext_auth') || secured,
      securedWithoutTls: secured,
      implicitTls: info.implicitTls,
      remoteIp,
      remotePort: info.remotePort,
      localIp: info.localAddress,
      sessionId: info.id,
      log: log.withId(info.id),
      maxLine: view.size('imap_max_line_length'),
      literalLimit: view.size('imap_literal_limit') || Number.MAX_SAFE_INTEGER,
      idleNotifyMs: view.time('imap_idle_notify_interval') * 1000,
      clientTimeoutMs: view.time('imap_client_timeout') * 1000,
      loginTimeoutMs: view.time('imap_login_timeout') * 1000,
      mailLocation: view.get('mail_location'),
      fsync: view.bool('maildir_fsync'),
      separator: view.get('imap_hierarchy_separator') === '/' ? '/' : '.',
      specialUse: specialUseMap(view.list('mailbox_special_use')),
      autocreate: view.list('mailbox_autocreate').map(encodeMailboxName),
      autosubscribe: view.list('mailbox_autosubscribe').map(encodeMailboxName),
      greetingName: view.get('mail_name') || 'facteur',
    };
    if (deps.registry === undefined) folderRegistry.keepMs = view.time('imap_folder_keep_time') * 1000;
    const maxUserIp = view.int('mail_max_userip_connections');
    const session = new Session(socket, settings);
    settings.log.info('connect', { rip: remoteIp, lip: info.localAddress, TLS: info.implicitTls ? 'yes' : 'no' });
    let counted: string | undefined;
    session.onLogin = (user) => {
      const key = `${user}\0${remoteIp}`;
      const n = (userIpConnections.get(key) ?? 0) + 1;
      if (n > maxUserIp) return false;
      userIpConnections.set(key, n);
      counted = key;
      return true;
    };
    session.closed.then(() => {
      if (counted) {
        const n = (userIpConnections.get(counted) ?? 1) - 1;
        if (n <= 0) userIpConnections.delete(counted);
        else userIpConnections.set(counted, n);
      }
      settings.log.info('Disconnected', { user: session.user });
    });
    session.run().catch((e) => settings.log.error('session crashed', { error: e }));
    return {
      closed: session.closed,
      shutdown: (reason: string) => session.shutdown(reason),
    };
  };
}
