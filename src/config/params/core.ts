import type { ParamSpec } from './types.js';

const g = 'core' as const;

// Listen addresses: production defaults are the well-known ports on every address;
// the embedded default (no configuration file) uses loopback high ports (see embedded.ts).
export const CORE_PARAMS: ParamSpec[] = [
  { name: 'data_directory', type: 'path', default: '/var/lib/facteur', group: g, doc: 'Directory for facteur\'s own state: user database, Maildirs of virtual users, queue, TLS keys.' },
  { name: 'queue_directory', type: 'path', default: '${data_directory}/queue', group: g, doc: 'Queue and private sockets (Postfix\'s queue_directory); relative smtpd_sasl_path values resolve under it.' },
  { name: 'mail_name', type: 'string', default: 'facteur', group: g, doc: 'The mail system name used in the SMTP greeting and Received: headers.' },
  { name: 'myhostname', type: 'string', default: '', group: g, doc: 'The fully-qualified host name of this mail system (empty: the machine\'s host name).' },
  { name: 'mydomain', type: 'string', default: '', group: g, doc: 'The domain of this mail system (empty: $myhostname minus its first label, or localdomain).' },
  { name: 'myorigin', type: 'string', default: '$myhostname', group: g, doc: 'The domain appended to unqualified addresses and used for MAILER-DAEMON.' },
  { name: 'mydestination', type: 'domains', default: '$myhostname, localhost.$mydomain, localhost', group: g, doc: 'Domains delivered locally (users by local part).' },
  { name: 'mynetworks', type: 'networks', default: '127.0.0.0/8 [::1]/128', group: g, doc: 'Trusted client networks for permit_mynetworks.', differs: 'Postfix derives it from mynetworks_style; facteur trusts loopback only.' },
  { name: 'inet_protocols', type: 'list', default: 'all', group: g, doc: 'IP protocols used for outbound connections.' },
  { name: 'dns_servers', type: 'list', default: '', group: g, doc: 'DNS servers as host[:port] (empty: the system resolver). Lets tests point facteur at a DNS server on loopback.' },
  { name: 'dns_timeout', type: 'time', unit: 's', default: '10s', group: g, doc: 'Timeout of one DNS query; a timeout is a temporary failure.' },
  { name: 'user_database', type: 'string', default: 'passwd-file:${data_directory}/users', group: g, doc: 'The user database: a Dovecot passwd-file (user@domain:{SCHEME}hash:uid:gid:gecos:home:shell:extra).' },
  { name: 'mail_home', type: 'string', default: '${data_directory}/mail/%d/%n', group: g, doc: 'Home of a user whose database entry has no home (Dovecot\'s mail_home; %u user, %n local part, %d domain).' },
  { name: 'default_process_limit', type: 'int', min: 1, default: '100', group: g, doc: 'Most simultaneous sessions per service (Postfix\'s master.cf maxproc); more connections are refused with a temporary error.' },
  { name: 'shutdown_timeout', type: 'time', unit: 's', default: '30s', group: g, doc: 'On SIGTERM, how long sessions may finish before they are closed.' },
  { name: 'smtp_listen', type: 'listen', default: '0.0.0.0:25, [::]:25', group: g, doc: 'Where the SMTP (MX) service listens; empty turns it off.' },
  { name: 'submission_listen', type: 'listen', default: '0.0.0.0:587, [::]:587', group: g, doc: 'Where the submission service (STARTTLS, AUTH required) listens; empty turns it off.' },
  { name: 'submissions_listen', type: 'listen', default: '0.0.0.0:465, [::]:465', group: g, doc: 'Where the submissions service (implicit TLS, RFC 8314) listens; empty turns it off.' },
  { name: 'imap_listen', type: 'listen', default: '0.0.0.0:143, [::]:143', group: g, doc: 'Where the IMAP service listens; empty turns it off.' },
  { name: 'imaps_listen', type: 'listen', default: '0.0.0.0:993, [::]:993', group: g, doc: 'Where the IMAPS service (implicit TLS) listens; empty turns it off.' },
  { name: 'pop3_listen', type: 'listen', default: '0.0.0.0:110, [::]:110', group: g, doc: 'Where the POP3 service listens; empty turns it off.' },
  { name: 'pop3s_listen', type: 'listen', default: '0.0.0.0:995, [::]:995', group: g, doc: 'Where the POP3S service (implicit TLS) listens; empty turns it off.' },
];
