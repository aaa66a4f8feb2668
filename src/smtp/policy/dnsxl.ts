// DNS black/allow lists (RFC 5782): the query name (reversed IPv4 octets or IPv6
// nibbles for client lists, `domain.list` for RHS lists), the optional reply filter
// `list=127.0.0.2` / `list=127.0.1.[1..9]` / `list=127.0.0.[2;4..6]` (Postfix ip_match),
// and the TXT reason (records joined with " / ", at most 500 characters).
import { reverseLabels, type Resolver } from '../../dns/resolver.js';
import { validHostname } from './address.js';

export type DnsxlAnswer =
  /** listed (A records matching the filter, if any) */
  | { status: 'listed'; addresses: string[]; txt?: string }
  | { status: 'unlisted' }
  /** the lookup failed temporarily */
  | { status: 'tempfail'; error?: string };

type OctetMatch = (n: number) => boolean;

/** Parse a Postfix ip_match pattern; throws Error with a message when malformed. */
export function parseReplyFilter(pattern: string): (ip: string) => boolean {
  const parts: string[] = [];
  let cur = '';
  let bracket = false;
  for (const ch of pattern) {
    if (ch === '[') bracket = true;
    if (ch === ']') bracket = false;
    if (ch === '.' && !bracket) {
      parts.push(cur);
      cur = '';
      continue;
    }
    cur += ch;
  }
  parts.push(cur);
  if (parts.length !== 4) throw new Error(`bad reply filter "${pattern}" (expected four octet patterns d.d.d.d)`);
  const octet = (n: string): number => {
    if (!/^\d{1,3}$/.test(n) || Number(n) > 255) throw new Error(`bad octet "${n}" in reply filter "${pattern}"`);
    return Number(n);
  };
  const matchers: OctetMatch[] = parts.map((p) => {
    if (p.startsWith('[') && p.endsWith(']')) {
      const alts = p
        .slice(1, -1)
        .split(/[;,]/)
        .map((alt): OctetMatch => {
          const r = /^(\d+)\.\.(\d+)$/.exec(alt);
          if (r) {
            const lo = octet(r[1]);
            const hi = octet(r[2]);
            if (lo > hi) throw new Error(`bad range "${alt}" in reply filter "${pattern}"`);
            return (n) => n >= lo && n <= hi;
          }
          const v = octet(alt);
          return (n) => n === v;
        });
      return (n) => alts.some((a) => a(n));
    }
    const v = octet(p);
    return (n) => n === v;
  });
  return (ip: string) => {
    const o = ip.split('.').map(Number);
    return o.length === 4 && o.every((n, i) => matchers[i](n));
  };
}

/** `list=filter` → { domain, filter }. */
export function splitListArg(arg: string): { domain: string; filter?: string } {
  const eq = arg.indexOf('=');
  return eq < 0 ? { domain: arg } : { domain: arg.slice(0, eq), filter: arg.slice(eq + 1) };
}

const TXT_LIMIT = 500;

/** Looks up DNS lists through the resolver, caching answers for the session. */
export class DnsxlClient {
  private readonly cache = new Map<string, Promise<DnsxlAnswer>>();
  constructor(private readonly resolver: Resolver) {}

  private query(name: string): Promise<DnsxlAnswer> {
    const key = name.toLowerCase();
    let hit = this.cache.get(key);
    if (!hit) {
      hit = this.lookup(key);
      this.cache.set(key, hit);
    }
    return hit;
  }

  private async lookup(name: string): Promise<DnsxlAnswer> {
    const a = await this.resolver.a(name);
    if (a.status === 'tempfail') return { status: 'tempfail', error: a.error };
    if (a.status !== 'ok') return { status: 'unlisted' };
    const t = await this.resolver.txt(name);
    let txt: string | undefined;
    if (t.status === 'ok' && t.records.length > 0) {
      txt = '';
      for (let i = 0; i < t.records.length && txt.length < TXT_LIMIT; i++) {
        txt += t.records[i].slice(0, TXT_LIMIT - txt.length);
        if (i + 1 < t.records.length && TXT_LIMIT - txt.length > 3) txt += ' / ';
      }
    }
    return { status: 'listed', addresses: a.records, txt };
  }

  private filtered(ans: DnsxlAnswer, filter: string | undefined): DnsxlAnswer {
    if (ans.status !== 'listed' || filter === undefined) return ans;
    const match = parseReplyFilter(filter);
    return ans.addresses.some(match) ? ans : { status: 'unlisted' };
  }

  /** Client address list (reject_rbl_client, permit_dnswl_client). */
  async address(listArg: string, ip: string): Promise<DnsxlAnswer> {
    const { domain, filter } = splitListArg(listArg);
    return this.filtered(await this.query(`${reverseLabels(ip)}.${domain}`), filter);
  }

  /**
   * Domain list (reject_rhsbl_*, permit_rhswl_client): `what` is a host name or an
   * address (the domain after @). Address literals, invalid names and names with a
   * numeric last label are never looked up (Postfix: "No IP queries").
   */
  async domain(listArg: string, what: string): Promise<DnsxlAnswer> {
    const at = what.lastIndexOf('@');
    const d = at >= 0 ? what.slice(at + 1) : what;
    if (!d || d.startsWith('[') || !validHostname(d)) return { status: 'unlisted' };
    const last = d.slice(d.lastIndexOf('.') + 1);
    if (/^\d+$/.test(last)) return { status: 'unlisted' };
    const { domain, filter } = splitListArg(listArg);
    return this.filtered(await this.query(`${d}.${domain}`), filter);
  }
}
