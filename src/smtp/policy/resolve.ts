// Where an address goes, the way Postfix's trivial-rewrite resolve_addr() decides it,
// for the restriction engine: local domains (mydestination, or an address literal of
// this host) are stripped and what remains is re-examined for routing operators, so that
// user%remote@mydomain, remote!user@mydomain, "user@remote"@mydomain and
// user@remote@mydomain all resolve to user@remote (a remote destination) and can never
// open a relay. The domain class (local/virtual/alias/relay/remote) and whether the
// user exists come from the AddressDirectory (src/delivery).
import { literalAddress, splitAddress, validHostname, validMailhostAddr } from './address.js';
import type { AddressClass, AddressDirectory } from './types.js';

export interface ResolverSettings {
  myhostname: string;
  myorigin: string;
  mydomain: string;
  /** allow_percent_hack: user%domain means user@domain */
  percentHack: boolean;
  /** swap_bangpath: site!user means user@site */
  swapBangpath: boolean;
  /** append_dot_mydomain */
  appendDotMydomain: boolean;
  /** empty_address_recipient (an empty local part) */
  emptyAddressRecipient: string;
}

export interface ResolvedAddress {
  /** The address that was resolved (internal form, as given). */
  input: string;
  /** Where it goes: user@domain, lower case (smtpd folds the query). */
  recipient: string;
  local: string;
  domain: string;
  domainClass: AddressClass['domainClass'];
  /** Whether the recipient exists (directory answer; undefined for remote). */
  known?: boolean;
  /** RESOLVE_FLAG_ROUTED: routing operators remain in the local part of a non-local destination. */
  routed: boolean;
  /** RESOLVE_FLAG_ERROR: the destination domain is not a valid host name or address literal. */
  error: boolean;
}

export class AddressResolveError extends Error {}

/** Postfix rewrite_clnt(local context), canonicalising one address. */
function rewrite(addr: string, s: ResolverSettings): string {
  let a = addr;
  if (!a.includes('@')) {
    if (s.swapBangpath && a.includes('!')) {
      // site!user → user@site (the rightmost ! separates the user)
      const i = a.indexOf('!');
      a = `${a.slice(i + 1)}@${a.slice(0, i)}`;
    } else if (s.percentHack && a.includes('%')) {
      const i = a.lastIndexOf('%');
      a = `${a.slice(0, i)}@${a.slice(i + 1)}`;
    } else if (a !== '') {
      a = `${a}@${s.myorigin}`;
    }
  }
  if (s.appendDotMydomain && s.mydomain) {
    const { local, domain, hasAt } = splitAddress(a);
    if (hasAt && domain && !domain.includes('.') && !domain.startsWith('[')) a = `${local}@${domain}.${s.mydomain}`;
  }
  return a;
}

export class AddressResolver {
  private readonly cache = new Map<string, Promise<ResolvedAddress>>();
  constructor(
    private readonly settings: ResolverSettings,
    private readonly directory: AddressDirectory,
    /** This host's addresses (address literals naming one of them are local). */
    private readonly ownAddress: (ip: string) => boolean,
  ) {}

  /** Resolve `addr` (cached; rejects with AddressResolveError when the directory fails). */
  resolve(addr: string): Promise<ResolvedAddress> {
    const key = addr.toLowerCase();
    let hit = this.cache.get(key);
    if (!hit) {
      hit = this.run(addr);
      this.cache.set(key, hit);
      hit.catch(() => this.cache.delete(key));
    }
    return hit;
  }

  private async classify(address: string): Promise<AddressClass> {
    try {
      return await this.directory.classify(address);
    } catch (err) {
      throw new AddressResolveError((err as Error).message);
    }
  }

  /** resolve_local(): mydestination, or a literal of this host's addresses. */
  private async isLocal(domain: string): Promise<boolean> {
    if (domain.startsWith('[')) {
      const ip = literalAddress(domain);
      return ip !== undefined && this.ownAddress(ip);
    }
    if (!domain) return false;
    const c = await this.classify(`postmaster@${domain}`);
    return c.domainClass === 'local';
  }

  private async run(input: string): Promise<ResolvedAddress> {
    const s = this.settings;
    let a = rewrite(input.toLowerCase(), s);
    let savedDomain: string | undefined;
    let remoteDomain: string | undefined;
    for (let loop = 0; loop < input.length + 100; loop++) {
      // strip one trailing dot of the domain (not "..", not "@.")
      if (a.endsWith('.') && a.includes('@') && !a.endsWith('..') && !a.endsWith('@.')) a = a.slice(0, -1);
      const { local, domain, hasAt } = splitAddress(a);
      if (hasAt) {
        if (domain && !(await this.isLocal(domain))) {
          remoteDomain = domain;
          break;
        }
        savedDomain = domain || savedDomain;
        a = local;
      }
      if (a.includes('@') || (s.swapBangpath && a.includes('!')) || (s.percentHack && a.includes('%'))) {
        a = rewrite(a, s);
        continue;
      }
      if (a === '') {
        a = s.emptyAddressRecipient.toLowerCase();
        continue;
      }
      if (savedDomain === undefined) {
        a = `${a}@${s.myhostname.toLowerCase()}`;
        continue;
      }
      break;
    }
    let recipient = remoteDomain !== undefined ? a : `${a}@${savedDomain ?? s.myhostname.toLowerCase()}`;
    const { local, domain } = splitAddress(recipient);
    let error = false;
    if (domain.startsWith('[')) {
      if (!validMailhostAddr(domain.slice(1, -1)) || !domain.endsWith(']')) error = true;
    } else if (!validHostname(domain)) {
      error = true;
    }
    // routing operators left of a non-final @ (Postfix checks the first of @!% is the last @)
    const firstOp = recipient.search(/[@!%]/);
    const routed = recipient.slice(firstOp + 1) !== domain;
    recipient = `${local}@${domain}`;
    if (error) return { input, recipient, local, domain, domainClass: 'remote', routed, error };
    if (remoteDomain === undefined) {
      // local: ask the directory about the user (an address literal of ours means $myhostname)
      const asked = domain.startsWith('[') ? `${local}@${s.myhostname.toLowerCase()}` : recipient;
      const c = await this.classify(asked);
      return { input, recipient, local, domain, domainClass: 'local', known: c.domainClass === 'local' ? c.known : true, routed, error };
    }
    const c = await this.classify(recipient);
    return { input, recipient, local, domain, domainClass: c.domainClass === 'local' ? 'remote' : c.domainClass, known: c.known, routed, error };
  }
}
