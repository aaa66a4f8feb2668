// An in-memory resolver for tests and offline use: a zone given as records.
import { ok, reverseName, type DnsAnswer, type MxRecord, type Resolver } from './resolver.js';

export interface StaticZone {
  a?: Record<string, string[]>;
  aaaa?: Record<string, string[]>;
  mx?: Record<string, MxRecord[]>;
  txt?: Record<string, string[]>;
  /** by IP address (not by reverse name) */
  ptr?: Record<string, string[]>;
  /** names whose lookups fail temporarily (SERVFAIL/timeout) */
  tempfail?: string[];
}

const norm = (n: string) => n.toLowerCase().replace(/\.$/, '');

export class StaticResolver implements Resolver {
  private readonly zone: Required<StaticZone>;
  constructor(zone: StaticZone = {}) {
    const lower = <T>(r: Record<string, T> | undefined) => Object.fromEntries(Object.entries(r ?? {}).map(([k, v]) => [norm(k), v]));
    this.zone = {
      a: lower(zone.a),
      aaaa: lower(zone.aaaa),
      mx: lower(zone.mx),
      txt: lower(zone.txt),
      ptr: zone.ptr ?? {},
      tempfail: (zone.tempfail ?? []).map(norm),
    };
  }

  /** Add records at run time (tests). */
  add(type: 'a' | 'aaaa' | 'txt', name: string, values: string[]): void;
  add(type: 'mx', name: string, values: MxRecord[]): void;
  add(type: 'ptr', ip: string, values: string[]): void;
  add(type: keyof StaticZone, name: string, values: unknown[]): void {
    const table = this.zone[type] as Record<string, unknown[]>;
    const key = type === 'ptr' ? name : norm(name);
    table[key] = [...(table[key] ?? []), ...values];
  }

  private exists(name: string): boolean {
    const n = norm(name);
    const z = this.zone;
    if (n in z.a || n in z.aaaa || n in z.mx || n in z.txt) return true;
    // an existing subdomain makes its parents exist (empty non-terminal)
    return [z.a, z.aaaa, z.mx, z.txt].some((t) => Object.keys(t).some((k) => k.endsWith('.' + n)));
  }

  private answer<T>(table: Record<string, T[]>, name: string): DnsAnswer<T> {
    const n = norm(name);
    if (this.zone.tempfail.includes(n)) return { status: 'tempfail', records: [], error: 'SERVFAIL (static)' };
    const r = table[n];
    if (r && r.length > 0) return ok([...r]);
    return { status: this.exists(n) ? 'nodata' : 'nxdomain', records: [] };
  }

  async a(name: string) {
    return this.answer(this.zone.a, name);
  }
  async aaaa(name: string) {
    return this.answer(this.zone.aaaa, name);
  }
  async mx(name: string) {
    return this.answer(this.zone.mx, name);
  }
  async txt(name: string) {
    return this.answer(this.zone.txt, name);
  }
  async ptr(ip: string): Promise<DnsAnswer<string>> {
    if (this.zone.tempfail.includes(ip) || this.zone.tempfail.includes(reverseName(ip))) return { status: 'tempfail', records: [], error: 'SERVFAIL (static)' };
    const r = this.zone.ptr[ip];
    return r && r.length > 0 ? ok([...r]) : { status: 'nxdomain', records: [] };
  }
}
