// The restriction directives facteur knows (postconf(5), SMTPD_ACCESS_README), with the
// argument each takes. The config reader uses this table to refuse an unknown name at
// start-up (file:line) instead of failing at run time; the engine implements each entry.

export type DirectiveArg =
  /** no argument */
  | 'none'
  /** a number of seconds (`sleep 1`) */
  | 'seconds'
  /** a DNS list domain, optionally `=d.d.d.d` reply filter (`reject_rbl_client zen.example=127.0.0.2`) */
  | 'dnsdomain'
  /** a lookup table `type:name` */
  | 'table';

export interface DirectiveInfo {
  arg: DirectiveArg;
  /** Set when Postfix has the name but facteur does not implement it: a config error says so. */
  unsupported?: string;
  /** An older Postfix name for another directive. */
  aliasOf?: string;
}

const none: DirectiveInfo = { arg: 'none' };
const table: DirectiveInfo = { arg: 'table' };
const dnsdomain: DirectiveInfo = { arg: 'dnsdomain' };

export const DIRECTIVES: Record<string, DirectiveInfo> = {
  // generic
  permit: none,
  reject: none,
  defer: none,
  dunno: none,
  warn_if_reject: none,
  defer_if_permit: none,
  defer_if_reject: none,
  reject_unauth_pipelining: none,
  sleep: { arg: 'seconds' },
  // client
  permit_mynetworks: none,
  permit_sasl_authenticated: none,
  permit_inet_interfaces: none,
  reject_rbl_client: dnsdomain,
  permit_dnswl_client: dnsdomain,
  reject_rhsbl_client: dnsdomain,
  reject_rhsbl_reverse_client: dnsdomain,
  permit_rhswl_client: dnsdomain,
  reject_unknown_client_hostname: none,
  reject_unknown_client: { arg: 'none', aliasOf: 'reject_unknown_client_hostname' },
  reject_unknown_reverse_client_hostname: none,
  check_client_access: table,
  check_reverse_client_hostname_access: table,
  check_client_a_access: table,
  check_client_mx_access: table,
  check_client_ns_access: { arg: 'table', unsupported: 'NS lookups are not available through the DNS resolver' },
  check_reverse_client_hostname_a_access: table,
  check_reverse_client_hostname_mx_access: table,
  check_reverse_client_hostname_ns_access: { arg: 'table', unsupported: 'NS lookups are not available through the DNS resolver' },
  check_sasl_access: table,
  reject_plaintext_session: none,
  // helo
  reject_invalid_helo_hostname: none,
  reject_invalid_hostname: { arg: 'none', aliasOf: 'reject_invalid_helo_hostname' },
  reject_non_fqdn_helo_hostname: none,
  reject_non_fqdn_hostname: { arg: 'none', aliasOf: 'reject_non_fqdn_helo_hostname' },
  reject_unknown_helo_hostname: none,
  reject_unknown_hostname: { arg: 'none', aliasOf: 'reject_unknown_helo_hostname' },
  reject_rhsbl_helo: dnsdomain,
  check_helo_access: table,
  check_helo_a_access: table,
  check_helo_mx_access: table,
  check_helo_ns_access: { arg: 'table', unsupported: 'NS lookups are not available through the DNS resolver' },
  // sender
  reject_unlisted_sender: none,
  reject_unknown_sender_domain: none,
  reject_non_fqdn_sender: none,
  reject_sender_login_mismatch: none,
  reject_authenticated_sender_login_mismatch: none,
  reject_known_sender_login_mismatch: none,
  reject_unauthenticated_sender_login_mismatch: none,
  reject_rhsbl_sender: dnsdomain,
  check_sender_access: table,
  check_sender_a_access: table,
  check_sender_mx_access: table,
  check_sender_ns_access: { arg: 'table', unsupported: 'NS lookups are not available through the DNS resolver' },
  // recipient / relay
  reject_unlisted_recipient: none,
  reject_unknown_recipient_domain: none,
  reject_non_fqdn_recipient: none,
  reject_unauth_destination: none,
  defer_unauth_destination: none,
  permit_auth_destination: none,
  permit_mx_backup: none,
  reject_rhsbl_recipient: dnsdomain,
  reject_multi_recipient_bounce: none,
  check_recipient_access: table,
  check_recipient_a_access: table,
  check_recipient_mx_access: table,
  check_recipient_ns_access: { arg: 'table', unsupported: 'NS lookups are not available through the DNS resolver' },
  // etrn
  check_etrn_access: table,
  // known to Postfix, not (yet) implemented by facteur: a config error names them
  reject_unverified_sender: { arg: 'none', unsupported: 'address verification (verify(8)) is not implemented' },
  reject_unverified_recipient: { arg: 'none', unsupported: 'address verification (verify(8)) is not implemented' },
  check_policy_service: { arg: 'table', unsupported: 'policy delegation is not implemented' },
  permit_tls_clientcerts: { arg: 'none', unsupported: 'client certificates are not implemented' },
  permit_tls_all_clientcerts: { arg: 'none', unsupported: 'client certificates are not implemented' },
  check_ccert_access: { arg: 'table', unsupported: 'client certificates are not implemented' },
};

export function directiveInfo(name: string): DirectiveInfo | undefined {
  return Object.prototype.hasOwnProperty.call(DIRECTIVES, name) ? DIRECTIVES[name] : undefined;
}
