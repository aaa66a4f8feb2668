// Per-client-IP failure accounting (the job of Dovecot's anvil auth penalty): failures
// within auth_failure_window count; past auth_failure_limit the IP is throttled, its
// answers are slowed further and the protocol layer may drop it. Only the failing IP is
// affected; a success resets that IP alone.

export interface FailureThrottleOptions {
  /** auth_failure_limit (0: never throttle). */
  limit: number;
  /** auth_failure_window in ms: a failure older than this (since the last one) is forgotten. */
  windowMs: number;
  now?: () => number;
  /** Bound on remembered IPs (oldest forgotten first). */
  maxEntries?: number;
}

interface Entry {
  count: number;
  last: number;
}

/** IPv4-mapped IPv6 (`::ffff:192.0.2.1`) counts as the IPv4 address. */
export function normalizeIp(ip: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  return (m ? m[1] : ip).toLowerCase();
}

export class FailureThrottle {
  private readonly entries = new Map<string, Entry>();
  private readonly now: () => number;
  private readonly maxEntries: number;

  constructor(private readonly opts: FailureThrottleOptions) {
    this.now = opts.now ?? Date.now;
    this.maxEntries = opts.maxEntries ?? 100_000;
  }

  private current(ip: string): Entry | undefined {
    const key = normalizeIp(ip);
    const e = this.entries.get(key);
    if (!e) return undefined;
    if (this.now() - e.last > this.opts.windowMs) {
      this.entries.delete(key);
      return undefined;
    }
    return e;
  }

  /** Count a failure; returns the number of recent failures of this IP. */
  recordFailure(ip: string): number {
    const key = normalizeIp(ip);
    const e = this.current(key);
    const next = { count: (e?.count ?? 0) + 1, last: this.now() };
    this.entries.delete(key); // re-insert: Map order = least recently failed first
    this.entries.set(key, next);
    if (this.entries.size > this.maxEntries) this.prune();
    return next.count;
  }

  recordSuccess(ip: string): void {
    this.entries.delete(normalizeIp(ip));
  }

  failures(ip: string): number {
    return this.current(ip)?.count ?? 0;
  }

  isThrottled(ip: string): boolean {
    return this.opts.limit > 0 && this.failures(ip) >= this.opts.limit;
  }

  /** How many failures past the limit (0 when not throttled). */
  excess(ip: string): number {
    if (this.opts.limit <= 0) return 0;
    return Math.max(0, this.failures(ip) - this.opts.limit + 1);
  }

  get size(): number {
    return this.entries.size;
  }

  private prune(): void {
    const now = this.now();
    for (const [k, e] of this.entries) {
      if (now - e.last > this.opts.windowMs) this.entries.delete(k);
    }
    while (this.entries.size > this.maxEntries) {
      const first = this.entries.keys().next().value;
      if (first === undefined) break;
      this.entries.delete(first);
    }
  }
}
