// Log lines about authentication that other tools already read.
import type { Logger } from '../log.js';

/**
 * The text of Postfix's SASL failure warning, which fail2ban's postfix filter matches:
 *   warning: HOSTNAME[IP]: SASL LOGIN authentication failed: <reason>[, sasl_username=USER]
 * Returned without the `warning: ` level prefix, which Logger.warn() adds (component smtpd).
 */
export function formatSaslFailureLog(clientName: string | undefined, ip: string, mech: string, reason: string, username?: string): string {
  const name = clientName && clientName.length > 0 ? clientName : 'unknown';
  return `${name}[${ip}]: SASL ${mech.toUpperCase()} authentication failed: ${reason}${username ? `, sasl_username=${username}` : ''}`;
}

/** Write the fail2ban-compatible warning through `log` (use the smtpd logger). */
export function logSaslFailure(log: Logger, clientName: string | undefined, ip: string, mech: string, reason: string, username?: string): void {
  log.warn(formatSaslFailureLog(clientName, ip, mech, reason, username));
}
