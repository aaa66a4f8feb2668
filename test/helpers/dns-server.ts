// A small authoritative DNS server on 127.0.0.1 for tests (UDP and TCP, dns-packet), and
// a zone-file reader for the records in test/fixtures/postfix-restrictions/zone.txt.
// Point node:dns at it with `new Resolver().setServers(['127.0.0.1:PORT'])` (or facteur's
// `dns_servers = 127.0.0.1:PORT`). Semantics as the fixtures' dnsmasq served them: a name
// without records is NXDOMAIN, a listed name asked for a type it lacks is NOERROR/NODATA.
// Names can be made to fail (SERVFAIL) or to never answer (timeout) for tempfail tests.
import dgram from 'node:dgram';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import dnsPacket from 'dns-packet';
import type { StaticZone } from '../../src/dns/static.js';

export type RecordType = 'A' | 'AAAA' | 'MX' | 'TXT' | 'PTR' | 'CNAME' | 'NS';

export interface ZoneRecord {
  name: string;
  type: RecordType;
  /** A/AAAA: address; MX: { preference, exchange }; TXT: text; PTR/CNAME/NS: a name */
  data: string | { preference: number; exchange: string };
}

const norm = (n: string) => n.toLowerCase().replace(/\.$/, '');

/** Read zone-file lines `name. [TTL] [IN] TYPE data` (`;` comments); unknown types are skipped. */
export function parseZone(text: string): ZoneRecord[] {
  const out: ZoneRecord[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.replace(/^\s+/, '');
    if (!line || line.startsWith(';')) continue;
    const m = /^(\S+)\s+(?:\d+\s+)?(?:IN\s+)?(A|AAAA|MX|TXT|PTR|CNAME|NS)\s+(.+?)\s*$/i.exec(line);
    if (!m) continue;
    const name = norm(m[1]);
    const type = m[2].toUpperCase() as RecordType;
    const rest = m[3];
    if (type === 'MX') {
      const mx = /^(\d+)\s+(\S+)/.exec(rest);
      if (mx) out.push({ name, type, data: { preference: Number(mx[1]), exchange: norm(mx[2]) } });
    } else if (type === 'TXT') {
      const parts = [...rest.matchAll(/"((?:[^"\\]|\\.)*)"/g)].map((p) => p[1].replace(/\\(.)/g, '$1'));
      out.push({ name, type, data: parts.join('') });
    } else {
      out.push({ name, type, data: type === 'A' || type === 'AAAA' ? rest.split(/\s+/)[0] : norm(rest.split(/\s+/)[0]) });
    }
  }
  return out;
}

/** `4.0.0.127.in-addr.arpa` → `127.0.0.4`; IPv6 nibble names → the address. */
export function ptrNameToIp(name: string): string | undefined {
  const n = norm(name);
  if (n.endsWith('.in-addr.arpa')) {
    const parts = n.slice(0, -'.in-addr.arpa'.length).split('.');
    return parts.length === 4 ? parts.reverse().join('.') : undefined;
  }
  if (n.endsWith('.ip6.arpa')) {
    const nib = n.slice(0, -'.ip6.arpa'.length).split('.').reverse().join('');
    if (nib.length !== 32) return undefined;
    const groups = nib.match(/.{4}/g)!.map((g) => g.replace(/^0+(?=.)/, ''));
    return groups.join(':');
  }
  return undefined;
}

/** The same records for StaticResolver (PTRs keyed by IP address). */
export function zoneToStatic(records: ZoneRecord[], extra: Partial<StaticZone> = {}): StaticZone {
  const z: Required<Omit<StaticZone, 'tempfail'>> & { tempfail: string[] } = { a: {}, aaaa: {}, mx: {}, txt: {}, ptr: {}, tempfail: [] };
  const add = <T>(t: Record<string, T[]>, k: string, v: T) => (t[k] ??= []).push(v);
  for (const r of records) {
    if (r.type === 'A') add(z.a, r.name, r.data as string);
    else if (r.type === 'AAAA') add(z.aaaa, r.name, r.data as string);
    else if (r.type === 'TXT') add(z.txt, r.name, r.data as string);
    else if (r.type === 'MX') {
      const d = r.data as { preference: number; exchange: string };
      add(z.mx, r.name, { priority: d.preference, exchange: d.exchange });
    } else if (r.type === 'PTR') {
      const ip = ptrNameToIp(r.name);
      if (ip) add(z.ptr, ip, r.data as string);
    }
  }
  return { ...z, ...extra, tempfail: [...z.tempfail, ...(extra.tempfail ?? [])] };
}

export interface DnsServerOptions {
  /** Names (any type) answered with SERVFAIL. */
  servfail?: string[];
  /** Names never answered (the client times out). */
  drop?: string[];
}

export interface DnsServer {
  host: string;
  port: number;
  /** `127.0.0.1:PORT`, for setServers / dns_servers. */
  address: string;
  /** Queries received, as `TYPE name` (for assertions). */
  queries: string[];
  servfail: Set<string>;
  drop: Set<string>;
  records: ZoneRecord[];
  close(): Promise<void>;
}

function answer(records: ZoneRecord[], opts: { servfail: Set<string>; drop: Set<string> }, query: Buffer): Buffer | undefined {
  let req: dnsPacket.Packet;
  try {
    req = dnsPacket.decode(query);
  } catch {
    return undefined;
  }
  const q = req.questions?.[0];
  if (!q) return undefined;
  const name = norm(q.name);
  if (opts.drop.has(name)) return undefined;
  const base = { id: req.id, type: 'response' as const, flags: dnsPacket.AUTHORITATIVE_ANSWER | (req.flags ?? 0) & dnsPacket.RECURSION_DESIRED, questions: req.questions };
  if (opts.servfail.has(name)) return dnsPacket.encode({ ...base, flags: base.flags | 2 /* SERVFAIL */, answers: [] } as dnsPacket.Packet);
  const exists = records.some((r) => r.name === name || r.name.endsWith('.' + name));
  const hits = records.filter((r) => r.name === name && r.type === q.type);
  const answers = hits.map((r) => {
    const common = { name: q.name, type: r.type, class: 'IN' as const, ttl: 0 };
    if (r.type === 'MX') return { ...common, data: r.data };
    if (r.type === 'TXT') {
      // character-strings are at most 255 bytes each (RFC 1035 §3.3.14)
      const bytes = Buffer.from(r.data as string);
      const chunks: Buffer[] = [];
      for (let i = 0; i < bytes.length; i += 255) chunks.push(bytes.subarray(i, i + 255));
      return { ...common, data: chunks.length ? chunks : [Buffer.alloc(0)] };
    }
    return { ...common, data: r.data };
  });
  const rcode = exists ? 0 : 3; // NXDOMAIN
  return dnsPacket.encode({ ...base, flags: base.flags | rcode, answers } as dnsPacket.Packet);
}

/** Start a DNS server on 127.0.0.1 (UDP and TCP on the same port). */
export async function startDnsServer(records: ZoneRecord[], options: DnsServerOptions = {}): Promise<DnsServer> {
  const servfail = new Set((options.servfail ?? []).map(norm));
  const drop = new Set((options.drop ?? []).map(norm));
  const queries: string[] = [];
  const state = { servfail, drop };
  const log = (buf: Buffer) => {
    try {
      const q = dnsPacket.decode(buf).questions?.[0];
      if (q) queries.push(`${q.type} ${norm(q.name)}`);
    } catch {
      /* ignore */
    }
  };
  const tcp = net.createServer((sock) => {
    let buf = Buffer.alloc(0);
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 2) {
        const len = buf.readUInt16BE(0);
        if (buf.length < 2 + len) break;
        const msg = buf.subarray(2, 2 + len);
        buf = buf.subarray(2 + len);
        log(msg);
        const res = answer(records, state, msg);
        if (res) {
          const head = Buffer.alloc(2);
          head.writeUInt16BE(res.length);
          sock.write(Buffer.concat([head, res]));
        }
      }
    });
    sock.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => tcp.listen(0, '127.0.0.1', resolve));
  const port = (tcp.address() as AddressInfo).port;
  const udp = dgram.createSocket('udp4');
  udp.on('message', (msg, rinfo) => {
    log(msg);
    const res = answer(records, state, msg);
    if (res) udp.send(res, rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve, reject) => {
    udp.once('error', reject);
    udp.bind(port, '127.0.0.1', () => resolve());
  });
  return {
    host: '127.0.0.1',
    port,
    address: `127.0.0.1:${port}`,
    queries,
    servfail,
    drop,
    records,
    close: () =>
      new Promise<void>((resolve) => {
        udp.close(() => tcp.close(() => resolve()));
      }),
  };
}
