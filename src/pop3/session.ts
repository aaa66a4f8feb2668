// One POP3 session (RFC 1939, CAPA RFC 2449, STLS RFC 2595, AUTH RFC 5034), over a
// maildrop locked for the session. Replies follow Dovecot 2.3's wording where a client
// or a script might look at it (see test/fixtures/dovecot-maildir/pop3.txt).
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { isSecuredConnection } from '../auth/secured.js';
import type { AuthRequest, AuthService, SaslServerExchange } from '../auth/types.js';
import type { ConfigView } from '../config/config.js';
import { Logger, logger } from '../log.js';
import type { ConnectionInfo, SessionHandle } from '../server/connection.js';
import { upgradeToTls, type TlsProvider } from '../server/tls.js';
import type { Pop3Maildrop, Pop3MaildropProvider } from './maildrop.js';
import { formatUidl } from './uidl.js';

export interface Pop3Deps {
  config: ConfigView;
  tls: TlsProvider;
  auth: AuthService;
  maildrops: Pop3MaildropProvider;
}

/** Longest command line (RFC 2449 §4 allows 255; Dovecot accepts more for AUTH responses). */
const MAX_LINE = 8192;
/** Dovecot's login process gives up after this many failed authentications. */
const MAX_AUTH_FAILURES = 3;
/** Unknown/invalid commands before the session is closed. */
const MAX_BAD_COMMANDS = 20;

type State = 'AUTHORIZATION' | 'TRANSACTION' | 'UPDATE' | 'CLOSED';

/** Dovecot 2.3's "secured" connection (TLS, loopback, same address as the server, login_trusted_networks). */
export function isSecured(config: ConfigView, info: { remoteAddress: string; localAddress: string }, tls: boolean): boolean {
  return isSecuredConnection(config, { remoteIp: info.remoteAddress, localIp: info.localAddress, tls });
}

export function startPop3Session(socket: Socket | TLSSocket, info: ConnectionInfo, deps: Pop3Deps): SessionHandle {
  const s = new Pop3Session(socket, info, deps);
  return { closed: s.closed, shutdown: (reason) => s.shutdown(reason) };
}

class Pop3Session {
  readonly closed: Promise<void>;
  private resolveClosed!: () => void;
  private readonly log: Logger;
  private socket: Socket | TLSSocket;
  private tls: boolean;
  private state: State = 'AUTHORIZATION';
  private buffer: Buffer = Buffer.alloc(0);
  private queue: string[] = [];
  private busy = false;
  private discardLine = false;
  private userName?: string;
  private authFailures = 0;
  private badCommands = 0;
  private sasl?: SaslServerExchange;
  private maildrop?: Pop3Maildrop;
  private deleted = new Set<number>();
  private seen = new Set<number>();
  private loggedInUser?: string;
  private timer?: NodeJS.Timeout;
  private shuttingDown = false;

  constructor(
    socket: Socket | TLSSocket,
    private readonly info: ConnectionInfo,
    private readonly deps: Pop3Deps,
  ) {
    this.socket = socket;
    this.tls = info.implicitTls;
    this.log = logger(info.service === 'pop3s' ? 'pop3s-login' : 'pop3-login').withId(info.id);
    this.closed = new Promise((r) => (this.resolveClosed = r));
    this.attach(socket);
    this.log.info(`connect from [${info.remoteAddress}]`, { tls: this.tls ? 'yes' : 'no' });
    this.send('+OK facteur ready.');
    this.armTimer();
  }

  private attach(socket: Socket | TLSSocket): void {
    socket.on('data', (d: Buffer) => this.onData(d));
    socket.on('error', (err) => this.log.debug(`socket error: ${err.message}`));
    socket.on('close', () => this.finish());
  }

  private armTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    const ms = this.deps.config.time('pop3_client_timeout') * 1000;
    this.timer = setTimeout(() => {
      this.send('-ERR Disconnected for inactivity.');
      this.close();
    }, ms);
    this.timer.unref?.();
  }

  shutdown(_reason: string): void {
    this.shuttingDown = true;
    if (!this.busy) {
      this.send('-ERR [SYS/TEMP] Server shutting down.');
      this.close();
    }
  }

  private send(line: string): void {
    if (this.state === 'CLOSED' || this.socket.destroyed) return;
    this.socket.write(line + '\r\n');
  }

  private close(): void {
    if (this.state === 'CLOSED') return;
    this.socket.end();
    this.finish();
  }

  /** The connection is gone: release the maildrop without deleting anything (RFC 1939 §6). */
  private finish(): void {
    if (this.timer) clearTimeout(this.timer);
    const wasClosed = this.state === 'CLOSED';
    this.state = 'CLOSED';
    if (wasClosed) return;
    const drop = this.maildrop;
    this.maildrop = undefined;
    const done = drop ? drop.close().catch((err: Error) => this.log.error(`releasing the maildrop failed: ${err.message}`)) : Promise.resolve();
    done.finally(() => {
      this.log.info(`disconnected`, { user: this.loggedInUser });
      this.resolveClosed();
    });
  }

  private onData(d: Buffer): void {
    if (this.state === 'CLOSED') return;
    this.armTimer();
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, d]) : d;
    let nl: number;
    while ((nl = this.buffer.indexOf(0x0a)) >= 0) {
      let line = this.buffer.subarray(0, nl);
      this.buffer = this.buffer.subarray(nl + 1);
      if (this.discardLine) {
        this.discardLine = false;
        continue;
      }
      if (line.length > 0 && line[line.length - 1] === 0x0d) line = line.subarray(0, line.length - 1);
      if (line.length > MAX_LINE) {
        this.queue.push('\u0000toolong');
        continue;
      }
      this.queue.push(line.toString('utf8'));
    }
    if (this.buffer.length > MAX_LINE) {
      // an over-long line: answer once, drop the rest of it
      this.buffer = Buffer.alloc(0);
      this.discardLine = true;
      this.queue.push('\u0000toolong');
    }
    void this.pump();
  }

  private async pump(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      while (this.queue.length > 0 && this.state !== 'CLOSED') {
        const line = this.queue.shift()!;
        await this.handle(line);
        if (this.shuttingDown && !this.isClosed()) {
          this.send('-ERR [SYS/TEMP] Server shutting down.');
          this.close();
        }
      }
    } catch (err) {
      this.log.error(`session error: ${(err as Error).stack ?? err}`);
      this.send('-ERR [SYS/TEMP] Internal error occurred.');
      this.close();
    } finally {
      this.busy = false;
    }
  }

  private isClosed(): boolean {
    return this.state === 'CLOSED';
  }

  private authRequest(): AuthRequest {
    return {
      service: 'pop3',
      remoteIp: this.info.remoteAddress,
      remotePort: this.info.remotePort,
      localIp: this.info.localAddress,
      tls: this.tls,
      secured: isSecured(this.deps.config, this.info, this.tls),
      sessionId: this.info.id,
    };
  }

  private plaintextAllowed(): boolean {
    return !this.deps.config.bool('disable_plaintext_auth') || isSecured(this.deps.config, this.info, this.tls);
  }

  private badCommand(text: string): void {
    this.badCommands++;
    this.send(text);
    if (this.badCommands >= MAX_BAD_COMMANDS) {
      this.send('-ERR Too many bad commands.');
      this.close();
    }
  }

  private async handle(line: string): Promise<void> {
    if (line === '\u0000toolong') {
      this.badCommand('-ERR Input line too long.');
      return;
    }
    if (this.sasl) {
      await this.saslContinue(line);
      return;
    }
    const sp = line.indexOf(' ');
    const cmd = (sp < 0 ? line : line.slice(0, sp)).toUpperCase();
    const arg = sp < 0 ? '' : line.slice(sp + 1);
    if (cmd === '') {
      this.badCommand('-ERR Unknown command: ');
      return;
    }
    if (cmd === 'QUIT') return this.quit();
    if (cmd === 'CAPA') return this.capa();
    if (cmd === 'NOOP' && this.state === 'TRANSACTION') return this.send('+OK');
    if (this.state === 'AUTHORIZATION') {
      switch (cmd) {
        case 'USER':
          return this.user(arg);
        case 'PASS':
          return this.pass(arg);
        case 'AUTH':
          return this.auth(arg);
        case 'STLS':
          return this.stls();
        case 'APOP':
          return this.badCommand('-ERR APOP is not supported.');
        default:
          return this.badCommand(`-ERR Unknown command: ${cmd}`);
      }
    }
    switch (cmd) {
      case 'STAT':
        return this.stat();
      case 'LIST':
        return this.list(arg);
      case 'UIDL':
        return this.uidl(arg);
      case 'RETR':
        return this.retr(arg);
      case 'TOP':
        return this.top(arg);
      case 'DELE':
        return this.dele(arg);
      case 'RSET':
        this.deleted.clear();
        return this.send('+OK');
      case 'USER':
      case 'PASS':
      case 'AUTH':
      case 'STLS':
        return this.badCommand('-ERR Already logged in.');
      default:
        return this.badCommand(`-ERR Unknown command: ${cmd}`);
    }
  }

  private capa(): void {
    const lines = ['+OK', 'CAPA', 'TOP', 'UIDL', 'RESP-CODES', 'PIPELINING', 'AUTH-RESP-CODE'];
    if (this.state === 'AUTHORIZATION') {
      if (!this.tls && this.deps.config.get('smtpd_tls_security_level') !== 'none') lines.push('STLS');
      const plain = this.plaintextAllowed();
      if (plain) lines.push('USER');
      const mechs = this.deps.auth.mechanisms({ allowPlaintext: plain });
      if (mechs.length > 0) lines.push(`SASL ${mechs.join(' ')}`);
    }
    lines.push('.');
    this.send(lines.join('\r\n'));
  }

  private async stls(): Promise<void> {
    if (this.tls) return this.badCommand('-ERR TLS is already active.');
    // Anything pipelined after STLS is discarded, not executed after the handshake (RFC 2595 §4, CVE-2011-0411).
    this.queue = [];
    this.buffer = Buffer.alloc(0);
    this.send('+OK Begin TLS negotiation now.');
    const raw = this.socket as Socket;
    raw.removeAllListeners('data');
    raw.removeAllListeners('close');
    raw.removeAllListeners('error');
    raw.on('error', () => {});
    try {
      const secure = await upgradeToTls(raw, this.deps.tls.context(this.info.service));
      this.socket = secure;
      this.tls = true;
      this.queue = [];
      this.buffer = Buffer.alloc(0);
      this.attach(secure);
    } catch (err) {
      this.log.info(`TLS handshake failed: ${(err as Error).message}`);
      raw.destroy();
      this.finish();
    }
  }

  private user(arg: string): void {
    if (!this.plaintextAllowed()) {
      return this.badCommand('-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.');
    }
    if (!arg) return this.badCommand('-ERR No username given.');
    this.userName = arg;
    this.send('+OK');
  }

  private async pass(arg: string): Promise<void> {
    if (!this.plaintextAllowed()) {
      return this.badCommand('-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.');
    }
    if (this.userName === undefined) return this.badCommand('-ERR No username given.');
    const user = this.userName;
    this.userName = undefined;
    const result = await this.deps.auth.verifyPassword(user, arg, this.authRequest());
    if (result.ok) return this.loggedIn(result.user, 'PLAIN');
    return this.authFailed(result.temporary ?? false, user);
  }

  private async auth(arg: string): Promise<void> {
    const plain = this.plaintextAllowed();
    const mechs = this.deps.auth.mechanisms({ allowPlaintext: plain });
    if (!arg) {
      // RFC 1734 style listing, as Dovecot answers a bare AUTH
      this.send(['+OK', ...mechs, '.'].join('\r\n'));
      return;
    }
    const [mechRaw, initial] = arg.split(' ');
    const mech = mechRaw.toUpperCase();
    if (!mechs.includes(mech)) {
      const known = this.deps.auth.mechanisms({ allowPlaintext: true }).includes(mech);
      return this.badCommand(known ? '-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.' : '-ERR Unsupported authentication mechanism.');
    }
    const ex = this.deps.auth.start(mech, this.authRequest());
    if (!ex) return this.badCommand('-ERR Unsupported authentication mechanism.');
    this.sasl = ex;
    let first: Buffer | undefined;
    if (initial !== undefined) {
      if (initial === '=') first = Buffer.alloc(0);
      else if (!/^[A-Za-z0-9+/]*={0,2}$/.test(initial)) {
        this.sasl = undefined;
        ex.cancel();
        return this.badCommand('-ERR Invalid base64 data in initial response.');
      } else first = Buffer.from(initial, 'base64');
    }
    await this.saslStep(first);
  }

  private async saslContinue(line: string): Promise<void> {
    const ex = this.sasl!;
    if (line === '*') {
      this.sasl = undefined;
      ex.cancel();
      this.send('-ERR Authentication aborted by client.');
      return;
    }
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(line)) {
      this.sasl = undefined;
      ex.cancel();
      this.badCommand('-ERR Invalid base64 data in continued response.');
      return;
    }
    await this.saslStep(Buffer.from(line, 'base64'));
  }

  private async saslStep(response: Buffer | undefined): Promise<void> {
    const ex = this.sasl!;
    const step = await ex.step(response);
    if (step.kind === 'challenge') {
      this.send(`+ ${step.data.toString('base64')}`);
      return;
    }
    this.sasl = undefined;
    if (step.kind === 'success') return this.loggedIn(step.user, ex.mechanism);
    return this.authFailed(step.temporary ?? false);
  }

  private authFailed(temporary: boolean, user?: string): void {
    if (temporary) {
      this.send('-ERR [SYS/TEMP] Temporary authentication failure.');
      return;
    }
    this.authFailures++;
    this.log.info(`authentication failed`, { user, rip: this.info.remoteAddress });
    this.send('-ERR [AUTH] Authentication failed.');
    if (this.authFailures >= MAX_AUTH_FAILURES || this.deps.auth.isThrottled(this.info.remoteAddress)) {
      this.log.info(`disconnected: auth failed, ${this.authFailures} attempts`);
      this.close();
    }
  }

  private async loggedIn(user: string, method: string): Promise<void> {
    const opened = await this.deps.maildrops.open(user);
    if (!opened.ok) {
      this.send(`-ERR [${opened.code}] ${opened.text}`);
      if (opened.code === 'IN-USE') this.log.info(`maildrop of ${user} is locked by another session`);
      else this.log.error(`cannot open the maildrop of ${user}: ${opened.text}`);
      return;
    }
    this.maildrop = opened.maildrop;
    this.loggedInUser = user;
    this.state = 'TRANSACTION';
    this.log.info(`Login: user=<${user}>, method=${method}, rip=${this.info.remoteAddress}, lip=${this.info.localAddress}${this.tls ? ', TLS' : ''}`);
    this.send('+OK Logged in.');
  }

  /** Parse a message number; undefined (after an -ERR) when it does not name a live message. */
  private msgIndex(arg: string): number | undefined {
    const t = arg.trim();
    if (!/^\d+$/.test(t)) {
      this.badCommand(`-ERR Invalid message number: ${t}`);
      return undefined;
    }
    const n = Number(t);
    const msgs = this.maildrop!.messages;
    if (n < 1 || n > msgs.length) {
      this.send(`-ERR There's no message ${n}.`);
      return undefined;
    }
    if (this.deleted.has(n - 1)) {
      this.send('-ERR Message is deleted.');
      return undefined;
    }
    return n - 1;
  }

  private live(): number[] {
    const out: number[] = [];
    this.maildrop!.messages.forEach((_m, i) => {
      if (!this.deleted.has(i)) out.push(i);
    });
    return out;
  }

  private stat(): void {
    const msgs = this.maildrop!.messages;
    const live = this.live();
    const size = live.reduce((a, i) => a + msgs[i].size, 0);
    this.send(`+OK ${live.length} ${size}`);
  }

  private list(arg: string): void {
    const msgs = this.maildrop!.messages;
    if (arg.trim()) {
      const i = this.msgIndex(arg);
      if (i !== undefined) this.send(`+OK ${i + 1} ${msgs[i].size}`);
      return;
    }
    const live = this.live();
    this.send([`+OK ${live.length} messages:`, ...live.map((i) => `${i + 1} ${msgs[i].size}`), '.'].join('\r\n'));
  }

  private uidlOf(i: number): string {
    return formatUidl(this.deps.config.get('pop3_uidl_format'), this.maildrop!.messages[i].uid, this.maildrop!.uidValidity);
  }

  private uidl(arg: string): void {
    if (arg.trim()) {
      const i = this.msgIndex(arg);
      if (i !== undefined) this.send(`+OK ${i + 1} ${this.uidlOf(i)}`);
      return;
    }
    this.send(['+OK', ...this.live().map((i) => `${i + 1} ${this.uidlOf(i)}`), '.'].join('\r\n'));
  }

  private async retr(arg: string): Promise<void> {
    const i = this.msgIndex(arg);
    if (i === undefined) return;
    const stream = await this.openMessage(i);
    if (!stream) return;
    this.send(`+OK ${this.maildrop!.messages[i].size} octets`);
    await this.sendContent(stream, Infinity);
    this.seen.add(i);
  }

  private async top(arg: string): Promise<void> {
    const [n, l] = arg.trim().split(/\s+/);
    if (l === undefined || !/^\d+$/.test(l)) return this.badCommand('-ERR Invalid number of lines.');
    const i = this.msgIndex(n ?? '');
    if (i === undefined) return;
    const stream = await this.openMessage(i);
    if (!stream) return;
    this.send('+OK');
    await this.sendContent(stream, Number(l));
  }

  private async openMessage(i: number): Promise<Readable | undefined> {
    try {
      return await this.maildrop!.open(i);
    } catch (err) {
      this.log.error(`cannot read message ${i + 1}: ${(err as Error).message}`);
      this.send('-ERR [SYS/TEMP] The message could not be read (it may have been expunged by another session).');
      return undefined;
    }
  }

  /**
   * Send stored content as CRLF lines with dot-stuffing (RFC 1939 §3), then the
   * terminating ".". `bodyLines` limits the body for TOP (headers always whole).
   */
  private async sendContent(stream: Readable, bodyLines: number): Promise<void> {
    const encoder = new Pop3ContentEncoder(bodyLines);
    for await (const chunk of stream) {
      const out = encoder.push(chunk as Buffer);
      if (out.length > 0 && !this.socket.write(out)) await new Promise((r) => this.socket.once('drain', r));
      if (encoder.done) break;
    }
    this.socket.write(Buffer.concat([encoder.end(), Buffer.from('.\r\n')]));
    if (!stream.destroyed) stream.destroy();
  }

  private dele(arg: string): void {
    const i = this.msgIndex(arg);
    if (i === undefined) return;
    this.deleted.add(i);
    this.send('+OK Marked to be deleted.');
  }

  private async quit(): Promise<void> {
    if (this.state !== 'TRANSACTION') {
      this.send('+OK Logging out.');
      this.close();
      return;
    }
    // UPDATE state (RFC 1939 §6): only now are deletions carried out.
    this.state = 'UPDATE';
    const drop = this.maildrop!;
    const deleted = [...this.deleted];
    const seen = [...this.seen].filter((i) => !this.deleted.has(i));
    try {
      if (seen.length > 0) await drop.markSeen(seen);
      if (deleted.length > 0) await drop.expunge(deleted);
      this.log.info(`Disconnected: Logged out`, { user: this.loggedInUser, top: 0, retr: this.seen.size, del: deleted.length, size: drop.messages.reduce((a, m) => a + m.size, 0) });
      this.send(deleted.length > 0 ? '+OK Logging out, messages deleted.' : '+OK Logging out.');
    } catch (err) {
      this.log.error(`update failed: ${(err as Error).message}`);
      this.send('-ERR [SYS/TEMP] Some deleted messages could not be removed.');
    }
    this.close();
  }
}

/**
 * Streaming LF→CRLF conversion with dot-stuffing, and the TOP cut-off: the header is sent
 * whole, then `bodyLines` lines of the body.
 */
export class Pop3ContentEncoder {
  private atLineStart = true;
  private prevCR = false;
  private inHeader = true;
  private headerLineEmpty = true;
  private bodyLeft: number;
  done = false;

  constructor(bodyLines: number) {
    this.bodyLeft = bodyLines;
  }

  push(chunk: Buffer): Buffer {
    if (this.done) return Buffer.alloc(0);
    const out = Buffer.allocUnsafe(chunk.length * 2 + 2);
    let o = 0;
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i];
      if (c === 0x0a) {
        if (!this.prevCR) out[o++] = 0x0d;
        out[o++] = 0x0a;
        this.prevCR = false;
        this.endLine();
        if (this.done) break;
        continue;
      }
      if (this.atLineStart) {
        if (c === 0x2e) out[o++] = 0x2e; // RFC 1939 §3 byte-stuffing
        this.atLineStart = false;
        this.headerLineEmpty = c === 0x0d;
      } else if (c !== 0x0d) this.headerLineEmpty = false;
      out[o++] = c;
      this.prevCR = c === 0x0d;
    }
    return out.subarray(0, o);
  }

  private endLine(): void {
    if (this.inHeader) {
      if (this.headerLineEmpty) this.inHeader = false; // the empty line ending the header is sent
    } else {
      this.bodyLeft--;
    }
    this.atLineStart = true;
    this.headerLineEmpty = true;
    if (!this.inHeader && this.bodyLeft <= 0) this.done = true;
  }

  /** What to send before the final "." line: a CRLF if the content did not end with one. */
  end(): Buffer {
    return this.atLineStart ? Buffer.alloc(0) : Buffer.from('\r\n');
  }
}
