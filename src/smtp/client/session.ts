// The SMTP client protocol on one connection (RFC 5321 client side, as Postfix's
// smtp(8) speaks it): greeting, EHLO (HELO fallback), STARTTLS per
// smtp_tls_security_level, AUTH to a relayhost, then one mail transaction per
// message: MAIL/RCPT/DATA pipelined when the server offers PIPELINING (RFC 2920),
// SIZE (RFC 1870), 8BITMIME (RFC 6152, with downgrade), SMTPUTF8 (RFC 6531), DSN
// (RFC 3461); per-recipient results. A session may carry several transactions.
import { SmtpClientError, type SmtpClientConnection, type TlsInfo } from './connection.js';
import { downgradeTo7bit } from './downgrade.js';
import { replyStatus, replyText, parseEhlo, type SmtpReply } from './reply.js';
import { createSaslClient } from '../../auth/sasl-client.js';
import { chooseMechanism } from './sasl.js';
import type { SaslCredentials } from './passwords.js';
import type { OutboundMessage, RecipientResult } from './types.js';
import { orcptParam, xtextEncode } from './xtext.js';

export type TlsLevel = 'none' | 'may' | 'encrypt';

export interface ClientTimeouts {
  /** smtp_helo_timeout: greeting and EHLO/HELO replies (ms) */
  helo: number;
  starttls: number;
  mail: number;
  rcpt: number;
  dataInit: number;
  dataXfer: number;
  dataDone: number;
  quit: number;
}

export interface SessionSettings {
  heloName: string;
  tlsLevel: TlsLevel;
  timeouts: ClientTimeouts;
  /** AUTH to this server (relayhost with smtp_sasl_auth_enable and credentials). */
  sasl?: { credentials: SaslCredentials; securityOptions: string[]; tlsSecurityOptions: string[] };
}

/** The session could not be set up, or the transaction failed as a whole. */
export interface SessionFailure {
  outcome: 'deferred' | 'bounced';
  dsn: string;
  reason: string;
  diagnostic?: string;
  /** Another MX host may do better (soft, session-level failures). */
  tryNextMx: boolean;
  /** The TLS handshake failed at level `may`: retry this host without STARTTLS. */
  retryWithoutTls?: boolean;
}

export class SessionSetupError extends Error {
  constructor(readonly failure: SessionFailure) {
    super(failure.reason);
  }
}

export interface TransactionResult {
  /** One entry per recipient of the message (undefined: not decided, see failure). */
  results: Array<RecipientResult | undefined>;
  /** Set when recipients were left undecided (connection lost, timeout, session-level 4xx). */
  failure?: SessionFailure;
}

const isAscii = (s: string) => /^[\x00-\x7f]*$/.test(s);

function rejectReason(peer: string, r: SmtpReply, command: string): string {
  return `host ${peer} said: ${replyText(r)} (in reply to ${command} command)`;
}

function fromReply(peer: string, relay: string, remoteMta: string, r: SmtpReply, command: string): RecipientResult {
  return {
    outcome: r.code >= 500 ? 'bounced' : 'deferred',
    dsn: replyStatus(r),
    reason: rejectReason(peer, r, command),
    relay,
    remoteMta,
    diagnostic: `smtp; ${replyText(r)}`,
  };
}

async function* once(b: Buffer): AsyncIterable<Buffer> {
  yield b;
}

export class SmtpClientSession {
  ext = new Map<string, string>();
  tls?: TlsInfo;
  authenticated = false;
  /** False once the connection is in an unknown state; the caller must not reuse it. */
  usable = true;
  transactions = 0;

  private constructor(
    readonly conn: SmtpClientConnection,
    readonly settings: SessionSettings,
  ) {}

  get peer(): string {
    return this.conn.peerName;
  }

  private fail(f: Omit<SessionFailure, 'tryNextMx'> & { tryNextMx?: boolean }): never {
    this.usable = false;
    throw new SessionSetupError({ tryNextMx: true, ...f });
  }

  /** Greeting, EHLO/HELO, STARTTLS, AUTH. Throws SessionSetupError or SmtpClientError. */
  static async open(conn: SmtpClientConnection, settings: SessionSettings, opts: { noTls?: boolean } = {}): Promise<SmtpClientSession> {
    const s = new SmtpClientSession(conn, settings);
    try {
      await s.setup(opts.noTls ?? false);
    } catch (err) {
      conn.close();
      throw err;
    }
    return s;
  }

  private async ehlo(): Promise<boolean> {
    const t = this.settings.timeouts.helo;
    const r = await this.conn.command(`EHLO ${this.settings.heloName}`, t, 'performing the EHLO handshake');
    if (r.code === 250) {
      this.ext = parseEhlo(r);
      return true;
    }
    // RFC 5321 §3.2: fall back to HELO when EHLO is not understood
    const h = await this.conn.command(`HELO ${this.settings.heloName}`, t, 'performing the HELO handshake');
    if (h.code !== 250) {
      this.fail({ outcome: h.code >= 500 ? 'bounced' : 'deferred', dsn: replyStatus(h), reason: rejectReason(this.peer, h, 'HELO'), diagnostic: `smtp; ${replyText(h)}`, tryNextMx: h.code < 500 });
    }
    this.ext = new Map();
    return false;
  }

  private async setup(noTls: boolean): Promise<void> {
    const { timeouts, tlsLevel } = this.settings;
    this.conn.stage = 'receiving the initial server greeting';
    const greeting = await this.conn.read(timeouts.helo);
    if (greeting.code !== 220) {
      // smtp_skip_5xx_greeting = yes: a 5xx greeting is a reason to try another host, not to bounce
      this.fail({ outcome: 'deferred', dsn: `4${replyStatus(greeting).slice(1)}`, reason: `host ${this.peer} refused to talk to me: ${replyText(greeting)}`, diagnostic: `smtp; ${replyText(greeting)}` });
    }
    const esmtp = await this.ehlo();
    if (tlsLevel !== 'none' && !noTls) {
      if (esmtp && this.ext.has('STARTTLS')) {
        const r = await this.conn.command('STARTTLS', timeouts.starttls, 'sending STARTTLS');
        if (r.code !== 220) {
          if (tlsLevel === 'encrypt') this.fail({ outcome: 'deferred', dsn: '4.7.5', reason: `TLS is required, but host ${this.peer} refused to start TLS: ${replyText(r)}` });
        } else {
          try {
            this.tls = await this.conn.startTls(timeouts.starttls);
          } catch (err) {
            const text = err instanceof Error ? err.message : String(err);
            if (tlsLevel === 'encrypt') this.fail({ outcome: 'deferred', dsn: '4.7.5', reason: text });
            this.fail({ outcome: 'deferred', dsn: '4.7.5', reason: text, retryWithoutTls: true, tryNextMx: false });
          }
          // RFC 3207 §4.2: forget what was learned before TLS
          await this.ehlo();
        }
      } else if (tlsLevel === 'encrypt') {
        this.fail({ outcome: 'deferred', dsn: '4.7.4', reason: `TLS is required, but was not offered by host ${this.peer}` });
      }
    }
    if (this.settings.sasl) await this.authenticate(this.settings.sasl);
  }

  private async authenticate(sasl: NonNullable<SessionSettings['sasl']>): Promise<void> {
    const offered = (this.ext.get('AUTH') ?? '').split(/\s+/).filter(Boolean);
    if (offered.length === 0) return; // nothing to authenticate with; the server decides
    const mech = chooseMechanism(offered, this.tls ? sasl.tlsSecurityOptions : sasl.securityOptions);
    if (!mech) {
      this.fail({ outcome: 'deferred', dsn: '4.7.0', reason: `SASL authentication failed; cannot authenticate to server ${this.peer}: no mechanism available` });
    }
    const t = this.settings.timeouts.helo;
    const { user, password } = sasl.credentials;
    const client = createSaslClient(mech!, { username: user, password })!;
    const initial = client.initialResponse();
    let r: SmtpReply = await this.conn.command(initial ? `AUTH ${mech} ${initial.length ? initial.toString('base64') : '='}` : `AUTH ${mech}`, t, 'authenticating');
    for (let i = 0; i < 4 && r.code === 334; i++) {
      const challenge = Buffer.from(r.lines[0].slice(4).trim(), 'base64');
      r = await this.conn.command((await client.respond(challenge)).toString('base64'), t, 'authenticating');
    }
    if (r.code !== 235) {
      // smtp_sasl_auth_soft_bounce = yes: an authentication failure is retried, never bounced
      this.fail({ outcome: 'deferred', dsn: `4${replyStatus(r).slice(1)}`, reason: `SASL authentication failed; server ${this.peer} said: ${replyText(r)}`, diagnostic: `smtp; ${replyText(r)}` });
    }
    this.authenticated = true;
  }

  /** One mail transaction. Never throws: failures are in the result. */
  async deliver(msg: OutboundMessage): Promise<TransactionResult> {
    const n = msg.recipients.length;
    const results: Array<RecipientResult | undefined> = new Array(n).fill(undefined);
    const peer = this.peer;
    const relay = this.conn.relay;
    const mta = this.conn.opts.host;
    const all = (r: Omit<RecipientResult, 'relay'>): TransactionResult => ({ results: results.map(() => ({ relay, ...r })) });
    const { timeouts } = this.settings;

    // Checks before MAIL (Postfix smtp_proto.c)
    const sizeLimit = Number(this.ext.get('SIZE') ?? '0') || 0;
    if (this.ext.has('SIZE') && sizeLimit > 0 && msg.size > sizeLimit) {
      return all({ outcome: 'bounced', dsn: '5.3.4', reason: `message size ${msg.size} exceeds size limit ${sizeLimit} of server ${peer}`, remoteMta: mta });
    }
    const utf8Addresses = !isAscii(msg.sender) || msg.recipients.some((r) => !isAscii(r.address));
    const needUtf8 = utf8Addresses || (msg.smtputf8 && msg.eightBitHeaders);
    if (needUtf8 && !this.ext.has('SMTPUTF8')) {
      return all({ outcome: 'bounced', dsn: '5.6.7', reason: `SMTPUTF8 is required, but was not offered by host ${peer}`, remoteMta: mta });
    }
    let content = () => msg.content();
    let eightBit = msg.eightBitBody || msg.eightBitHeaders;
    let size = msg.size;
    if (eightBit && !this.ext.has('8BITMIME') && !needUtf8) {
      const chunks: Buffer[] = [];
      for await (const c of msg.content()) chunks.push(c);
      const converted = downgradeTo7bit(Buffer.concat(chunks));
      if (!converted) {
        return all({
          outcome: 'bounced',
          dsn: '5.6.3',
          reason: `message has 8-bit content that cannot be converted to 7-bit, and host ${peer} does not support 8BITMIME`,
          remoteMta: mta,
        });
      }
      content = () => once(converted);
      eightBit = false;
      size = converted.length;
    }

    const dsn = this.ext.has('DSN');
    let mail = `MAIL FROM:<${msg.sender}>`;
    if (this.ext.has('SIZE')) mail += ` SIZE=${size}`;
    if (this.ext.has('8BITMIME') && (eightBit || msg.declared8bit)) mail += ' BODY=8BITMIME';
    if (this.ext.has('SMTPUTF8') && (needUtf8 || msg.smtputf8)) mail += ' SMTPUTF8';
    if (dsn && msg.ret) mail += ` RET=${msg.ret}`;
    if (dsn && msg.envid) mail += ` ENVID=${xtextEncode(msg.envid)}`;
    const rcpts = msg.recipients.map((r) => {
      let line = `RCPT TO:<${r.address}>`;
      if (dsn) {
        if (r.notify && r.notify.length > 0) line += ` NOTIFY=${r.notify.join(',')}`;
        // RFC 3461 §5.2.1(d): Postfix always passes an ORCPT
        line += ` ORCPT=${orcptParam(r.orcpt ?? `rfc822;${r.address}`)}`;
      }
      return line;
    });

    const pipelining = this.ext.has('PIPELINING');
    const accepted: number[] = [];
    this.transactions++;
    try {
      let mailReply: SmtpReply;
      let dataReply: SmtpReply | undefined;
      if (pipelining) {
        this.conn.stage = 'sending MAIL FROM';
        this.conn.write([mail, ...rcpts, 'DATA'].map((l) => l + '\r\n').join(''));
        mailReply = await this.conn.read(timeouts.mail);
        this.conn.stage = 'sending RCPT TO';
        const rr: SmtpReply[] = [];
        for (let i = 0; i < n; i++) rr.push(await this.conn.read(timeouts.rcpt));
        this.conn.stage = 'sending DATA command';
        dataReply = await this.conn.read(timeouts.dataInit);
        if (mailReply.code === 250) {
          rr.forEach((r, i) => {
            if (r.code >= 200 && r.code < 300) accepted.push(i);
            else results[i] = fromReply(peer, relay, mta, r, 'RCPT TO');
          });
        }
      } else {
        mailReply = await this.conn.command(mail, timeouts.mail, 'sending MAIL FROM');
        if (mailReply.code === 250) {
          for (let i = 0; i < n; i++) {
            const r = await this.conn.command(rcpts[i], timeouts.rcpt, 'sending RCPT TO');
            if (r.code >= 200 && r.code < 300) accepted.push(i);
            else results[i] = fromReply(peer, relay, mta, r, 'RCPT TO');
          }
          if (accepted.length > 0) dataReply = await this.conn.command('DATA', timeouts.dataInit, 'sending DATA command');
        }
      }

      if (mailReply.code !== 250) {
        if (dataReply?.code === 354) await this.abortData();
        await this.reset();
        const f = fromReply(peer, relay, mta, mailReply, 'MAIL FROM');
        for (let i = 0; i < n; i++) results[i] = f;
        return { results };
      }
      if (accepted.length === 0) {
        if (dataReply?.code === 354) await this.abortData();
        await this.reset();
        return { results };
      }
      if (!dataReply || dataReply.code !== 354) {
        await this.reset();
        const f = fromReply(peer, relay, mta, dataReply!, 'DATA');
        for (const i of accepted) results[i] = f;
        return { results };
      }
      await this.conn.sendContent(content(), timeouts.dataXfer);
      const done = await this.conn.read(timeouts.dataDone);
      if (done.code >= 200 && done.code < 300) {
        for (const i of accepted) {
          const notify = msg.recipients[i].notify ?? [];
          results[i] = {
            outcome: 'sent',
            dsn: replyStatus(done),
            reason: replyText(done),
            relay,
            remoteMta: mta,
            diagnostic: `smtp; ${replyText(done)}`,
            action: !dsn && notify.includes('SUCCESS') ? 'relayed' : 'delivered',
            dsnPassed: dsn,
          };
        }
      } else {
        const f = fromReply(peer, relay, mta, done, 'end of DATA');
        for (const i of accepted) results[i] = f;
      }
      return { results };
    } catch (err) {
      this.usable = false;
      this.conn.close();
      if (err instanceof SmtpClientError) {
        return { results, failure: { outcome: 'deferred', dsn: err.dsn, reason: err.message, tryNextMx: !err.afterData } };
      }
      return { results, failure: { outcome: 'deferred', dsn: '4.3.0', reason: `conversation with ${peer} failed: ${(err as Error).message}`, tryNextMx: true } };
    }
  }

  /** A 354 arrived although no recipient was accepted: end the empty data at once. */
  private async abortData(): Promise<void> {
    this.conn.write('.\r\n');
    await this.conn.read(this.settings.timeouts.dataDone);
  }

  /** RSET after an unfinished transaction, so the connection can carry the next one. */
  private async reset(): Promise<void> {
    const r = await this.conn.command('RSET', this.settings.timeouts.mail, 'sending RSET');
    if (r.code !== 250) {
      this.usable = false;
      this.conn.close();
    }
  }

  async quit(): Promise<void> {
    this.usable = false;
    await this.conn.quit(this.settings.timeouts.quit);
  }
}
