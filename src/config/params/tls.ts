import type { ParamSpec } from './types.js';

const g = 'tls' as const;

export const TLS_PARAMS: ParamSpec[] = [
  { name: 'tls_cert_file', type: 'file', default: '', group: g, doc: 'PEM certificate (chain) for every TLS service (empty: a self-signed one generated under $data_directory/tls on first start).' },
  { name: 'tls_key_file', type: 'file', default: '', group: g, doc: 'PEM private key for tls_cert_file.' },
  { name: 'smtpd_tls_cert_file', type: 'file', default: '$tls_cert_file', group: g, doc: 'PEM certificate for the SMTP services (Postfix name).' },
  { name: 'smtpd_tls_key_file', type: 'file', default: '$tls_key_file', group: g, doc: 'PEM private key for the SMTP services (Postfix name).' },
  { name: 'ssl_cert', type: 'file', default: '$tls_cert_file', group: g, doc: 'PEM certificate for IMAP and POP3 (Dovecot name; `</path` accepted).' },
  { name: 'ssl_key', type: 'file', default: '$tls_key_file', group: g, doc: 'PEM private key for IMAP and POP3 (Dovecot name; `</path` accepted).' },
  { name: 'smtpd_tls_security_level', type: 'enum', values: ['', 'none', 'may', 'encrypt'], default: 'may', group: g, doc: 'SMTP server TLS: may (offer STARTTLS), encrypt (require it before MAIL and AUTH), none/empty (no STARTTLS).', differs: 'Postfix\'s default is empty (no TLS); facteur offers STARTTLS out of the box.' },
  { name: 'smtpd_tls_wrappermode', type: 'bool', default: 'no', group: g, doc: 'Implicit TLS from the first byte (the submissions service sets it).' },
  { name: 'smtpd_tls_received_header', type: 'bool', default: 'yes', group: g, doc: 'Record the TLS protocol and cipher in the Received: header.', differs: 'Postfix\'s default is no.' },
  { name: 'smtpd_tls_protocols', type: 'list', default: '>=TLSv1.2', group: g, doc: 'TLS protocol versions the SMTP server accepts (>=TLSv1.2, >=TLSv1, or !SSLv3 style exclusions).' },
  { name: 'ssl_min_protocol', type: 'enum', values: ['TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3'], default: 'TLSv1.2', group: g, doc: 'Oldest TLS version IMAP and POP3 accept (Dovecot name).' },
];
