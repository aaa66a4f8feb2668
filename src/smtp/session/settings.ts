import { networkInterfaces } from 'node:os';
// The parameters one SMTP session reads, taken once from the service's ConfigView.
import type { ConfigView, NetworkItem } from '../../config/config.js';
import { cidrContains } from '../../config/values.js';

export interface SmtpSettings {
  myhostname: string;
  mailName: string;
  banner: string;
  lineLimit: number;
  sizeLimit: number;
  headerSizeLimit: number;
  hopLimit: number;
  recipientLimit: number;
  overshootLimit: number;
  timeoutMs: number;
  starttlsTimeoutMs: number;
  softErrorLimit: number;
  hardErrorLimit: number;
  errorSleepMs: number;
  junkLimit: number;
  bareNewline: 'normalize' | 'reject' | 'no';
  bareNewlineExclusions: NetworkItem[];
  bareNewlineCode: number;
  forbidUnauthPipelining: boolean;
  vrfyDisabled: boolean;
  heloRequired: boolean;
  strictRfc821: boolean;
  smtputf8: boolean;
  discard: Set<string>;
  footer: string;
  tlsLevel: string;
  wrapperMode: boolean;
  tlsReceivedHeader: boolean;
  saslEnable: boolean;
  tlsAuthOnly: boolean;
  /** smtpd_sasl_type: the reply to an unknown mechanism follows the backend (Postfix + Dovecot vs. built-in). */
  saslType: string;
  saslHeader: boolean;
  brokenAuthClients: boolean;
  saslNoPlaintext: boolean;
  saslTlsNoPlaintext: boolean;
  saslResponseLimit: number;
  forbiddenCommands: Set<string>;
  spoolMemory: number;
  /** local_header_rewrite_clients */
  headerRewriteClients: string[];
  mynetworks: NetworkItem[];
  myorigin: string;
}

export function readSettings(v: ConfigView): SmtpSettings {
  const bare = v.get('smtpd_forbid_bare_newline');
  return {
    myhostname: v.get('myhostname'),
    mailName: v.get('mail_name'),
    banner: v.get('smtpd_banner'),
    lineLimit: v.int('line_length_limit'),
    sizeLimit: v.size('message_size_limit'),
    headerSizeLimit: v.size('header_size_limit'),
    hopLimit: v.int('hopcount_limit'),
    recipientLimit: v.int('smtpd_recipient_limit'),
    overshootLimit: v.int('smtpd_recipient_overshoot_limit'),
    timeoutMs: v.time('smtpd_timeout') * 1000,
    starttlsTimeoutMs: v.time('smtpd_starttls_timeout') * 1000,
    softErrorLimit: v.int('smtpd_soft_error_limit'),
    hardErrorLimit: v.int('smtpd_hard_error_limit'),
    errorSleepMs: v.time('smtpd_error_sleep_time') * 1000,
    junkLimit: v.int('smtpd_junk_command_limit'),
    bareNewline: bare === 'yes' ? 'normalize' : (bare as SmtpSettings['bareNewline']),
    bareNewlineExclusions: v.networks('smtpd_forbid_bare_newline_exclusions'),
    bareNewlineCode: v.int('smtpd_forbid_bare_newline_reject_code'),
    forbidUnauthPipelining: v.bool('smtpd_forbid_unauth_pipelining'),
    vrfyDisabled: v.bool('disable_vrfy_command'),
    heloRequired: v.bool('smtpd_helo_required'),
    strictRfc821: v.bool('strict_rfc821_envelopes'),
    smtputf8: v.bool('smtputf8_enable'),
    discard: new Set(v.list('smtpd_discard_ehlo_keywords').map((k) => k.toUpperCase())),
    footer: v.get('smtpd_reject_footer'),
    tlsLevel: v.get('smtpd_tls_security_level'),
    wrapperMode: v.bool('smtpd_tls_wrappermode'),
    tlsReceivedHeader: v.bool('smtpd_tls_received_header'),
    saslEnable: v.bool('smtpd_sasl_auth_enable'),
    tlsAuthOnly: v.bool('smtpd_tls_auth_only'),
    saslType: v.get('smtpd_sasl_type'),
    saslHeader: v.bool('smtpd_sasl_authenticated_header'),
    brokenAuthClients: v.bool('broken_sasl_auth_clients'),
    saslNoPlaintext: v.list('smtpd_sasl_security_options').map((s) => s.toLowerCase()).includes('noplaintext'),
    saslTlsNoPlaintext: v.list('smtpd_sasl_tls_security_options').map((s) => s.toLowerCase()).includes('noplaintext'),
    saslResponseLimit: v.int('smtpd_sasl_response_limit'),
    forbiddenCommands: new Set(v.list('smtpd_forbidden_commands').map((c) => c.toUpperCase())),
    spoolMemory: v.size('smtpd_spool_memory_limit'),
    headerRewriteClients: v.list('local_header_rewrite_clients').map((x) => x.toLowerCase()),
    mynetworks: v.networks('mynetworks'),
    myorigin: v.get('myorigin'),
  };
}

/** A client address matches the CIDR entries of a network list (tables in the list are not consulted here). */
/** This host's addresses (permit_inet_interfaces), loopback included. */
let interfaceAddresses: Set<string> | undefined;
export function isInterfaceAddress(ip: string): boolean {
  interfaceAddresses ??= new Set([...Object.values(networkInterfaces()).flatMap((l) => (l ?? []).map((i) => i.address.toLowerCase())), '127.0.0.1', '::1']);
  return interfaceAddresses.has(ip.toLowerCase());
}

/** local_header_rewrite_clients (postconf(5)): does cleanup rewrite this client's headers? */
export function rewritesHeaders(s: SmtpSettings, client: { ip: string; saslUsername?: string }): boolean {
  return s.headerRewriteClients.some((item) => {
    if (item === 'permit_inet_interfaces') return isInterfaceAddress(client.ip);
    if (item === 'permit_mynetworks') return inNetworks(s.mynetworks, client.ip);
    if (item === 'permit_sasl_authenticated') return client.saslUsername !== undefined;
    if (item === 'static:all') return true;
    return false;
  });
}

export function inNetworks(items: NetworkItem[], ip: string): boolean {
  return items.some((i) => i.kind === 'cidr' && cidrContains(i.cidr, ip));
}
