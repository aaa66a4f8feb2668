// The smtpd state machine for one connection (RFC 5321, with PIPELINING, SIZE, 8BITMIME,
// SMTPUTF8, ENHANCEDSTATUSCODES, CHUNKING, STARTTLS, AUTH, DSN), following Postfix's smtpd:
// its command table and order of checks, its replies, its error and junk counters, its log
// lines. The knowledge lives in the rooms: the wire in ./protocol, restrictions in the
// PolicySession, parameters/DATA storage in ./session, mailboxes in src/delivery, remote mail
// in the OutboundQueue.
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { AuthService } from '../auth/types.js';
import type { ConfigView } from '../config/config.js';
import type { DeliveryBatch } from '../delivery/batch.js';
import { DeliveryError } from '../delivery/batch.js';
import { deliveryFailureReply, logDeliveries, type OpenBatchInput } from '../delivery/agent.js';
import type { Routing } from '../delivery/resolve.js';
import { logger } from '../log.js';
import { mailDate, receivedHeader, type TlsInfo } from '../mail/received.js';
import { parsePath } from '../mail/smtp-address.js';
import { newQueueId } from '../queue/id.js';
import type { OutboundQueue, QueueFileWriter } from '../queue/types.js';
import type { ConnectionInfo } from '../server/connection.js';
import { upgradeToTls, type TlsProvider } from '../server/tls.js';
import { looksLikeHeader, parseCommand, parseEnvelopeArgument, splitWords, type Command } from './protocol/command.js';
import { CrlfToLf, SmtpReader, type ContentSink } from './protocol/reader.js';
import { formatLines, formatReply, reply, type SmtpReply } from './protocol/reply.js';
import type { PolicyActions, PolicySession, PolicyVerdict, SmtpClientState } from './policy/types.js';
import { offeredMechanisms, runAuth } from './session/auth.js';
import { declaresSmtputf8, parseMailParams, parseRcptParams, type MailParams } from './session/envelope.js';
import { MessageIntake } from './session/intake.js';
import { inNetworks, readSettings, rewritesHeaders, type SmtpSettings } from './session/settings.js';
import { splitDestinations, type RoutedRecipient } from './session/destinations.js';
import { CommandStats, ehloKeywords } from './session/ehlo.js';

/** What local delivery offers the session (implemented by src/delivery/agent.ts LocalDelivery). */
export interface SmtpDelivery {
  route(address: string): Promise<Routing>;
  qualify(address: string): string;
  openBatch(input: OpenBatchInput): DeliveryBatch;
}

export interface SmtpSessionDeps {
  /** The service's configuration view (per-service overrides applied). */
  view: ConfigView;
  /** This connection's restriction engine session (one per connection). */
  policy: PolicySession;
  delivery: SmtpDelivery;
  /** STARTTLS certificates; without it STARTTLS is not offered. */
  tls?: TlsProvider;
  /** SASL; without it AUTH is not offered. */
  auth?: AuthService;
  /** Remote recipients (and aliases that expand to remote addresses); without it they are refused with 451 4.3.5. */
  queue?: OutboundQueue;
  /** smtpd_error_sleep_time and other waits (tests inject a fast one). */
  sleep?: (ms: number) => Promise<void>;
  now?: () => Date;
}

const LIMIT = 1; // counts towards smtpd_junk_command_limit
const PRE_TLS = 2; // allowed before STARTTLS with smtpd_tls_security_level = encrypt
const LAST = 4; // must be the last command of a pipelined group (RFC 2920)

type Handler = (s: SmtpSession, c: Command) => Promise<boolean>;

type Recipient = RoutedRecipient;

interface Transaction {
  queueId: string;
  sender: string;
  params: MailParams;
  recipients: Recipient[];
  overshoot: number;
  opened: boolean;
  arrival: Date;
  /** BDAT in progress (RFC 3030). */
  bdat?: { intake?: MessageIntake; batch?: DeliveryBatch; queue?: QueueFileWriter; conv: CrlfToLf; failed: boolean; chunks: number };
}

const log = logger('smtpd');

export class SmtpSession {
  private socket: Socket | TLSSocket;
  private readonly reader = new SmtpReader();
  private readonly s: SmtpSettings;
  private readonly state: SmtpClientState;
  private out = '';
  private helo: string | undefined;
  private protocol: 'SMTP' | 'ESMTP' = 'SMTP';
  private tlsInfo: TlsInfo | undefined;
  private tx: Transaction | undefined;
  /** Postfix keeps SIZE= of a failed MAIL until RSET/HELO/the end of a transaction (smtpd.c msg_size). */
  private stickySize = 0;
  private errors = 0;
  private junk = 0;
  private accessDenied: SmtpReply | undefined;
  private illPipelining = false;
  /** RFC 3207 §4.2: after STARTTLS the client must start over with EHLO. */
  private needHeloAfterTls = false;
  private ended = false;
  private idle = false;
  private shutdownReason: string | undefined;
  private where = 'CONNECT';
  private reason: string | undefined;
  private readonly stats = new CommandStats();
  /** Access-table actions (PREPEND, DISCARD, REDIRECT, HOLD, FILTER) from the connect/HELO stages and from this transaction. */
  private sessionActions: PolicyActions = {};
  private txActions: PolicyActions = {};
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly now: () => Date;
  private readonly closedPromise: Promise<void>;

  constructor(
    socket: Socket | TLSSocket,
    readonly info: ConnectionInfo,
    private readonly deps: SmtpSessionDeps,
  ) {
    this.socket = socket;
    this.s = readSettings(deps.view);
    this.sleep = deps.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms)));
    this.now = deps.now ?? (() => new Date());
    this.state = {
      service: info.service,
      sessionId: info.id,
      clientAddress: info.remoteAddress,
      clientPort: info.remotePort,
      serverAddress: info.localAddress,
      serverPort: info.localPort,
      tls: info.implicitTls,
      recipientCount: 0,
      pipelining: this.pipeliningState(),
    };
    this.closedPromise = new Promise((resolve) => {
      if (socket.destroyed) resolve();
      else socket.once('close', () => resolve());
    });
  }

  get closed(): Promise<void> {
    return this.closedPromise;
  }

  private get namaddr(): string {
    return `${this.state.clientName ?? 'unknown'}[${this.info.remoteAddress}]`;
  }

  /** Ask the session to end at the next command boundary with 421 4.3.2. */
  shutdown(reason: string): void {
    this.shutdownReason = reason;
    if (this.idle && !this.ended) {
      this.out += formatReply(reply(421, '4.3.2', `${this.s.myhostname} Service shutting down`));
      this.close();
    }
  }

  // ---- output -------------------------------------------------------------------------

  /** Queue a reply (Postfix smtpd_chat_reply): delayed by smtpd_error_sleep_time past the soft error limit. */
  private async send(r: SmtpReply): Promise<void> {
    if (this.errors >= this.s.softErrorLimit && this.s.errorSleepMs > 0) {
      this.flush();
      await this.sleep(this.s.errorSleepMs);
    }
    this.out += formatReply(r, this.s.footer);
  }

  private async sendLines(code: number, lines: string[]): Promise<void> {
    if (this.errors >= this.s.softErrorLimit && this.s.errorSleepMs > 0) {
      this.flush();
      await this.sleep(this.s.errorSleepMs);
    }
    this.out += formatLines(code, lines);
  }

  private flush(): void {
    if (this.out && !this.socket.destroyed && this.socket.writable) this.socket.write(this.out);
    this.out = '';
  }

  private close(): void {
    if (this.ended) return;
    this.ended = true;
    this.flush();
    this.socket.end();
    // a client that never reads must not keep the socket
    const t = setTimeout(() => this.socket.destroy(), 5000);
    t.unref();
  }

  // ---- main loop ----------------------------------------------------------------------

  async run(): Promise<void> {
    const socket = this.socket;
    socket.setNoDelay?.(true);
    socket.setTimeout(this.s.timeoutMs);
    socket.on('timeout', () => this.onTimeout());
    socket.on('error', (err) => log.debug(`socket error from ${this.namaddr}: ${err.message}`, { session: this.info.id }));
    if (this.info.implicitTls) this.tlsInfo = describeTlsSocket(socket as TLSSocket);
    this.reader.attach(socket);
    try {
      await this.greet();
      while (!this.ended) {
        if (this.shutdownReason) {
          await this.send(reply(421, '4.3.2', `${this.s.myhostname} Service shutting down`));
          this.close();
          break;
        }
        if (this.errors >= this.s.hardErrorLimit) {
          this.reason = 'too many errors';
          await this.send(reply(421, '4.7.0', `${this.s.myhostname} Error: too many errors`));
          this.close();
          break;
        }
        if (!this.reader.hasLine()) this.flush();
        this.idle = true;
        const line = await this.reader.readLine(Math.max(this.s.lineLimit, this.s.saslResponseLimit));
        this.idle = false;
        if (line === null) {
          this.reason ??= 'lost connection';
          break;
        }
        try {
          await this.command(line.text, line.tooLong, line.bareLf);
        } catch (err) {
          // a bug or a broken dependency: this session ends with a clear reply, the server goes on
          log.error(`${this.tx?.queueId ?? 'NOQUEUE'}: error in ${this.where} from ${this.namaddr}: ${(err as Error).stack ?? err}`, { session: this.info.id });
          await this.abortTransaction().catch(() => undefined);
          this.out += formatReply(reply(421, '4.3.0', `${this.s.myhostname} Server local data error`));
          this.reason = 'local data error';
          this.close();
        }
      }
    } catch (err) {
      log.error(`session error from ${this.namaddr}: ${(err as Error).stack ?? err}`, { session: this.info.id });
      this.reason ??= 'internal error';
    } finally {
      this.flush();
      await this.abortTransaction();
      if (this.reason && this.reason !== 'quit') log.info(`${this.reason} after ${this.where} from ${this.namaddr}`);
      log.info(`disconnect from ${this.namaddr}${this.stats.toString()}`, { session: this.info.id });
      if (!this.ended) this.close();
    }
  }

  private onTimeout(): void {
    if (this.ended) return;
    this.reason = 'timeout';
    this.out += formatReply(reply(421, '4.4.2', `${this.s.myhostname} Error: timeout exceeded`));
    this.close();
    this.socket.destroy();
  }

  private talkedEarly = false;
  private greeted = false;

  /**
   * reject_unauth_pipelining's inputs, read live by the restriction engine: before the 220
   * is sent, any input already received means the client talked first (also while a
   * connect-time `sleep` runs, as in Postfix where the tarpit precedes the check).
   */
  private pipeliningState(): SmtpClientState['pipelining'] {
    const self = this;
    return {
      get talkedBeforeGreeting() {
        return self.talkedEarly || (!self.greeted && self.reader !== undefined && self.reader.pending > 0);
      },
      set talkedBeforeGreeting(v: boolean) {
        self.talkedEarly = v;
      },
      unauthPipelined: false,
    };
  }

  private async greet(): Promise<void> {
    const verdict = await this.deps.policy.connect(this.state);
    this.noteActions(verdict, true);
    this.state.clientName ??= 'unknown';
    this.state.reverseClientName ??= this.state.clientName;
    log.info(`connect from ${this.namaddr}`, { session: this.info.id });
    if (this.reader.pending > 0) {
      this.state.pipelining.talkedBeforeGreeting = true;
      log.info(`improper command pipelining after CONNECT from ${this.namaddr}: ${escapeForLog(this.reader.peek(100))}`);
    }
    if (!verdict.ok) {
      await this.send(verdict.reply);
      if (verdict.close) {
        this.close();
        return;
      }
      this.accessDenied = verdict.reply;
      this.errors++;
      return;
    }
    this.greeted = true;
    await this.send(reply(220, '', this.s.banner));
  }

  private noteActions(v: PolicyVerdict, sessionLevel = false): void {
    const a = v.actions;
    if (!a) return;
    const t = sessionLevel ? this.sessionActions : this.txActions;
    if (a.prepend) t.prepend = [...(t.prepend ?? []), ...a.prepend];
    if (a.hold !== undefined) t.hold = a.hold;
    if (a.discard !== undefined) t.discard = a.discard;
    if (a.redirect !== undefined) t.redirect = a.redirect;
    if (a.filter !== undefined) t.filter = a.filter;
  }

  private actions(): PolicyActions {
    const s = this.sessionActions;
    const t = this.txActions;
    return {
      prepend: [...(s.prepend ?? []), ...(t.prepend ?? [])],
      hold: t.hold ?? s.hold,
      discard: t.discard ?? s.discard,
      redirect: t.redirect ?? s.redirect,
      filter: t.filter ?? s.filter,
    };
  }

  private count(name: string, ok: boolean): void {
    this.stats.count(name, ok);
  }

  private async command(text: string, tooLong: boolean, bareLf: boolean): Promise<void> {
    if (bareLf && this.s.bareNewline === 'reject' && !inNetworks(this.s.bareNewlineExclusions, this.info.remoteAddress)) {
      log.info(`NOQUEUE: reject: ${this.where} from ${this.namaddr}: bare <LF> received`);
      await this.send(reply(this.s.bareNewlineCode, '5.5.2', `${this.s.myhostname} Error: bare <LF> received`));
      this.reason = 'bare <LF> received';
      this.close();
      return;
    }
    const cmd = parseCommand(text);
    if (!cmd) {
      await this.send(reply(500, '5.5.2', 'Error: bad syntax'));
      this.errors++;
      return;
    }
    const entry = COMMANDS[cmd.verb];
    if (tooLong && !(cmd.verb === 'AUTH' && text.length <= this.s.saslResponseLimit)) {
      this.count(entry ? cmd.verb.toLowerCase() : 'unknown', false);
      await this.send(reply(500, '5.5.2', 'Error: line too long'));
      this.errors++;
      return;
    }
    if (!tooLong && text.length > this.s.lineLimit && cmd.verb !== 'AUTH') {
      this.count(entry ? cmd.verb.toLowerCase() : 'unknown', false);
      await this.send(reply(500, '5.5.2', 'Error: line too long'));
      this.errors++;
      return;
    }
    if (!entry) {
      this.where = 'UNKNOWN';
      if (looksLikeHeader(cmd.word) || this.s.forbiddenCommands.has(cmd.verb)) {
        log.warn(`non-SMTP command from ${this.namaddr}: ${text.slice(0, 100)}`);
        this.count('unknown', false);
        await this.send(reply(221, '2.7.0', 'Error: I can break rules, too. Goodbye.'));
        this.reason = 'quit';
        this.close();
        return;
      }
    }
    if (this.accessDenied && cmd.verb !== 'QUIT') {
      this.count(entry ? cmd.verb.toLowerCase() : 'unknown', false);
      await this.send(reply(503, '5.7.0', `Error: access denied for ${this.namaddr}`));
      this.errors++;
      return;
    }
    if (!entry) {
      this.count('unknown', false);
      await this.send(reply(500, '5.5.2', 'Error: command not recognized'));
      this.errors++;
      return;
    }
    const name = cmd.verb.toLowerCase();
    if (this.s.tlsLevel === 'encrypt' && !this.state.tls && !(entry.flags & PRE_TLS)) {
      this.count(name, false);
      await this.send(reply(530, '5.7.0', 'Must issue a STARTTLS command first'));
      this.errors++;
      return;
    }
    this.where = cmd.verb;
    // RFC 2920: pipelining only after EHLO, and never past a command that must end a group
    if ((this.protocol !== 'ESMTP' || !this.helo || entry.flags & LAST) && !this.illPipelining && this.reader.pending > 0 && cmd.verb !== 'QUIT') {
      this.illPipelining = true;
      this.state.pipelining.unauthPipelined = true;
      log.info(`improper command pipelining after ${cmd.verb} from ${this.namaddr}: ${escapeForLog(this.reader.peek(100))}`);
      if (this.s.forbidUnauthPipelining) {
        await this.send(reply(554, '5.5.0', 'Error: SMTP protocol synchronization'));
        this.count(name, false);
        this.reason = 'improper command pipelining';
        this.close();
        return;
      }
    }
    const ok = await entry.run(this, cmd);
    this.count(name, ok);
    if (!ok) this.errors++;
    if (entry.flags & LIMIT && this.junk++ > this.s.junkLimit) this.errors++;
  }

  // ---- commands -----------------------------------------------------------------------

  private async heloCmd(c: Command, ehlo: boolean): Promise<boolean> {
    const words = splitWords(c.rest);
    if (words.length === 0) {
      await this.send(reply(501, '', `Syntax: ${ehlo ? 'EHLO' : 'HELO'} hostname`));
      return false;
    }
    // Postfix: printable, with " <>()\\\";@" neutered
    const name = words.join(' ').replace(/[^\x21-\x7e\u0080-\uffff]|[ <>()\\";@]/g, '?');
    const prev = { helo: this.state.heloName, protocol: this.state.protocol };
    this.state.heloName = name;
    this.state.protocol = ehlo ? 'ESMTP' : 'SMTP';
    const verdict = await this.deps.policy.helo(this.state);
    this.noteActions(verdict, true);
    if (!verdict.ok) {
      this.state.heloName = prev.helo;
      this.state.protocol = prev.protocol;
      return this.rejectWith(ehlo ? 'EHLO' : 'HELO', verdict);
    }
    await this.abortTransaction();
    this.stickySize = 0;
    this.helo = name;
    this.protocol = ehlo ? 'ESMTP' : 'SMTP';
    if (!ehlo) {
      await this.send(reply(250, '', this.s.myhostname));
      return true;
    }
    await this.sendLines(250, [this.s.myhostname, ...ehloKeywords(this.s, { starttls: this.tlsOffered(), auth: this.authMechanisms() })]);
    return true;
  }

  private allowPlaintextAuth(): boolean {
    return this.state.tls ? !this.s.saslTlsNoPlaintext : !this.s.saslNoPlaintext && !this.s.tlsAuthOnly;
  }

  private authMechanisms(): string[] {
    if (!this.s.saslEnable) return [];
    // smtpd_sasl_exceptions_networks: AUTH is not announced to these clients (still accepted)
    if (inNetworks(this.deps.view.networks('smtpd_sasl_exceptions_networks'), this.info.remoteAddress)) return [];
    return offeredMechanisms(this.deps.auth, this.state.tls, this.s.tlsAuthOnly, this.allowPlaintextAuth());
  }

  private tlsOffered(): boolean {
    return !!this.deps.tls && (this.s.tlsLevel === 'may' || this.s.tlsLevel === 'encrypt') && !this.state.tls && !this.s.discard.has('STARTTLS');
  }

  private async starttlsCmd(c: Command): Promise<boolean> {
    if (c.rest !== '') {
      await this.send(reply(501, '5.5.4', 'Syntax: STARTTLS'));
      return false;
    }
    if (this.state.tls) {
      await this.send(reply(554, '5.5.1', 'Error: TLS already active'));
      return false;
    }
    if (!this.tlsOffered()) {
      await this.send(reply(502, '5.5.1', 'Error: command not implemented'));
      return false;
    }
    let context;
    try {
      context = this.deps.tls!.context(this.info.service);
    } catch (err) {
      log.warn(`cannot start TLS: ${(err as Error).message}`);
      await this.send(reply(454, '4.7.0', 'TLS not available due to local problem'));
      return false;
    }
    await this.abortTransaction();
    this.helo = undefined;
    this.protocol = 'SMTP';
    this.stickySize = 0;
    this.state.heloName = undefined;
    this.state.protocol = undefined;
    // CVE-2011-0411: nothing the client sent after STARTTLS in plaintext is ever executed
    this.reader.detach();
    const dropped = this.reader.discard();
    if (dropped.length > 0) log.warn(`${this.namaddr}: discarding ${dropped.length} bytes of plaintext pipelined after STARTTLS: ${escapeForLog(dropped.subarray(0, 100))}`);
    this.out += formatReply(reply(220, '2.0.0', 'Ready to start TLS'));
    this.flush();
    // from here on synchronously into the TLS layer: the ClientHello must not reach a 'data' listener
    (this.socket as Socket).setTimeout(0);
    let tlsSocket: TLSSocket;
    try {
      tlsSocket = await upgradeToTls(this.socket as Socket, context, this.s.starttlsTimeoutMs);
    } catch (err) {
      log.info(`SSL_accept error from ${this.namaddr}: ${(err as Error).message}`);
      this.reason = 'lost connection';
      this.ended = true;
      this.socket.destroy();
      return false;
    }
    this.socket = tlsSocket;
    tlsSocket.setTimeout(this.s.timeoutMs);
    tlsSocket.on('timeout', () => this.onTimeout());
    tlsSocket.on('error', (err) => log.debug(`TLS error from ${this.namaddr}: ${err.message}`, { session: this.info.id }));
    this.reader.attach(tlsSocket);
    this.state.tls = true;
    this.needHeloAfterTls = true;
    this.tlsInfo = describeTlsSocket(tlsSocket);
    log.info(`${this.namaddr}: TLS established: ${this.tlsInfo.protocol} with cipher ${this.tlsInfo.cipher} (${this.tlsInfo.useBits}/${this.tlsInfo.algBits} bits)`, {
      session: this.info.id,
    });
    return true;
  }

  private async authCmd(c: Command): Promise<boolean> {
    const authService = this.deps.auth;
    if (!this.helo) {
      await this.send(reply(503, '5.5.1', 'Error: send HELO/EHLO first'));
      return false;
    }
    if (!this.s.saslEnable || !authService) {
      await this.send(reply(503, '5.5.1', 'Error: authentication not enabled'));
      return false;
    }
    if (this.state.saslUsername) {
      await this.send(reply(503, '5.5.1', 'Error: already authenticated'));
      return false;
    }
    if (this.tx) {
      await this.send(reply(503, '5.5.1', 'Error: MAIL transaction in progress'));
      return false;
    }
    if (authService.isThrottled(this.info.remoteAddress)) {
      log.warn(`${this.namaddr}: too many authentication failures, disconnecting`);
      await this.send(reply(421, '4.7.0', `${this.s.myhostname} Error: too many authentication failures`));
      this.reason = 'too many authentication failures';
      this.close();
      return false;
    }
    const outcome = await runAuth(
      c.rest,
      {
        service: authService,
        request: {
          service: this.info.service,
          remoteIp: this.info.remoteAddress,
          remotePort: this.info.remotePort,
          localIp: this.info.localAddress,
          tls: this.state.tls,
          secured: this.state.tls,
          clientName: this.state.clientName,
          sessionId: this.info.id,
        },
        tls: this.state.tls,
        tlsAuthOnly: this.s.tlsAuthOnly,
        allowPlaintext: this.allowPlaintextAuth(),
        responseLimit: this.s.saslResponseLimit,
        saslType: this.s.saslType,
      },
      {
        challenge: async (data) => {
          this.out += `334 ${data.toString('base64')}\r\n`;
          this.flush();
        },
        readLine: (limit) => this.reader.readLine(limit),
      },
    );
    if (outcome.ok) {
      this.state.saslUsername = outcome.user;
      this.state.saslMethod = outcome.mechanism;
      await this.send(reply(235, '2.7.0', 'Authentication successful'));
      return true;
    }
    if (outcome.lost) {
      this.reason = 'lost connection';
      this.close();
      return false;
    }
    if (outcome.aborted) log.warn(`${this.namaddr}: SASL ${outcome.mechanism} authentication aborted`);
    else if (outcome.reason !== undefined) log.warn(`${this.namaddr}: SASL ${outcome.mechanism} authentication failed: ${outcome.reason}`);
    await this.send(outcome.reply);
    return false;
  }

  private async mailCmd(c: Command): Promise<boolean> {
    if ((this.s.heloRequired || this.needHeloAfterTls) && !this.helo) {
      await this.send(reply(503, '5.5.1', 'Error: send HELO/EHLO first'));
      return false;
    }
    if (this.tx?.bdat) {
      await this.send(reply(503, '5.5.1', 'Error: MAIL after BDAT'));
      return false;
    }
    if (this.tx) {
      await this.send(reply(503, '5.5.1', 'Error: nested MAIL command'));
      return false;
    }
    const arg = parseEnvelopeArgument(c.rest, 'FROM');
    if (!arg.ok) {
      await this.send(arg.error === 'syntax' ? reply(501, '5.5.4', 'Syntax: MAIL FROM:<address>') : reply(501, '5.1.7', 'Bad sender address syntax'));
      return false;
    }
    const ctx = { smtputf8: this.s.smtputf8 && !this.s.discard.has('SMTPUTF8'), dsn: !this.s.discard.has('DSN') };
    const path = parsePath(arg.path, { allowEmpty: true, strict: this.s.strictRfc821, smtputf8: declaresSmtputf8(arg.params, ctx) });
    if (!path.ok) {
      log.warn(`Illegal address syntax from ${this.namaddr} in MAIL command: ${arg.path}`);
      await this.send(reply(501, '5.1.7', 'Bad sender address syntax'));
      return false;
    }
    const params = parseMailParams(arg.params, ctx);
    if (!params.ok) {
      await this.send(params.reply);
      return false;
    }
    if (params.value.size !== undefined) this.stickySize = params.value.size;
    const sender = path.path.address;
    if (this.s.sizeLimit > 0 && this.stickySize > this.s.sizeLimit) {
      const r = reply(552, '5.3.4', 'Message size exceeds fixed limit');
      log.info(`NOQUEUE: reject: MAIL from ${this.namaddr}: ${r.code} ${r.enhanced} ${r.text}; from=<${sender}> proto=${this.protocol} helo=<${this.helo ?? ''}>`);
      await this.send(r);
      return false;
    }
    this.state.sender = sender;
    this.state.size = this.stickySize || undefined;
    this.state.recipientCount = 0;
    const verdict = await this.deps.policy.mail(this.state);
    this.noteActions(verdict);
    if (!verdict.ok) {
      this.state.sender = undefined;
      this.deps.policy.reset();
      return this.rejectWith('MAIL', verdict, { from: sender });
    }
    this.tx = { queueId: newQueueId(), sender, params: params.value, recipients: [], overshoot: 0, opened: false, arrival: this.now() };
    await this.send(reply(250, '2.1.0', 'Ok'));
    return true;
  }

  private async rcptCmd(c: Command): Promise<boolean> {
    const tx = this.tx;
    if (!tx) {
      await this.send(reply(503, '5.5.1', 'Error: need MAIL command'));
      return false;
    }
    if (tx.bdat) {
      await this.send(reply(503, '5.5.1', 'Error: RCPT after BDAT'));
      return false;
    }
    const arg = parseEnvelopeArgument(c.rest, 'TO');
    if (!arg.ok) {
      await this.send(arg.error === 'syntax' ? reply(501, '5.5.4', 'Syntax: RCPT TO:<address>') : reply(501, '5.1.3', 'Bad recipient address syntax'));
      return false;
    }
    const path = parsePath(arg.path, { allowEmpty: false, strict: this.s.strictRfc821, smtputf8: tx.params.smtputf8 });
    if (!path.ok) {
      log.warn(`Illegal address syntax from ${this.namaddr} in RCPT command: ${arg.path}`);
      await this.send(reply(501, '5.1.3', 'Bad recipient address syntax'));
      return false;
    }
    const params = parseRcptParams(arg.params, { smtputf8: this.s.smtputf8, dsn: !this.s.discard.has('DSN') });
    if (!params.ok) {
      await this.send(params.reply);
      return false;
    }
    if (tx.recipients.length >= this.s.recipientLimit) {
      await this.send(reply(452, '4.5.3', 'Error: too many recipients'));
      return tx.overshoot++ < this.s.overshootLimit;
    }
    const address = path.path.address;
    // RFC 5321 §4.5.1: "postmaster" is always accepted (Postfix skips the restrictions for it)
    if (address.toLowerCase() !== 'postmaster') {
      const verdict = await this.deps.policy.rcpt(this.state, address);
      this.noteActions(verdict);
      if (!verdict.ok) return this.rejectWith('RCPT', verdict, { from: tx.sender, to: address });
    }
    const routing = await this.deps.delivery.route(address);
    let refusal: SmtpReply | undefined;
    if (routing.status === 'unknown') {
      const table = routing.domainClass === 'local' ? 'local recipient' : routing.domainClass === 'virtual' ? 'virtual mailbox' : 'virtual alias';
      refusal = reply(550, '5.1.1', `<${address}>: Recipient address rejected: User unknown in ${table} table`);
    } else if (routing.status === 'tempfail') {
      log.warn(`${tx.queueId}: recipient lookup for ${address} failed: ${routing.reason}`);
      refusal = reply(451, '4.3.0', `<${address}>: Temporary lookup failure`);
    } else if (!this.deps.queue && (routing.status === 'remote' || routing.forwards.length > 0)) {
      log.warn(`no outbound queue configured: cannot accept mail for ${address}`);
      refusal = reply(451, '4.3.5', `<${address}>: Recipient address rejected: Server configuration problem`);
    }
    if (refusal) return this.rejectWith('RCPT', { ok: false, reply: refusal }, { from: tx.sender, to: address }, true);
    tx.recipients.push({ address, routing: routing as Recipient['routing'], params: params.value });
    this.state.recipientCount = tx.recipients.length;
    if (!tx.opened) {
      tx.opened = true;
      this.state.queueId = tx.queueId;
      const sasl = this.state.saslUsername ? `, sasl_method=${this.state.saslMethod}, sasl_username=${this.state.saslUsername}` : '';
      log.withId(tx.queueId).info(`client=${this.namaddr}${sasl}`);
    }
    await this.send(reply(250, '2.1.5', 'Ok'));
    return true;
  }

  /** Send a refusal; `log` for the session's own refusals (the restriction engine logs its own, as smtpd_check does). */
  private async rejectWith(stage: string, verdict: Extract<PolicyVerdict, { ok: false }>, env: { from?: string; to?: string } = {}, log = false): Promise<boolean> {
    if (log) this.logReject(stage, verdict.reply, env);
    await this.send(verdict.reply);
    if (verdict.close) {
      this.reason = 'quit';
      this.close();
    }
    return false;
  }

  private logReject(stage: string, r: SmtpReply, env: { from?: string; to?: string } = {}): void {
    const id = this.tx?.opened ? this.tx.queueId : 'NOQUEUE';
    const parts = [env.from !== undefined ? `from=<${env.from}>` : '', env.to !== undefined ? `to=<${env.to}>` : '', `proto=${this.protocol}`, this.helo ? `helo=<${this.helo}>` : '']
      .filter(Boolean)
      .join(' ');
    log.info(`${id}: reject: ${stage} from ${this.namaddr}: ${r.code}${r.enhanced ? ' ' + r.enhanced : ''} ${r.text.replace(/\n/g, ' ')}; ${parts}`);
  }

  private async rsetCmd(c: Command): Promise<boolean> {
    if (c.rest !== '') {
      await this.send(reply(501, '5.5.4', 'Syntax: RSET'));
      return false;
    }
    await this.abortTransaction();
    this.stickySize = 0;
    await this.send(reply(250, '2.0.0', 'Ok'));
    return true;
  }

  private async noopCmd(): Promise<boolean> {
    await this.send(reply(250, '2.0.0', 'Ok'));
    return true;
  }

  private async quitCmd(): Promise<boolean> {
    await this.send(reply(221, '2.0.0', 'Bye'));
    this.reason = 'quit';
    this.close();
    return true;
  }

  private async vrfyCmd(c: Command): Promise<boolean> {
    if (this.s.vrfyDisabled) {
      await this.send(reply(502, '5.5.1', 'VRFY command is disabled'));
      return false;
    }
    let words = splitWords(c.rest);
    let smtputf8 = false;
    if (this.s.smtputf8 && words.length > 1 && words[words.length - 1].toUpperCase() === 'SMTPUTF8') {
      words = words.slice(0, -1);
      smtputf8 = true;
    }
    if (words.length === 0) {
      await this.send(reply(501, '5.5.4', `Syntax: VRFY address${this.s.smtputf8 ? ' [SMTPUTF8]' : ''}`));
      return false;
    }
    const given = words.join(' ');
    const path = parsePath(given, { allowEmpty: false, smtputf8 });
    if (!path.ok) {
      await this.send(reply(501, '5.1.3', 'Bad recipient address syntax'));
      return false;
    }
    const verdict = await this.deps.policy.vrfy(this.state, path.path.address);
    if (!verdict.ok) return this.rejectWith('VRFY', verdict, { to: path.path.address });
    await this.send(reply(252, '2.0.0', given));
    return true;
  }

  private async etrnCmd(c: Command): Promise<boolean> {
    if (this.s.heloRequired && !this.helo) {
      await this.send(reply(503, '', 'Error: send HELO/EHLO first'));
      return false;
    }
    if (this.tx) {
      await this.send(reply(503, '', 'Error: MAIL transaction in progress'));
      return false;
    }
    const words = splitWords(c.rest);
    if (words.length !== 1) {
      await this.send(reply(500, '', 'Syntax: ETRN domain'));
      return false;
    }
    const domain = words[0].replace(/^[@#]/, '');
    if (!/^([A-Za-z0-9_-]+\.)*[A-Za-z0-9_-]+\.?$/.test(domain) && !/^\[[0-9A-Fa-f.:]+\]$/.test(domain)) {
      await this.send(reply(501, '', 'Error: invalid parameter syntax'));
      return false;
    }
    // facteur has no fast-flush service: RFC 1985 459 for every domain, as Postfix without fast_flush_domains
    log.warn(`reject: ETRN ${domain.slice(0, 100)}... from ${this.namaddr}`);
    await this.send(reply(459, '', `<${domain}>: service unavailable`));
    return false;
  }

  // ---- message content -----------------------------------------------------------------

  private receivedText(tx: Transaction): string {
    return receivedHeader({
      helo: this.helo,
      clientName: this.state.clientName ?? 'unknown',
      clientAddress: this.info.remoteAddress,
      myhostname: this.s.myhostname,
      mailName: this.s.mailName,
      protocol: this.protocol,
      smtputf8: tx.params.smtputf8,
      tls: this.tlsInfo,
      showTls: this.s.tlsReceivedHeader,
      saslUsername: this.state.saslUsername,
      showSasl: this.s.saslHeader,
      queueId: tx.queueId,
      recipients: tx.recipients.map((r) => r.address),
      date: tx.arrival,
    });
  }

  /** Open the destinations of a transaction: the local batch and the queue file. */
  private async openIntake(tx: Transaction): Promise<{ intake: MessageIntake; batch?: DeliveryBatch; queue?: QueueFileWriter }> {
    const actions = this.actions();
    let recipients = tx.recipients;
    if (actions.redirect) {
      // REDIRECT (access tables): the message goes to that address instead of the recipients
      const routing = await this.deps.delivery.route(actions.redirect);
      if (routing.status === 'local' || (routing.status === 'remote' && this.deps.queue)) {
        log.withId(tx.queueId).info(`redirect: ${this.where} from ${this.namaddr}: ${actions.redirect}`);
        recipients = [{ address: actions.redirect, routing: routing as Recipient['routing'], params: {} }];
      } else log.withId(tx.queueId).warn(`cannot redirect to ${actions.redirect} (${routing.status}): delivering to the recipients`);
    }
    if (actions.hold !== undefined) log.withId(tx.queueId).warn(`HOLD requested (${actions.hold}) but facteur has no hold queue: delivering normally`);
    if (actions.filter !== undefined) log.withId(tx.queueId).warn(`FILTER ${actions.filter} is not supported: delivering normally`);
    const { local, remote } = splitDestinations(recipients, (a) => this.deps.delivery.qualify(a), !!this.deps.queue);
    const sender = this.deps.delivery.qualify(tx.sender);
    const batch = local.length > 0 ? this.deps.delivery.openBatch({ queueId: tx.queueId, sender, recipients: local, arrival: tx.arrival }) : undefined;
    let queue: QueueFileWriter | undefined;
    if (remote.length > 0 && this.deps.queue) {
      queue = await this.deps.queue.create({
        id: tx.queueId,
        sender,
        recipients: remote,
        ret: tx.params.ret,
        envid: tx.params.envid,
        body: tx.params.body,
        smtputf8: tx.params.smtputf8,
        arrival: tx.arrival,
        client: this.namaddr,
        saslUsername: this.state.saslUsername,
      });
    }
    // PREPEND lines go above our Received: header, as Postfix puts them
    const prepend = (actions.prepend ?? []).map((h) => h.replace(/\r?\n/g, '\n\t')).join('\n');
    const intake = new MessageIntake({
      received: prepend ? `${prepend}\n${this.receivedText(tx)}` : this.receivedText(tx),
      sizeLimit: this.s.sizeLimit,
      headerSizeLimit: this.s.headerSizeLimit,
      hopLimit: this.s.hopLimit,
      batch,
      queue,
      rewrite: rewritesHeaders(this.s, { ip: this.info.remoteAddress, saslUsername: this.state.saslUsername })
        ? { myorigin: this.s.myorigin, myhostname: this.s.myhostname, queueId: tx.queueId, sender: tx.sender, date: mailDate(this.now()), now: this.now() }
        : undefined,
    });
    await intake.start();
    return { intake, batch, queue };
  }

  /** Checks before DATA / the first BDAT: recipients and the data restrictions. */
  private async beforeContent(stage: 'DATA' | 'BDAT'): Promise<SmtpReply | undefined> {
    const tx = this.tx;
    if (!tx || tx.recipients.length === 0) {
      return tx ? reply(554, '5.5.1', 'Error: no valid recipients') : reply(503, '5.5.1', 'Error: need RCPT command');
    }
    const verdict = await this.deps.policy.data(this.state);
    this.noteActions(verdict);
    if (!verdict.ok) return verdict.reply;
    return undefined;
  }

  private async dataCmd(c: Command): Promise<boolean> {
    if (this.tx?.bdat) {
      await this.send(reply(503, '5.5.1', 'Error: DATA after BDAT'));
      return false;
    }
    if (this.tx && this.tx.recipients.length > 0 && c.rest !== '') {
      await this.send(reply(501, '5.5.4', 'Syntax: DATA'));
      return false;
    }
    const refusal = await this.beforeContent('DATA');
    if (refusal) {
      await this.send(refusal);
      return false;
    }
    const tx = this.tx!;
    let opened;
    try {
      opened = await this.openIntake(tx);
    } catch (err) {
      log.error(`${tx.queueId}: cannot open the message destinations: ${(err as Error).message}`);
      await this.send(deliveryFailureReply((err as NodeJS.ErrnoException).code ?? 'EIO'));
      await this.abortTransaction();
      return false;
    }
    await this.send(reply(354, '', 'End data with <CR><LF>.<CR><LF>'));
    this.flush();
    this.where = 'DATA';
    const result = await this.reader.readData(opened.intake);
    if (result.eof) {
      await opened.intake.abort();
      this.reason = `lost connection`;
      log.info(`lost connection after DATA (${result.wireBytes} bytes) from ${this.namaddr}`);
      this.where = 'END-OF-MESSAGE';
      this.tx = undefined;
      this.close();
      return false;
    }
    this.where = 'END-OF-MESSAGE';
    return this.finishMessage(opened, result.bareLf, false);
  }

  private async finishMessage(
    opened: { intake: MessageIntake; batch?: DeliveryBatch; queue?: QueueFileWriter },
    bareLf: boolean,
    bdat: boolean,
  ): Promise<boolean> {
    const tx = this.tx!;
    const { intake, batch } = opened;
    const fail = async (r: SmtpReply, logText?: string): Promise<boolean> => {
      await intake.abort();
      if (logText) log.info(`${tx.queueId}: reject: ${logText}`);
      await this.send(r);
      this.endTransaction();
      return false;
    };
    if (intake.tooBig) {
      log.warn(`${tx.queueId}: queue file size limit exceeded`);
      return fail(reply(552, '5.3.4', 'Error: message file too big'));
    }
    if (bareLf && this.s.bareNewline === 'reject' && !inNetworks(this.s.bareNewlineExclusions, this.info.remoteAddress)) {
      return fail(reply(this.s.bareNewlineCode, '5.5.2', `${this.s.myhostname} Error: bare <LF> received`), `${bdat ? 'BDAT' : 'DATA'} from ${this.namaddr}: bare <LF> received`);
    }
    if (intake.headers.tooLong) return fail(reply(552, '5.3.4', 'Error: message header too long'), `header size limit exceeded from ${this.namaddr}`);
    if (intake.headers.hops > this.s.hopLimit) return fail(reply(554, '5.4.0', 'Error: too many hops'), `too many hops from ${this.namaddr}`);
    this.state.size = intake.size;
    const verdict = await this.deps.policy.endOfData(this.state);
    this.noteActions(verdict);
    if (!verdict.ok) {
      await intake.abort();
      await this.send(verdict.reply);
      this.endTransaction();
      if (verdict.close) {
        this.reason = 'quit';
        this.close();
      }
      return false;
    }
    const discard = this.actions().discard;
    if (discard !== undefined) {
      await intake.abort();
      log.withId(tx.queueId).info(`discard: END-OF-MESSAGE from ${this.namaddr}: ${discard || 'discarded'}; from=<${tx.sender}> proto=${this.protocol}`);
      this.errors = 0;
      this.junk = 0;
      await this.send(bdat ? reply(250, '2.0.0', `Ok: ${intake.size} bytes queued as ${tx.queueId}`) : reply(250, '2.0.0', `Ok: queued as ${tx.queueId}`));
      this.endTransaction();
      return true;
    }
    try {
      await intake.commit();
      const done = batch ? await batch.publish() : [];
      const l = log.withId(tx.queueId);
      l.info(`message-id=${intake.headers.messageId ?? intake.addedMessageId ?? '<>'}`);
      l.info(`from=<${this.deps.delivery.qualify(tx.sender)}>, size=${intake.size}, nrcpt=${tx.recipients.length} (queue active)`);
      logDeliveries(tx.queueId, done, tx.arrival);
      if (!opened.queue) l.info('removed');
    } catch (err) {
      await intake.abort();
      const code = err instanceof DeliveryError ? err.code : ((err as NodeJS.ErrnoException).code ?? 'EIO');
      log.withId(tx.queueId).warn(`delivery failed: ${(err as Error).message}`);
      await this.send(deliveryFailureReply(code));
      this.endTransaction();
      return false;
    }
    // a delivered message forgives earlier errors (Postfix)
    this.errors = 0;
    this.junk = 0;
    await this.send(bdat ? reply(250, '2.0.0', `Ok: ${intake.size} bytes queued as ${tx.queueId}`) : reply(250, '2.0.0', `Ok: queued as ${tx.queueId}`));
    this.endTransaction();
    return true;
  }

  private async bdatCmd(c: Command): Promise<boolean> {
    if (this.s.discard.has('CHUNKING')) {
      await this.send(reply(521, '5.5.1', 'Error: command not implemented'));
      this.close();
      return false;
    }
    const words = splitWords(c.rest);
    const m = words.length >= 1 && words.length <= 2 && /^\d+$/.test(words[0]) && (words.length === 1 || words[1].toUpperCase() === 'LAST');
    const size = m ? Number(words[0]) : NaN;
    if (!m || !Number.isSafeInteger(size)) {
      log.warn(`${this.tx?.queueId ?? 'NOQUEUE'}: malformed BDAT command syntax from ${this.namaddr}: ${c.rest.slice(0, 100)}`);
      await this.send(reply(521, '5.5.4', 'Syntax: BDAT count [LAST]'));
      this.close();
      return false;
    }
    const last = words.length === 2;
    const skip = async (r: SmtpReply): Promise<boolean> => {
      const res = await this.reader.readChunk(size, { write: () => undefined });
      if (res.eof) {
        this.reason = 'lost connection';
        this.close();
        return false;
      }
      await this.send(r);
      if (last) await this.abortTransaction();
      else if (this.tx?.bdat) this.tx.bdat.failed = true;
      else if (this.tx) this.tx.bdat = { conv: new CrlfToLf(), failed: true, chunks: 0 };
      return false;
    };
    if (size === 0 && !last) {
      log.warn(`${this.tx?.queueId ?? 'NOQUEUE'}: null BDAT request from ${this.namaddr}`);
      return skip(reply(551, '5.7.1', 'Null BDAT request'));
    }
    if (this.tx?.bdat?.failed) return skip(reply(551, '5.0.0', `Discarded ${size} bytes after earlier error`));
    if (!this.tx?.bdat) {
      const refusal = await this.beforeContent('BDAT');
      if (refusal) return skip(refusal);
    }
    const tx = this.tx!;
    if (this.s.sizeLimit > 0 && (tx.bdat?.intake?.size ?? 0) + size > this.s.sizeLimit) {
      log.warn(`${tx.queueId}: BDAT request from ${this.namaddr} exceeds message size limit`);
      const res = await this.reader.readChunk(size, { write: () => undefined });
      if (res.eof) {
        this.reason = 'lost connection';
        this.close();
        return false;
      }
      await tx.bdat?.intake?.abort();
      await this.send(reply(552, '5.3.4', 'Chunk exceeds message size limit'));
      if (last) this.endTransaction();
      else tx.bdat = { conv: new CrlfToLf(), failed: true, chunks: 0 };
      return false;
    }
    if (!tx.bdat) {
      let opened;
      try {
        opened = await this.openIntake(tx);
      } catch (err) {
        log.error(`${tx.queueId}: cannot open the message destinations: ${(err as Error).message}`);
        return skip(deliveryFailureReply((err as NodeJS.ErrnoException).code ?? 'EIO'));
      }
      tx.bdat = { ...opened, conv: new CrlfToLf(), failed: false, chunks: 0 };
    }
    const b = tx.bdat;
    this.where = 'BDAT';
    const sink: ContentSink = { write: (chunk) => b.intake!.write(b.conv.convert(chunk)) };
    const res = await this.reader.readChunk(size, sink);
    if (res.eof) {
      await b.intake!.abort();
      log.info(`lost connection after BDAT from ${this.namaddr}`);
      this.reason = 'lost connection';
      this.tx = undefined;
      this.close();
      return false;
    }
    b.chunks++;
    if (!last) {
      if (b.intake!.tooBig) {
        await b.intake!.abort();
        await this.send(reply(552, '5.3.4', 'Error: message file too big'));
        b.failed = true;
        return false;
      }
      await this.send(reply(250, '2.0.0', `Ok: ${size} bytes`));
      return true;
    }
    await b.intake!.write(b.conv.flush());
    this.where = 'END-OF-MESSAGE';
    return this.finishMessage({ intake: b.intake!, batch: b.batch, queue: b.queue }, b.conv.bareLf, true);
  }

  /** Forget the transaction after it ended (delivered or refused). */
  private endTransaction(): void {
    this.tx = undefined;
    this.txActions = {};
    this.stickySize = 0;
    this.state.sender = undefined;
    this.state.queueId = undefined;
    this.state.recipientCount = 0;
    this.state.size = undefined;
    this.deps.policy.reset();
  }

  /** RSET/HELO/STARTTLS/disconnect: drop a transaction in progress (and its partial content). */
  private async abortTransaction(): Promise<void> {
    const tx = this.tx;
    if (tx?.bdat?.intake) await tx.bdat.intake.abort();
    if (tx || this.state.sender !== undefined) this.endTransaction();
  }

}

const COMMANDS: Record<string, { flags: number; run: Handler }> = {
  HELO: { flags: LIMIT | PRE_TLS | LAST, run: (s, c) => s['heloCmd'](c, false) },
  EHLO: { flags: LIMIT | PRE_TLS | LAST, run: (s, c) => s['heloCmd'](c, true) },
  STARTTLS: { flags: PRE_TLS, run: (s, c) => s['starttlsCmd'](c) },
  AUTH: { flags: 0, run: (s, c) => s['authCmd'](c) },
  MAIL: { flags: 0, run: (s, c) => s['mailCmd'](c) },
  RCPT: { flags: 0, run: (s, c) => s['rcptCmd'](c) },
  DATA: { flags: LAST, run: (s, c) => s['dataCmd'](c) },
  BDAT: { flags: 0, run: (s, c) => s['bdatCmd'](c) },
  RSET: { flags: LIMIT, run: (s, c) => s['rsetCmd'](c) },
  NOOP: { flags: LIMIT | PRE_TLS | LAST, run: (s) => s['noopCmd']() },
  VRFY: { flags: LIMIT | LAST, run: (s, c) => s['vrfyCmd'](c) },
  ETRN: { flags: LIMIT, run: (s, c) => s['etrnCmd'](c) },
  QUIT: { flags: PRE_TLS, run: (s) => s['quitCmd']() },
};

/** `(using TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits))` from what Node exposes. */
export function describeTlsSocket(socket: TLSSocket): TlsInfo {
  const c = socket.getCipher();
  const name = c?.name ?? 'unknown';
  const bits = /256|CHACHA20/i.test(name) ? 256 : /128/.test(name) ? 128 : /3DES|DES-CBC3/i.test(name) ? 168 : 0;
  return { protocol: socket.getProtocol() ?? 'unknown', cipher: name, useBits: bits, algBits: bits };
}

/** Input as Postfix logs it: CR LF as \r\n, other controls escaped. */
function escapeForLog(b: Buffer): string {
  return b
    .toString('latin1')
    .replace(/\r/g, '\\r')
    .replace(/\n/g, '\\n')
    .replace(/[\x00-\x1f\x7f-\xff]/g, (ch) => `\\${ch.charCodeAt(0).toString(8).padStart(3, '0')}`);
}
