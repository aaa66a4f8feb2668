// Recipient resolution as Postfix's trivial-rewrite + local(8)/virtual(8) do it:
//   - the domain class: mydestination (and our own [ip] literals) is local, virtual_mailbox_domains
//     and the domains of user-database entries are virtual, virtual_alias_domains are alias
//     domains, relay_domains relay, everything else remote;
//   - local domains: alias_maps (aliases(5)) by local part, then users by local part (or by the
//     full address when the user database holds user@domain names), recipient_delimiter
//     extensions (`alice+tag` → `alice`);
//   - virtual domains: virtual_alias_maps, then users by full address;
//   - postmaster always exists (RFC 5321 §4.5.1): an alias named postmaster wins, else
//     `postmaster_recipient`, else a user named postmaster or root, else the first user of the
//     user database.
// Aliases expand recursively (one-to-many, to other aliases, to remote addresses that go to the
// outbound queue); `|command` and `/file` targets are not supported and are logged and skipped.
// Every table and domain list comes from src/maps, so any table type works here (hash, texthash,
// regexp, pcre, cidr, inline …); a table that cannot answer makes the route a temporary failure.
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import type { UserDatabase, UserEntry } from '../auth/types.js';
import type { Config, ConfigView } from '../config/config.js';
import { logger } from '../log.js';
import { AliasTable, DomainList, openTable, parseAliasTargets, readIncludeFile, splitExtension, TableError, TableList, type AliasTarget, type TableCache } from '../maps/index.js';
import { normalizeDomain, splitAddress } from '../mail/smtp-address.js';
import type { AddressClass, AddressDirectory } from '../smtp/policy/types.js';

const log = logger('local');

export interface MailboxTarget {
  kind: 'maildir' | 'mbox';
  /** Maildir root (with cur/new/tmp) or mbox file. */
  path: string;
  /** The user (for logs). */
  user: string;
  uid?: number;
  gid?: number;
  /** The Delivered-To: address of this copy. */
  deliveredTo: string;
}

export type Routing =
  | { status: 'local'; domainClass: 'local' | 'virtual' | 'alias'; targets: MailboxTarget[]; forwards: string[] }
  /** `address`: where it goes after routing operators in a local domain were resolved. */
  | { status: 'remote'; domainClass: 'remote' | 'relay'; address: string }
  | { status: 'unknown'; domainClass: 'local' | 'virtual' | 'alias' }
  | { status: 'tempfail'; reason: string };

export interface ResolverOptions {
  view: ConfigView;
  users: UserDatabase;
  /** Our own IP addresses (for `user@[ip]`); default: every interface address. */
  localAddresses?: string[];
  /** The server's shared table cache (default: src/maps' process-wide one). */
  tables?: TableCache;
}

const MAX_DEPTH = 20;

export class RecipientResolver implements AddressDirectory {
  private readonly view: ConfigView;
  private readonly users: UserDatabase;
  private readonly mydestination: DomainList;
  private readonly virtualMailbox: DomainList;
  private readonly virtualAlias: DomainList;
  private readonly relay: DomainList;
  private readonly aliases: AliasTable[];
  private readonly virtualAliases: TableList;
  private readonly relayRecipients: TableList;
  private readonly percentHack: boolean;
  private readonly swapBangpath: boolean;
  private readonly localIps: Set<string>;
  readonly myorigin: string;
  private readonly mydomain: string;
  private readonly delimiter: string;

  constructor(opts: ResolverOptions) {
    const v = opts.view;
    this.view = v;
    this.users = opts.users;
    const tableOpts = { cache: opts.tables };
    // trivial-rewrite: mydestination and virtual_*_domains match names exactly (string lists);
    // relay_domains follows parent_domain_matches_subdomains
    this.mydestination = new DomainList(v.domains('mydestination'), false, tableOpts);
    this.virtualMailbox = new DomainList(v.domains('virtual_mailbox_domains'), false, tableOpts);
    this.virtualAlias = new DomainList(v.domains('virtual_alias_domains'), false, tableOpts);
    const parentMatch = v.list('parent_domain_matches_subdomains').includes('relay_domains');
    this.relay = new DomainList(safe(() => v.domains('relay_domains'), []), parentMatch, tableOpts);
    this.aliases = v.tables('alias_maps').map((t) => new AliasTable(openTable(t, { ...tableOpts, format: 'aliases' })));
    this.virtualAliases = new TableList(v.tables('virtual_alias_maps').map((t) => openTable(t, tableOpts)));
    this.relayRecipients = new TableList(v.tables('relay_recipient_maps').map((t) => openTable(t, tableOpts)));
    this.percentHack = v.bool('allow_percent_hack');
    this.swapBangpath = v.bool('swap_bangpath');
    this.myorigin = normalizeDomain(v.get('myorigin') || v.get('myhostname'));
    this.delimiter = v.get('recipient_delimiter');
    this.mydomain = normalizeDomain(v.get('mydomain'));
    const ips = opts.localAddresses ?? Object.values(networkInterfaces()).flatMap((l) => (l ?? []).map((i) => i.address));
    this.localIps = new Set([...ips, '127.0.0.1', '::1'].map((a) => a.toLowerCase()));
  }

  /** `bob` → `bob@$myorigin` (Postfix append_at_myorigin). */
  qualify(address: string): string {
    if (address === '' || address.includes('@')) return address;
    return `${address}@${this.myorigin}`;
  }

  /** The class of a domain (lower case, no trailing dot). Rejects with TableError when a table cannot answer. */
  async domainClass(domain: string): Promise<AddressClass['domainClass']> {
    if (await this.isLocalDomain(domain)) return 'local';
    if (this.users.domains().has(domain) || (await this.virtualMailbox.match(domain))) return 'virtual';
    if (await this.virtualAlias.match(domain)) return 'alias';
    if (await this.relay.match(domain)) return 'relay';
    return 'remote';
  }

  /**
   * Whether queued mail for `address` is delivered here (local, virtual or alias domain) rather
   * than sent out; an address without a domain is local (append_at_myorigin).
   */
  async isLocalAddress(address: string): Promise<boolean> {
    const at = address.lastIndexOf('@');
    if (at < 0) return true;
    const cls = await this.domainClass(address.slice(at + 1).toLowerCase().replace(/\.$/, ''));
    return cls === 'local' || cls === 'virtual' || cls === 'alias';
  }

  private async isLocalDomain(domain: string): Promise<boolean> {
    if (domain.startsWith('[') && domain.endsWith(']')) {
      const ip = domain.slice(1, -1).replace(/^ipv6:/i, '').toLowerCase();
      return this.localIps.has(ip);
    }
    return this.mydestination.match(domain);
  }

  /** AddressDirectory (src/smtp/policy/types.ts): for reject_unlisted_recipient/sender. Throws TableError on lookup trouble. */
  async classify(address: string): Promise<AddressClass> {
    const r = await this.route(address);
    if (r.status === 'tempfail') throw new TableError(r.reason);
    if (r.status === 'remote') return r.domainClass === 'relay' ? { domainClass: 'relay', known: await this.isRelayRecipient(r.address) } : { domainClass: 'remote' };
    return { domainClass: r.domainClass, known: r.status === 'local' };
  }

  /** relay_recipient_maps: empty means every address in relay_domains is valid (postconf(5)). */
  private async isRelayRecipient(address: string): Promise<boolean> {
    if (this.relayRecipients.empty) return true;
    const { local, domain } = splitAddress(address.toLowerCase());
    const { base } = splitExtension(local, this.delimiter);
    for (const key of uniq([`${local}@${domain}`, `${base}@${domain}`])) if ((await this.relayRecipients.lookup(key)) !== undefined) return true;
    return (await this.relayRecipients.lookup(`@${domain}`, true)) !== undefined;
  }

  /**
   * trivial-rewrite: once a local domain is stripped, routing operators left in the local part
   * name the real destination: user%host (allow_percent_hack), host!user (swap_bangpath),
   * "user@host" (a quoted @). Returns the rewritten address, or undefined when there is none.
   */
  private stripRouting(local: string): string | undefined {
    const unquoted = local.startsWith('"') && local.endsWith('"') && local.length >= 2 ? local.slice(1, -1).replace(/\\(.)/g, '$1') : local;
    if (unquoted.includes('@')) return unquoted;
    if (this.swapBangpath && unquoted.includes('!')) {
      const i = unquoted.indexOf('!');
      return `${unquoted.slice(i + 1)}@${unquoted.slice(0, i)}`;
    }
    if (this.percentHack && unquoted.includes('%')) {
      const i = unquoted.lastIndexOf('%');
      return `${unquoted.slice(0, i)}@${unquoted.slice(i + 1)}`;
    }
    return undefined;
  }

  /** Where mail for `address` (internal form, as received) goes. */
  async route(address: string): Promise<Routing> {
    try {
      const qualified = this.qualify(address);
      // Delivered-To: the recipient as received (case kept), frozen before alias expansion (Postfix frozen_delivered_to = yes)
      const top = qualified.replace(/\.$/, '');
      const targets: MailboxTarget[] = [];
      const forwards: string[] = [];
      const { local: firstLocal, domain: firstDomain } = splitAddress(qualified);
      const cls = await this.domainClass(firstDomain);
      if (cls === 'remote' || cls === 'relay') return { status: 'remote', domainClass: cls, address: qualified };
      if (cls === 'local') {
        const routed = this.stripRouting(firstLocal);
        if (routed !== undefined) return this.route(routed);
      }
      const found = await this.expand(qualified, top, 0, new Set(), targets, forwards);
      if (!found) return { status: 'unknown', domainClass: cls };
      return { status: 'local', domainClass: cls, targets: dedupeTargets(targets), forwards: [...new Set(forwards)] };
    } catch (err) {
      if (err instanceof TableError) return { status: 'tempfail', reason: err.message };
      throw err;
    }
  }

  /** Expand one address into mailboxes and remote forwards; false when it does not exist here. */
  private async expand(address: string, deliveredTo: string, depth: number, seen: Set<string>, targets: MailboxTarget[], forwards: string[]): Promise<boolean> {
    if (depth > MAX_DEPTH) {
      log.warn(`alias expansion too deep at ${address}`);
      return false;
    }
    const { local, domain } = splitAddress(address);
    const cls = await this.domainClass(domain);
    if (cls === 'remote' || cls === 'relay') {
      forwards.push(address);
      return true;
    }
    const lcLocal = local.toLowerCase();
    const { base: user } = splitExtension(lcLocal, this.delimiter);
    // virtual_alias_maps apply to every domain class (Postfix cleanup; a value is a list of
    // addresses, read like an alias value); pattern tables
    // (regexp, pcre) are asked for the full address only (DICT_FLAG_FIXED)
    const full = `${lcLocal}@${domain}`;
    for (const key of uniq([full, `${user}@${domain}`, `@${domain}`])) {
      const value = await this.virtualAliases.lookup(key, key !== full);
      if (value !== undefined) {
        if (seen.has(`v:${key}`)) break;
        seen.add(`v:${key}`);
        const lcAddress = address.toLowerCase();
        return this.expandTargets(parseAliasTargets(value), key, deliveredTo, depth, seen, targets, forwards, async (x) => x === lcAddress);
      }
    }
    if (cls === 'local') {
      for (const key of uniq([lcLocal, user])) {
        const t = await this.aliasLookup(key);
        if (!t) continue;
        if (seen.has(key)) {
          // an alias that lists itself delivers to the mailbox of that name
          return this.userMailbox(key, domain, deliveredTo, targets);
        }
        seen.add(key);
        return this.expandTargets(t, key, deliveredTo, depth, seen, targets, forwards, async (x) => splitAddress(x).local.toLowerCase() === key && (await this.isLocalDomain(splitAddress(x).domain)));
      }
      if (this.userMailbox(user, domain, deliveredTo, targets)) return true;
    } else if (cls === 'virtual') {
      for (const key of uniq([`${lcLocal}@${domain}`, `${user}@${domain}`])) {
        const entry = this.users.lookup(key);
        if (entry) {
          targets.push(this.mailboxFor(entry, deliveredTo));
          return true;
        }
      }
    }
    if (user === 'postmaster') return this.postmaster(deliveredTo, depth, seen, targets, forwards);
    return false;
  }

  private async expandTargets(
    list: AliasTarget[],
    key: string,
    deliveredTo: string,
    depth: number,
    seen: Set<string>,
    targets: MailboxTarget[],
    forwards: string[],
    isSelf: (qualifiedTarget: string) => Promise<boolean>,
  ): Promise<boolean> {
    let any = false;
    for (const raw of await this.readTargets(list, key, 0)) {
      const addr = this.qualify(raw);
      if (await isSelf(addr.toLowerCase())) {
        const { local, domain } = splitAddress(addr);
        if (this.userMailbox(local.toLowerCase(), domain, deliveredTo, targets)) any = true;
        continue;
      }
      if (await this.expand(addr, deliveredTo, depth + 1, seen, targets, forwards)) any = true;
      else log.warn(`alias ${key}: target ${raw} does not exist here`);
    }
    return any;
  }

  /** The addresses of alias targets: :include: files read, unsupported |command and /file targets dropped. */
  private async readTargets(list: AliasTarget[], key: string, nesting: number): Promise<string[]> {
    const out: string[] = [];
    for (const t of list) {
      if (t.kind === 'address') out.push(t.address);
      else if (t.kind === 'include') {
        if (nesting >= MAX_DEPTH) {
          log.warn(`alias ${key}: :include: nested too deep at ${t.path}`);
          continue;
        }
        let included: AliasTarget[];
        try {
          included = await readIncludeFile(t.path, process.cwd());
        } catch (err) {
          throw new TableError(`alias ${key}: cannot read ${t.path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
        }
        out.push(...(await this.readTargets(included, key, nesting + 1)));
      } else {
        log.warn(`alias ${key}: ${t.unsupported}, target ${t.kind === 'pipe' ? '|' + t.command : t.path} ignored`);
      }
    }
    return out;
  }

  /** alias_maps: the targets of the first table that has `name`. */
  private async aliasLookup(name: string): Promise<AliasTarget[] | undefined> {
    for (const t of this.aliases) {
      const v = await t.expand(name);
      if (v !== undefined) return v;
    }
    return undefined;
  }

  /** A user of a local domain: by local part, else by local@domain. */
  private userMailbox(user: string, domain: string, deliveredTo: string, targets: MailboxTarget[]): boolean {
    // a user database of user@domain names serves the local domains too (myorigin, mydomain)
    const entry =
      this.users.lookup(user) ??
      this.users.lookup(`${user}@${domain}`) ??
      this.users.lookup(`${user}@${this.myorigin}`) ??
      (this.mydomain ? this.users.lookup(`${user}@${this.mydomain}`) : undefined);
    if (!entry) return false;
    targets.push(this.mailboxFor(entry, deliveredTo));
    return true;
  }

  private async postmaster(deliveredTo: string, depth: number, seen: Set<string>, targets: MailboxTarget[], forwards: string[]): Promise<boolean> {
    if (seen.has('#postmaster')) return false;
    seen.add('#postmaster');
    const configured = this.view.get('postmaster_recipient').trim();
    if (configured) {
      return this.expand(this.qualify(configured), deliveredTo, depth + 1, seen, targets, forwards);
    }
    const local = await this.aliasLookup('postmaster');
    if (local) return this.expandTargets(local, 'postmaster', deliveredTo, depth, seen, targets, forwards, async () => false);
    const entry = this.users.lookup('postmaster') ?? this.users.lookup('root') ?? this.users.all()[0];
    if (!entry) return false;
    targets.push(this.mailboxFor(entry, deliveredTo));
    return true;
  }

  /** The mailbox of a user: userdb `mail=maildir:…`, else home_mailbox / mail_spool_directory. */
  mailboxFor(entry: UserEntry, deliveredTo: string): MailboxTarget {
    const base = { user: entry.user, uid: entry.uid, gid: entry.gid, deliveredTo };
    const mail = entry.extra.mail ?? entry.extra.userdb_mail;
    if (mail && /^maildir:/i.test(mail)) {
      let p = mail.slice(8).split(':')[0];
      if (p.startsWith('~')) p = join(entry.home, p.slice(1));
      return { kind: 'maildir', path: p.replace(/\/+$/, ''), ...base };
    }
    if (mail && /^mbox:/i.test(mail)) {
      let p = mail.slice(5).split(':')[0];
      if (p.startsWith('~')) p = join(entry.home, p.slice(1));
      return { kind: 'mbox', path: p, ...base };
    }
    const home = this.view.get('home_mailbox');
    if (home === '') {
      const spool = this.view.path('mail_spool_directory');
      const name = entry.user.replace(/\//g, '_');
      if (this.view.get('mail_spool_directory').endsWith('/')) return { kind: 'maildir', path: join(spool, name), ...base };
      return { kind: 'mbox', path: join(spool, name), ...base };
    }
    if (home.endsWith('/')) return { kind: 'maildir', path: join(entry.home, home).replace(/\/+$/, ''), ...base };
    return { kind: 'mbox', path: join(entry.home, home), ...base };
  }
}

/** A user database without users: domain classes from the configuration alone. */
const NO_USERS: UserDatabase = { lookup: () => undefined, all: () => [], domains: () => new Set() };

/**
 * Which addresses of queued mail are local when the server assembly gives no better predicate
 * (QueueManagerDeps.isLocal): mydestination, virtual_mailbox_domains, virtual_alias_domains,
 * without the user database's domains.
 */
export function localAddressMatcher(config: Config, tables?: TableCache): (address: string) => Promise<boolean> {
  const resolver = new RecipientResolver({ view: config.view(), users: NO_USERS, tables });
  return (address) => resolver.isLocalAddress(address);
}

function uniq(keys: string[]): string[] {
  return [...new Set(keys)];
}

function safe<T>(f: () => T, fallback: T): T {
  try {
    return f();
  } catch {
    return fallback;
  }
}

function dedupeTargets(targets: MailboxTarget[]): MailboxTarget[] {
  const seen = new Set<string>();
  return targets.filter((t) => {
    const k = `${t.kind}:${t.path}:${t.deliveredTo}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
