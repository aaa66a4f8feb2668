// The production resolver: node:dns, optionally pointed at `dns_servers`. Like the C
// library under Postfix (nsswitch "hosts: files dns"), address and reverse lookups look
// in /etc/hosts first, so that 127.0.0.1 is "localhost" as Postfix calls it.
import { readFileSync, statSync } from 'node:fs';
import { isIP } from 'node:net';
import { Resolver as NodeResolver } from 'node:dns/promises';
import { ok, reverseName, type DnsAnswer, type MxRecord, type Resolver } from './resolver.js';

export interface SystemResolverOptions {
  /** `host[:port]` or `[v6]:port` entries; empty: the system's /etc/resolv.conf. */
  servers?: string[];
  /** Per-query timeout in milliseconds. */
  timeoutMs?: number;
  tries?: number;
  /** The hosts file consulted before DNS for A/AAAA/PTR (default /etc/hosts; false: none). */
  hostsFile?: string | false;
}

interface HostsTable {
  byName: Map<string, string[]>;
  byAddress: Map<string, string[]>;
}

/** /etc/hosts, re-read when it changes. */
class HostsFile {
  private table: HostsTable = { byName: new Map(), byAddress: new Map() };
  private stamp = '';
  constructor(private readonly path: string) {}
  get(): HostsTable {
    try {
      const st = statSync(this.path);
      const stamp = `${st.mtimeMs}/${st.size}`;
      if (stamp !== this.stamp) {
        this.stamp = stamp;
        this.table = HostsFile.parse(readFileSync(this.path, 'utf8'));
      }
    } catch {
      this.table = { byName: new Map(), byAddress: new Map() };
    }
    return this.table;
  }
  static parse(text: string): HostsTable {
    const byName = new Map<string, string[]>();
    const byAddress = new Map<string, string[]>();
    for (const raw of text.split('\n')) {
      const [addr, ...names] = raw.replace(/#.*/, '').trim().split(/\s+/);
      if (!addr || names.length === 0 || isIP(addr) === 0) continue;
      const a = addr.toLowerCase();
      byAddress.set(a, [...(byAddress.get(a) ?? []), ...names.map((n) => n.toLowerCase())]);
      for (const n of names) {
        const k = n.toLowerCase();
        byName.set(k, [...(byName.get(k) ?? []), a]);
      }
    }
    return { byName, byAddress };
  }
}

function classify<T>(err: unknown): DnsAnswer<T> {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOTFOUND' || code === 'NXDOMAIN') return { status: 'nxdomain', records: [] };
  if (code === 'ENODATA' || code === 'NODATA') return { status: 'nodata', records: [] };
  return { status: 'tempfail', records: [], error: code ?? String(err) };
}

export class SystemResolver implements Resolver {
  private readonly r: NodeResolver;
  private readonly hosts?: HostsFile;
  constructor(opts: SystemResolverOptions = {}) {
    this.r = new NodeResolver({ timeout: opts.timeoutMs ?? 10_000, tries: opts.tries ?? 2 });
    if (opts.servers && opts.servers.length > 0) this.r.setServers(opts.servers);
    if (opts.hostsFile !== false) this.hosts = new HostsFile(opts.hostsFile ?? '/etc/hosts');
  }
  /** Addresses of `name` in the hosts file, of one family. */
  private fromHosts(name: string, family: 4 | 6): string[] {
    const all = this.hosts?.get().byName.get(name.toLowerCase().replace(/\.$/, '')) ?? [];
    return all.filter((a) => isIP(a) === family);
  }
  private async run<T>(f: () => Promise<T[]>): Promise<DnsAnswer<T>> {
    try {
      return ok(await f());
    } catch (err) {
      return classify<T>(err);
    }
  }
  a(name: string) {
    const local = this.fromHosts(name, 4);
    if (local.length > 0) return Promise.resolve(ok(local));
    return this.run(() => this.r.resolve4(name));
  }
  aaaa(name: string) {
    const local = this.fromHosts(name, 6);
    if (local.length > 0) return Promise.resolve(ok(local));
    return this.run(() => this.r.resolve6(name));
  }
  mx(name: string): Promise<DnsAnswer<MxRecord>> {
    return this.run(() => this.r.resolveMx(name));
  }
  txt(name: string) {
    return this.run(async () => (await this.r.resolveTxt(name)).map((parts) => parts.join('')));
  }
  ptr(ip: string) {
    // getnameinfo() order: the hosts file's first name for the address, then DNS
    const names = this.hosts?.get().byAddress.get(ip.toLowerCase());
    if (names && names.length > 0) return Promise.resolve(ok([names[0]]));
    return this.run(() => this.r.resolvePtr(reverseName(ip)));
  }
}
