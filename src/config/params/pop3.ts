import type { ParamSpec } from './types.js';

const g = 'pop3' as const;

// POP3 server (Dovecot setting names).
export const POP3_PARAMS: ParamSpec[] = [
  { name: 'pop3_uidl_format', type: 'string', default: '%08Xu%08Xv', group: g, doc: 'UIDL format (Dovecot name): %u UID, %v UIDVALIDITY, %X hex, %08 zero-padded.' },
  { name: 'pop3_client_timeout', type: 'time', unit: 'm', default: '10m', group: g, doc: 'Idle time after which a POP3 client is disconnected (RFC 1939: at least 10 minutes).' },
];
