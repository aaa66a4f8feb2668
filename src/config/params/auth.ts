import type { ParamSpec } from './types.js';

const g = 'auth' as const;

// SASL in SMTP (Postfix names), the auth socket and login policy (Dovecot names).
export const AUTH_PARAMS: ParamSpec[] = [
  { name: 'smtpd_sasl_auth_enable', type: 'bool', default: 'no', group: g, doc: 'Offer SMTP AUTH (the submission services turn it on).' },
  { name: 'smtpd_sasl_type', type: 'enum', values: ['facteur', 'dovecot'], default: 'facteur', group: g, doc: 'facteur: the built-in auth service; dovecot: ask the Dovecot auth socket at smtpd_sasl_path (facteur\'s own socket path means the built-in service).' },
  { name: 'smtpd_sasl_path', type: 'string', default: 'private/auth', group: g, doc: 'Dovecot auth socket for smtpd_sasl_type = dovecot: relative to $queue_directory, absolute, or inet:host:port.' },
  { name: 'smtpd_sasl_service', type: 'string', default: 'smtp', group: g, doc: 'service= name smtpd sends to a Dovecot auth server (smtpd_sasl_type = dovecot).' },
  { name: 'smtpd_sasl_authenticated_header', type: 'bool', default: 'no', group: g, doc: 'Add (Authenticated sender: USER) to the Received: header.' },
  { name: 'smtpd_sasl_security_options', type: 'list', default: 'noanonymous', group: g, doc: 'SASL mechanism restrictions (noanonymous, noplaintext).' },
  { name: 'smtpd_sasl_tls_security_options', type: 'list', default: '$smtpd_sasl_security_options', group: g, doc: 'SASL mechanism restrictions on TLS sessions.' },
  { name: 'smtpd_sasl_local_domain', type: 'string', default: '', group: g, doc: 'Realm appended to login names without one (Postfix name).' },
  { name: 'smtpd_sasl_exceptions_networks', type: 'networks', default: '', group: g, doc: 'Clients to which AUTH is not offered.' },
  { name: 'smtpd_tls_auth_only', type: 'bool', default: 'yes', group: g, doc: 'Offer AUTH only after TLS.', differs: 'Postfix\'s default is no; facteur never sends passwords in clear unless told to.' },
  { name: 'broken_sasl_auth_clients', type: 'bool', default: 'no', group: g, doc: 'Also announce AUTH=MECH for old Outlook clients.' },
  { name: 'smtpd_client_auth_rate_limit', type: 'int', min: 0, default: '0', group: g, doc: 'AUTH commands one client IP may send per anvil_rate_time_unit (0: no limit; failures are throttled by auth_failure_* anyway).' },
  { name: 'auth_mechanisms', type: 'list', default: 'plain login scram-sha-256 scram-sha-1', group: g, doc: 'SASL mechanisms offered (Dovecot name).' },
  { name: 'auth_failure_delay', type: 'time', unit: 's', default: '2s', group: g, doc: 'Delay before a failed authentication is answered (Dovecot name).' },
  { name: 'auth_failure_limit', type: 'int', min: 0, default: '10', group: g, doc: 'Failed authentications from one client IP within auth_failure_window after which its failures are slowed further and its connections dropped (0: no limit).' },
  { name: 'auth_failure_window', type: 'time', unit: 's', default: '10m', group: g, doc: 'Window over which auth_failure_limit counts.' },
  { name: 'auth_socket_path', type: 'path', default: '$queue_directory/private/auth-client', group: g, doc: 'UNIX socket where facteur serves Dovecot\'s auth-client protocol (empty: none).' },
  { name: 'auth_socket_mode', type: 'mode', default: '0660', group: g, doc: 'File mode of auth_socket_path.' },
  { name: 'auth_socket_user', type: 'string', default: '', group: g, doc: 'Owner of auth_socket_path (e.g. postfix; empty: unchanged).' },
  { name: 'auth_socket_group', type: 'string', default: '', group: g, doc: 'Group of auth_socket_path (e.g. postfix; empty: unchanged).' },
  { name: 'default_pass_scheme', type: 'enum', values: ['ARGON2ID', 'ARGON2I', 'BLF-CRYPT', 'SHA512-CRYPT', 'SHA256-CRYPT', 'SSHA512', 'SSHA256', 'SCRAM-SHA-256', 'PLAIN'], default: 'ARGON2ID', group: g, doc: 'Scheme for new passwords (Dovecot name).' },
  { name: 'disable_plaintext_auth', type: 'bool', default: 'yes', group: g, doc: 'IMAP/POP3: refuse LOGIN/USER/PASS and plaintext SASL on a connection that is neither TLS nor from a trusted network (Dovecot 2.3 semantics).' },
  { name: 'login_trusted_networks', type: 'networks', default: '', group: g, doc: 'Networks whose IMAP/POP3 connections count as secured (Dovecot name); loopback always does.' },
];
