// One outbound SMTP connection (Postfix smtp(8)'s session layer): connect with a
// timeout, read replies with a timeout per stage, send commands (one or a pipelined
// group, RFC 2920), upgrade to TLS (RFC 3207), stream the content dot-stuffed.
// Failures are SmtpClientError values whose text is the one Postfix logs:
//   connect to mx.example[192.0.2.1]:25: Connection refused
//   conversation with mx.example[192.0.2.1] timed out while sending RCPT TO
//   lost connection with mx.example[192.0.2.1] while receiving the initial server greeting
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { DotStuffer } from './dotstuff.js';
import { ReplyFormatError, ReplyParser, type SmtpReply } from './reply.js';

export type ClientErrorKind = 'connect' | 'timeout' | 'lost' | 'protocol' | 'tls';

export class SmtpClientError extends Error {
  constructor(
    readonly kind: ClientErrorKind,
    message: string,
    /** RFC 3463 status to report (always 4.x.x: these are retried). */
    readonly dsn: string,
    /** The failure happened after the final dot was sent: the message may have been delivered. */
    readonly afterData = false,
  ) {
    super(message);
  }
}

export interface ConnectOptions {
  /** Host name for logs and TLS SNI (the MX name, or the IP itself). */
  host: string;
  ip: string;
  port: number;
  connectTimeoutMs: number;
  localAddress?: string;
}

export interface TlsInfo {
  protocol: string;
  cipher: string;
  /** Secret key bits of the cipher (as Postfix logs `(256/256 bits)`). */
  bits: number;
  /** The certificate chain verified against the system CAs and matched the host name. */
  trusted: boolean;
}

const ERRNO_TEXT: Record<string, string> = {
  ECONNREFUSED: 'Connection refused',
  ETIMEDOUT: 'Connection timed out',
  EHOSTUNREACH: 'No route to host',
  ENETUNREACH: 'Network is unreachable',
  ECONNRESET: 'Connection reset by peer',
  EADDRNOTAVAIL: 'Cannot assign requested address',
};

interface Waiter {
  resolve: (r: SmtpReply) => void;
  reject: (e: SmtpClientError) => void;
  timer: NodeJS.Timeout;
}

export class SmtpClientConnection {
  private socket: Socket | TLSSocket;
  private parser = new ReplyParser();
  private ready: SmtpReply[] = [];
  private waiters: Waiter[] = [];
  private failure?: SmtpClientError;
  /** What the session is doing, for error texts ("while sending RCPT TO"). */
  stage = 'receiving the initial server greeting';
  tls?: TlsInfo;
  /** Replies read (for transcripts in tests and debugging). */
  readonly transcript: string[] = [];
  private readonly keepTranscript: boolean;

  private constructor(
    socket: Socket,
    readonly opts: ConnectOptions,
    keepTranscript: boolean,
  ) {
    this.socket = socket;
    this.keepTranscript = keepTranscript;
    this.attach(socket);
  }

  /** `mx.example[192.0.2.1]` */
  get peerName(): string {
    return `${this.opts.host}[${this.opts.ip}]`;
  }

  /** `mx.example[192.0.2.1]:25` as Postfix's relay= shows it. */
  get relay(): string {
    return `${this.peerName}:${this.opts.port}`;
  }

  get closed(): boolean {
    return this.failure !== undefined;
  }

  static connect(opts: ConnectOptions, keepTranscript = false): Promise<SmtpClientConnection> {
    return new Promise((resolve, reject) => {
      const socket = netConnect({ host: opts.ip, port: opts.port, localAddress: opts.localAddress });
      socket.setNoDelay(true);
      const fail = (text: string) => {
        clearTimeout(timer);
        socket.destroy();
        reject(new SmtpClientError('connect', `connect to ${opts.host}[${opts.ip}]:${opts.port}: ${text}`, '4.4.1'));
      };
      const timer = setTimeout(() => fail('Connection timed out'), opts.connectTimeoutMs);
      socket.once('error', (err: NodeJS.ErrnoException) => fail(ERRNO_TEXT[err.code ?? ''] ?? err.message));
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(new SmtpClientConnection(socket, opts, keepTranscript));
      });
    });
  }

  private attach(socket: Socket | TLSSocket): void {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err: NodeJS.ErrnoException) => {
      // a reset reads as a lost connection, like Postfix's "lost connection with …"
      this.fail(new SmtpClientError('lost', `lost connection with ${this.peerName} while ${this.stage}`, '4.4.2', this.stage.startsWith('sending end of data')));
      void err;
    });
    socket.on('close', () => {
      this.fail(new SmtpClientError('lost', `lost connection with ${this.peerName} while ${this.stage}`, '4.4.2', this.stage.startsWith('sending end of data')));
    });
  }

  private onData(chunk: Buffer): void {
    try {
      this.parser.feed(chunk);
    } catch (err) {
      const text = err instanceof ReplyFormatError ? err.message : String(err);
      this.fail(new SmtpClientError('protocol', `conversation with ${this.peerName} failed while ${this.stage}: ${text}`, '4.5.0'));
      return;
    }
    let r: SmtpReply | undefined;
    while ((r = this.parser.take())) {
      if (this.keepTranscript) this.transcript.push(...r.lines.map((l) => `S: ${l}`));
      const w = this.waiters.shift();
      if (w) {
        clearTimeout(w.timer);
        w.resolve(r);
      } else this.ready.push(r);
    }
  }

  private fail(e: SmtpClientError): void {
    if (this.failure) return;
    this.failure = e;
    for (const w of this.waiters.splice(0)) {
      clearTimeout(w.timer);
      w.reject(e);
    }
    this.socket.destroy();
  }

  /** Read the next reply, waiting at most `timeoutMs`. */
  read(timeoutMs: number): Promise<SmtpReply> {
    const r = this.ready.shift();
    if (r) return Promise.resolve(r);
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.fail(new SmtpClientError('timeout', `conversation with ${this.peerName} timed out while ${this.stage}`, '4.4.2', this.stage.startsWith('sending end of data')));
      }, timeoutMs);
      this.waiters.push({ resolve, reject, timer });
    });
  }

  /** Send raw bytes (commands end with CRLF; the caller adds it). */
  write(data: string | Buffer): void {
    if (this.failure) return;
    if (this.keepTranscript) for (const l of data.toString().split('\r\n').filter(Boolean)) this.transcript.push(`C: ${l}`);
    this.socket.write(data);
  }

  /** Send one command and read its reply. */
  async command(line: string, timeoutMs: number, stage: string): Promise<SmtpReply> {
    this.stage = stage;
    this.write(line + '\r\n');
    return this.read(timeoutMs);
  }

  /**
   * STARTTLS (RFC 3207). Anything the server sent after its 220 is discarded: it was
   * sent before the handshake and must not be trusted (CVE-2011-0411 in reverse).
   * Certificates are not verified for the decision (Postfix's `may`/`encrypt` levels);
   * whether the chain was trusted is recorded for the log.
   */
  async startTls(timeoutMs: number, minVersion: 'TLSv1' | 'TLSv1.2' = 'TLSv1'): Promise<TlsInfo> {
    this.stage = 'performing the TLS handshake';
    const raw = this.socket as Socket;
    raw.removeAllListeners('data');
    raw.removeAllListeners('close');
    raw.removeAllListeners('error');
    this.parser = new ReplyParser();
    this.ready = [];
    const servername = isIP(this.opts.host) ? undefined : this.opts.host;
    const tls = await new Promise<TLSSocket>((resolve, reject) => {
      const s = tlsConnect({ socket: raw, servername, rejectUnauthorized: false, minVersion });
      const timer = setTimeout(() => {
        s.destroy();
        reject(new SmtpClientError('tls', `conversation with ${this.peerName} timed out while performing the TLS handshake`, '4.4.2'));
      }, timeoutMs);
      s.once('secureConnect', () => {
        clearTimeout(timer);
        s.removeAllListeners('error');
        resolve(s);
      });
      s.once('error', (err) => {
        clearTimeout(timer);
        s.destroy();
        reject(new SmtpClientError('tls', `Cannot start TLS: handshake failure with ${this.peerName}: ${err.message}`, '4.7.5'));
      });
    }).catch((e: SmtpClientError) => {
      this.failure = e;
      throw e;
    });
    this.socket = tls;
    this.attach(tls);
    const c = tls.getCipher();
    const name = c.standardName ?? c.name;
    const bits = /AES_256|AES256|CHACHA20/.test(name) ? 256 : /AES_128|AES128/.test(name) ? 128 : 0;
    this.tls = { protocol: tls.getProtocol() ?? 'unknown', cipher: name, bits, trusted: tls.authorized };
    return this.tls;
  }

  /**
   * Stream the content (RFC 5321 §4.5.2: CRLF line ends, dot-stuffing) followed by the
   * final ".". Each stall waiting for the socket to drain is limited by `timeoutMs`
   * (smtp_data_xfer_timeout). Resolves with the number of content bytes read.
   */
  async sendContent(source: AsyncIterable<Buffer>, timeoutMs: number): Promise<number> {
    this.stage = 'sending message body';
    const stuffer = new DotStuffer();
    for await (const chunk of source) {
      if (this.failure) throw this.failure;
      const out = stuffer.push(chunk);
      if (!this.socket.write(out)) await this.drain(timeoutMs);
    }
    if (this.failure) throw this.failure;
    this.socket.write(stuffer.end());
    this.stage = 'sending end of data -- message may be sent more than once';
    return stuffer.bytesIn;
  }

  private drain(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      if (this.failure) return reject(this.failure);
      const timer = setTimeout(() => {
        cleanup();
        this.fail(new SmtpClientError('timeout', `conversation with ${this.peerName} timed out while ${this.stage}`, '4.4.2'));
        reject(this.failure);
      }, timeoutMs);
      const onDrain = () => {
        cleanup();
        resolve();
      };
      const onClose = () => {
        cleanup();
        reject(this.failure ?? new SmtpClientError('lost', `lost connection with ${this.peerName} while ${this.stage}`, '4.4.2'));
      };
      const cleanup = () => {
        clearTimeout(timer);
        this.socket.off('drain', onDrain);
        this.socket.off('close', onClose);
      };
      this.socket.on('drain', onDrain);
      this.socket.on('close', onClose);
    });
  }

  /** QUIT politely (best effort), then close. */
  async quit(timeoutMs: number): Promise<void> {
    if (this.failure) return;
    try {
      await this.command('QUIT', timeoutMs, 'sending QUIT');
    } catch {
      // the server may close first
    }
    this.close();
  }

  close(): void {
    if (!this.failure) this.failure = new SmtpClientError('lost', `connection with ${this.peerName} closed`, '4.4.2');
    for (const w of this.waiters.splice(0)) {
      clearTimeout(w.timer);
      w.reject(this.failure);
    }
    this.socket.destroy();
  }
}
