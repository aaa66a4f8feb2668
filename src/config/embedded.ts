// The embedded default (DESIGN.md principle 6): with no configuration file, every
// service listens on loopback high ports and keeps its data in ./facteur-data.

export const EMBEDDED_DEFAULTS: Readonly<Record<string, string>> = {
  data_directory: './facteur-data',
  smtp_listen: '127.0.0.1:2525',
  submission_listen: '127.0.0.1:2587',
  submissions_listen: '127.0.0.1:2465',
  imap_listen: '127.0.0.1:1143',
  imaps_listen: '127.0.0.1:1993',
  pop3_listen: '127.0.0.1:1110',
  pop3s_listen: '127.0.0.1:1995',
  // the first user's domain is local without further settings (see delivery)
  myhostname: 'localhost.localdomain',
};

/** Where `facteur` looks for its configuration when no -c is given, in order. */
export const DEFAULT_CONFIG_PATHS = ['facteur.conf', '/etc/facteur/facteur.conf'];
