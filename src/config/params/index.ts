// The one table of every parameter facteur supports (issue #2). Each room owns its file.
import { AUTH_PARAMS } from './auth.js';
import { COMPAT_PARAMS } from './compat.js';
import { CORE_PARAMS } from './core.js';
import { DELIVERY_PARAMS } from './delivery.js';
import { IMAP_PARAMS } from './imap.js';
import { POLICY_PARAMS } from './policy.js';
import { POP3_PARAMS } from './pop3.js';
import { QUEUE_PARAMS } from './queue.js';
import { SMTPD_PARAMS } from './smtpd.js';
import { TLS_PARAMS } from './tls.js';
import type { ParamSpec } from './types.js';

export * from './types.js';

export const PARAMETERS: readonly ParamSpec[] = [
  ...CORE_PARAMS,
  ...TLS_PARAMS,
  ...SMTPD_PARAMS,
  ...POLICY_PARAMS,
  ...AUTH_PARAMS,
  ...DELIVERY_PARAMS,
  ...QUEUE_PARAMS,
  ...IMAP_PARAMS,
  ...POP3_PARAMS,
  ...COMPAT_PARAMS,
];

export const PARAMETER_INDEX: ReadonlyMap<string, ParamSpec> = (() => {
  const m = new Map<string, ParamSpec>();
  for (const p of PARAMETERS) {
    if (m.has(p.name)) throw new Error(`parameter ${p.name} is defined twice`);
    m.set(p.name, p);
  }
  return m;
})();

/**
 * Built-in per-service defaults, as Debian's master.cf `-o` options set them for the
 * submission services. They win over main.cf's global values (as master.cf does) and
 * lose to an explicit `service.parameter` line.
 */
const SUBMISSION: Readonly<Record<string, string>> = {
  smtpd_tls_security_level: 'encrypt',
  smtpd_sasl_auth_enable: 'yes',
  smtpd_tls_auth_only: 'yes',
  smtpd_client_restrictions: 'permit_sasl_authenticated, reject',
  smtpd_helo_restrictions: '',
  smtpd_sender_restrictions: 'reject_sender_login_mismatch',
  smtpd_relay_restrictions: 'permit_sasl_authenticated, reject',
  smtpd_recipient_restrictions: '',
};

export const SERVICE_DEFAULTS: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  submission: SUBMISSION,
  // the same service with TLS from the first byte (RFC 8314 §3.3)
  submissions: { smtpd_tls_wrappermode: 'yes', ...SUBMISSION },
  imap: { default_process_limit: '10000' },
  imaps: { default_process_limit: '10000' },
  pop3: { default_process_limit: '1000' },
  pop3s: { default_process_limit: '1000' },
};
