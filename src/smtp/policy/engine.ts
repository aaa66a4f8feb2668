// The restriction engine: Postfix smtpd_check semantics (postconf(5), SMTPD_ACCESS_README).
//
// Stages and when they run:
//   smtpd_client_restrictions   connect (smtpd_delay_reject = no) or each RCPT/VRFY/ETRN
//   smtpd_helo_restrictions     HELO/EHLO (no) or each RCPT/VRFY/ETRN
//   smtpd_sender_restrictions   MAIL (no) or each RCPT/VRFY
//   smtpd_relay_restrictions, then smtpd_recipient_restrictions    each RCPT/VRFY
//   smtpd_data_restrictions / smtpd_end_of_data_restrictions / smtpd_etrn_restrictions
// Within a list: permit ends the list (the next stage still runs), a reject ends the
// evaluation with its reply, dunno or no match goes on. warn_if_reject turns the next
// restriction's rejection into a logged warning; defer_if_permit / defer_if_reject
// remember a 450 that replaces a later permit / 5xx reject of the same request; after the
// recipient lists, the implicit smtpd_reject_unlisted_recipient check runs.
import { logger, type Logger } from '../../log.js';
import type { ConfigView, Restriction } from '../../config/config.js';
import { expandMacros } from '../../config/expand.js';
import type { Resolver } from '../../dns/resolver.js';
import { openTable, mailAddrFind, stripExtension, TableError, type LookupTable, type TableCache } from '../../maps/index.js';
import { isHeader, splitAddress, toInternalAddress, truncateDot, validHostaddr, validHostname, validMailhostAddr } from './address.js';
import { resolveClientNames, type NameStatus } from './client-names.js';
import { DnsxlClient, splitListArg, type DnsxlAnswer } from './dnsxl.js';
import { CLASS, dsnFix, dsnSplit, formatReject, parseReply } from './reply.js';
import { AddressResolveError, AddressResolver, type ResolvedAddress } from './resolve.js';
import { interfaceAddresses, readSettings, type PolicySettings, type TempfailAction } from './settings.js';
import type { AddressDirectory, Policy, PolicyActions, PolicySession, PolicyVerdict, SmtpClientState } from './types.js';

export interface PolicyDeps {
  resolver: Resolver;
  directory: AddressDirectory;
  /** `sleep N` waits through this (tests pass one that does not wait). */
  sleep?: (ms: number) => Promise<void>;
  /** This host's addresses: permit_inet_interfaces and address literals (default: the network interfaces). */
  localAddresses?: () => string[];
  /** Table cache shared with other rooms (default: the process-wide one). */
  tableCache?: TableCache;
  log?: Logger;
}

const DUNNO = 0;
const OK = 1;
const REJECT = 2;
type Status = typeof DUNNO | typeof OK | typeof REJECT;

/** Postfix MAIL_ERROR_* classes: software/resource errors are never turned into warnings. */
type ErrorClass = 'policy' | 'protocol' | 'bounce' | 'software' | 'resource' | 'data';

interface Defer {
  active: boolean;
  cls: ErrorClass;
  code: number;
  dsn: string;
  text: string;
}

/** A restriction that cannot go on (server configuration error, lookup failure): the stage ends with `status`. */
class Abort {
  constructor(readonly status: Status) {}
}

interface ListContext {
  replyName: string;
  replyClass: string;
  /** The check_*_access a bare `type:table` element means in this list (none for DATA/END-OF-DATA). */
  defAcl?: string;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Build the engine for one service's view of the configuration. */
export function createPolicy(view: ConfigView, deps: PolicyDeps): Policy & { readonly settings: PolicySettings } {
  const settings = readSettings(view, deps.tableCache);
  const log = deps.log ?? logger('smtpd');
  return {
    settings,
    session: () => new RestrictionSession(settings, deps, log),
  };
}


class RestrictionSession implements PolicySession {
  private st!: SmtpClientState;
  private where = 'CONNECT';
  private sender?: string;
  private recipient?: string;
  private heloName?: string;
  private etrnName?: string;
  private nameStatus: NameStatus = 'ok';
  private reverseNameStatus: NameStatus = 'ok';
  private namesKnown = false;

  private readonly dip: Defer = { active: false, cls: 'policy', code: 450, dsn: '4.7.1', text: '' };
  private readonly dir: Defer = { active: false, cls: 'policy', code: 450, dsn: '4.7.1', text: '' };
  private dipClient = false;
  private dipHelo = false;
  private dipSender = false;
  private warnIfReject = 0;
  private recursion = 0;
  private recipientRcptmapChecked = false;
  private senderRcptmapChecked = false;
  private discard = false;
  private errorText = '';
  private actions: PolicyActions = {};

  private readonly addresses: AddressResolver;
  private readonly dnsxl: DnsxlClient;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly localAddresses: () => string[];
  private log: Logger;

  constructor(
    private readonly s: PolicySettings,
    private readonly deps: PolicyDeps,
    baseLog: Logger,
  ) {
    this.sleep = deps.sleep ?? defaultSleep;
    this.localAddresses = deps.localAddresses ?? interfaceAddresses;
    this.dnsxl = new DnsxlClient(deps.resolver);
    this.log = baseLog;
    this.addresses = new AddressResolver(s.resolver, deps.directory, (ip) => this.isOwnAddress(ip));
  }

  // ---- the PolicySession interface -----------------------------------------------

  async connect(state: SmtpClientState): Promise<PolicyVerdict> {
    this.enter(state, 'CONNECT');
    await this.ensureNames();
    if (!this.s.delayReject && (await this.checkClient()) === REJECT) return this.rejected();
    return { ok: true };
  }

  async helo(state: SmtpClientState): Promise<PolicyVerdict> {
    this.enter(state, state.protocol === 'ESMTP' ? 'EHLO' : 'HELO');
    await this.ensureNames();
    if (!this.s.delayReject && (await this.checkHelo(state.heloName)) === REJECT) return this.rejected();
    return { ok: true };
  }

  async mail(state: SmtpClientState): Promise<PolicyVerdict> {
    this.enter(state, 'MAIL');
    await this.ensureNames();
    if (!this.s.delayReject && (await this.checkMail(this.sender)) === REJECT) return this.rejected();
    return this.accepted();
  }

  async rcpt(state: SmtpClientState, recipient: string): Promise<PolicyVerdict> {
    this.enter(state, 'RCPT');
    await this.ensureNames();
    if ((await this.checkRcpt(toInternalAddress(recipient))) === REJECT) return this.rejected();
    return this.accepted();
  }

  async vrfy(state: SmtpClientState, address: string): Promise<PolicyVerdict> {
    this.enter(state, 'VRFY');
    await this.ensureNames();
    if ((await this.checkRcpt(toInternalAddress(address))) === REJECT) return this.rejected();
    return { ok: true };
  }

  async etrn(state: SmtpClientState, domain: string): Promise<PolicyVerdict> {
    this.enter(state, 'ETRN');
    await this.ensureNames();
    if ((await this.checkEtrn(domain)) === REJECT) return this.rejected();
    return { ok: true };
  }

  async data(state: SmtpClientState): Promise<PolicyVerdict> {
    this.enter(state, 'DATA');
    await this.ensureNames();
    if ((await this.checkDataLike(this.s.lists.data, 'DATA', CLASS.data)) === REJECT) return this.rejected();
    return this.accepted();
  }

  async endOfData(state: SmtpClientState): Promise<PolicyVerdict> {
    this.enter(state, 'END-OF-MESSAGE');
    await this.ensureNames();
    if ((await this.checkDataLike(this.s.lists.eod, 'END-OF-MESSAGE', CLASS.eod)) === REJECT) return this.rejected();
    return this.accepted();
  }

  reset(): void {
    this.actions = {};
    this.discard = false;
    this.dipSender = false;
  }

  // ---- session state ----------------------------------------------------------------

  private enter(state: SmtpClientState, where: string): void {
    this.st = state;
    this.where = where;
    this.log = this.deps.log ?? logger('smtpd').withId(state.sessionId);
    this.sender = state.sender === undefined ? undefined : toInternalAddress(state.sender);
    this.heloName = state.heloName;
  }

  /** Client names and their lookup status (filled into the state when the session left them empty). */
  private async ensureNames(): Promise<void> {
    if (this.namesKnown) {
      this.st.clientName ??= 'unknown';
      this.st.reverseClientName ??= 'unknown';
      return;
    }
    this.namesKnown = true;
    if (this.st.clientName === undefined || this.st.reverseClientName === undefined) {
      const n = await resolveClientNames(this.deps.resolver, this.st.clientAddress);
      this.st.clientName ??= n.clientName;
      this.st.reverseClientName ??= n.reverseClientName;
      if (this.st.clientName === n.clientName) this.nameStatus = n.nameStatus;
      else this.nameStatus = this.st.clientName === 'unknown' ? 'perm' : 'ok';
      if (this.st.reverseClientName === n.reverseClientName) this.reverseNameStatus = n.reverseNameStatus;
      else this.reverseNameStatus = this.st.reverseClientName === 'unknown' ? 'perm' : 'ok';
    } else {
      this.nameStatus = this.st.clientName === 'unknown' ? 'perm' : 'ok';
      this.reverseNameStatus = this.st.reverseClientName === 'unknown' ? 'perm' : 'ok';
    }
  }

  private get name(): string {
    return this.st.clientName ?? 'unknown';
  }
  private get reverseName(): string {
    return this.st.reverseClientName ?? 'unknown';
  }
  private get addr(): string {
    return this.st.clientAddress;
  }
  private get namaddr(): string {
    return `${this.name}[${this.addr}]`;
  }

  private isOwnAddress(ip: string): boolean {
    const norm = (a: string) => a.toLowerCase().replace(/^::ffff:(?=\d+\.)/, '');
    const x = norm(ip);
    if (this.st && norm(this.st.serverAddress) === x) return true;
    return this.localAddresses().some((a) => norm(a) === x);
  }

  private accepted(): PolicyVerdict {
    const a = this.actions;
    const any = a.hold !== undefined || a.discard !== undefined || a.redirect !== undefined || a.filter !== undefined || (a.prepend?.length ?? 0) > 0;
    return any ? { ok: true, actions: { ...a, prepend: a.prepend ? [...a.prepend] : undefined } } : { ok: true };
  }

  private rejected(): PolicyVerdict {
    const reply = parseReply(this.errorText);
    return reply.code === 421 ? { ok: false, reply, close: true } : { ok: false, reply };
  }

  // ---- Postfix smtpd_check_reject / defer_if ------------------------------------

  private logWhatsup(whatsup: string, text: string): void {
    let line = `${whatsup}: ${this.where} from ${this.namaddr}: ${text};`;
    if (this.sender !== undefined) line += ` from=<${this.sender}>`;
    if (this.recipient !== undefined) line += ` to=<${this.recipient}>`;
    if (this.st.protocol) line += ` proto=${this.st.protocol}`;
    if (this.heloName) line += ` helo=<${this.heloName}>`;
    // Postfix: `NOQUEUE: reject: RCPT from …` (or the queue id once there is one); the session id as a field
    if (whatsup === 'reject' || whatsup === 'reject_warning' || whatsup === 'warn') (this.deps.log ?? logger('smtpd')).withId(this.st.queueId ?? 'NOQUEUE').info(line, { session: this.st.sessionId });
    else this.log.info(line);
  }

  private reject(cls: ErrorClass, code: number, dsn: string, text: string): Status {
    const warn = this.warnIfReject > 0 && cls !== 'software' && cls !== 'resource';
    const line = formatReject(code, dsn, text);
    // an earlier temporary problem turns this 5xx into the deferral it asked for
    if (!warn && this.dir.active && line[0] === '5') {
      this.warnIfReject = 0;
      this.dir.active = false;
      return this.reject(this.dir.cls, this.dir.code, this.dir.dsn, this.dir.text);
    }
    this.errorText = line;
    this.logWhatsup(warn ? 'reject_warning' : 'reject', line);
    return warn ? DUNNO : REJECT;
  }

  private deferIf(d: Defer, cls: ErrorClass, code: number, dsn: string, text: string): Status {
    if (!d.active) Object.assign(d, { active: true, cls, code, dsn, text });
    return DUNNO;
  }

  /** DEFER_IF_PERMIT2: remember a deferral (tempfail action defer_if_permit) or defer now. */
  private deferIfPermit(action: TempfailAction, cls: ErrorClass, code: number, dsn: string, text: string): Status {
    if (action === 'dunno') return DUNNO;
    if (this.warnIfReject === 0 && action === 'defer_if_permit') return this.deferIf(this.dip, cls, code, dsn, text);
    return this.reject(cls, code, dsn, text);
  }

  /** reject_server_error: 451 4.3.5 Server configuration error, ending the stage. */
  private serverError(why: string): never {
    this.log.warn(why);
    throw new Abort(this.reject('software', 451, '4.3.5', 'Server configuration error'));
  }

  /** reject_dict_retry: 451 4.3.0 <name>: Temporary lookup failure, ending the stage. */
  private lookupRetry(replyName: string, why: string): never {
    this.log.warn(why);
    throw new Abort(this.reject('data', 451, '4.3.0', `<${replyName}>: Temporary lookup failure`));
  }

  private async resolve(addr: string): Promise<ResolvedAddress> {
    try {
      return await this.addresses.resolve(addr);
    } catch (err) {
      if (err instanceof AddressResolveError) this.lookupRetry(addr, `address lookup for ${addr}: ${err.message}`);
      throw err;
    }
  }

  // ---- stages -------------------------------------------------------------------

  private resetChecks(): void {
    this.recursion = 0;
    this.warnIfReject = 0;
    this.dir.active = false;
  }

  private async stage(list: Restriction[], ctx: ListContext): Promise<Status> {
    if (list.length === 0) return DUNNO;
    try {
      return await this.generic(list, ctx);
    } catch (err) {
      if (err instanceof Abort) return err.status;
      throw err;
    }
  }

  private async checkClient(): Promise<Status> {
    this.dip.active = false;
    this.resetChecks();
    const status = await this.stage(this.s.lists.client, { replyName: this.namaddr, replyClass: CLASS.client, defAcl: 'check_client_access' });
    this.dipClient = this.dip.active;
    return status;
  }

  private async checkHelo(helo: string | undefined): Promise<Status> {
    if (helo === undefined) return DUNNO;
    const saved = this.heloName;
    this.heloName = helo;
    try {
      this.dip.active = this.dipClient;
      this.resetChecks();
      const status = await this.stage(this.s.lists.helo, { replyName: helo, replyClass: CLASS.helo, defAcl: 'check_helo_access' });
      this.dipHelo = this.dip.active;
      return status;
    } finally {
      this.heloName = saved;
    }
  }

  private async checkMail(sender: string | undefined): Promise<Status> {
    if (sender === undefined) {
      this.dipSender = this.dipClient || this.dipHelo;
      return DUNNO;
    }
    this.dip.active = this.dipClient || this.dipHelo;
    this.senderRcptmapChecked = false;
    this.resetChecks();
    let status = await this.stage(this.s.lists.sender, { replyName: sender, replyClass: CLASS.sender, defAcl: 'check_sender_access' });
    this.dipSender = this.dip.active;
    // smtpd_reject_unlisted_sender: the implicit reject_unlisted_sender
    if (this.s.rejectUnlistedSender && status !== REJECT && !this.senderRcptmapChecked && !this.discard && sender) {
      status = await this.guard(() => this.checkSenderRcptMaps(sender));
    }
    return status;
  }

  private async guard(f: () => Promise<Status>): Promise<Status> {
    try {
      return await f();
    } catch (err) {
      if (err instanceof Abort) return err.status;
      throw err;
    }
  }

  private async checkRcpt(recipient: string): Promise<Status> {
    // RFC 5321 §4.5.1: postmaster is accepted without a domain, without restrictions
    if (recipient.toLowerCase() === 'postmaster') return DUNNO;
    const saved = this.recipient;
    this.recipient = recipient;
    try {
      this.recipientRcptmapChecked = false;
      if (this.s.delayReject) {
        if ((await this.checkClient()) === REJECT) return REJECT;
        if ((await this.checkHelo(this.st.heloName)) === REJECT) return REJECT;
        if ((await this.checkMail(this.sender)) === REJECT) return REJECT;
      }
      this.dip.active = this.dipSender;
      this.resetChecks();
      let status: Status = DUNNO;
      for (const list of [this.s.lists.relay, this.s.lists.recipient]) {
        status = await this.stage(list, { replyName: recipient, replyClass: CLASS.recipient, defAcl: 'check_recipient_access' });
        if (status === REJECT) break;
      }
      if (status !== REJECT && this.dip.active) status = this.reject(this.dip.cls, this.dip.code, this.dip.dsn, this.dip.text);
      // smtpd_reject_unlisted_recipient: the implicit reject_unlisted_recipient
      if (this.s.rejectUnlistedRecipient && status !== REJECT && !this.recipientRcptmapChecked && !this.discard) {
        status = await this.guard(() => this.checkRecipientRcptMaps(recipient));
      }
      return status;
    } finally {
      this.recipient = saved;
    }
  }

  private async checkEtrn(domain: string): Promise<Status> {
    this.etrnName = domain;
    try {
      if (this.s.delayReject) {
        if ((await this.checkClient()) === REJECT) return REJECT;
        if ((await this.checkHelo(this.st.heloName)) === REJECT) return REJECT;
      }
      this.dip.active = this.dipClient || this.dipHelo;
      this.resetChecks();
      let status = await this.stage(this.s.lists.etrn, { replyName: domain, replyClass: CLASS.etrn, defAcl: 'check_etrn_access' });
      if (status !== REJECT && this.dip.active) status = this.reject(this.dip.cls, this.dip.code, this.dip.dsn, this.dip.text);
      return status;
    } finally {
      this.etrnName = undefined;
    }
  }

  private async checkDataLike(list: Restriction[], replyName: string, replyClass: string): Promise<Status> {
    // with several recipients no single recipient is named
    const saved = this.recipient;
    if (this.st.recipientCount > 1) this.recipient = undefined;
    try {
      this.dip.active = false;
      this.resetChecks();
      let status = await this.stage(list, { replyName, replyClass });
      if (status !== REJECT && this.dip.active) status = this.reject(this.dip.cls, this.dip.code, this.dip.dsn, this.dip.text);
      return status;
    } finally {
      this.recipient = saved;
    }
  }

  // ---- generic_checks ---------------------------------------------------------------

  private async generic(list: Restriction[], ctx: ListContext): Promise<Status> {
    // a restriction class that names itself must not recurse forever
    if (this.recursion > 100) this.serverError(`restriction list ${list.map((r) => r.text).join(', ')} causes unreasonable recursion`);
    const savedRecursion = this.recursion++;
    let status: Status = DUNNO;
    try {
      for (const r of list) {
        if (this.discard) break;
        if (r.name === 'warn_if_reject') {
          if (this.warnIfReject === 0) this.warnIfReject = this.recursion;
          continue;
        }
        status = await this.one(r, ctx);
        if (this.warnIfReject >= this.recursion) this.warnIfReject = 0;
        if (status !== DUNNO) break;
        if (this.dip.active && this.dir.active) break;
      }
    } finally {
      this.recursion = savedRecursion;
    }
    if (this.warnIfReject >= this.recursion) this.warnIfReject = 0;
    return status;
  }

  private table(r: Restriction): LookupTable {
    if (!r.table) this.serverError(`restriction ${r.text}: need maptype:mapname`);
    return openTable(r.table, { cache: this.deps.tableCache });
  }

  /** forbid_whitelist: the MX/NS/A/reverse-name checks must not return OK. */
  private noPermit(r: Restriction, status: Status, target: string): Status {
    if (status === OK) this.serverError(`restriction ${r.name} returns OK for ${target}; this is not allowed for security reasons (use DUNNO instead of OK)`);
    return status;
  }

  private async one(r0: Restriction, ctx: ListContext): Promise<Status> {
    let r = r0;
    if (r.name === 'check_access') {
      // a bare type:table means the list's own check_*_access
      if (!ctx.defAcl) this.serverError(`specify one of check_client_access, check_helo_access, check_sender_access, check_recipient_access or check_etrn_access before ${ctx.replyClass} restriction "${r.text}"`);
      r = { ...r, name: ctx.defAcl };
    }
    const { replyName, replyClass } = ctx;
    const c = this.s.codes;
    const sender = this.sender;
    const rcpt = this.recipient;
    const helo = this.heloName;
    switch (r.name) {
      // -- generic
      case 'permit':
        return OK;
      case 'dunno':
        return DUNNO;
      case 'defer':
        return this.reject('policy', c.defer, '4.3.2', `<${replyName}>: ${replyClass} rejected: Try again later`);
      case 'reject':
        return this.reject('policy', c.reject, '5.7.1', `<${replyName}>: ${replyClass} rejected: Access denied`);
      case 'reject_unauth_pipelining':
        if (this.st.pipelining.talkedBeforeGreeting || this.st.pipelining.unauthPipelined) {
          return this.reject('protocol', 503, '5.5.0', `<${replyName}>: ${replyClass} rejected: Improper use of SMTP command pipelining`);
        }
        return DUNNO;
      case 'defer_if_permit':
        return this.deferIfPermit('defer_if_permit', 'policy', 450, '4.7.0', `<${replyName}>: ${replyClass} rejected: defer_if_permit requested`);
      case 'defer_if_reject':
        return this.deferIf(this.dir, 'policy', 450, '4.7.0', `<${replyName}>: ${replyClass} rejected: defer_if_reject requested`);
      case 'sleep': {
        const seconds = Number(r.arg);
        if (!/^\d+$/.test(r.arg ?? '')) this.serverError(`restriction sleep must be followed by number`);
        await this.sleep(seconds * 1000);
        return DUNNO;
      }
      case 'reject_plaintext_session':
        return this.st.tls ? DUNNO : this.reject('policy', c.plaintext, '4.7.1', 'Session encryption is required');

      // -- client
      case 'reject_unknown_client_hostname':
        if (this.nameStatus === 'ok') return DUNNO;
        return this.reject('policy', this.nameStatus === 'perm' ? c.unknownClient : 450, '4.7.25', `Client host rejected: cannot find your hostname, [${this.addr}]`);
      case 'reject_unknown_reverse_client_hostname':
        if (this.reverseNameStatus === 'ok') return DUNNO;
        return this.reject('policy', this.reverseNameStatus === 'perm' ? c.unknownClient : 450, '4.7.1', `Client host rejected: cannot find your reverse hostname, [${this.addr}]`);
      case 'permit_inet_interfaces':
        return this.localAddresses().some((a) => a === this.addr) ? OK : DUNNO;
      case 'permit_mynetworks':
        return (await this.guardTable(() => this.s.mynetworks.match(this.addr, this.name), replyName)) ? OK : DUNNO;
      case 'permit_sasl_authenticated':
        return this.st.saslUsername ? OK : DUNNO;
      case 'check_client_access':
        return (await this.checkNamadrAccess(this.table(r), this.name, this.addr, this.namaddr, CLASS.client, ctx.defAcl)).status;
      case 'check_reverse_client_hostname_access':
        return this.noPermit(r, (await this.checkNamadrAccess(this.table(r), this.reverseName, this.addr, this.namaddr, CLASS.reverseClient, ctx.defAcl)).status, this.reverseName);
      case 'check_client_mx_access':
      case 'check_client_a_access':
        if (this.name === 'unknown') return DUNNO;
        return this.noPermit(r, await this.checkServerAccess(this.table(r), this.name, r.name.endsWith('_mx_access') ? 'mx' : 'a', this.namaddr, CLASS.client, ctx.defAcl), this.name);
      case 'check_reverse_client_hostname_mx_access':
      case 'check_reverse_client_hostname_a_access':
        if (this.reverseName === 'unknown') return DUNNO;
        return this.noPermit(r, await this.checkServerAccess(this.table(r), this.reverseName, r.name.endsWith('_mx_access') ? 'mx' : 'a', this.namaddr, CLASS.reverseClient, ctx.defAcl), this.reverseName);
      case 'reject_rbl_client':
        return this.rejectRbl(await this.dnsxl.address(r.arg!, this.addr), r.arg!, this.addr, CLASS.client);
      case 'permit_dnswl_client':
        return this.permitDnswl(() => this.dnsxl.address(r.arg!, this.addr), this.addr, CLASS.client);
      case 'reject_rhsbl_client':
        if (this.name === 'unknown') return DUNNO;
        return this.rejectRbl(await this.dnsxl.domain(r.arg!, this.name), r.arg!, this.name, CLASS.client);
      case 'permit_rhswl_client':
        if (this.name === 'unknown') return DUNNO;
        return this.permitDnswl(() => this.dnsxl.domain(r.arg!, this.name), this.name, CLASS.client);
      case 'reject_rhsbl_reverse_client':
        if (this.reverseName === 'unknown') return DUNNO;
        return this.rejectRbl(await this.dnsxl.domain(r.arg!, this.reverseName), r.arg!, this.reverseName, CLASS.reverseClient);
      case 'check_sasl_access':
        if (!this.st.saslUsername) return DUNNO;
        return (await this.checkAccess(this.table(r), this.st.saslUsername, false, this.st.saslUsername, CLASS.sasl, ctx.defAcl)).status;

      // -- HELO
      case 'check_helo_access':
        if (helo === undefined) return DUNNO;
        return (await this.checkDomainAccess(this.table(r), helo, false, helo, CLASS.helo, ctx.defAcl)).status;
      case 'reject_invalid_helo_hostname':
        if (helo === undefined) return DUNNO;
        return helo.startsWith('[') ? this.rejectInvalidHostaddr(helo, helo, CLASS.helo) : this.rejectInvalidHostname(helo, helo, CLASS.helo);
      case 'reject_unknown_helo_hostname':
        if (helo === undefined) return DUNNO;
        return helo.startsWith('[') ? this.rejectInvalidHostaddr(helo, helo, CLASS.helo) : this.rejectUnknownHostname(helo, helo, CLASS.helo);
      case 'reject_non_fqdn_helo_hostname':
        if (helo === undefined) return DUNNO;
        return helo.startsWith('[') ? this.rejectInvalidHostaddr(helo, helo, CLASS.helo) : this.rejectNonFqdnHostname(helo, helo, CLASS.helo);
      case 'check_helo_mx_access':
      case 'check_helo_a_access':
        if (helo === undefined) return DUNNO;
        return this.noPermit(r, await this.checkServerAccess(this.table(r), helo, r.name.endsWith('_mx_access') ? 'mx' : 'a', helo, CLASS.helo, ctx.defAcl), helo);
      case 'reject_rhsbl_helo':
        if (helo === undefined) return DUNNO;
        return this.rejectRbl(await this.dnsxl.domain(r.arg!, helo), r.arg!, helo, CLASS.helo);

      // -- sender
      case 'check_sender_access':
        if (sender === undefined) return DUNNO;
        if (sender === '') return (await this.checkAccess(this.table(r), this.s.nullAccessKey, false, sender, CLASS.sender, ctx.defAcl)).status;
        return this.checkMailAccess(this.table(r), sender, sender, CLASS.sender, ctx.defAcl);
      case 'reject_unknown_sender_domain':
        if (!sender) return DUNNO;
        return this.rejectUnknownAddress(sender, sender, CLASS.sender);
      case 'reject_non_fqdn_sender':
        if (!sender) return DUNNO;
        return this.rejectNonFqdnAddress(sender, sender, CLASS.sender);
      case 'reject_sender_login_mismatch':
        if (!sender) return DUNNO;
        if ((await this.rejectAuthSenderLoginMismatch(sender, false)) === REJECT) return REJECT;
        return this.rejectUnauthSenderLoginMismatch(sender);
      case 'reject_authenticated_sender_login_mismatch':
        if (!sender) return DUNNO;
        return this.rejectAuthSenderLoginMismatch(sender, false);
      case 'reject_known_sender_login_mismatch':
        if (!sender) return DUNNO;
        return this.st.saslUsername ? this.rejectAuthSenderLoginMismatch(sender, true) : this.rejectUnauthSenderLoginMismatch(sender);
      case 'reject_unauthenticated_sender_login_mismatch':
        if (!sender) return DUNNO;
        return this.rejectUnauthSenderLoginMismatch(sender);
      case 'check_sender_mx_access':
      case 'check_sender_a_access':
        if (!sender) return DUNNO;
        return this.noPermit(r, await this.checkServerAccess(this.table(r), sender, r.name.endsWith('_mx_access') ? 'mx' : 'a', sender, CLASS.sender, ctx.defAcl), sender);
      case 'reject_rhsbl_sender':
        if (!sender) return DUNNO;
        return this.rejectRbl(await this.dnsxl.domain(r.arg!, sender), r.arg!, sender, CLASS.sender);
      case 'reject_unlisted_sender':
        if (!sender) return DUNNO;
        return this.checkSenderRcptMaps(sender);

      // -- recipient / relay
      case 'check_recipient_access':
        if (rcpt === undefined) return DUNNO;
        return this.checkMailAccess(this.table(r), rcpt, rcpt, CLASS.recipient, ctx.defAcl);
      case 'permit_mx_backup':
        if (rcpt === undefined) return DUNNO;
        return this.permitMxBackup(rcpt, rcpt, CLASS.recipient);
      case 'permit_auth_destination':
        if (rcpt === undefined) return DUNNO;
        return this.permitAuthDestination(rcpt);
      case 'reject_unauth_destination':
        if (rcpt === undefined) return DUNNO;
        return this.rejectUnauthDestination(rcpt, c.relayDomains, '5.7.1');
      case 'defer_unauth_destination':
        if (rcpt === undefined) return DUNNO;
        return this.rejectUnauthDestination(rcpt, c.relayDomains - 100, '4.7.1');
      case 'reject_unknown_recipient_domain':
        if (rcpt === undefined) return DUNNO;
        return this.rejectUnknownAddress(rcpt, rcpt, CLASS.recipient);
      case 'reject_non_fqdn_recipient':
        if (rcpt === undefined) return DUNNO;
        return this.rejectNonFqdnAddress(rcpt, rcpt, CLASS.recipient);
      case 'check_recipient_mx_access':
      case 'check_recipient_a_access':
        if (!rcpt) return DUNNO;
        return this.noPermit(r, await this.checkServerAccess(this.table(r), rcpt, r.name.endsWith('_mx_access') ? 'mx' : 'a', rcpt, CLASS.recipient, ctx.defAcl), rcpt);
      case 'reject_rhsbl_recipient':
        if (rcpt === undefined) return DUNNO;
        return this.rejectRbl(await this.dnsxl.domain(r.arg!, rcpt), r.arg!, rcpt, CLASS.recipient);
      case 'reject_unlisted_recipient':
        if (!rcpt) return DUNNO;
        return this.checkRecipientRcptMaps(rcpt);
      case 'reject_multi_recipient_bounce':
        if (sender === '' && this.st.recipientCount > (this.where === 'DATA' ? 1 : 0)) {
          return this.reject('policy', c.multiRecipientBounce, '5.5.3', `<${replyName}>: ${replyClass} rejected: Multi-recipient bounce`);
        }
        return DUNNO;

      // -- ETRN
      case 'check_etrn_access':
        if (this.etrnName === undefined) return DUNNO;
        return (await this.checkDomainAccess(this.table(r), this.etrnName, false, this.etrnName, CLASS.etrn, ctx.defAcl)).status;

      default:
        if (this.s.classNames.has(r.name)) return this.generic(this.s.classList(r.name), ctx);
        this.serverError(`unknown smtpd restriction: "${r.name}"`);
    }
  }

  private async guardTable<T>(f: () => Promise<T>, replyName: string): Promise<T> {
    try {
      return await f();
    } catch (err) {
      if (err instanceof TableError) this.lookupRetry(replyName, err.message);
      throw err;
    }
  }

  // ---- access tables (check_table_result and the lookup orders) -----------------

  private canDelegate(table: LookupTable, action: string): boolean {
    if (this.where === 'ETRN') {
      this.log.warn(`access table ${table.text}: action ${action} is unavailable in smtpd_etrn_restrictions`);
      return false;
    }
    return this.notInClientHelo(table, action);
  }

  /** With smtpd_delay_reject = no, client/HELO actions outside a transaction are skipped. */
  private notInClientHelo(table: LookupTable, action: string): boolean {
    if (this.sender === undefined) {
      this.log.warn(`access table ${table.text}: with smtpd_delay_reject=no, action ${action} is always skipped in client or helo restrictions`);
      return false;
    }
    return true;
  }

  private async checkTableResult(table: LookupTable, value: string, datum: string, replyName: string, replyClass: string, defAcl: string | undefined): Promise<Status> {
    const m = /^(\S*)[ \t]*([\s\S]*)$/.exec(value)!;
    const cmd = m[1].toUpperCase();
    const text = m[2];
    const c = this.s.codes;
    switch (cmd) {
      case 'DUNNO':
        return DUNNO;
      case 'REJECT': {
        const d = dsnSplit('5.7.1', text);
        return this.reject('policy', c.accessMapReject, dsnFix(d.dsn, replyClass), `<${replyName}>: ${replyClass} rejected: ${d.text || 'Access denied'}`);
      }
      case 'DEFER': {
        const d = dsnSplit('4.7.1', text);
        return this.reject('policy', c.accessMapDefer, dsnFix(d.dsn, replyClass), `<${replyName}>: ${replyClass} rejected: ${d.text || 'Access denied'}`);
      }
      case 'WARN':
        this.logWhatsup('warn', text);
        return DUNNO;
      case 'FILTER':
        if (!this.canDelegate(table, 'FILTER')) return DUNNO;
        if (!text.includes(':')) {
          this.log.warn(`access table ${table.text} entry "${datum}" requires transport:destination`);
          return DUNNO;
        }
        this.logWhatsup('filter', `<${replyName}>: ${replyClass} triggers FILTER ${text}`);
        this.actions.filter = text;
        return DUNNO;
      case 'HOLD':
        if (!this.canDelegate(table, 'HOLD') || this.actions.hold !== undefined) return DUNNO;
        this.logWhatsup('hold', `<${replyName}>: ${replyClass} ${text || 'triggers HOLD action'}`);
        this.actions.hold = text || 'triggers HOLD action';
        return DUNNO;
      case 'DISCARD':
        if (!this.canDelegate(table, 'DISCARD')) return DUNNO;
        this.logWhatsup('discard', `<${replyName}>: ${replyClass} ${text || 'triggers DISCARD action'}`);
        this.actions.discard = text || 'triggers DISCARD action';
        this.discard = true;
        return OK;
      case 'REDIRECT':
        if (!this.canDelegate(table, 'REDIRECT')) return DUNNO;
        if (!text.includes('@')) {
          this.log.warn(`access table ${table.text} entry "${datum}" requires user@domain target`);
          return DUNNO;
        }
        this.logWhatsup('redirect', `<${replyName}>: ${replyClass} triggers REDIRECT ${text}`);
        this.actions.redirect = text;
        return DUNNO;
      case 'DEFER_IF_PERMIT': {
        const d = dsnSplit('4.7.1', text);
        return this.deferIfPermit('defer_if_permit', 'policy', c.accessMapDefer, dsnFix(d.dsn, replyClass), `<${replyName}>: ${replyClass} rejected: ${d.text || 'Service unavailable'}`);
      }
      case 'DEFER_IF_REJECT': {
        const d = dsnSplit('4.7.1', text);
        return this.deferIf(this.dir, 'policy', c.accessMapDefer, dsnFix(d.dsn, replyClass), `<${replyName}>: ${replyClass} rejected: ${d.text || 'Service unavailable'}`);
      }
      case 'PREPEND':
        if (!this.notInClientHelo(table, 'PREPEND')) return DUNNO;
        if (this.where === 'END-OF-MESSAGE') {
          this.log.warn(`access table ${table.text}: action PREPEND must be used before smtpd_end_of_data_restrictions`);
          return DUNNO;
        }
        if (!text || !isHeader(text)) {
          this.log.warn(`access table ${table.text} entry "${datum}" requires header: text`);
          return DUNNO;
        }
        this.actions.prepend ??= [];
        if (!this.actions.prepend.includes(text)) this.actions.prepend.push(text);
        return DUNNO;
    }
    // all digits: OK (some out-of-band authentication stores time stamps)
    if (/^\d+$/.test(value)) return OK;
    // 4xx/5xx text: a reject with that code
    if (/^[45]\d\d$/.test(m[1]) && text) {
      const d = dsnSplit(`${m[1][0]}.7.1`, text);
      return this.reject('policy', Number(m[1]), dsnFix(d.dsn, replyClass), `<${replyName}>: ${replyClass} rejected: ${d.text || 'Access denied'}`);
    }
    if (cmd === 'OK' || cmd === 'RELAY') return OK;
    if (value.includes(':')) {
      this.serverError(`access table ${table.text} has entry with lookup table: ${value}; do not specify lookup tables inside SMTPD access maps, define a restriction class and specify its name instead`);
    }
    if (this.recursion > 100) this.serverError(`access table ${table.text} entry ${value} causes unreasonable recursion`);
    let list: Restriction[];
    try {
      list = this.s.parseList(value);
    } catch (err) {
      this.serverError(`access table ${table.text} entry "${datum}": ${(err as Error).message}`);
    }
    if (list.length === 0) {
      this.log.warn(`access table ${table.text} entry ${datum} has empty value`);
      return OK;
    }
    return this.generic(list, { replyName, replyClass, defAcl });
  }

  /** check_access: one key. `partial`: only fixed tables are asked (Postfix's PARTIAL lookups). */
  private async checkAccess(table: LookupTable, key: string, partial: boolean, replyName: string, replyClass: string, defAcl: string | undefined): Promise<{ status: Status; found: boolean }> {
    if (partial && !table.fixed) return { status: DUNNO, found: false };
    let value: string | undefined;
    try {
      value = await table.lookup(key);
    } catch (err) {
      this.log.warn(`${table.text}: table lookup problem: ${(err as Error).message}`);
      value = '451 4.3.5 Server configuration error';
    }
    if (value === undefined) return { status: DUNNO, found: false };
    return { status: await this.checkTableResult(table, value, key, replyName, replyClass, defAcl), found: true };
  }

  /** check_domain_access: the name, then its parent domains (fixed tables only). */
  private async checkDomainAccess(table: LookupTable, domain: string, partial: boolean, replyName: string, replyClass: string, defAcl: string | undefined): Promise<{ status: Status; found: boolean }> {
    let name = domain;
    let part = partial;
    let maybeNumerical = true;
    while (name !== '') {
      const r = await this.checkAccess(table, name, part, replyName, replyClass, defAcl);
      if (r.found || r.status !== DUNNO) return r;
      // no subdomain magic for numerical host names
      if (maybeNumerical && (maybeNumerical = validHostaddr(domain))) break;
      const next = name.indexOf('.', 1);
      if (next < 0) break;
      name = this.s.accessParentStyle ? name.slice(next + 1) : name.slice(next);
      part = true;
    }
    return { status: DUNNO, found: false };
  }

  /** check_addr_access: the address, then its prefixes (127.0.0.1, 127.0.0, 127.0, 127). */
  private async checkAddrAccess(table: LookupTable, address: string, partial: boolean, replyName: string, replyClass: string, defAcl: string | undefined): Promise<{ status: Status; found: boolean }> {
    const delim = address.includes(':') ? ':' : '.';
    let addr = address;
    let part = partial;
    for (;;) {
      const r = await this.checkAccess(table, addr, part, replyName, replyClass, defAcl);
      if (r.found || r.status !== DUNNO) return r;
      const i = addr.lastIndexOf(delim);
      if (i <= 0) break;
      addr = addr.slice(0, i);
      part = true;
    }
    return { status: DUNNO, found: false };
  }

  /** check_client_access: verified name and parents, then address and prefixes. */
  private async checkNamadrAccess(table: LookupTable, name: string, addr: string, replyName: string, replyClass: string, defAcl: string | undefined): Promise<{ status: Status; found: boolean }> {
    const r = await this.checkDomainAccess(table, name, false, replyName, replyClass, defAcl);
    if (r.found || r.status !== DUNNO) return r;
    return this.checkAddrAccess(table, addr, false, replyName, replyClass, defAcl);
  }

  /**
   * check_mail_access, in Postfix's order: user+ext@domain, user@domain, domain and its
   * parents, user+ext@, user@. An OK for a source-routed recipient is not trusted.
   */
  private async checkMailAccess(table: LookupTable, addr: string, replyName: string, replyClass: string, defAcl: string | undefined): Promise<Status> {
    const reply = await this.resolve(addr);
    const at = reply.recipient.lastIndexOf('@');
    if (at < 0) return DUNNO;
    const domain = reply.recipient.slice(at + 1);
    const bare = stripExtension(addr, this.s.recipientDelimiter);
    const suspicious = (st: Status) => (st === OK && !this.s.allowUntrustedRouting && reply.routed && replyClass === CLASS.recipient ? DUNNO : st);
    const tries: (() => Promise<{ status: Status; found: boolean }>)[] = [
      () => this.checkAccess(table, reply.recipient, false, replyName, replyClass, defAcl),
      ...(bare ? [() => this.checkAccess(table, bare, true, replyName, replyClass, defAcl)] : []),
      () => this.checkDomainAccess(table, domain, true, replyName, replyClass, defAcl),
      () => this.checkAccess(table, reply.recipient.slice(0, at + 1), true, replyName, replyClass, defAcl),
    ];
    if (bare) {
      const bareAt = bare.lastIndexOf('@');
      const localAt = bareAt >= 0 ? bare.slice(0, bareAt + 1) : bare;
      tries.push(() => this.checkAccess(table, localAt, true, replyName, replyClass, defAcl));
    }
    for (const t of tries) {
      const r = await t();
      if (r.found || r.status !== DUNNO) return suspicious(r.status);
    }
    return DUNNO;
  }

  /** check_*_mx_access / check_*_a_access: the MX hosts (or A/AAAA addresses) of a domain. */
  private async checkServerAccess(table: LookupTable, what: string, type: 'mx' | 'a', replyName: string, replyClass: string, defAcl: string | undefined): Promise<Status> {
    const at = what.lastIndexOf('@');
    const domain = at >= 0 ? what.slice(at + 1) : what;
    const res = this.deps.resolver;
    if (domain.startsWith('[')) {
      if (type !== 'mx' || !domain.endsWith(']')) return DUNNO;
      const inner = domain.slice(1, -1);
      if (!validMailhostAddr(inner)) return DUNNO;
      return (await this.checkAddrAccess(table, inner.replace(/^ipv6:/i, ''), false, replyName, replyClass, defAcl)).status;
    }
    const checkAddrs = async (host: string): Promise<{ status: Status; found: boolean } | undefined> => {
      const [a, aaaa] = await Promise.all([res.a(host), res.aaaa(host)]);
      for (const ip of [...a.records, ...aaaa.records]) {
        const r = await this.checkAddrAccess(table, ip, false, replyName, replyClass, defAcl);
        if (r.found || r.status !== DUNNO) return r;
      }
      return undefined;
    };
    if (type === 'a') {
      const r = await checkAddrs(domain);
      return r ? r.status : DUNNO;
    }
    const mx = await res.mx(domain);
    let hosts: string[];
    if (mx.status === 'nxdomain' || mx.status === 'nodata') hosts = [domain];
    else if (mx.status !== 'ok') {
      this.log.warn(`Unable to look up MX host for ${domain}: ${mx.error ?? mx.status}`);
      return DUNNO;
    } else hosts = mx.records.map((m) => m.exchange.replace(/\.$/, '')).filter((h) => h !== '');
    for (const host of hosts) {
      if (validHostaddr(host)) {
        const r = await this.checkAddrAccess(table, host, false, replyName, replyClass, defAcl);
        if (r.found || r.status !== DUNNO) return r.status;
        continue;
      }
      const d = await this.checkDomainAccess(table, host, false, replyName, replyClass, defAcl);
      if (d.found || d.status !== DUNNO) return d.status;
      const r = await checkAddrs(host);
      if (r) return r.status;
    }
    return DUNNO;
  }

  // ---- host name and address checks ------------------------------------------------

  private rejectInvalidHostaddr(addr: string, replyName: string, replyClass: string): Status {
    const inner = addr.startsWith('[') && addr.length > 2 && addr.endsWith(']') ? addr.slice(1, -1) : addr;
    if (validMailhostAddr(inner)) return DUNNO;
    return this.reject('policy', this.s.codes.invalidHostname, '5.5.2', `<${replyName}>: ${replyClass} rejected: invalid ip address`);
  }

  private rejectInvalidHostname(name: string, replyName: string, replyClass: string): Status {
    const t = truncateDot(name);
    if (validHostname(t) || validHostaddr(t)) return DUNNO;
    return this.reject('policy', this.s.codes.invalidHostname, '5.5.2', `<${replyName}>: ${replyClass} rejected: Invalid name`);
  }

  private rejectNonFqdnHostname(name: string, replyName: string, replyClass: string): Status {
    const t = truncateDot(name);
    if (validHostname(t) && t.includes('.')) return DUNNO;
    return this.reject('policy', this.s.codes.nonFqdn, '5.5.2', `<${replyName}>: ${replyClass} rejected: need fully-qualified hostname`);
  }

  /** dns_lookup_l(): the first type that answers wins; a temporary failure only counts when nothing answered. */
  private async lookupAny(name: string, types: ('a' | 'aaaa' | 'mx')[]): Promise<'ok' | 'notfound' | 'tempfail' | 'nullmx'> {
    if (!validHostname(name)) return 'notfound';
    let soft = false;
    for (const t of types) {
      const ans = await this.deps.resolver[t](name);
      if (ans.status === 'ok') {
        if (t === 'mx' && ans.records.length === 1 && (ans.records[0] as { exchange: string }).exchange.replace(/\.$/, '') === '') return 'nullmx';
        return 'ok';
      }
      if (ans.status === 'tempfail') soft = true;
    }
    return soft ? 'tempfail' : 'notfound';
  }

  private async rejectUnknownHostname(name: string, replyName: string, replyClass: string): Promise<Status> {
    const r = await this.lookupAny(name, ['a', 'aaaa', 'mx']);
    if (r === 'ok') return DUNNO;
    if (r === 'tempfail') return this.deferIfPermit(this.s.tempfail.unknownHelo, 'policy', 450, '4.7.1', `<${replyName}>: ${replyClass} rejected: Host not found`);
    return this.reject('policy', this.s.codes.unknownHostname, '4.7.1', `<${replyName}>: ${replyClass} rejected: Host not found`);
  }

  private async rejectUnknownMailhost(domain: string, replyName: string, replyClass: string): Promise<Status> {
    const isSender = replyClass === CLASS.sender;
    const r = await this.lookupAny(domain, ['mx', 'a', 'aaaa']);
    if (r === 'ok') return DUNNO;
    if (r === 'nullmx') {
      // RFC 7505 null MX: the domain does not accept mail
      return this.reject('policy', isSender ? 550 : 556, isSender ? '5.7.27' : '5.1.10', `<${replyName}>: ${replyClass} rejected: Domain ${domain} does not accept mail (nullMX)`);
    }
    if (r === 'tempfail') {
      return this.deferIfPermit(this.s.tempfail.unknownAddress, 'policy', 450, isSender ? '4.1.8' : '4.1.2', `<${replyName}>: ${replyClass} rejected: Domain not found`);
    }
    return this.reject('policy', this.s.codes.unknownAddress, isSender ? '4.1.8' : '4.1.2', `<${replyName}>: ${replyClass} rejected: Domain not found`);
  }

  private async rejectUnknownAddress(addr: string, replyName: string, replyClass: string): Promise<Status> {
    const reply = await this.resolve(addr);
    if (reply.domainClass === 'local' || reply.domainClass === 'virtual' || reply.domainClass === 'alias') return DUNNO;
    if (reply.domain.startsWith('[') && reply.domain.endsWith(']')) return DUNNO;
    return this.rejectUnknownMailhost(reply.domain, replyName, replyClass);
  }

  private rejectNonFqdnAddress(addr: string, replyName: string, replyClass: string): Status {
    const { domain } = splitAddress(addr);
    if (domain.startsWith('[') && domain.endsWith(']')) return DUNNO;
    const t = truncateDot(domain);
    if (t && validHostname(t) && t.includes('.')) return DUNNO;
    return this.reject('policy', this.s.codes.nonFqdn, '4.5.2', `<${replyName}>: ${replyClass} rejected: need fully-qualified address`);
  }

  // ---- relay control --------------------------------------------------------------

  private async permitAuthDestination(recipient: string): Promise<Status> {
    const reply = await this.resolve(recipient);
    if (!reply.recipient.includes('@')) return OK;
    if (!this.s.allowUntrustedRouting && reply.routed) return DUNNO;
    if (reply.domainClass !== 'remote') return OK;
    return DUNNO;
  }

  private async rejectUnauthDestination(recipient: string, code: number, dsn: string): Promise<Status> {
    if ((await this.permitAuthDestination(recipient)) === OK) return DUNNO;
    return this.reject('policy', code, dsn, `<${recipient}>: Relay access denied`);
  }

  /** permit_mx_backup: this host is a backup MX (not the primary) of the recipient domain. */
  private async permitMxBackup(recipient: string, replyName: string, replyClass: string): Promise<Status> {
    const reply = await this.resolve(recipient);
    if (!reply.recipient.includes('@')) return OK;
    if (!this.s.allowUntrustedRouting && reply.routed) return DUNNO;
    if (reply.domainClass !== 'remote') return OK;
    if (reply.domain.startsWith('[')) return DUNNO;
    const mx = await this.deps.resolver.mx(reply.domain);
    if (mx.status !== 'ok') {
      if (mx.status === 'tempfail') this.deferIf(this.dir, 'policy', 450, '4.4.4', `<${replyName}>: ${replyClass} rejected: Unable to look up mail exchanger information`);
      return DUNNO;
    }
    const sorted = [...mx.records].sort((a, b) => a.priority - b.priority);
    const best = sorted[0].priority;
    const primaries = sorted.filter((m) => m.priority === best).map((m) => m.exchange.replace(/\.$/, ''));
    const backups = sorted.filter((m) => m.priority !== best).map((m) => m.exchange.replace(/\.$/, ''));
    if (await this.iAmMx(primaries)) return DUNNO;
    if (backups.length === 0 || !(await this.iAmMx(backups))) return DUNNO;
    if (!this.s.permitMxBackupNetworks.empty) {
      for (const host of primaries) {
        const a = await this.deps.resolver.a(host);
        const aaaa = await this.deps.resolver.aaaa(host);
        if (a.status === 'tempfail' || (a.status !== 'ok' && aaaa.status !== 'ok')) {
          this.deferIf(this.dir, 'policy', 450, '4.4.4', `<${replyName}>: ${replyClass} rejected: Unable to look up host ${host} as mail exchanger`);
          return DUNNO;
        }
        for (const ip of [...a.records, ...aaaa.records]) {
          if (!(await this.s.permitMxBackupNetworks.match(ip, host))) return DUNNO;
        }
      }
    }
    return OK;
  }

  private async iAmMx(hosts: string[]): Promise<boolean> {
    for (const h of hosts) {
      if (h.toLowerCase() === this.s.resolver.myhostname.toLowerCase()) return true;
      const c = await this.deps.directory.classify(`postmaster@${h}`).catch(() => undefined);
      if (c?.domainClass === 'local') return true;
    }
    for (const h of hosts) {
      const [a, aaaa] = await Promise.all([this.deps.resolver.a(h), this.deps.resolver.aaaa(h)]);
      if ([...a.records, ...aaaa.records].some((ip) => this.isOwnAddress(ip))) return true;
    }
    return false;
  }

  // ---- recipient tables ----------------------------------------------------------

  private async checkRecipientRcptMaps(recipient: string): Promise<Status> {
    if (this.recipientRcptmapChecked) return DUNNO;
    if (this.warnIfReject === 0) this.recipientRcptmapChecked = true;
    return this.checkRcptMaps(recipient, CLASS.recipient);
  }

  private async checkSenderRcptMaps(sender: string): Promise<Status> {
    if (this.senderRcptmapChecked) return DUNNO;
    if (this.warnIfReject === 0) this.senderRcptmapChecked = true;
    return this.checkRcptMaps(sender, CLASS.sender);
  }

  /** Unknown users in local, virtual, alias and relay domains (local_recipient_maps & co). */
  private async checkRcptMaps(addr: string, replyClass: string): Promise<Status> {
    const reply = await this.resolve(addr);
    if (reply.known !== false) return DUNNO;
    const dsn = replyClass === CLASS.sender ? '5.1.0' : '5.1.1';
    const c = this.s.codes;
    const table = (what: string) => (this.s.showUnknownTable ? ` in ${what}` : '');
    switch (reply.domainClass) {
      case 'local': {
        const l = reply.local.toLowerCase();
        // absorbed by the queue manager / generated by bounce: always accepted
        if (l === 'postmaster' || l === 'mailer-daemon' || l === this.s.doubleBounceSender.toLowerCase()) return DUNNO;
        return this.reject('bounce', c.unknownLocalRecipient, dsn, `<${addr}>: ${replyClass} rejected: User unknown${table('local recipient table')}`);
      }
      case 'virtual':
        return this.reject('bounce', c.unknownVirtualMailbox, dsn, `<${addr}>: ${replyClass} rejected: User unknown${table('virtual mailbox table')}`);
      case 'alias':
        return this.reject('bounce', c.unknownVirtualAlias, dsn, `<${addr}>: ${replyClass} rejected: User unknown${table('virtual alias table')}`);
      case 'relay':
        return this.reject('bounce', c.unknownRelayRecipient, dsn, `<${addr}>: ${replyClass} rejected: User unknown${table('relay recipient table')}`);
      default:
        return DUNNO;
    }
  }

  // ---- sender login mismatch ------------------------------------------------------

  /** The SASL login names that own `sender` (smtpd_sender_login_maps), or undefined when nobody does. */
  private async owners(sender: string): Promise<string[] | undefined> {
    const reply = await this.resolve(sender);
    if (this.s.senderLoginMaps.empty) {
      // facteur: without a table, an address is owned by the user of the same name
      if (reply.known !== true || (reply.domainClass !== 'local' && reply.domainClass !== 'virtual')) return undefined;
      const base = splitAddress(stripExtension(reply.recipient, this.s.recipientDelimiter) ?? reply.recipient);
      return [`${base.local}@${base.domain}`, ...(reply.domainClass === 'local' ? [base.local] : [])];
    }
    let found: { value: string } | undefined;
    try {
      found = await mailAddrFind(this.s.senderLoginMaps, reply.recipient, {
        delimiters: this.s.recipientDelimiter,
        isLocalDomain: () => reply.domainClass === 'local',
      });
    } catch (err) {
      if (err instanceof TableError) this.lookupRetry(sender, err.message);
      throw err;
    }
    return found ? found.value.split(/[,\s]+/).filter(Boolean) : undefined;
  }

  private async rejectAuthSenderLoginMismatch(sender: string, allowUnknown: boolean): Promise<Status> {
    const user = this.st.saslUsername;
    if (!user) return DUNNO;
    const owners = await this.owners(sender);
    if (!owners && allowUnknown) return DUNNO;
    if (owners?.some((o) => o.toLowerCase() === user.toLowerCase())) return DUNNO;
    return this.reject('policy', 553, '5.7.1', `<${sender}>: Sender address rejected: not owned by user ${user}`);
  }

  private async rejectUnauthSenderLoginMismatch(sender: string): Promise<Status> {
    if (this.st.saslUsername) return DUNNO;
    if ((await this.owners(sender)) === undefined) return DUNNO;
    return this.reject('policy', 553, '5.7.1', `<${sender}>: Sender address rejected: not logged in`);
  }

  // ---- DNS lists ----------------------------------------------------------------

  private async rejectRbl(ans: DnsxlAnswer, listArg: string, what: string, replyClass: string): Promise<Status> {
    const { domain } = splitListArg(listArg);
    if (ans.status === 'unlisted') return DUNNO;
    if (ans.status === 'tempfail') {
      this.log.warn(`${domain}: RBL lookup error: ${ans.error ?? 'temporary failure'}`);
      return this.deferIfPermit(this.s.tempfail.dnsbl, 'policy', 450, '4.7.1', `Service unavailable; ${replyClass} [${what}] not checked: temporary DNS failure looking up ${domain}`);
    }
    let template: string | undefined;
    if (!this.s.rblReplyMaps.empty) {
      try {
        template = await this.s.rblReplyMaps.lookup(listArg);
      } catch (err) {
        this.serverError(`rbl_reply_maps: ${(err as Error).message}`);
      }
    }
    const attrs: Record<string, string> = {
      rbl_code: String(this.s.codes.mapsRbl),
      rbl_domain: domain,
      rbl_reason: ans.txt ?? '',
      rbl_txt: ans.txt ?? '',
      rbl_what: what,
      rbl_class: replyClass,
    };
    let why = this.expandTemplate(template ?? this.s.defaultRblReply, attrs);
    if (template !== undefined && !/^[45]\d\d /.test(why)) {
      this.log.warn(`bad rbl reply template for domain ${listArg}: ${template}`);
      why = this.expandTemplate(this.s.defaultRblReply, attrs);
    }
    if (!/^[45]\d\d /.test(why)) {
      this.log.warn(`rbl response code configuration error: ${why}`);
      return this.reject('policy', 450, '4.7.1', 'Service unavailable');
    }
    const d = dsnSplit('4.7.1', why.slice(4));
    return this.reject('policy', Number(why.slice(0, 3)), dsnFix(d.dsn, replyClass), d.text || 'Service unavailable');
  }

  private async permitDnswl(query: () => Promise<DnsxlAnswer>, what: string, replyClass: string): Promise<Status> {
    // never let an allowlist open relaying
    if (this.where === 'RCPT' && this.recipient !== undefined && (await this.permitAuthDestination(this.recipient)) !== OK) return DUNNO;
    const ans = await query();
    if (ans.status === 'listed') return OK;
    if (ans.status === 'tempfail') this.deferIf(this.dir, 'policy', 450, '4.7.1', `<${what}>: ${replyClass} rejected: Service unavailable`);
    return DUNNO;
  }

  /** mac_expand() for RBL reply templates: $name, ${name}, ${name?text}, ${name:text}, ${name?{a}:{b}}, $$. */
  private expandTemplate(template: string, attrs: Record<string, string>): string {
    const value = (name: string): string => {
      if (Object.prototype.hasOwnProperty.call(attrs, name)) return attrs[name];
      switch (name) {
        case 'client_address':
          return this.addr;
        case 'client_name':
          return this.name;
        case 'reverse_client_name':
          return this.reverseName;
        case 'client_port':
          return String(this.st.clientPort);
        case 'helo_name':
          return this.heloName ?? '';
        case 'sender':
          return this.sender ?? '';
        case 'recipient':
          return this.recipient ?? '';
        case 'sasl_username':
          return this.st.saslUsername ?? '';
        case 'sasl_method':
          return this.st.saslMethod ?? '';
        case 'server_address':
          return this.st.serverAddress;
        case 'server_port':
          return String(this.st.serverPort);
        default:
          return this.s.param(name);
      }
    };
    return expandMacros(template, value, { malformed: 'keep' });
  }
}

