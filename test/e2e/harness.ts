// A whole facteur (src/server/facteur.ts) for end-to-end tests: a configuration file in a
// temp directory, users in a passwd-file, optionally the loopback DNS server serving a
// zone (through the production resolver, via dns_servers), every service on
// 127.0.0.1 port 0. Nothing is faked below the wire.
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { Config } from '../../src/config/config.js';
import { setLogLevel } from '../../src/log.js';
import { startFacteur, type Facteur } from '../../src/server/facteur.js';
import type { RuntimeOptions } from '../../src/server/runtime.js';
import { FolderRegistry } from '../../src/store/registry.js';
import { parseZone, startDnsServer, type DnsServer, type ZoneRecord } from '../helpers/dns-server.js';
import { tmpDir } from '../helpers/tmp.js';

setLogLevel((process.env.FACTEUR_LOG_LEVEL as 'debug' | undefined) ?? 'fatal');

export interface FullServerOptions {
  /** main.cf lines (the harness adds data_directory, listeners and dns_servers before them). */
  conf?: string;
  /** user name → password, stored as {PLAIN} (any scheme works; PLAIN also allows SCRAM). */
  users?: Record<string, string>;
  /** Files to write relative to the configuration directory (aliases, maps …). */
  files?: Record<string, string>;
  /** DNS data served on loopback and used through dns_servers. */
  zone?: string | ZoneRecord[];
  runtime?: RuntimeOptions;
  /** Services to turn on (default: all). */
  services?: string[];
}

export interface FullServer {
  dir: string;
  data: string;
  facteur: Facteur;
  dns?: DnsServer;
  port(service: 'smtp' | 'submission' | 'submissions' | 'imap' | 'imaps' | 'pop3' | 'pop3s'): number;
  /** Home of a user (the default mail_home layout). */
  home(user: string): string;
  /** Files in a user's Maildir/new (or a folder's), contents as strings. */
  newMail(user: string, folder?: string): string[];
  close(): Promise<void>;
}

const ALL = ['smtp', 'submission', 'submissions', 'imap', 'imaps', 'pop3', 'pop3s'];

export async function startFullServer(opts: FullServerOptions = {}): Promise<FullServer> {
  const dir = tmpDir('facteur-e2e-');
  const data = join(dir, 'data');
  mkdirSync(data, { recursive: true });
  for (const [name, content] of Object.entries(opts.files ?? {})) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), content);
  }
  const users = opts.users ?? {};
  writeFileSync(join(data, 'users'), Object.entries(users).map(([u, p]) => `${u}:{PLAIN}${p}::::::\n`).join(''), { mode: 0o600 });
  let dns: DnsServer | undefined;
  if (opts.zone) dns = await startDnsServer(typeof opts.zone === 'string' ? parseZone(opts.zone) : opts.zone);
  const services = opts.services ?? ALL;
  const lines = [
    `data_directory = ${data}`,
    ...ALL.map((s) => `${s}_listen = ${services.includes(s) ? '127.0.0.1:0' : ''}`),
    dns ? `dns_servers = ${dns.address}` : '',
    opts.conf ?? '',
  ];
  const file = join(dir, 'facteur.conf');
  writeFileSync(file, lines.join('\n') + '\n');
  const config = Config.fromFile(file);
  if (config.errors.length > 0) throw new Error(config.errors.map((d) => `${d.line}: ${d.param}: ${d.message}`).join('\n'));
  const facteur = await startFacteur(config, { authFailureDelayMs: 5, queueControlSocket: false, registry: new FolderRegistry(0), ...opts.runtime });
  const home = (user: string) => {
    const [local, domain] = user.includes('@') ? user.split('@') : [user, ''];
    return join(data, 'mail', domain, local);
  };
  return {
    dir,
    data,
    facteur,
    dns,
    port: (s) => facteur.port(s),
    home,
    newMail(user, folder) {
      const d = join(home(user), 'Maildir', folder ? `.${folder}` : '', 'new');
      try {
        return readdirSync(d)
          .sort()
          .map((f) => readFileSync(join(d, f), 'utf8'));
      } catch {
        return [];
      }
    },
    async close() {
      await facteur.stop(1000);
      await dns?.close();
    },
  };
}

/** A line-oriented SMTP client on a raw socket (optionally from another loopback address), with STARTTLS. */
export class SmtpWire {
  private buf = '';
  private waiters: (() => void)[] = [];
  closed = false;
  private constructor(public socket: Socket | TLSSocket) {
    this.attach(socket);
  }
  private attach(s: Socket | TLSSocket): void {
    s.setEncoding('latin1');
    s.on('data', (d: string) => {
      this.buf += d;
      this.wake();
    });
    s.on('close', () => {
      this.closed = true;
      this.wake();
    });
    s.on('error', () => {
      this.closed = true;
      this.wake();
    });
  }
  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
  static open(port: number, opts: { localAddress?: string; tls?: boolean } = {}): Promise<SmtpWire> {
    return new Promise((resolve, reject) => {
      const where = { host: '127.0.0.1', port, ...(opts.localAddress ? { localAddress: opts.localAddress } : {}) };
      const s: Socket | TLSSocket = opts.tls ? tlsConnect({ ...where, rejectUnauthorized: false }, () => resolve(new SmtpWire(s))) : netConnect(where, () => resolve(new SmtpWire(s)));
      s.once('error', reject);
    });
  }
  write(text: string): void {
    this.socket.write(text, 'latin1');
  }
  /** The next complete line (without CRLF), or undefined when the connection closed first. */
  async line(timeoutMs = 15_000): Promise<string | undefined> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.buf.indexOf('\r\n');
      if (i >= 0) {
        const l = this.buf.slice(0, i);
        this.buf = this.buf.slice(i + 2);
        return l;
      }
      if (this.closed) return undefined;
      if (Date.now() > deadline) throw new Error(`no reply within ${timeoutMs} ms (buffer: ${JSON.stringify(this.buf)})`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 200);
      });
    }
  }
  /** A whole reply (all lines of a multi-line reply). */
  async reply(): Promise<string[]> {
    const out: string[] = [];
    for (;;) {
      const l = await this.line();
      if (l === undefined) return out;
      out.push(l);
      if (!/^\d{3}-/.test(l)) return out;
    }
  }
  async cmd(line: string): Promise<string[]> {
    this.write(line + '\r\n');
    return this.reply();
  }
  /** Upgrade to TLS (after the server's 220 to STARTTLS). */
  async starttls(): Promise<void> {
    const raw = this.socket;
    raw.removeAllListeners('data');
    raw.removeAllListeners('close');
    raw.removeAllListeners('error');
    const t = await new Promise<TLSSocket>((resolve, reject) => {
      const s = tlsConnect({ socket: raw as Socket, rejectUnauthorized: false }, () => resolve(s));
      s.once('error', reject);
    });
    this.socket = t;
    this.buf = '';
    this.attach(t);
  }
  async waitClosed(timeoutMs = 10_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed && Date.now() < deadline) {
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 100);
      });
    }
    return this.closed;
  }
  close(): void {
    this.socket.destroy();
  }
}
