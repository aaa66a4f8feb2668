// Finding the hosts to try for a next hop (RFC 5321 §5.1, Postfix smtp_addr.c):
// MX records ordered by preference, random order among equal preferences, then
// their addresses; no MX → the domain's own A/AAAA (implicit MX); a null MX
// (RFC 7505) → the domain accepts no mail; a temporary DNS failure → try later.
import { isIP } from 'node:net';
import type { DnsAnswer, Resolver } from '../../dns/resolver.js';
import type { NextHop } from './types.js';

export interface MxHost {
  /** Host name (the MX exchange, or the address itself for a literal). */
  name: string;
  ip: string;
  preference: number;
}

export type HostLookup =
  | { ok: true; hosts: MxHost[] }
  | { ok: false; outcome: 'deferred' | 'bounced'; dsn: string; reason: string };

export interface LookupOptions {
  /** inet_protocols: which address families to use. */
  inet: 'all' | 'ipv4' | 'ipv6';
  /** smtp_mx_address_limit: most addresses to try (0 = no limit). */
  addressLimit: number;
  /** Names of this host ($myhostname): an MX pointing here must not be used (mail loop). */
  myHostnames?: string[];
  /** For tests: a deterministic random source. */
  random?: () => number;
}

const norm = (n: string) => n.toLowerCase().replace(/\.$/, '');

function nameServiceError(name: string, type: string, temporary: boolean): string {
  return `Host or domain name not found. Name service error for name=${name} type=${type}: Host not found${temporary ? ', try again' : ''}`;
}

/** Shuffle runs of equal preference (RFC 5321 §5.1: "randomize them"). */
function shuffleEqual<T extends { preference: number }>(items: T[], random: () => number): T[] {
  const sorted = [...items].sort((a, b) => a.preference - b.preference);
  let i = 0;
  while (i < sorted.length) {
    let j = i;
    while (j < sorted.length && sorted[j].preference === sorted[i].preference) j++;
    for (let k = j - 1; k > i; k--) {
      const r = i + Math.floor(random() * (k - i + 1));
      [sorted[k], sorted[r]] = [sorted[r], sorted[k]];
    }
    i = j;
  }
  return sorted;
}

interface AddressAnswer {
  ips: string[];
  tempfail: boolean;
  /** the record type whose answer decided a failure, for the error text */
  type: string;
}

async function addresses(resolver: Resolver, name: string, inet: LookupOptions['inet']): Promise<AddressAnswer> {
  const literal = name.replace(/^\[(.*)\]$/, '$1').replace(/^ipv6:/i, '');
  if (isIP(literal)) return { ips: [literal], tempfail: false, type: 'A' };
  const queries: Array<[string, Promise<DnsAnswer<string>>]> = [];
  if (inet !== 'ipv6') queries.push(['A', resolver.a(name)]);
  if (inet !== 'ipv4') queries.push(['AAAA', resolver.aaaa(name)]);
  const ips: string[] = [];
  let tempfail = false;
  let type = queries[queries.length - 1][0];
  for (const [t, q] of queries) {
    const a = await q;
    if (a.status === 'ok') ips.push(...a.records);
    else if (a.status === 'tempfail') {
      tempfail = true;
      type = t;
    }
  }
  return { ips, tempfail: ips.length === 0 && tempfail, type };
}

export async function lookupHosts(resolver: Resolver, hop: NextHop, opts: LookupOptions): Promise<HostLookup> {
  const random = opts.random ?? Math.random;
  const host = norm(hop.host);
  const literal = host.replace(/^\[(.*)\]$/, '$1');
  if (isIP(literal)) return { ok: true, hosts: [{ name: literal, ip: literal, preference: 0 }] };

  let exchanges: Array<{ name: string; preference: number }>;
  if (hop.mx) {
    const mx = await resolver.mx(host);
    if (mx.status === 'tempfail') return { ok: false, outcome: 'deferred', dsn: '4.4.3', reason: nameServiceError(host, 'MX', true) };
    if (mx.status === 'nxdomain') return { ok: false, outcome: 'bounced', dsn: '5.4.4', reason: nameServiceError(host, 'MX', false) };
    if (mx.status === 'ok') {
      // RFC 7505 §3: a null MX is a single record "0 ." — any "." exchange means no mail.
      if (mx.records.some((r) => norm(r.exchange) === '')) {
        return { ok: false, outcome: 'bounced', dsn: '5.1.0', reason: `Domain ${host} does not accept mail (nullMX)` };
      }
      exchanges = mx.records.map((r) => ({ name: norm(r.exchange), preference: r.priority }));
      // Postfix: drop MX hosts at or below our own preference (we are one of them).
      const mine = new Set((opts.myHostnames ?? []).map(norm));
      const own = exchanges.filter((e) => mine.has(e.name));
      if (own.length > 0) {
        const best = Math.min(...own.map((e) => e.preference));
        exchanges = exchanges.filter((e) => e.preference < best);
        if (exchanges.length === 0) return { ok: false, outcome: 'bounced', dsn: '5.4.6', reason: `mail for ${host} loops back to myself` };
      }
      exchanges = shuffleEqual(exchanges, random);
    } else {
      // no MX records: the domain itself is the implicit MX (RFC 5321 §5.1)
      exchanges = [{ name: host, preference: 0 }];
    }
  } else {
    exchanges = [{ name: host, preference: 0 }];
  }

  const hosts: MxHost[] = [];
  let tempfail: AddressAnswer | undefined;
  let last: AddressAnswer | undefined;
  let lastName = host;
  for (const ex of exchanges) {
    const a = await addresses(resolver, ex.name, opts.inet);
    last = a;
    lastName = ex.name;
    if (a.tempfail) tempfail = a;
    for (const ip of a.ips) hosts.push({ name: ex.name, ip, preference: ex.preference });
    if (opts.addressLimit > 0 && hosts.length >= opts.addressLimit) break;
  }
  if (hosts.length === 0) {
    if (tempfail) return { ok: false, outcome: 'deferred', dsn: '4.4.3', reason: nameServiceError(lastName, tempfail.type, true) };
    return { ok: false, outcome: 'bounced', dsn: '5.4.4', reason: nameServiceError(lastName, last?.type ?? 'A', false) };
  }
  return { ok: true, hosts: opts.addressLimit > 0 ? hosts.slice(0, opts.addressLimit) : hosts };
}

/**
 * Parse relayhost (postconf(5)): `[host]:port` (no MX lookup), `host:port`, `host`,
 * `[address]`. Returns undefined for an empty value.
 */
export function parseRelayhost(value: string, defaultPort: number): NextHop | undefined {
  const v = value.trim().split(/[\s,]+/)[0] ?? '';
  if (!v) return undefined;
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(v);
  if (m) return { name: v.toLowerCase(), host: m[1].toLowerCase(), port: m[2] ? Number(m[2]) : defaultPort, mx: false, relay: true };
  const hp = /^([^:[\]]+)(?::(\d+))?$/.exec(v);
  if (!hp) return undefined;
  return { name: v.toLowerCase(), host: hp[1].toLowerCase(), port: hp[2] ? Number(hp[2]) : defaultPort, mx: true, relay: true };
}
