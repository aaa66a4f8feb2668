// The configuration the restriction engine reads, once per Policy (postconf(5) names).
import { networkInterfaces } from 'node:os';
import type { ConfigView, Restriction } from '../../config/config.js';
import { NetworkList, openTables, type TableCache, type TableList } from '../../maps/index.js';
import type { ResolverSettings } from './resolve.js';

export type TempfailAction = 'defer_if_permit' | 'defer' | 'dunno';

export interface PolicySettings {
  service: string;
  lists: {
    client: Restriction[];
    helo: Restriction[];
    sender: Restriction[];
    relay: Restriction[];
    recipient: Restriction[];
    data: Restriction[];
    eod: Restriction[];
    etrn: Restriction[];
  };
  /** smtpd_restriction_classes, parsed lazily. */
  classNames: Set<string>;
  classList(name: string): Restriction[];
  /** Parse a restriction list found in an access table result. */
  parseList(value: string): Restriction[];
  delayReject: boolean;
  rejectUnlistedSender: boolean;
  rejectUnlistedRecipient: boolean;
  nullAccessKey: string;
  codes: {
    accessMapReject: number;
    accessMapDefer: number;
    defer: number;
    reject: number;
    relayDomains: number;
    unknownAddress: number;
    unknownClient: number;
    unknownHostname: number;
    unknownLocalRecipient: number;
    unknownVirtualMailbox: number;
    unknownVirtualAlias: number;
    unknownRelayRecipient: number;
    nonFqdn: number;
    invalidHostname: number;
    mapsRbl: number;
    plaintext: number;
    multiRecipientBounce: number;
  };
  tempfail: { unknownAddress: TempfailAction; unknownHelo: TempfailAction; dnsbl: TempfailAction };
  mynetworks: NetworkList;
  permitMxBackupNetworks: NetworkList;
  /** parent_domain_matches_subdomains contains smtpd_access_maps */
  accessParentStyle: boolean;
  recipientDelimiter: string;
  senderLoginMaps: TableList;
  rblReplyMaps: TableList;
  /** default_rbl_reply, not yet expanded */
  defaultRblReply: string;
  allowUntrustedRouting: boolean;
  showUnknownTable: boolean;
  doubleBounceSender: string;
  resolver: ResolverSettings;
  /** Expand a main.cf parameter by name (for $name in RBL reply templates). */
  param(name: string): string;
}

function tempfailAction(v: string, name: string): TempfailAction {
  const s = v.trim();
  if (s === 'defer_if_permit' || s === 'defer' || s === 'dunno') return s;
  throw new Error(`bad configuration: ${name} = ${v} (use defer_if_permit or defer)`);
}

export function readSettings(view: ConfigView, cache?: TableCache): PolicySettings {
  const config = view.config;
  const service = view.service ?? 'smtp';
  const tableOpts = { cache, baseDir: config.baseDir };
  const classNames = new Set(view.list('smtpd_restriction_classes'));
  const classCache = new Map<string, Restriction[]>();
  const raw = (name: string) => config.rawValue(name, view.service)?.value ?? '';
  return {
    service,
    lists: {
      client: view.restrictions('smtpd_client_restrictions'),
      helo: view.restrictions('smtpd_helo_restrictions'),
      sender: view.restrictions('smtpd_sender_restrictions'),
      relay: view.restrictions('smtpd_relay_restrictions'),
      recipient: view.restrictions('smtpd_recipient_restrictions'),
      data: view.restrictions('smtpd_data_restrictions'),
      eod: view.restrictions('smtpd_end_of_data_restrictions'),
      etrn: view.restrictions('smtpd_etrn_restrictions'),
    },
    classNames,
    classList(name: string) {
      let l = classCache.get(name);
      if (!l) {
        l = config.parseRestrictions(config.get(name, view.service));
        classCache.set(name, l);
      }
      return l;
    },
    parseList: (value: string) => config.parseRestrictions(value),
    delayReject: view.bool('smtpd_delay_reject'),
    rejectUnlistedSender: view.bool('smtpd_reject_unlisted_sender'),
    rejectUnlistedRecipient: view.bool('smtpd_reject_unlisted_recipient'),
    nullAccessKey: view.get('smtpd_null_access_lookup_key'),
    codes: {
      accessMapReject: view.int('access_map_reject_code'),
      accessMapDefer: view.int('access_map_defer_code'),
      defer: view.int('defer_code'),
      reject: view.int('reject_code'),
      relayDomains: view.int('relay_domains_reject_code'),
      unknownAddress: view.int('unknown_address_reject_code'),
      unknownClient: view.int('unknown_client_reject_code'),
      unknownHostname: view.int('unknown_hostname_reject_code'),
      unknownLocalRecipient: view.int('unknown_local_recipient_reject_code'),
      unknownVirtualMailbox: view.int('unknown_virtual_mailbox_reject_code'),
      unknownVirtualAlias: view.int('unknown_virtual_alias_reject_code'),
      unknownRelayRecipient: view.int('unknown_relay_recipient_reject_code'),
      nonFqdn: view.int('non_fqdn_reject_code'),
      invalidHostname: view.int('invalid_hostname_reject_code'),
      mapsRbl: view.int('maps_rbl_reject_code'),
      plaintext: view.int('plaintext_reject_code'),
      multiRecipientBounce: view.int('multi_recipient_bounce_reject_code'),
    },
    tempfail: {
      unknownAddress: tempfailAction(view.get('unknown_address_tempfail_action'), 'unknown_address_tempfail_action'),
      unknownHelo: tempfailAction(view.get('unknown_helo_hostname_tempfail_action'), 'unknown_helo_hostname_tempfail_action'),
      dnsbl: tempfailAction(view.get('dnsbl_tempfail_action'), 'dnsbl_tempfail_action'),
    },
    mynetworks: new NetworkList(view.networks('mynetworks'), tableOpts),
    permitMxBackupNetworks: new NetworkList(view.networks('permit_mx_backup_networks'), tableOpts),
    accessParentStyle: view.list('parent_domain_matches_subdomains').includes('smtpd_access_maps'),
    recipientDelimiter: view.get('recipient_delimiter'),
    senderLoginMaps: openTables(view.tables('smtpd_sender_login_maps'), tableOpts),
    rblReplyMaps: openTables(view.tables('rbl_reply_maps'), tableOpts),
    defaultRblReply: raw('default_rbl_reply'),
    allowUntrustedRouting: view.bool('allow_untrusted_routing'),
    showUnknownTable: view.bool('show_user_unknown_table_name'),
    doubleBounceSender: view.get('double_bounce_sender') || 'double-bounce',
    resolver: {
      myhostname: view.get('myhostname'),
      myorigin: view.get('myorigin'),
      mydomain: view.get('mydomain'),
      percentHack: view.bool('allow_percent_hack'),
      swapBangpath: view.bool('swap_bangpath'),
      appendDotMydomain: view.bool('append_dot_mydomain'),
      emptyAddressRecipient: view.get('empty_address_recipient'),
    },
    param: (name: string) => view.get(name),
  };
}

/** The machine's interface addresses (permit_inet_interfaces, address literals of this host). */
export function interfaceAddresses(): string[] {
  const out: string[] = [];
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) out.push(a.address);
  return out;
}
