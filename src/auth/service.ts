// The built-in auth service (issue #5): SASL mechanisms over the user database, the
// failure delay (Dovecot's auth_failure_delay) and per-IP failure throttling
// (auth_failure_limit / auth_failure_window, like Dovecot's anvil auth penalty).
import { randomBytes } from 'node:crypto';
import { Config, type ConfigView } from '../config/config.js';
import { cidrContains, parseCidr } from '../config/values.js';
import { logger, type Logger } from '../log.js';
import { LoginExchange } from './sasl/login.js';
import { PlainExchange } from './sasl/plain.js';
import { REASON_UNAVAILABLE, type FailureStep, type SaslBackend } from './sasl/backend.js';
import { ScramExchange } from './sasl/scram.js';
import { PasswordSchemeError, parseStoredPassword, storedPlaintext, verifyPassword as verifyStored } from './schemes/index.js';
import { deriveScramCredentials, parseScramStored, scramHashOfScheme, type ScramCredentials, type ScramHash } from './schemes/scram.js';
import { FailureThrottle, normalizeIp } from './throttle.js';
import type { AuthRequest, AuthResult, AuthService, SaslServerExchange, UserDatabase, UserEntry } from './types.js';
import { UserDatabaseUnavailableError } from './users/passwd-file.js';

/** Mechanisms facteur implements, and whether they send the password itself. */
export const SUPPORTED_MECHANISMS: Readonly<Record<string, { plaintext: boolean }>> = {
  PLAIN: { plaintext: true },
  LOGIN: { plaintext: true },
  'SCRAM-SHA-256': { plaintext: false },
  'SCRAM-SHA-1': { plaintext: false },
};

export function isPlaintextMechanism(mech: string): boolean {
  return SUPPORTED_MECHANISMS[mech.toUpperCase()]?.plaintext ?? false;
}

export interface AuthServiceOptions {
  /** Overrides auth_failure_delay (tests use a few ms). */
  failureDelayMs?: number;
  /** Clock for the failure window (ms). */
  now?: () => number;
  /** How to wait (tests may inject). */
  sleep?: (ms: number) => Promise<void>;
  log?: Logger;
  /** Password checks in progress at once per client IP; more wait their turn (default 2). */
  maxConcurrentPerIp?: number;
  /** Checks waiting per client IP beyond which new ones fail at once (default 256). */
  maxQueuedPerIp?: number;
}

/** Cap of the extra slow-down of a throttled IP, as a multiple of the failure delay. */
const MAX_PENALTY_FACTOR = 8;

const defaultSleep = (ms: number) =>
  new Promise<void>((resolve) => {
    if (ms <= 0) resolve();
    else setTimeout(resolve, ms);
  });

interface IpGate {
  active: number;
  queue: (() => void)[];
}

export class BuiltinAuthService implements AuthService, SaslBackend {
  readonly secret = randomBytes(32);
  private readonly mechs: string[];
  private readonly throttle: FailureThrottle;
  private readonly failureDelayMs: number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly log: Logger;
  private readonly gates = new Map<string, IpGate>();
  private readonly maxConcurrent: number;
  private readonly maxQueued: number;
  private readonly failureLimit: number;

  constructor(
    readonly view: ConfigView,
    readonly users: UserDatabase,
    options: AuthServiceOptions = {},
  ) {
    this.log = options.log ?? logger('auth');
    this.failureDelayMs = options.failureDelayMs ?? view.time('auth_failure_delay') * 1000;
    this.sleep = options.sleep ?? defaultSleep;
    this.maxConcurrent = options.maxConcurrentPerIp ?? 2;
    this.maxQueued = options.maxQueuedPerIp ?? 256;
    this.failureLimit = view.int('auth_failure_limit');
    this.throttle = new FailureThrottle({
      limit: this.failureLimit,
      windowMs: view.time('auth_failure_window') * 1000,
      now: options.now,
    });
    const mechs: string[] = [];
    for (const m of view.list('auth_mechanisms')) {
      const up = m.toUpperCase();
      if (!SUPPORTED_MECHANISMS[up]) {
        this.log.warn(`auth_mechanisms: ${m} is not supported by facteur (ignored)`);
        continue;
      }
      if (!mechs.includes(up)) mechs.push(up);
    }
    this.mechs = mechs;
  }

  // ---- AuthService ----------------------------------------------------------------

  mechanisms(opts: { allowPlaintext: boolean }): string[] {
    return this.mechs.filter((m) => opts.allowPlaintext || !SUPPORTED_MECHANISMS[m].plaintext);
  }

  /** Every configured mechanism with its plaintext flag (the auth socket's MECH lines). */
  mechanismInfo(): { name: string; plaintext: boolean }[] {
    return this.mechs.map((name) => ({ name, plaintext: SUPPORTED_MECHANISMS[name].plaintext }));
  }

  start(mechanism: string, req: AuthRequest): SaslServerExchange | undefined {
    const m = mechanism.toUpperCase();
    if (!this.mechs.includes(m)) return undefined;
    switch (m) {
      case 'PLAIN':
        return new PlainExchange(this, req);
      case 'LOGIN':
        return new LoginExchange(this, req);
      case 'SCRAM-SHA-256':
        return new ScramExchange(this, req, 'sha256');
      case 'SCRAM-SHA-1':
        return new ScramExchange(this, req, 'sha1');
      default:
        return undefined;
    }
  }

  verifyPassword(user: string, password: string, req: AuthRequest): Promise<AuthResult> {
    return this.checkPassword(user, password, req, 'PLAIN');
  }

  isThrottled(remoteIp: string): boolean {
    return this.throttle.isThrottled(remoteIp);
  }

  /** Recent failures counted for this IP (for logs and tests). */
  failures(remoteIp: string): number {
    return this.throttle.failures(remoteIp);
  }

  // ---- SaslBackend ------------------------------------------------------------------

  private logFor(req: AuthRequest): Logger {
    return req.sessionId ? this.log.withId(req.sessionId) : this.log;
  }

  private penaltyMs(ip: string): number {
    const excess = this.throttle.excess(ip);
    if (excess <= 0) return 0;
    return this.failureDelayMs * Math.min(2 ** (excess - 1), MAX_PENALTY_FACTOR);
  }

  async penalty(req: AuthRequest): Promise<void> {
    const ms = this.penaltyMs(req.remoteIp);
    if (ms > 0) await this.sleep(ms);
  }

  async fail(req: AuthRequest, mech: string, user: string | undefined, detail: string, opts: { temporary?: boolean; reason?: string } = {}): Promise<FailureStep> {
    const count = this.throttle.recordFailure(req.remoteIp);
    const throttled = this.throttle.isThrottled(req.remoteIp);
    this.logFor(req).log(opts.temporary ? 'warning' : 'info', `${req.service}(${user ?? '?'},${req.remoteIp}): ${mech} authentication failed: ${detail}`, {
      failures: count,
      throttled: throttled || undefined,
    });
    if (count === this.failureLimit && throttled) {
      this.logFor(req).warn(`${req.remoteIp}: ${count} authentication failures, throttling this client`);
    }
    // Dovecot's auth_failure_delay; past the limit, longer (anvil-style penalty)
    const limit = this.failureLimit;
    const factor = limit > 0 && count > limit ? Math.min(2 ** (count - limit), MAX_PENALTY_FACTOR) : 1;
    await this.sleep(this.failureDelayMs * factor);
    const reason = opts.temporary ? 'Temporary authentication failure' : opts.reason ?? REASON_UNAVAILABLE;
    return { kind: 'failure', reason, temporary: opts.temporary || undefined, user };
  }

  succeeded(req: AuthRequest, mech: string, user: string): void {
    this.throttle.recordSuccess(req.remoteIp);
    this.logFor(req).debug(`${req.service}(${user},${req.remoteIp}): ${mech} authentication succeeded`);
  }

  cancelled(req: AuthRequest, mech: string): void {
    const count = this.throttle.recordFailure(req.remoteIp);
    this.logFor(req).info(`${req.service}(?,${req.remoteIp}): ${mech} authentication cancelled by the client`, { failures: count });
  }

  /** Run `fn` within the per-IP limit of concurrent checks; undefined when too many wait. */
  private async gated<T>(ip: string, fn: () => Promise<T>): Promise<T | undefined> {
    const key = normalizeIp(ip);
    let gate = this.gates.get(key);
    if (!gate) {
      gate = { active: 0, queue: [] };
      this.gates.set(key, gate);
    }
    if (gate.active >= this.maxConcurrent) {
      if (gate.queue.length >= this.maxQueued) return undefined;
      await new Promise<void>((resolve) => gate!.queue.push(resolve));
    } else {
      gate.active++;
    }
    try {
      return await fn();
    } finally {
      const next = gate.queue.shift();
      if (next) next();
      else {
        gate.active--;
        if (gate.active === 0) this.gates.delete(key);
      }
    }
  }

  private lookup(name: string): UserEntry | undefined | 'unavailable' {
    try {
      return this.users.lookup(name);
    } catch (err) {
      if (err instanceof UserDatabaseUnavailableError) return 'unavailable';
      throw err;
    }
  }

  /** Dovecot's allow_nets extra field: the client must be in one of these networks. */
  private allowedFrom(entry: UserEntry, ip: string): boolean {
    const nets = entry.extra.allow_nets;
    if (nets === undefined || nets === '') return true;
    for (const n of nets.split(',')) {
      try {
        if (cidrContains(parseCidr(n.trim()), ip)) return true;
      } catch {
        // a bad network never matches
      }
    }
    return false;
  }

  async checkPassword(authcid: string, password: string, req: AuthRequest, mech: string): Promise<AuthResult> {
    await this.penalty(req);
    type Outcome = { ok: true; user: string } | { ok: false; detail: string; user?: string; temporary?: boolean };
    const outcome = await this.gated<Outcome>(req.remoteIp, async () => {
      const entry = this.lookup(authcid);
      if (entry === 'unavailable') return { ok: false, detail: 'user database unavailable', user: authcid, temporary: true };
      if (!entry) return { ok: false, detail: 'unknown user', user: authcid };
      if (!this.allowedFrom(entry, req.remoteIp)) return { ok: false, detail: `allow_nets check failed for ${req.remoteIp}`, user: authcid };
      if (entry.password === '') {
        if ('nopassword' in entry.extra && entry.extra.nopassword !== 'n' && entry.extra.nopassword !== 'no') return { ok: true, user: entry.user };
        return { ok: false, detail: 'account has no password', user: authcid };
      }
      try {
        const ok = await verifyStored(password, entry.password, { user: entry.user });
        return ok ? { ok: true, user: entry.user } : { ok: false, detail: 'Password mismatch', user: authcid };
      } catch (err) {
        if (err instanceof PasswordSchemeError) {
          this.logFor(req).error(`user ${entry.user}: cannot verify the stored password: ${err.message}`);
          return { ok: false, detail: err.message, user: authcid };
        }
        throw err;
      }
    });
    if (!outcome) {
      const f = await this.fail(req, mech, authcid, 'too many authentications in progress from this client');
      return { ok: false, reason: f.reason, user: authcid };
    }
    if (outcome.ok) {
      this.succeeded(req, mech, outcome.user);
      return outcome;
    }
    const f = await this.fail(req, mech, outcome.user, outcome.detail, { temporary: outcome.temporary });
    return { ok: false, reason: f.reason, temporary: f.temporary, user: outcome.user };
  }

  async scramCredentials(user: string, hash: ScramHash, req: AuthRequest): Promise<{ user: string; creds: ScramCredentials } | { problem: string; temporary?: boolean }> {
    const res = await this.gated(req.remoteIp, async () => {
      const entry = this.lookup(user);
      if (entry === 'unavailable') return { problem: 'user database unavailable', temporary: true };
      if (!entry) return { problem: 'unknown user' };
      if (!this.allowedFrom(entry, req.remoteIp)) return { problem: `allow_nets check failed for ${req.remoteIp}` };
      if (entry.password === '') return { problem: 'account has no password' };
      const stored = parseStoredPassword(entry.password);
      if (scramHashOfScheme(stored.scheme) === hash) {
        const c = parseScramStored(hash, stored.value);
        if (typeof c === 'string') return { problem: c };
        return { user: entry.user, creds: c };
      }
      const plain = storedPlaintext(entry.password);
      if (plain) return { user: entry.user, creds: await deriveScramCredentials(hash, plain, randomBytes(16), 4096) };
      return { problem: `stored password scheme ${stored.scheme} cannot be used for SCRAM-${hash === 'sha1' ? 'SHA-1' : 'SHA-256'}` };
    });
    return res ?? { problem: 'too many authentications in progress from this client' };
  }
}

/** The built-in auth service for a configuration (`auth_*` parameters) and user database. */
export function createAuthService(config: Config | ConfigView, users: UserDatabase, options: AuthServiceOptions = {}): BuiltinAuthService {
  const view = config instanceof Config ? config.view() : config;
  return new BuiltinAuthService(view, users, options);
}
