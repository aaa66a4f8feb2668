import type { ParamSpec } from './types.js';

const g = 'delivery' as const;

// Local delivery: recipients, aliases, mailbox formats (Postfix local(8) / virtual(8) names).
export const DELIVERY_PARAMS: ParamSpec[] = [
  { name: 'home_mailbox', type: 'string', default: 'Maildir/', group: g, doc: 'Mailbox relative to the user\'s home: ending in / means Maildir, otherwise an mbox file; empty means mail_spool_directory.', differs: 'Postfix\'s default is empty (mbox in /var/mail); facteur delivers to ~/Maildir/ as the tutorial sets it.' },
  { name: 'mail_spool_directory', type: 'path', default: '/var/mail', group: g, doc: 'Directory of mbox files (USER) when home_mailbox is empty; a trailing / means Maildirs.' },
  { name: 'mail_location', type: 'string', default: 'maildir:~/Maildir', group: g, doc: 'Where IMAP and POP3 find a user\'s mail (Dovecot name).' },
  { name: 'recipient_delimiter', type: 'string', default: '+', group: g, doc: 'Separator of address extensions (user+tag@domain delivers to user).', differs: 'Postfix\'s default is empty; Debian and most guides set +.' },
  { name: 'alias_maps', type: 'tables', default: '', group: g, doc: 'Alias tables (aliases(5) format, `name: target, target`); hash:/etc/aliases reads /etc/aliases itself.' },
  { name: 'alias_database', type: 'tables', default: '$alias_maps', group: g, doc: 'Accepted for compatibility (newaliases is not needed).' },
  { name: 'local_recipient_maps', type: 'string', default: 'default', group: g, doc: 'Local users: "default" means the user database and alias_maps; empty accepts any local part.' },
  { name: 'virtual_mailbox_domains', type: 'domains', default: '', group: g, doc: 'Domains whose users (user@domain) live in the user database; domains of users in the database are always accepted.' },
  { name: 'virtual_alias_domains', type: 'domains', default: '', group: g, doc: 'Domains that exist only as aliases (virtual_alias_maps).' },
  { name: 'virtual_alias_maps', type: 'tables', default: '', group: g, doc: 'Address rewriting tables (user@domain → address, …).' },
  { name: 'mailbox_size_limit', type: 'size', default: '0', group: g, doc: 'Largest mbox file (0: no limit).' },
  { name: 'postmaster_recipient', type: 'string', default: '', group: g, doc: 'Where mail to postmaster goes when alias_maps has no postmaster entry (an address; empty: a user named postmaster or root, else the first user of the user database).' },
  { name: 'mailbox_delivery_lock', type: 'list', default: 'dotlock', group: g, doc: 'How an mbox is locked for delivery: dotlock (USER.lock beside the file, as Postfix and Dovecot do; always with an in-process lock). Without dotlock only facteur\'s own deliveries are serialized.', differs: 'Postfix also takes an fcntl lock; Node.js has no fcntl locking, so facteur relies on dot-locking, which Postfix, Dovecot and mutt honour.' },
  { name: 'mbox_stale_lock_time', type: 'time', unit: 's', default: '500s', group: g, doc: 'A dot-lock file older than this is removed as stale (Postfix stale_lock_time).' },
  { name: 'maildir_fsync', type: 'bool', default: 'yes', group: g, doc: 'fsync each delivered file and its directory before replying 250 (never turn off in production).' },
];
