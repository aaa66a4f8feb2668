// Lookup tables (postconf(5) "type:name"): the common interface of every table type.
// Used by the restriction engine (access maps, smtpd_sender_login_maps, rbl_reply_maps),
// by local delivery (alias_maps, virtual_alias_maps) and by the queue
// (smtp_sasl_password_maps).

/** A problem found while loading a table: Postfix warns and skips the entry. */
export interface TableDiagnostic {
  severity: 'error' | 'warning';
  /** The table file (or the table reference for inline tables). */
  file: string;
  /** 1-based line of the (first line of the) logical line; 0 for the whole table. */
  line: number;
  message: string;
}

/** A lookup failed (file unreadable, `fail:` table): Postfix answers 451 4.3.x, never "not found". */
export class TableError extends Error {
  constructor(
    message: string,
    /** true: a retry may work (DICT_ERR_RETRY); false: configuration problem (DICT_ERR_CONFIG). */
    readonly temporary = true,
  ) {
    super(message);
    this.name = 'TableError';
  }
}

export interface LookupTable {
  /** `texthash`, `cidr`, `regexp` … */
  readonly type: string;
  /** The reference as written (`texthash:/etc/postfix/access`). */
  readonly text: string;
  /**
   * Postfix's DICT_FLAG_FIXED: exact-key tables (hash, texthash, inline, static, unix …).
   * Pattern tables (regexp, pcre, cidr) are asked only for the full key; parent domains,
   * address prefixes and `user@` keys are looked up in fixed tables only.
   */
  readonly fixed: boolean;
  /** The value for `key`, or undefined when there is none. Rejects with TableError when the table cannot answer. */
  lookup(key: string): Promise<string | undefined>;
  /** Problems found the last time the table was loaded (loads it if needed). */
  check(): Promise<TableDiagnostic[]>;
}

/** How a file-backed table's lines are read. */
export type TableFormat =
  /** postmap(1) source: `key whitespace value` */
  | 'map'
  /** aliases(5): `name: value, value` (alias_maps with hash:/etc/aliases) */
  | 'aliases';
