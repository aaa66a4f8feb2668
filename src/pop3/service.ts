// The pop3 and pop3s services' connection handler.
import type { Config } from '../config/config.js';
import type { ConnectionHandler } from '../server/connection.js';
import type { TlsProvider } from '../server/tls.js';
import type { AuthService } from '../auth/types.js';
import type { Pop3MaildropProvider } from './maildrop.js';
import { startPop3Session } from './session.js';

export interface Pop3ServiceDeps {
  config: Config;
  tls: TlsProvider;
  auth: AuthService;
  maildrops: Pop3MaildropProvider;
}

export function createPop3Handler(deps: Pop3ServiceDeps): ConnectionHandler {
  return (socket, info) => startPop3Session(socket, info, { config: deps.config.view(info.service), tls: deps.tls, auth: deps.auth, maildrops: deps.maildrops });
}
