import type { ParamSpec } from './types.js';

const g = 'queue' as const;

// The outbound queue and SMTP client (Postfix qmgr(8) / smtp(8) names and defaults).
export const QUEUE_PARAMS: ParamSpec[] = [
  { name: 'minimal_backoff_time', type: 'time', unit: 's', default: '300s', group: g, doc: 'Shortest time a deferred message waits before a retry.' },
  { name: 'maximal_backoff_time', type: 'time', unit: 's', default: '4000s', group: g, doc: 'Longest time a deferred message waits before a retry.' },
  { name: 'queue_run_delay', type: 'time', unit: 's', default: '300s', group: g, doc: 'How often the deferred queue is scanned.' },
  { name: 'maximal_queue_lifetime', type: 'time', unit: 'd', default: '5d', group: g, doc: 'How long a message may stay deferred before it bounces.' },
  { name: 'bounce_queue_lifetime', type: 'time', unit: 'd', default: '5d', group: g, doc: 'How long a bounce (null sender) may stay deferred.' },
  { name: 'delay_warning_time', type: 'time', unit: 'h', default: '0h', group: g, doc: 'Send a delay notice after this long (0: never).' },
  { name: 'default_destination_concurrency_limit', type: 'int', min: 1, default: '20', group: g, doc: 'Most parallel deliveries to one destination.' },
  { name: 'default_destination_recipient_limit', type: 'int', min: 1, default: '50', group: g, doc: 'Most recipients per delivery transaction.' },
  { name: 'relayhost', type: 'string', default: '', group: g, doc: 'Send all remote mail through this host: [host]:port (no MX lookup) or host:port.' },
  { name: 'smtp_destination_port', type: 'int', min: 1, max: 65535, default: '25', group: g, doc: 'TCP port of remote MX hosts.' },
  { name: 'smtp_helo_name', type: 'string', default: '$myhostname', group: g, doc: 'Name sent in EHLO/HELO by the SMTP client.' },
  { name: 'smtp_connect_timeout', type: 'time', unit: 's', default: '30s', group: g, doc: 'Timeout of a TCP connection to a remote SMTP server.' },
  { name: 'smtp_helo_timeout', type: 'time', unit: 's', default: '300s', group: g, doc: 'Timeout of the greeting and the EHLO reply.' },
  { name: 'smtp_mail_timeout', type: 'time', unit: 's', default: '300s', group: g, doc: 'Timeout of the MAIL FROM reply.' },
  { name: 'smtp_rcpt_timeout', type: 'time', unit: 's', default: '300s', group: g, doc: 'Timeout of each RCPT TO reply.' },
  { name: 'smtp_data_init_timeout', type: 'time', unit: 's', default: '120s', group: g, doc: 'Timeout of the DATA reply.' },
  { name: 'smtp_data_xfer_timeout', type: 'time', unit: 's', default: '180s', group: g, doc: 'Timeout of sending the content.' },
  { name: 'smtp_data_done_timeout', type: 'time', unit: 's', default: '600s', group: g, doc: 'Timeout of the reply after the final dot.' },
  { name: 'smtp_quit_timeout', type: 'time', unit: 's', default: '300s', group: g, doc: 'Timeout of the QUIT reply.' },
  { name: 'smtp_tls_security_level', type: 'enum', values: ['', 'none', 'may', 'encrypt'], default: 'may', group: g, doc: 'SMTP client TLS: may (opportunistic STARTTLS), encrypt (required), none.' },
  { name: 'smtp_sasl_auth_enable', type: 'bool', default: 'no', group: g, doc: 'Authenticate to the relayhost.' },
  { name: 'smtp_sasl_password_maps', type: 'tables', default: '', group: g, doc: 'Credentials per relay host: [host]:port user:password.' },
  { name: 'smtp_sasl_security_options', type: 'list', default: 'noplaintext, noanonymous', group: g, doc: 'Mechanism restrictions for the SMTP client (plaintext allowed over TLS).' },
  { name: 'smtp_sasl_tls_security_options', type: 'list', default: 'noanonymous', group: g, doc: 'Mechanism restrictions for the SMTP client over TLS.' },
  { name: 'bounce_notice_recipient', type: 'string', default: 'postmaster', group: g, doc: 'Who gets postmaster copies of bounces (notify_classes).' },
  { name: 'notify_classes', type: 'list', default: 'resource, software', group: g, doc: 'Problem classes reported to the postmaster.' },
  { name: 'qmgr_message_active_limit', type: 'int', min: 1, default: '20000', group: g, doc: 'Most messages in the active queue at once.' },
];
