import type { ParamSpec } from './types.js';

const g = 'compat' as const;

// Postfix parameters that a pasted Debian main.cf (or a tutorial) sets and that have no
// meaning in facteur's one-process design. They are accepted without a warning, so that
// `config check` only warns about what may really be a mistake.
const ignored = (name: string, why: string, def = ''): ParamSpec => ({ name, type: 'string', default: def, group: g, doc: `Accepted for compatibility; not used: ${why}.` });

export const COMPAT_PARAMS: ParamSpec[] = [
  { name: 'config_directory', type: 'path', default: '', group: g, doc: 'The directory of the configuration file (Postfix name), for ${config_directory}/maps/... references; empty means that directory.' },
  { name: 'inet_interfaces', type: 'string', default: 'all', group: g, doc: 'Not used: facteur listens where smtp_listen, submission_listen, … say (a value other than "all" gets a warning that says so).' },
  ignored('biff', 'there is no comsat notification'),
  ignored('readme_directory', 'documentation location'),
  ignored('html_directory', 'documentation location'),
  ignored('manpage_directory', 'documentation location'),
  ignored('sample_directory', 'documentation location'),
  ignored('compatibility_level', 'facteur has one behaviour, documented per parameter'),
  ignored('mail_owner', 'facteur runs as one process'),
  ignored('setgid_group', 'facteur runs as one process'),
  ignored('default_privs', 'pipe and file deliveries are not supported'),
  ignored('syslog_name', 'facteur logs to standard error (journald)'),
  ignored('syslog_facility', 'facteur logs to standard error (journald)'),
  ignored('maillog_file', 'facteur logs to standard error (journald)'),
  ignored('maillog_file_prefixes', 'facteur logs to standard error (journald)'),
  ignored('smtp_tls_CApath', 'the SMTP client does not verify certificates at security level may'),
  ignored('smtp_tls_CAfile', 'the SMTP client does not verify certificates at security level may'),
  ignored('smtp_tls_session_cache_database', 'TLS sessions are not cached between processes'),
  ignored('smtpd_tls_session_cache_database', 'TLS sessions are not cached between processes'),
  ignored('smtpd_use_tls', 'use smtpd_tls_security_level'),
  ignored('smtp_use_tls', 'use smtp_tls_security_level'),
  ignored('smtpd_tls_loglevel', 'TLS details are logged at connection time'),
  ignored('smtp_tls_loglevel', 'TLS details are logged at connection time'),
  ignored('mailbox_command', 'delivery is done by facteur itself (Maildir or mbox)'),
  ignored('milter_macro_daemon_name', 'milters are not supported'),
  ignored('defer_transports', 'there is one transport'),
];
