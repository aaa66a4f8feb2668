// A test AddressDirectory (the real one belongs to src/delivery): local users and aliases
// by local part in mydestination, virtual_alias_maps (which make any address known, as in
// Postfix's check_rcpt_maps), virtual_alias_domains, virtual_mailbox_domains and
// relay_domains with relay_recipient_maps (empty: every recipient is known).
import type { ConfigView } from '../../../src/config/config.js';
import { DomainList, mailAddrFind, openTables, splitExtension, type TableCache } from '../../../src/maps/index.js';
import type { AddressClass, AddressDirectory } from '../../../src/smtp/policy/types.js';

export class FixtureDirectory implements AddressDirectory {
  private readonly mydestination: DomainList;
  private readonly relayDomains: DomainList;
  private readonly aliasDomains: DomainList;
  private readonly mailboxDomains: DomainList;
  private readonly relayRecipients;
  private readonly virtualAlias;
  private readonly delimiter: string;
  /** classify() calls, for tests that check the engine does not ask too much. */
  readonly calls: string[] = [];
  /** Make classify throw (a user database that cannot be read). */
  failing = false;

  constructor(
    view: ConfigView,
    private readonly localUsers: string[] = ['alice', 'bob'],
    private readonly aliases: string[] = ['postmaster', 'root', 'abuse', 'mailer-daemon'],
    cache?: TableCache,
  ) {
    const parent = view.list('parent_domain_matches_subdomains');
    const opts = { cache, baseDir: view.config.baseDir };
    this.mydestination = new DomainList(view.domains('mydestination'), parent.includes('mydestination'), opts);
    this.relayDomains = new DomainList(view.domains('relay_domains'), parent.includes('relay_domains'), opts);
    this.aliasDomains = new DomainList(view.domains('virtual_alias_domains'), false, opts);
    this.mailboxDomains = new DomainList(view.domains('virtual_mailbox_domains'), false, opts);
    this.relayRecipients = openTables(view.tables('relay_recipient_maps'), opts);
    this.virtualAlias = openTables(view.tables('virtual_alias_maps'), opts);
    this.delimiter = view.get('recipient_delimiter');
  }

  async classify(address: string): Promise<AddressClass> {
    this.calls.push(address);
    if (this.failing) throw new Error('user database unavailable');
    const addr = address.toLowerCase();
    const at = addr.lastIndexOf('@');
    const local = at < 0 ? addr : addr.slice(0, at);
    const domain = at < 0 ? '' : addr.slice(at + 1);
    const base = splitExtension(local, this.delimiter).base;
    const aliased = async () => (await mailAddrFind(this.virtualAlias, addr, { delimiters: this.delimiter })) !== undefined;
    if (await this.mydestination.match(domain)) {
      return { domainClass: 'local', known: this.localUsers.includes(base) || this.aliases.includes(base) || (await aliased()) };
    }
    if (await this.aliasDomains.match(domain)) return { domainClass: 'alias', known: await aliased() };
    if (await this.mailboxDomains.match(domain)) return { domainClass: 'virtual', known: await aliased() };
    if (await this.relayDomains.match(domain)) {
      const known = this.relayRecipients.empty || (await aliased()) || (await mailAddrFind(this.relayRecipients, addr, { delimiters: this.delimiter })) !== undefined;
      return { domainClass: 'relay', known };
    }
    return { domainClass: 'remote' };
  }
}
