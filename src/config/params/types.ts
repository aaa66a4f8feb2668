// The shape of one entry in facteur's parameter table.
import type { TimeUnit } from '../values.js';

export type ParamType =
  /** free text */
  | 'string'
  /** yes / no */
  | 'bool'
  /** whole number (min/max apply) */
  | 'int'
  /** Postfix time value; `unit` is the unit of a bare number; read as seconds */
  | 'time'
  /** bytes */
  | 'size'
  /** octal file mode */
  | 'mode'
  /** one of `values` */
  | 'enum'
  /** list of words split on commas/whitespace */
  | 'list'
  /** list of domain names, `type:table` references or `/file/name` (mydestination, relay_domains …) */
  | 'domains'
  /** list of CIDR networks, `type:table` references or `/file/name` (mynetworks …) */
  | 'networks'
  /** list of `type:table` references (alias_maps …) */
  | 'tables'
  /** a restriction list (smtpd_*_restrictions) */
  | 'restrictions'
  /** list of listen addresses; empty turns the service off */
  | 'listen'
  /** a filesystem path (not checked) */
  | 'path'
  /** a file that must be readable when the value is not empty (a leading `<` as in Dovecot's `ssl_cert = </path` is accepted) */
  | 'file';

/** The rooms of the source tree that own parameters (see DESIGN.md). */
export type ParamGroup = 'core' | 'smtpd' | 'policy' | 'tls' | 'auth' | 'queue' | 'delivery' | 'imap' | 'pop3' | 'compat';

export interface ParamSpec {
  name: string;
  type: ParamType;
  /** Default in main.cf syntax; may use `$other` expansion. */
  default: string;
  /** One line for `config show` and the README reference. */
  doc: string;
  group: ParamGroup;
  /** For `time`: the unit of a bare number (Postfix's per-parameter default unit). */
  unit?: TimeUnit;
  /** For `enum`; for `list`, the words it may contain. */
  values?: readonly string[];
  min?: number;
  max?: number;
  /**
   * Postfix "raw" parameter: `$name` in it is a template variable filled at run time
   * ($rbl_code, $client …), not a parameter reference; the value is never expanded.
   */
  raw?: boolean;
  /** Where facteur's default differs from Postfix's/Dovecot's on purpose, say why (shown in the reference). */
  differs?: string;
}

/** The services a `service.parameter = value` override can name (issue #2). */
export const SERVICES = ['smtp', 'submission', 'submissions', 'imap', 'imaps', 'pop3', 'pop3s'] as const;
export type ServiceName = (typeof SERVICES)[number];

export function isService(s: string): s is ServiceName {
  return (SERVICES as readonly string[]).includes(s);
}
