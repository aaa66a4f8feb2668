// Which SASL mechanism the SMTP client uses with a relayhost (smtp_sasl_auth_enable),
// honouring smtp_sasl_security_options / smtp_sasl_tls_security_options (`noplaintext`
// forbids PLAIN and LOGIN). The exchanges themselves are src/auth/sasl-client.ts.
import { chooseSaslMechanism } from '../../auth/sasl-client.js';

const PLAINTEXT = new Set(['PLAIN', 'LOGIN']);

export function chooseMechanism(offered: string[], securityOptions: string[]): string | undefined {
  const opts = new Set(securityOptions.map((o) => o.toLowerCase()));
  const allowed = opts.has('noplaintext') ? offered.filter((m) => !PLAINTEXT.has(m.toUpperCase())) : offered;
  return chooseSaslMechanism(allowed, ['SCRAM-SHA-256', 'SCRAM-SHA-1', 'PLAIN', 'LOGIN']);
}
