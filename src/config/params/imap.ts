import type { ParamSpec } from './types.js';

const g = 'imap' as const;

// IMAP server (Dovecot setting names where Dovecot has one).
export const IMAP_PARAMS: ParamSpec[] = [
  { name: 'imap_max_line_length', type: 'size', default: '65536', group: g, doc: 'Longest IMAP command line, literals excluded (Dovecot name).' },
  { name: 'imap_literal_limit', type: 'size', default: '$message_size_limit', group: g, doc: 'Largest literal (APPEND message) accepted.' },
  { name: 'imap_idle_notify_interval', type: 'time', unit: 'm', default: '2m', group: g, doc: 'How often an IDLE client gets a keep-alive "* OK Still here" (Dovecot name).' },
  { name: 'imap_client_timeout', type: 'time', unit: 'm', default: '30m', group: g, doc: 'Idle time after which an authenticated IMAP client is logged out (RFC 3501 §5.4: at least 30 minutes).' },
  { name: 'imap_login_timeout', type: 'time', unit: 's', default: '60s', group: g, doc: 'Time a client has to log in.' },
  { name: 'mail_max_userip_connections', type: 'int', min: 1, default: '10', group: g, doc: 'Most IMAP connections per user and client IP (Dovecot name).' },
  { name: 'mailbox_autocreate', type: 'list', default: 'Drafts Sent Trash Junk Archive', group: g, doc: 'Folders created at login when missing (Dovecot\'s auto = create), with the SPECIAL-USE flags of mailbox_special_use.' },
  { name: 'mailbox_autosubscribe', type: 'list', default: '$mailbox_autocreate', group: g, doc: 'Folders kept subscribed: re-subscribed at login when missing (Dovecot\'s auto = subscribe).' },
  { name: 'mailbox_special_use', type: 'list', default: 'Drafts=\\Drafts Sent=\\Sent Trash=\\Trash Junk=\\Junk Archive=\\Archive', group: g, doc: 'RFC 6154 SPECIAL-USE attribute of folders, as Name=\\Attribute (Dovecot: mailbox { special_use }).' },
  { name: 'imap_folder_keep_time', type: 'time', unit: 's', default: '60s', group: g, doc: 'How long a folder nobody uses stays in memory (its index is written when it is dropped).' },
  { name: 'imap_hierarchy_separator', type: 'enum', values: ['.', '/'], default: '.', group: g, doc: 'Hierarchy separator shown by NAMESPACE/LIST (on disk folders are always .Parent.Child).' },
];
