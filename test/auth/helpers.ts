// Test helpers for the auth socket: a line-oriented client over a UNIX or TCP socket.
import { createConnection, type Socket } from 'node:net';
import { Logger } from '../../src/log.js';

export class LineClient {
  private buf = '';
  private readonly lines: string[] = [];
  private waiters: ((l: string | null) => void)[] = [];
  closed = false;

  private constructor(readonly socket: Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      this.buf += d;
      let nl: number;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        this.push(this.buf.slice(0, nl));
        this.buf = this.buf.slice(nl + 1);
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.closed = true;
      for (const w of this.waiters.splice(0)) w(null);
    });
  }

  private push(line: string): void {
    const w = this.waiters.shift();
    if (w) w(line);
    else this.lines.push(line);
  }

  static connect(path: string | { port: number; host: string }): Promise<LineClient> {
    return new Promise((resolve, reject) => {
      const s = typeof path === 'string' ? createConnection(path) : createConnection(path.port, path.host);
      s.once('connect', () => resolve(new LineClient(s)));
      s.once('error', reject);
    });
  }

  send(text: string): void {
    if (this.socket.destroyed) return;
    this.socket.write(text.endsWith('\n') ? text : text + '\n');
  }

  /** The next line, or null when the server closed the connection. */
  next(timeoutMs = 10_000): Promise<string | null> {
    const l = this.lines.shift();
    if (l !== undefined) return Promise.resolve(l);
    if (this.closed) return Promise.resolve(null);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('no line from the server')), timeoutMs);
      this.waiters.push((x) => {
        clearTimeout(t);
        resolve(x);
      });
    });
  }

  /** Read the server handshake up to DONE. */
  async handshake(): Promise<string[]> {
    const out: string[] = [];
    for (;;) {
      const l = await this.next();
      if (l === null) throw new Error('closed during handshake');
      out.push(l);
      if (l === 'DONE') return out;
    }
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Discards log lines (floods would print thousands). */
export class SilentLogger extends Logger {
  override log(): void {}
  override withId(): Logger {
    return this;
  }
}

/** Compare a server line with a recorded one; SPID, CUID and COOKIE vary between runs. */
export function sameServerLine(actual: string | null, expected: string): boolean {
  if (actual === null) return false;
  if (expected.startsWith('SPID\t')) return /^SPID\t\d+$/.test(actual);
  if (expected.startsWith('CUID\t')) return /^CUID\t\d+$/.test(actual);
  if (expected.startsWith('COOKIE\t')) return /^COOKIE\t[0-9a-f]{32}$/.test(actual);
  return actual === expected;
}
