// The resolver interface every DNS lookup in facteur goes through (DESIGN.md: DNS is
// injectable so tests run offline). Answers are values, not exceptions, so that the
// policy engine can map them to Postfix semantics: a missing name is not a failure,
// a timeout or SERVFAIL is a temporary failure (4xx), never an accept.

export type DnsStatus =
  /** records found */
  | 'ok'
  /** the name does not exist (NXDOMAIN) */
  | 'nxdomain'
  /** the name exists but has no record of this type (NOERROR, empty answer) */
  | 'nodata'
  /** timeout, SERVFAIL, refused, network trouble: try again later */
  | 'tempfail';

export interface DnsAnswer<T> {
  status: DnsStatus;
  records: T[];
  /** Why a tempfail happened (for logs). */
  error?: string;
}

export interface MxRecord {
  exchange: string;
  priority: number;
}

export interface Resolver {
  a(name: string): Promise<DnsAnswer<string>>;
  aaaa(name: string): Promise<DnsAnswer<string>>;
  mx(name: string): Promise<DnsAnswer<MxRecord>>;
  /** Each TXT record as its strings joined. */
  txt(name: string): Promise<DnsAnswer<string>>;
  /** PTR names of an IP address (the reverse name is built by the resolver). */
  ptr(ip: string): Promise<DnsAnswer<string>>;
}

export function ok<T>(records: T[]): DnsAnswer<T> {
  return { status: records.length > 0 ? 'ok' : 'nodata', records };
}

/** Reverse-lookup name of an IP: `4.3.2.1.in-addr.arpa` / nibbles `.ip6.arpa`. */
export function reverseName(ip: string, suffixV4 = 'in-addr.arpa', suffixV6 = 'ip6.arpa'): string {
  return `${reverseLabels(ip)}.${ip.includes(':') ? suffixV6 : suffixV4}`;
}

/** The reversed labels of an address, as DNS lists query them (RFC 5782 §2.1, §2.4). */
export function reverseLabels(ip: string): string {
  if (!ip.includes(':')) return ip.split('.').reverse().join('.');
  // expand IPv6 to 32 nibbles
  let s = ip.split('%')[0];
  const [head, tail] = s.includes('::') ? s.split('::') : [s, ''];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  s = groups.map((g) => g.padStart(4, '0')).join('');
  return s.toLowerCase().split('').reverse().join('.');
}
