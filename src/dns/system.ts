// The production resolver: node:dns, optionally pointed at `dns_servers`.
import { Resolver as NodeResolver } from 'node:dns/promises';
import { ok, reverseName, type DnsAnswer, type MxRecord, type Resolver } from './resolver.js';

export interface SystemResolverOptions {
  /** `host[:port]` or `[v6]:port` entries; empty: the system's /etc/resolv.conf. */
  servers?: string[];
  /** Per-query timeout in milliseconds. */
  timeoutMs?: number;
  tries?: number;
}

function classify<T>(err: unknown): DnsAnswer<T> {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOTFOUND' || code === 'NXDOMAIN') return { status: 'nxdomain', records: [] };
  if (code === 'ENODATA' || code === 'NODATA') return { status: 'nodata', records: [] };
  return { status: 'tempfail', records: [], error: code ?? String(err) };
}

export class SystemResolver implements Resolver {
  private readonly r: NodeResolver;
  constructor(opts: SystemResolverOptions = {}) {
    this.r = new NodeResolver({ timeout: opts.timeoutMs ?? 10_000, tries: opts.tries ?? 2 });
    if (opts.servers && opts.servers.length > 0) this.r.setServers(opts.servers);
  }
  private async run<T>(f: () => Promise<T[]>): Promise<DnsAnswer<T>> {
    try {
      return ok(await f());
    } catch (err) {
      return classify<T>(err);
    }
  }
  a(name: string) {
    return this.run(() => this.r.resolve4(name));
  }
  aaaa(name: string) {
    return this.run(() => this.r.resolve6(name));
  }
  mx(name: string): Promise<DnsAnswer<MxRecord>> {
    return this.run(() => this.r.resolveMx(name));
  }
  txt(name: string) {
    return this.run(async () => (await this.r.resolveTxt(name)).map((parts) => parts.join('')));
  }
  ptr(ip: string) {
    // resolvePtr on the reverse name asks the DNS servers (reverse() would read /etc/hosts)
    return this.run(() => this.r.resolvePtr(reverseName(ip)));
  }
}
