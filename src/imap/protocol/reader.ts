// Pull-style reader over a socket: lines (CRLF or bare LF) with a length bound,
// exact byte counts for literals (buffered or streamed chunk by chunk). The socket is
// paused while enough is buffered, so a client cannot make us hold more than
// `highWater` bytes it has sent ahead.
import type { Duplex } from 'node:stream';

/** `head`: the first bytes of an over-long line (its tag, for the BAD reply). */
export type LineResult = { line: Buffer } | { tooLong: true; head: Buffer } | null;

export class WireReader {
  private buf: Buffer = Buffer.alloc(0);
  private ended = false;
  private waiter: (() => void) | undefined;
  private paused = false;
  private stream: Duplex | undefined;
  private readonly onData = (chunk: Buffer): void => {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    if (this.buf.length > this.highWater && this.stream && !this.paused) {
      this.paused = true;
      this.stream.pause();
    }
    this.wake();
  };
  private readonly onEnd = (): void => {
    this.ended = true;
    this.wake();
  };

  constructor(
    stream: Duplex,
    private readonly highWater = 256 * 1024,
  ) {
    this.attach(stream);
  }

  /** Start reading from another stream (after STARTTLS); buffered input is dropped (CVE-2011-0411). */
  attach(stream: Duplex): void {
    this.detach();
    this.buf = Buffer.alloc(0);
    this.ended = false;
    this.stream = stream;
    this.paused = false;
    stream.on('data', this.onData);
    stream.on('end', this.onEnd);
    stream.on('close', this.onEnd);
    stream.on('error', this.onEnd);
  }

  /** Stop reading; returns how many bytes were buffered and are now discarded. */
  detach(): number {
    const s = this.stream;
    if (s) {
      s.off('data', this.onData);
      s.off('end', this.onEnd);
      s.off('close', this.onEnd);
      s.off('error', this.onEnd);
      s.pause();
    }
    this.stream = undefined;
    const n = this.buf.length;
    this.buf = Buffer.alloc(0);
    return n;
  }

  /** Bytes received and not consumed yet (pipelined input). */
  get buffered(): number {
    return this.buf.length;
  }

  get isEnded(): boolean {
    return this.ended && this.buf.length === 0;
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  private wait(): Promise<void> {
    if (this.paused && this.stream) {
      this.paused = false;
      this.stream.resume();
    }
    return new Promise((resolve) => {
      this.waiter = resolve;
    });
  }

  private consume(n: number): Buffer {
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    if (this.paused && this.buf.length < this.highWater / 2 && this.stream) {
      this.paused = false;
      this.stream.resume();
    }
    return out;
  }

  /**
   * Next line without its line end. `tooLong` when more than `max` bytes came without
   * a line end: the line is then discarded up to its end. null at end of input.
   */
  async readLine(max: number): Promise<LineResult> {
    let scanned = 0;
    for (;;) {
      const nl = this.buf.indexOf(10, scanned);
      if (nl >= 0) {
        if (nl > max + 1) {
          const head = Buffer.from(this.buf.subarray(0, 64));
          this.consume(nl + 1);
          return { tooLong: true, head };
        }
        const raw = this.consume(nl + 1);
        const end = nl > 0 && raw[nl - 1] === 13 ? nl - 1 : nl;
        return { line: Buffer.from(raw.subarray(0, end)) };
      }
      if (this.buf.length > max + 1) {
        // discard what we have and the rest of the line
        const head = Buffer.from(this.buf.subarray(0, 64));
        this.consume(this.buf.length);
        for (;;) {
          const i = this.buf.indexOf(10);
          if (i >= 0) {
            this.consume(i + 1);
            return { tooLong: true, head };
          }
          this.consume(this.buf.length);
          if (this.ended) return null;
          await this.wait();
        }
      }
      if (this.ended) return null;
      scanned = this.buf.length;
      await this.wait();
    }
  }

  /** Exactly n bytes (n small enough to hold), or null at end of input. */
  async readBytes(n: number): Promise<Buffer | null> {
    while (this.buf.length < n) {
      if (this.ended) return null;
      await this.wait();
    }
    return Buffer.from(this.consume(n));
  }

  /** Pass exactly n bytes to `sink` as they arrive; false at premature end of input. */
  async pipeBytes(n: number, sink: (chunk: Buffer) => void | Promise<void>): Promise<boolean> {
    let left = n;
    while (left > 0) {
      if (this.buf.length === 0) {
        if (this.ended) return false;
        await this.wait();
        continue;
      }
      const take = Math.min(left, this.buf.length);
      const chunk = Buffer.from(this.consume(take));
      left -= take;
      await sink(chunk);
    }
    return true;
  }

  /** Wait until input is available (or the end); used by IDLE to notice DONE. */
  async waitReadable(): Promise<boolean> {
    while (this.buf.length === 0) {
      if (this.ended) return false;
      await this.wait();
    }
    return true;
  }
}
