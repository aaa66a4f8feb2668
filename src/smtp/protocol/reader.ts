// The SMTP input side: a byte buffer over the socket that yields command lines (with a
// length limit), DATA content (RFC 5321 §4.5.2 dot-unstuffing, end of data only on
// <CR><LF>.<CR><LF>) and BDAT chunks (RFC 3030, exactly N octets). Never holds more than
// a bounded amount of input: the socket is paused while the consumer is busy.
//
// Content is handed on in facteur's canonical form: lines ending in LF (as Postfix and
// Dovecot store Maildir files); a CRLF becomes LF, a bare CR stays a data byte.
import type { Duplex } from 'node:stream';

const LF = 0x0a;
const CR = 0x0d;
const DOT = 0x2e;
const NL = Buffer.from('\n');
/** Pause the socket above this much buffered input, resume below LOW. */
const HIGH_WATER = 1 << 20;
const LOW_WATER = 1 << 18;
/** A DATA line longer than this is passed on in pieces (lines are unbounded in content). */
const PARTIAL_FLUSH = 1 << 16;

export interface CommandLine {
  /** The line without its terminator, decoded as UTF-8 (or Latin-1 when it is not valid UTF-8). */
  text: string;
  /** Terminated by a bare LF instead of CRLF. */
  bareLf: boolean;
  /** Longer than the limit: `text` holds the beginning only, the rest was discarded. */
  tooLong: boolean;
}

export interface ContentSink {
  /** Receives canonical content; may return a promise to apply back-pressure. */
  write(chunk: Buffer): void | Promise<void>;
}

export interface DataResult {
  /** The connection ended before the end of data. */
  eof: boolean;
  /** Bytes read from the wire, terminator included. */
  wireBytes: number;
  /** A line ended in a bare LF (smtpd_forbid_bare_newline). */
  bareLf: boolean;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

export function decodeLine(b: Buffer): string {
  try {
    return utf8.decode(b);
  } catch {
    return b.toString('latin1');
  }
}

export class SmtpReader {
  private buf: Buffer = Buffer.alloc(0);
  private ended = false;
  private waiter: (() => void) | undefined;
  private socket: Duplex | undefined;
  private paused = false;
  private readonly onData = (chunk: Buffer) => {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    if (this.buf.length > HIGH_WATER && this.socket && !this.paused) {
      this.paused = true;
      this.socket.pause();
    }
    this.wake();
  };
  private readonly onEnd = () => {
    this.ended = true;
    this.wake();
  };

  /** Start reading from a socket (again, after STARTTLS, from the TLS socket). */
  attach(socket: Duplex): void {
    this.socket = socket;
    this.paused = false;
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('close', this.onEnd);
    socket.on('error', this.onEnd);
  }

  /** Stop reading from the current socket (STARTTLS hands it to TLS). */
  detach(): void {
    const s = this.socket;
    if (!s) return;
    s.off('data', this.onData);
    s.off('end', this.onEnd);
    s.off('close', this.onEnd);
    s.off('error', this.onEnd);
    this.socket = undefined;
  }

  /** Bytes received and not yet consumed. */
  get pending(): number {
    return this.buf.length;
  }

  get atEof(): boolean {
    return this.ended && this.buf.length === 0;
  }

  /** A complete line is buffered (the next readLine will not wait). */
  hasLine(): boolean {
    return this.buf.indexOf(LF) >= 0;
  }

  /** Drop everything buffered (input pipelined after STARTTLS, CVE-2011-0411); returns the bytes dropped. */
  discard(): Buffer {
    const dropped = this.buf;
    this.buf = Buffer.alloc(0);
    this.resumeIfLow();
    return dropped;
  }

  /** The first bytes buffered, for log lines. */
  peek(n: number): Buffer {
    return this.buf.subarray(0, n);
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  private wait(): Promise<void> {
    if (this.ended) return Promise.resolve();
    return new Promise((resolve) => {
      this.waiter = resolve;
    });
  }

  private consume(n: number): void {
    this.buf = n >= this.buf.length ? Buffer.alloc(0) : this.buf.subarray(n);
    this.resumeIfLow();
  }

  private resumeIfLow(): void {
    if (this.paused && this.buf.length < LOW_WATER && this.socket) {
      this.paused = false;
      this.socket.resume();
    }
  }

  /** Read one command line of at most `max` bytes (terminator excluded); null at end of input. */
  async readLine(max: number): Promise<CommandLine | null> {
    let skipping: Buffer | undefined;
    for (;;) {
      const lf = this.buf.indexOf(LF);
      if (lf >= 0) {
        const bareLf = !(lf > 0 && this.buf[lf - 1] === CR);
        const end = bareLf ? lf : lf - 1;
        if (skipping) {
          this.consume(lf + 1);
          return { text: decodeLine(skipping), bareLf, tooLong: true };
        }
        const line = this.buf.subarray(0, end);
        this.consume(lf + 1);
        if (line.length > max) return { text: decodeLine(line.subarray(0, max)), bareLf, tooLong: true };
        return { text: decodeLine(line), bareLf, tooLong: false };
      }
      if (this.buf.length > max + 1) {
        // over-long line: keep its beginning, drop the rest up to the next LF
        if (!skipping) skipping = Buffer.from(this.buf.subarray(0, max));
        this.consume(this.buf.length - 1);
      }
      if (this.ended) {
        this.buf = Buffer.alloc(0);
        return null;
      }
      await this.wait();
    }
  }

  /**
   * Read DATA content up to the end-of-data line (RFC 5321 §4.1.1.4): only a "." line that
   * ends in CRLF right after a CRLF ends it. A "." line next to a bare LF neither ends the
   * data nor is stored (Postfix's smtpd_forbid_bare_newline = normalize), so `\n.\n`,
   * `\r\n.\n`, `\n.\r\n` can never end a message or start a smuggled one. Leading dots are
   * removed (transparency, §4.5.2).
   */
  async readData(sink: ContentSink): Promise<DataResult> {
    let prevCrlf = true;
    let midLine = false;
    let bareLf = false;
    let wireBytes = 0;
    for (;;) {
      const buf = this.buf;
      if (buf.length === 0) {
        if (this.ended) return { eof: true, wireBytes, bareLf };
        await this.wait();
        continue;
      }
      const out: Buffer[] = [];
      let pos = 0;
      let done = false;
      for (;;) {
        const lf = buf.indexOf(LF, pos);
        if (lf < 0) break;
        const crlf = lf > pos && buf[lf - 1] === CR;
        const contentEnd = crlf ? lf - 1 : lf;
        let start = pos;
        if (!midLine && buf[pos] === DOT) {
          if (contentEnd - pos === 1) {
            if (crlf && prevCrlf) {
              pos = lf + 1;
              done = true;
              break;
            }
            // a lone "." touching a bare LF: not an end of data, not content
            bareLf = true;
            prevCrlf = crlf;
            pos = lf + 1;
            continue;
          }
          start = pos + 1;
        }
        if (crlf) {
          out.push(buf.subarray(start, contentEnd), NL);
        } else {
          bareLf = true;
          out.push(buf.subarray(start, lf + 1));
        }
        prevCrlf = crlf;
        midLine = false;
        pos = lf + 1;
      }
      if (!done && buf.length - pos > PARTIAL_FLUSH) {
        // a very long line: pass its beginning on, keep a final CR (it may start a CRLF)
        let end = buf.length;
        if (buf[end - 1] === CR) end--;
        let start = pos;
        if (!midLine && buf[pos] === DOT) start = pos + 1;
        out.push(buf.subarray(start, end));
        midLine = true;
        pos = end;
      }
      wireBytes += pos;
      this.consume(pos);
      if (out.length > 0) await sink.write(out.length === 1 ? out[0] : Buffer.concat(out));
      if (done) return { eof: false, wireBytes, bareLf };
      if (this.buf.length === buf.length - pos && !this.ended) await this.wait();
      else if (this.ended && this.buf.length === buf.length - pos) return { eof: true, wireBytes, bareLf };
    }
  }

  /** Read exactly `n` octets (a BDAT chunk), handing them on raw; eof when the connection ended first. */
  async readChunk(n: number, sink: ContentSink): Promise<{ eof: boolean }> {
    let left = n;
    while (left > 0) {
      if (this.buf.length === 0) {
        if (this.ended) return { eof: true };
        await this.wait();
        continue;
      }
      const take = Math.min(left, this.buf.length);
      const part = this.buf.subarray(0, take);
      this.consume(take);
      left -= take;
      await sink.write(part);
    }
    return { eof: false };
  }
}

export { CrlfToLf } from '../../mail/line-ends.js';
