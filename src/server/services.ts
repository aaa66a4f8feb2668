// Which protocol engine serves which service. Each engine's factory receives the
// configuration and the shared components; services whose engine is not built are
// simply not started (issue #2).
import type { Config } from '../config/config.js';
import type { ServiceName } from '../config/params/types.js';
import type { ConnectionHandler } from './connection.js';
import type { TlsProvider } from './tls.js';

export function createHandlers(_config: Config, _tls: TlsProvider): Partial<Record<ServiceName, ConnectionHandler>> {
  return {};
}
