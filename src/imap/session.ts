// One IMAP connection (RFC 3501 §3 states: not authenticated → authenticated →
// selected → logout). The session reads one command at a time through the parser,
// runs it, sends the untagged updates the RFC allows at that point, then the tagged
// completion. Errors a client causes are replies; anything else closes this
// connection only.
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { AuthRequest, AuthService, UserDatabase, UserEntry } from '../auth/types.js';
import type { Logger } from '../log.js';
import { StoreError } from '../store/folder.js';
import { MailStore } from '../store/mailstore.js';
import type { FolderRegistry } from '../store/registry.js';
import { FLAG_ANSWERED, FLAG_DELETED, FLAG_DRAFT, FLAG_FLAGGED, FLAG_SEEN } from '../store/maildir/names.js';
import { astring, quote } from './protocol/encode.js';
import { CommandParser, ConnectionEnd, ParseError, StateError } from './protocol/parser.js';
import { WireReader } from './protocol/reader.js';
import { SelectedMailbox } from './selected.js';
import { decodeMailboxName } from './utf7.js';
import { listCommand } from './commands/list.js';
import { fetchCommand } from './commands/fetch.js';
import { searchCommand } from './commands/search.js';
import { copyCommand, expungeCommand, storeCommand } from './commands/messages.js';

export type State = 'notauth' | 'auth' | 'selected' | 'logout';

export interface Reply {
  status: 'OK' | 'NO' | 'BAD';
  code?: string;
  text: string;
}

/** What a session needs from the server (see createImapHandler). */
export interface SessionSettings {
  auth: AuthService;
  users: UserDatabase;
  registry?: FolderRegistry;
  /** Returns a TLS socket for STARTTLS, or undefined when TLS is not available. */
  startTls?: (socket: Socket) => Promise<TLSSocket>;
  /** Plaintext LOGIN/AUTHENTICATE allowed on this connection before TLS (disable_plaintext_auth = no, or a secured connection). */
  plaintextAllowedWithoutTls: boolean;
  /** Connection counts as secured (TLS from the start, loopback, login_trusted_networks). */
  securedWithoutTls: boolean;
  implicitTls: boolean;
  remoteIp: string;
  remotePort: number;
  localIp: string;
  sessionId: string;
  log: Logger;
  maxLine: number;
  literalLimit: number;
  idleNotifyMs: number;
  clientTimeoutMs: number;
  loginTimeoutMs: number;
  mailLocation: string;
  fsync: boolean;
  separator: '.' | '/';
  specialUse: ReadonlyMap<string, string>;
  autocreate: readonly string[];
  autosubscribe: readonly string[];
  greetingName: string;
  /** UNIX time zone offset to show INTERNALDATE in (minutes east of UTC); default: the server's. */
  timezoneOffset?: (ms: number) => number;
}

const MAX_AUTH_FAILURES = 3;
const MAX_BAD_COMMANDS = 20;

export class Session {
  state: State = 'notauth';
  socket: Socket | TLSSocket;
  readonly reader: WireReader;
  readonly parser: CommandParser;
  tls: boolean;
  user: string | undefined;
  store: MailStore | undefined;
  selected: SelectedMailbox | undefined;
  /** RFC 7162 CONDSTORE enabled (ENABLE, SELECT (CONDSTORE), or a MODSEQ fetch/search). */
  condstore = false;
  private authFailures = 0;
  private badCommands = 0;
  private closing: string | undefined;
  private idleWake: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  readonly closed: Promise<void>;
  private resolveClosed!: () => void;
  /** The command being run, for log lines. */
  command = '';
  /** A command is being run (between its first line and its tagged reply). */
  private busy = false;
  /** Called once the user is known; false refuses the login (mail_max_userip_connections). */
  onLogin: ((user: string) => boolean) | undefined;

  constructor(
    socket: Socket | TLSSocket,
    readonly settings: SessionSettings,
  ) {
    this.socket = socket;
    this.tls = settings.implicitTls;
    this.reader = new WireReader(socket);
    this.parser = new CommandParser(this.reader, (text) => this.sendNow(`+ ${text}\r\n`), {
      maxLine: settings.maxLine,
      maxStringLiteral: Math.max(settings.maxLine, 64 * 1024),
      maxDiscard: Math.max(settings.literalLimit, 1 << 20),
    });
    this.closed = new Promise((r) => {
      this.resolveClosed = r;
    });
    socket.on('error', () => undefined);
    socket.setNoDelay?.(true);
  }

  get log(): Logger {
    return this.settings.log;
  }

  // ---------------------------------------------------------------- output

  /** Write now; resolves when the socket accepted it (waits for drain under backpressure). */
  sendNow(data: string | Buffer): Promise<void> {
    if (this.socket.destroyed) return Promise.resolve();
    const ok = this.socket.write(typeof data === 'string' ? Buffer.from(data, 'latin1') : data);
    if (ok) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.socket.off('drain', done);
        this.socket.off('close', done);
        resolve();
      };
      this.socket.once('drain', done);
      this.socket.once('close', done);
    });
  }

  /** Untagged text lines (ASCII/latin1 only; literals go through sendNow with Buffers). */
  async untagged(lines: string | string[]): Promise<void> {
    const arr = typeof lines === 'string' ? [lines] : lines;
    if (arr.length === 0) return;
    await this.sendNow(arr.map((l) => l + '\r\n').join(''));
  }

  // ---------------------------------------------------------------- capabilities

  get plaintextAllowed(): boolean {
    return this.tls || this.settings.plaintextAllowedWithoutTls;
  }

  capabilities(): string {
    const caps = ['IMAP4rev1', 'SASL-IR', 'ID', 'ENABLE', 'IDLE', 'LITERAL+'];
    if (this.state === 'notauth') {
      if (!this.tls && this.settings.startTls) caps.push('STARTTLS');
      for (const m of this.settings.auth.mechanisms({ allowPlaintext: this.plaintextAllowed })) caps.push(`AUTH=${m}`);
      if (!this.plaintextAllowed) caps.push('LOGINDISABLED');
    } else {
      caps.push('NAMESPACE', 'UNSELECT', 'CHILDREN', 'UIDPLUS', 'MOVE', 'SPECIAL-USE', 'LIST-EXTENDED', 'LIST-STATUS', 'ESEARCH', 'CONDSTORE', 'BINARY', 'STATUS=SIZE');
    }
    return caps.join(' ');
  }

  // ---------------------------------------------------------------- names

  /** Wire mailbox name (modified UTF-7, client separator) → storage name; ParseError-free: a reply on error. */
  storageName(wire: Buffer | string): { name: string } | { error: Reply } {
    const text = typeof wire === 'string' ? wire : wire.toString('latin1');
    if (decodeMailboxName(text) === undefined) {
      return { error: { status: 'NO', text: 'Mailbox name is not valid mUTF-7' } };
    }
    let name = text;
    if (this.settings.separator === '/') {
      if (name.includes('.')) return { error: { status: 'NO', text: 'Character not allowed in mailbox name: \'.\'' } };
      name = name.replace(/\//g, '.');
    }
    if (name.endsWith('.') && name.length > 1) name = name.slice(0, -1);
    return { name: MailStore.normalize(name) };
  }

  /** Storage name → wire form (astring). */
  wireName(name: string): string {
    const n = this.settings.separator === '/' ? name.replace(/\./g, '/') : name;
    return astring(n);
  }

  // ---------------------------------------------------------------- main loop

  async run(): Promise<void> {
    try {
      this.resetTimer();
      await this.untagged(`* OK [CAPABILITY ${this.capabilities()}] ${this.settings.greetingName} ready.`);
      while (this.state !== 'logout' && !this.closing) {
        await this.handleOne();
      }
      if (this.closing && this.state !== 'logout') await this.untagged(`* BYE ${this.closing}`);
    } catch (e) {
      if (e instanceof ConnectionEnd && this.closing && this.state === 'logout') {
        // shutdown while waiting for a command: BYE already sent
      } else if (e instanceof ConnectionEnd) {
        if (e.bye) await this.untagged(`* BYE ${e.bye}`).catch(() => undefined);
      } else {
        this.log.error('session failed', { error: e, command: this.command });
        await this.untagged('* BYE Internal error').catch(() => undefined);
      }
    } finally {
      this.end();
    }
  }

  private end(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.closeSelected();
    this.socket.end();
    setTimeout(() => this.socket.destroy(), 2000).unref();
    this.resolveClosed();
  }

  /** Ask the session to end at the next command boundary (server shutdown). */
  shutdown(reason: string): void {
    if (this.closing || this.state === 'logout') return;
    this.closing = reason;
    if (this.idleWake) this.idleWake();
    else if (!this.busy) {
      // waiting for a command: say goodbye now; the read loop then sees the end of input
      this.state = 'logout';
      this.untagged(`* BYE ${reason}`).finally(() => this.socket.end());
    }
    // a command is running: the loop says BYE after its tagged reply
  }

  private resetTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    const ms = this.state === 'notauth' ? this.settings.loginTimeoutMs : this.settings.clientTimeoutMs;
    this.timer = setTimeout(() => {
      const text = this.state === 'notauth' ? 'Disconnected for inactivity during authentication.' : 'Disconnected for inactivity.';
      this.untagged(`* BYE ${text}`).finally(() => this.socket.destroy());
    }, ms);
    this.timer.unref?.();
  }

  private async handleOne(): Promise<void> {
    const p = this.parser;
    let tag: string | undefined;
    let name = '';
    try {
      let more: boolean;
      try {
        more = await p.begin();
      } catch (e) {
        if (e instanceof ParseError && p.tooLong) {
          const t = p.tag();
          await p.skipRest();
          await this.sendNow(t ? `${t} BAD Error in IMAP command: ${e.message}\r\n` : `* BAD ${e.message}\r\n`);
          await this.countBad();
          return;
        }
        throw e;
      }
      if (!more) throw new ConnectionEnd();
      this.resetTimer();
      if (p.atEnd()) return; // empty line: ignore
      tag = p.tag();
      if (!tag || !p.maybeSp()) {
        await this.untagged('* BAD Error in IMAP command received by server.');
        await p.skipRest();
        await this.countBad();
        return;
      }
      name = p.atom('command').toUpperCase();
      let uid = false;
      if (name === 'UID') {
        p.sp();
        name = p.atom('command').toUpperCase();
        uid = true;
        if (!['FETCH', 'STORE', 'COPY', 'MOVE', 'SEARCH', 'EXPUNGE'].includes(name)) throw new ParseError('Unknown command.');
      }
      this.command = (uid ? 'UID ' : '') + name;
      this.busy = true;
      const reply = await this.dispatch(tag, name, uid);
      await this.finish(tag, name, uid, reply);
    } catch (e) {
      if (e instanceof ConnectionEnd) throw e;
      if (e instanceof SkipReply) return;
      const label = this.command || name;
      if (e instanceof ParseError) {
        await p.skipRest();
        if (!tag) {
          await this.untagged(`* BAD ${e.message}`);
        } else if (e.status === 'NO') {
          await this.finish(tag, name, false, { status: 'NO', code: e.code, text: e.message });
        } else if (e instanceof StateError) {
          await this.sendNow(`${tag} BAD ${e.message}\r\n`);
        } else {
          await this.sendNow(`${tag} BAD Error in IMAP command ${label || ''}: ${e.message}\r\n`);
        }
        await this.countBad();
        return;
      }
      await p.skipRest().catch(() => undefined);
      if (e instanceof StoreError) {
        await this.finish(tag!, name, false, { status: 'NO', code: e.code === 'NONEXISTENT' ? 'NONEXISTENT' : e.code, text: e.message });
        return;
      }
      this.log.error('command failed', { error: e, command: label });
      await this.finish(tag!, name, false, { status: 'NO', code: 'SERVERBUG', text: 'Internal error occurred. Refer to server log for more information.' });
    } finally {
      this.command = '';
      this.busy = false;
    }
  }

  private async countBad(): Promise<void> {
    this.badCommands++;
    if (this.badCommands >= MAX_BAD_COMMANDS) throw new ConnectionEnd('Too many invalid IMAP commands.');
  }

  /** Untagged updates the RFC allows after this command, then the tagged reply. */
  private async finish(tag: string, name: string, uid: boolean, reply: Reply): Promise<void> {
    if (this.selected && this.state === 'selected') {
      // RFC 3501 §7.4.1: no EXPUNGE after FETCH, STORE, SEARCH (their UID forms may)
      const allowExpunge = uid || !['FETCH', 'STORE', 'SEARCH'].includes(name);
      await this.untagged(this.selected.flush(allowExpunge, this.condstore));
    }
    const code = reply.code ? `[${reply.code}] ` : '';
    await this.sendNow(`${tag} ${reply.status} ${code}${reply.text}\r\n`);
    // Dovecot: 20 invalid commands in a row end the connection; a valid one resets the count
    if (reply.status !== 'BAD') this.badCommands = 0;
  }

  // ---------------------------------------------------------------- dispatch

  private async dispatch(tag: string, name: string, uid: boolean): Promise<Reply> {
    const p = this.parser;
    const needAuth = () => {
      if (this.state === 'notauth') throw new ParseError('Unknown command.');
    };
    const needSelected = (): SelectedMailbox => {
      needAuth();
      if (this.state !== 'selected' || !this.selected) throw new StateError('No mailbox selected.');
      return this.selected;
    };
    switch (name) {
      case 'CAPABILITY':
        p.expectEnd();
        await this.untagged(`* CAPABILITY ${this.capabilities()}`);
        return { status: 'OK', text: this.state === 'notauth' ? 'Pre-login capabilities listed, post-login capabilities have more.' : 'Capability completed.' };
      case 'NOOP':
        p.expectEnd();
        if (this.selected) await this.selected.folder.sync({ moveNew: this.selected.readWrite });
        return { status: 'OK', text: 'NOOP completed.' };
      case 'LOGOUT':
        p.expectEnd();
        await this.untagged('* BYE Logging out');
        this.state = 'logout';
        return { status: 'OK', text: 'Logout completed.' };
      case 'ID':
        return this.cmdId();
      case 'STARTTLS':
        return this.cmdStartTls(tag);
      case 'LOGIN':
        return this.cmdLogin();
      case 'AUTHENTICATE':
        return this.cmdAuthenticate();
      case 'ENABLE':
        needAuth();
        return this.cmdEnable();
    }
    needAuth();
    switch (name) {
      case 'SELECT':
      case 'EXAMINE':
        return this.cmdSelect(name === 'SELECT');
      case 'CREATE':
        return this.cmdCreate();
      case 'DELETE':
        return this.cmdDelete();
      case 'RENAME':
        return this.cmdRename();
      case 'SUBSCRIBE':
      case 'UNSUBSCRIBE':
        return this.cmdSubscribe(name === 'SUBSCRIBE');
      case 'LIST':
      case 'LSUB':
        return listCommand(this, name === 'LSUB');
      case 'NAMESPACE':
        p.expectEnd();
        await this.untagged(`* NAMESPACE (("" ${quote(this.settings.separator)})) NIL NIL`);
        return { status: 'OK', text: 'Namespace completed.' };
      case 'STATUS':
        return this.cmdStatus();
      case 'APPEND':
        return this.cmdAppend();
      case 'IDLE':
        p.expectEnd();
        return this.cmdIdle();
      case 'CHECK':
        p.expectEnd();
        needSelected();
        await this.selected!.folder.sync({ moveNew: this.selected!.readWrite });
        await this.selected!.folder.save();
        return { status: 'OK', text: 'Check completed.' };
      case 'CLOSE':
      case 'UNSELECT': {
        p.expectEnd();
        const sel = needSelected();
        if (name === 'CLOSE' && sel.readWrite) await sel.folder.expunge();
        this.closeSelected();
        return { status: 'OK', text: `${name === 'CLOSE' ? 'Close' : 'Unselect'} completed.` };
      }
      case 'EXPUNGE':
        return expungeCommand(this, needSelected(), uid);
      case 'SEARCH':
        return searchCommand(this, needSelected(), uid, tag);
      case 'FETCH':
        return fetchCommand(this, needSelected(), uid);
      case 'STORE':
        return storeCommand(this, needSelected(), uid);
      case 'COPY':
      case 'MOVE':
        return copyCommand(this, needSelected(), uid, name === 'MOVE');
    }
    throw new ParseError('Unknown command.');
  }

  // ---------------------------------------------------------------- any state

  private async cmdId(): Promise<Reply> {
    const p = this.parser;
    p.sp();
    if (p.peekAtomUpper() === 'NIL') p.atom();
    else {
      p.expectChar('(');
      let n = 0;
      while (!p.maybeChar(')')) {
        if (n > 0) p.sp();
        await p.string();
        p.sp();
        await p.nstring();
        if (++n > 30) throw new ParseError('Too many ID parameters');
      }
    }
    p.expectEnd();
    await this.untagged(`* ID ("name" "facteur")`);
    return { status: 'OK', text: 'ID completed.' };
  }

  private async cmdEnable(): Promise<Reply> {
    const p = this.parser;
    const enabled: string[] = [];
    do {
      p.sp();
      const cap = p.atom().toUpperCase();
      // RFC 5161: unknown capabilities are ignored; RFC 7162 §3.1: ENABLE CONDSTORE
      if (cap === 'CONDSTORE' && !this.condstore) {
        this.condstore = true;
        enabled.push('CONDSTORE');
      }
    } while (!p.atEnd());
    await this.untagged(`* ENABLED${enabled.map((e) => ' ' + e).join('')}`);
    return { status: 'OK', text: 'Enabled.' };
  }

  // ---------------------------------------------------------------- not authenticated

  private authRequest(): AuthRequest {
    const s = this.settings;
    return {
      service: 'imap',
      remoteIp: s.remoteIp,
      remotePort: s.remotePort,
      localIp: s.localIp,
      tls: this.tls,
      secured: this.tls || s.securedWithoutTls,
      sessionId: s.sessionId,
    };
  }

  private async cmdStartTls(tag: string): Promise<Reply> {
    this.parser.expectEnd();
    if (this.state !== 'notauth') throw new ParseError('STARTTLS not allowed when already authenticated.');
    if (this.tls) throw new ParseError('TLS is already active.');
    if (!this.settings.startTls) return { status: 'NO', text: 'TLS support isn\'t enabled.' };
    await this.sendNow(`${tag} OK Begin TLS negotiation now.\r\n`);
    // RFC 3501 §6.2.1 / CVE-2011-0411: input pipelined after STARTTLS is discarded
    const dropped = this.reader.detach();
    if (dropped > 0) this.log.warn('discarding input pipelined after STARTTLS', { bytes: dropped });
    const plain = this.socket as Socket;
    try {
      const secure = await this.settings.startTls(plain);
      this.socket = secure;
      secure.on('error', () => undefined);
      this.reader.attach(secure);
      this.tls = true;
    } catch (e) {
      this.log.info('STARTTLS handshake failed', { error: e });
      throw new ConnectionEnd();
    }
    // the tagged OK was already sent; finish() must not send another one
    throw new SkipReply();
  }

  private checkPlaintext(): Reply | undefined {
    if (this.plaintextAllowed) return undefined;
    return { status: 'NO', code: 'PRIVACYREQUIRED', text: 'Plaintext authentication disallowed on non-secure (SSL/TLS) connections.' };
  }

  private async cmdLogin(): Promise<Reply> {
    const p = this.parser;
    if (this.state !== 'notauth') throw new ParseError('Already authenticated.');
    p.sp();
    const user = (await p.astring()).toString('utf8');
    p.sp();
    const pass = (await p.astring()).toString('utf8');
    p.expectEnd();
    const refused = this.checkPlaintext();
    if (refused) return refused;
    const r = await this.settings.auth.verifyPassword(user, pass, this.authRequest());
    if (!r.ok) return this.authFailed(r.temporary);
    return this.loggedIn(r.user);
  }

  private async authFailed(temporary?: boolean): Promise<Reply> {
    if (temporary) return { status: 'NO', code: 'UNAVAILABLE', text: 'Temporary authentication failure.' };
    this.authFailures++;
    if (this.authFailures >= MAX_AUTH_FAILURES) {
      await this.untagged('* BYE Too many invalid authentication attempts.');
      throw new ConnectionEnd();
    }
    return { status: 'NO', code: 'AUTHENTICATIONFAILED', text: 'Authentication failed.' };
  }

  private async cmdAuthenticate(): Promise<Reply> {
    const p = this.parser;
    if (this.state !== 'notauth') throw new ParseError('Already authenticated.');
    p.sp();
    const mech = p.atom('mechanism').toUpperCase();
    let initial: Buffer | undefined;
    if (p.maybeSp()) {
      // RFC 4959 SASL-IR: "=" is an empty initial response
      const text = p.atom('initial response');
      initial = text === '=' ? Buffer.alloc(0) : decodeBase64(text);
      if (!initial) throw new ParseError('Invalid base64 data in initial response');
    }
    p.expectEnd();
    const offered = this.settings.auth.mechanisms({ allowPlaintext: this.plaintextAllowed });
    if (!offered.includes(mech)) {
      const all = this.settings.auth.mechanisms({ allowPlaintext: true });
      if (all.includes(mech)) return this.checkPlaintext() ?? { status: 'NO', text: 'Unsupported authentication mechanism.' };
      return { status: 'NO', text: 'Unsupported authentication mechanism.' };
    }
    const ex = this.settings.auth.start(mech, this.authRequest());
    if (!ex) return { status: 'NO', text: 'Unsupported authentication mechanism.' };
    let response = initial;
    for (;;) {
      const step = await ex.step(response);
      if (step.kind === 'success') {
        if (step.data && step.data.length) {
          // RFC 4959: additional data with success goes in a final challenge
          await this.sendNow(`+ ${step.data.toString('base64')}\r\n`);
          const r = await this.reader.readLine(this.settings.maxLine);
          if (r === null) throw new ConnectionEnd();
          if ('tooLong' in r || r.line.toString('latin1').trim() === '*') return { status: 'BAD', text: 'Authentication aborted by client.' };
        }
        return this.loggedIn(step.user);
      }
      if (step.kind === 'failure') return this.authFailed(step.temporary);
      await this.sendNow(`+ ${step.data.toString('base64')}\r\n`);
      const r = await this.reader.readLine(this.settings.maxLine);
      if (r === null) {
        ex.cancel();
        throw new ConnectionEnd();
      }
      if ('tooLong' in r) {
        ex.cancel();
        return { status: 'BAD', text: 'Authentication response too long.' };
      }
      const text = r.line.toString('latin1').trim();
      if (text === '*') {
        ex.cancel();
        return { status: 'BAD', text: 'Authentication aborted by client.' };
      }
      const decoded = decodeBase64(text);
      if (!decoded) {
        ex.cancel();
        return { status: 'BAD', text: 'Invalid base64 data in continued response' };
      }
      response = decoded;
    }
  }

  private async loggedIn(user: string): Promise<Reply> {
    const entry: UserEntry | undefined = this.settings.users.lookup(user);
    if (!entry) {
      this.log.warn('authenticated user has no user database entry', { user });
      return { status: 'NO', code: 'UNAVAILABLE', text: 'User is missing from the user database.' };
    }
    const s = this.settings;
    if (this.onLogin && !this.onLogin(entry.user)) {
      return { status: 'NO', code: 'LIMIT', text: 'Maximum number of connections from user+IP exceeded (mail_max_userip_connections)' };
    }
    const store = MailStore.forUser(entry, {
      mailLocation: s.mailLocation,
      fsync: s.fsync,
      specialUse: s.specialUse,
      autocreate: s.autocreate,
      autosubscribe: s.autosubscribe,
      registry: s.registry,
    });
    try {
      await store.ensureAutocreate();
    } catch (e) {
      this.log.error('cannot prepare the mailbox', { user: entry.user, error: e });
      return { status: 'NO', code: 'SERVERBUG', text: 'Internal error occurred. Refer to server log for more information.' };
    }
    this.store = store;
    this.user = entry.user;
    this.state = 'auth';
    this.resetTimer();
    this.log.info('Login', { user: entry.user, method: 'imap', rip: s.remoteIp, lip: s.localIp, TLS: this.tls ? 'yes' : 'no' });
    return { status: 'OK', code: `CAPABILITY ${this.capabilities()}`, text: 'Logged in' };
  }

  // ---------------------------------------------------------------- authenticated

  closeSelected(): void {
    const sel = this.selected;
    if (!sel) return;
    this.selected = undefined;
    if (this.state === 'selected') this.state = 'auth';
    sel.onChange = undefined;
    sel.folder.removeListener(sel);
    this.store?.release(sel.folder);
  }

  private async mailboxArg(): Promise<{ name: string } | { error: Reply }> {
    const raw = await this.parser.astring();
    return this.storageName(raw);
  }

  private async cmdSelect(readWrite: boolean): Promise<Reply> {
    const p = this.parser;
    p.sp();
    const arg = await this.mailboxArg();
    let condstoreParam = false;
    if (p.maybeSp()) {
      // RFC 4466 select-params: (CONDSTORE)
      p.expectChar('(');
      while (!p.maybeChar(')')) {
        const param = p.atom().toUpperCase();
        if (param === 'CONDSTORE') condstoreParam = true;
        else throw new ParseError(`Unknown SELECT parameter ${param}`);
        p.maybeSp();
      }
    }
    p.expectEnd();
    const hadSelected = !!this.selected;
    this.closeSelected();
    if (hadSelected) await this.untagged('* OK [CLOSED] Previous mailbox closed.');
    if ('error' in arg) return arg.error;
    const store = this.store!;
    const folder = await store.open(arg.name);
    const sel = new SelectedMailbox(folder, arg.name, readWrite);
    try {
      folder.addListener(sel);
      await folder.sync({ moveNew: readWrite });
      const recent = readWrite ? folder.claimRecent() : folder.messages.filter((r) => r.uid >= folder.firstRecentUid).map((r) => r.uid);
      sel.start(recent);
    } catch (e) {
      folder.removeListener(sel);
      store.release(folder);
      throw e;
    }
    if (condstoreParam) this.condstore = true;
    this.selected = sel;
    this.state = 'selected';
    sel.onChange = () => this.idleWake?.();
    const st = folder.status();
    const lines = [`* FLAGS (${sel.flagsList()})`];
    lines.push(readWrite ? `* OK [PERMANENTFLAGS ${sel.permanentFlags()}] Flags permitted.` : '* OK [PERMANENTFLAGS ()] Read-only mailbox.');
    lines.push(`* ${sel.count} EXISTS`, `* ${sel.recentCount()} RECENT`);
    const unseen = sel.firstUnseenSeq();
    if (unseen) lines.push(`* OK [UNSEEN ${unseen}] First unseen.`);
    lines.push(`* OK [UIDVALIDITY ${st.uidvalidity}] UIDs valid`, `* OK [UIDNEXT ${st.uidnext}] Predicted next UID`);
    if (this.condstore) lines.push(`* OK [HIGHESTMODSEQ ${st.highestModseq}] Highest`);
    await this.untagged(lines);
    return { status: 'OK', code: readWrite ? 'READ-WRITE' : 'READ-ONLY', text: `${readWrite ? 'Select' : 'Examine'} completed.` };
  }

  private async cmdCreate(): Promise<Reply> {
    const p = this.parser;
    p.sp();
    const arg = await this.mailboxArg();
    if (p.maybeSp()) {
      // RFC 4466 create-params (USE (...) of RFC 6154): accepted and ignored
      p.expectChar('(');
      let depth = 1;
      while (depth > 0 && !p.atEnd()) {
        if (p.maybeChar('(')) depth++;
        else if (p.maybeChar(')')) depth--;
        else p.pos++;
      }
    }
    p.expectEnd();
    if ('error' in arg) return arg.error;
    await this.store!.create(arg.name);
    return { status: 'OK', text: 'Create completed.' };
  }

  private async cmdDelete(): Promise<Reply> {
    const p = this.parser;
    p.sp();
    const arg = await this.mailboxArg();
    p.expectEnd();
    if ('error' in arg) return arg.error;
    if (this.selected && this.selected.name === arg.name) {
      // Dovecot closes the mailbox first when deleting the selected one
      this.closeSelected();
      await this.untagged('* OK [CLOSED] Previous mailbox closed.');
    }
    await this.store!.delete(arg.name);
    return { status: 'OK', text: 'Delete completed.' };
  }

  private async cmdRename(): Promise<Reply> {
    const p = this.parser;
    p.sp();
    const from = await this.mailboxArg();
    p.sp();
    const to = await this.mailboxArg();
    p.expectEnd();
    if ('error' in from) return from.error;
    if ('error' in to) return to.error;
    await this.store!.rename(from.name, to.name);
    return { status: 'OK', text: 'Rename completed.' };
  }

  private async cmdSubscribe(subscribe: boolean): Promise<Reply> {
    const p = this.parser;
    p.sp();
    const arg = await this.mailboxArg();
    p.expectEnd();
    if ('error' in arg) return arg.error;
    try {
      if (subscribe) await this.store!.subscribe(arg.name);
      else await this.store!.unsubscribe(arg.name);
    } catch (e) {
      // Dovecot answers without a response code here
      if (e instanceof StoreError) return { status: 'NO', text: e.message };
      throw e;
    }
    return { status: 'OK', text: `${subscribe ? 'Subscribe' : 'Unsubscribe'} completed.` };
  }

  /** STATUS items of one mailbox as "(MESSAGES 1 …)"; undefined when it cannot be opened. */
  async statusItems(name: string, items: readonly string[]): Promise<string> {
    const store = this.store!;
    const folder = await store.open(name);
    try {
      if (!this.selected || this.selected.folder !== folder) await folder.sync();
      const needSize = items.includes('SIZE');
      if (needSize) for (const r of folder.messages) if (r.vsize < 0) await folder.ensureSizes(r);
      const st = folder.status();
      const out: string[] = [];
      for (const it of items) {
        switch (it) {
          case 'MESSAGES':
            out.push(`MESSAGES ${st.messages}`);
            break;
          case 'RECENT':
            out.push(`RECENT ${this.selected?.folder === folder ? this.selected.recentCount() : st.recent}`);
            break;
          case 'UIDNEXT':
            out.push(`UIDNEXT ${st.uidnext}`);
            break;
          case 'UIDVALIDITY':
            out.push(`UIDVALIDITY ${st.uidvalidity}`);
            break;
          case 'UNSEEN':
            out.push(`UNSEEN ${st.unseen}`);
            break;
          case 'HIGHESTMODSEQ':
            out.push(`HIGHESTMODSEQ ${st.highestModseq}`);
            break;
          case 'SIZE':
            out.push(`SIZE ${st.size}`);
            break;
        }
      }
      return `(${out.join(' ')})`;
    } finally {
      store.release(folder);
    }
  }

  /** status-att list "(MESSAGES UNSEEN …)". */
  parseStatusItems(): string[] {
    const p = this.parser;
    p.expectChar('(');
    const items: string[] = [];
    while (!p.maybeChar(')')) {
      if (items.length) p.sp();
      const it = p.atom().toUpperCase();
      if (!['MESSAGES', 'RECENT', 'UIDNEXT', 'UIDVALIDITY', 'UNSEEN', 'HIGHESTMODSEQ', 'SIZE'].includes(it)) throw new ParseError(`Unknown status item ${it}`);
      items.push(it);
    }
    if (items.length === 0) throw new ParseError('Empty status list');
    return items;
  }

  private async cmdStatus(): Promise<Reply> {
    const p = this.parser;
    p.sp();
    const raw = await p.astring();
    const arg = this.storageName(raw);
    p.sp();
    const items = this.parseStatusItems();
    p.expectEnd();
    if ('error' in arg) return arg.error;
    if (items.includes('HIGHESTMODSEQ')) this.condstore = true;
    if (!(await this.store!.exists(arg.name))) return { status: 'NO', code: 'NONEXISTENT', text: `Mailbox doesn't exist: ${arg.name}` };
    const text = await this.statusItems(arg.name, items);
    await this.untagged(`* STATUS ${this.wireName(arg.name)} ${text}`);
    return { status: 'OK', text: 'Status completed.' };
  }

  private async cmdAppend(): Promise<Reply> {
    const p = this.parser;
    p.sp();
    const arg = await this.mailboxArg();
    p.sp();
    let flags: string[] = [];
    if (p.peek() === 0x28) {
      flags = p.flagList();
      p.sp();
    }
    // INTERNALDATE: the given date-time, else now; it becomes the file's mtime (Maildir keeps nothing else)
    let date = new Date(Math.floor(Date.now() / 1000) * 1000);
    if (p.peek() === 0x22) {
      date = p.dateTime();
      p.sp();
    }
    const spec = p.literalSpec();
    if (!spec) throw new ParseError('Missing message literal');
    // validate everything before a byte of the message is read
    if ('error' in arg) return arg.error;
    const parsedFlags = parseFlags(flags, false);
    if ('error' in parsedFlags) throw new ParseError(parsedFlags.error);
    if (spec.size > this.settings.literalLimit) throw new ParseError('Mail too large', 'NO', 'TOOBIG');
    if (spec.size === 0) throw new ParseError('Can\'t save a zero byte message', 'NO');
    const store = this.store!;
    if (!(await store.exists(arg.name))) throw new StoreError(`Mailbox doesn't exist: ${arg.name}`, 'TRYCREATE');
    const folder = await store.open(arg.name);
    try {
      const writer = await folder.beginAppend();
      try {
        await p.literalStream(spec, (chunk) => writer.write(chunk));
        p.expectEnd();
        await writer.finish(date);
        const kwBits = parsedFlags.keywords.length ? await folder.keywordBits(parsedFlags.keywords) : 0;
        const rec = await folder.commitAppend(writer, (parsedFlags.bits | kwBits) >>> 0, date);
        return { status: 'OK', code: `APPENDUID ${folder.uidvalidity} ${rec.uid}`, text: 'Append completed.' };
      } catch (e) {
        await writer.abort();
        throw e;
      }
    } finally {
      store.release(folder);
    }
  }

  private async cmdIdle(): Promise<Reply> {
    // RFC 2177
    await this.sendNow('+ idling\r\n');
    const sel = this.selected;
    if (sel) await sel.folder.sync({ moveNew: sel.readWrite }).catch(() => undefined);
    let keepalive: NodeJS.Timeout | undefined;
    const flush = async () => {
      if (this.selected) await this.untagged(this.selected.flush(true, this.condstore));
    };
    try {
      await flush();
      keepalive = setInterval(() => {
        this.untagged('* OK Still here').catch(() => undefined);
      }, this.settings.idleNotifyMs);
      keepalive.unref?.();
      for (;;) {
        if (this.closing) throw new ConnectionEnd(this.closing);
        const woke = new Promise<'wake'>((resolve) => {
          this.idleWake = () => resolve('wake');
        });
        const input = this.reader.waitReadable().then((ok) => (ok ? 'input' : 'eof'));
        const what = await Promise.race([woke, input]);
        this.idleWake = undefined;
        if (what === 'eof') throw new ConnectionEnd();
        if (what === 'wake') {
          if (this.closing) throw new ConnectionEnd(this.closing);
          await flush();
          continue;
        }
        const r = await this.reader.readLine(this.settings.maxLine);
        if (r === null) throw new ConnectionEnd();
        this.resetTimer();
        if ('tooLong' in r || r.line.toString('latin1').trim().toUpperCase() !== 'DONE') {
          return { status: 'BAD', text: 'Expected DONE.' };
        }
        return { status: 'OK', text: 'Idle completed.' };
      }
    } finally {
      this.idleWake = undefined;
      if (keepalive) clearInterval(keepalive);
    }
  }
}

/** The tagged reply was sent by the command itself (STARTTLS). */
export class SkipReply extends Error {}

function decodeBase64(text: string): Buffer | undefined {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) return undefined;
  return Buffer.from(text, 'base64');
}

/** System flag names → bits; keywords listed separately. \Recent and \* are refused (RFC 3501 §2.3.2). */
export function parseFlags(flags: readonly string[], allowRecent: boolean): { bits: number; keywords: string[] } | { error: string } {
  let bits = 0;
  const keywords: string[] = [];
  for (const f of flags) {
    if (f.startsWith('\\')) {
      switch (f.toLowerCase()) {
        case '\\seen':
          bits |= FLAG_SEEN;
          break;
        case '\\answered':
          bits |= FLAG_ANSWERED;
          break;
        case '\\flagged':
          bits |= FLAG_FLAGGED;
          break;
        case '\\deleted':
          bits |= FLAG_DELETED;
          break;
        case '\\draft':
          bits |= FLAG_DRAFT;
          break;
        case '\\recent':
          if (allowRecent) break;
          return { error: 'Invalid system flag \\Recent' };
        default:
          return { error: `Invalid system flag ${f}` };
      }
    } else if (!keywords.some((k) => k.toLowerCase() === f.toLowerCase())) keywords.push(f);
  }
  return { bits, keywords };
}
