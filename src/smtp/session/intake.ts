// The message content of one transaction on its way to storage: our Received: header first,
// then the client's content (canonical LF form) streamed to the local DeliveryBatch and to the
// outbound queue file (CRLF). Counts the size as Postfix does (each line + CRLF) against
// message_size_limit, watches the header block (header_size_limit, hopcount_limit, the
// Message-ID for the log) and commits all destinations together before the 250.
import type { DeliveryBatch } from '../../delivery/batch.js';
import { headerEnd, rewriteHeaderBlock, type HeaderRewrite } from '../../mail/header-rewrite.js';
import { LfToCrlf } from '../../mail/line-ends.js';
import type { QueueFileWriter } from '../../queue/types.js';
import type { ContentSink } from '../protocol/reader.js';

export interface IntakeOptions {
  /** Our Received: header, lines joined by "\n", no final newline. */
  received: string;
  /** message_size_limit (0: none). */
  sizeLimit: number;
  headerSizeLimit: number;
  hopLimit: number;
  batch?: DeliveryBatch;
  queue?: QueueFileWriter;
  /** local_header_rewrite_clients matched: qualify addresses, add missing Message-Id/Date/From (cleanup). */
  rewrite?: HeaderRewrite;
}

/** Scans the header block of LF-terminated content. */
export class HeaderScanner {
  inHeaders = true;
  tooLong = false;
  hops = 0;
  messageId: string | undefined;
  private bytes = 0;
  private carry: Buffer | undefined;
  private current = '';

  constructor(private readonly limit: number) {}

  feed(chunk: Buffer): void {
    if (!this.inHeaders) return;
    let data = chunk;
    if (this.carry) {
      data = Buffer.concat([this.carry, chunk]);
      this.carry = undefined;
    }
    let pos = 0;
    while (this.inHeaders) {
      const lf = data.indexOf(0x0a, pos);
      if (lf < 0) break;
      this.line(data.subarray(pos, lf));
      pos = lf + 1;
    }
    if (this.inHeaders && pos < data.length) {
      if (data.length - pos > this.limit) {
        this.tooLong = true;
        this.inHeaders = false;
      } else this.carry = Buffer.from(data.subarray(pos));
    }
  }

  private line(l: Buffer): void {
    this.bytes += l.length + 1;
    if (this.limit > 0 && this.bytes > this.limit) {
      this.tooLong = true;
      this.inHeaders = false;
      return;
    }
    if (l.length === 0 || (l.length === 1 && l[0] === 0x0d)) {
      this.inHeaders = false;
      return;
    }
    const text = l.toString('latin1');
    if (text[0] === ' ' || text[0] === '\t') {
      if (this.current === 'message-id' && this.messageId !== undefined && this.messageId.length < 998) this.messageId += text.trim();
      return;
    }
    const m = /^([\x21-\x39\x3b-\x7e]+)[ \t]*:(.*)$/s.exec(text);
    if (!m) {
      // not a header line: the body starts here (RFC 5322 §2.1 / Postfix cleanup)
      this.inHeaders = false;
      return;
    }
    this.current = m[1].toLowerCase();
    if (this.current === 'received') this.hops++;
    if (this.current === 'message-id' && this.messageId === undefined) this.messageId = m[2].trim().replace(/\r$/, '');
  }
}

export class MessageIntake implements ContentSink {
  /** Client content size counted as on the wire (CRLF line ends). */
  size = 0;
  tooBig = false;
  readonly headers: HeaderScanner;
  private first = true;
  private readonly toCrlf = new LfToCrlf();
  private failure: Error | undefined;
  /** Rewriting: the header block is held back until it ends (bounded by header_size_limit). */
  private holding: boolean;
  private held: Buffer[] = [];
  private heldBytes = 0;
  /** The Message-Id: added by the rewrite, if any (for the log). */
  addedMessageId: string | undefined;

  constructor(private readonly opts: IntakeOptions) {
    this.headers = new HeaderScanner(opts.headerSizeLimit);
    this.holding = opts.rewrite !== undefined;
  }

  /** Write our Received: header (before any client content). */
  async start(): Promise<void> {
    await this.emit(Buffer.from(this.opts.received + '\n'));
  }

  async write(chunk: Buffer): Promise<void> {
    if (chunk.length === 0 || this.tooBig || this.failure) return;
    let n = 0;
    for (let i = chunk.indexOf(0x0a); i >= 0; i = chunk.indexOf(0x0a, i + 1)) n++;
    this.size += chunk.length + n;
    if (this.opts.sizeLimit > 0 && this.size > this.opts.sizeLimit) {
      this.tooBig = true;
      return;
    }
    if (this.first) {
      this.first = false;
      // content starting with white space would continue our Received: header (Postfix kluge)
      if (chunk[0] === 0x20 || chunk[0] === 0x09) await this.emit(Buffer.from('\n'));
    }
    this.headers.feed(chunk);
    if (this.holding) return this.hold(chunk);
    await this.emit(chunk);
  }

  /** Rewriting: keep the header block until it ends, then send it rewritten and go on streaming. */
  private async hold(chunk: Buffer): Promise<void> {
    this.held.push(chunk);
    this.heldBytes += chunk.length;
    const data = this.held.length > 1 ? Buffer.concat(this.held) : chunk;
    this.held = [data];
    const end = headerEnd(data);
    if (end) return this.release(data, end.end);
    if (this.heldBytes > this.opts.headerSizeLimit) {
      // longer than any header may be (the message is refused at the end: header_size_limit)
      this.holding = false;
      this.held = [];
      await this.emit(data);
    }
  }

  private async release(data: Buffer, end: number): Promise<void> {
    this.holding = false;
    this.held = [];
    // latin1 keeps 8-bit header bytes as they are
    const block = rewriteHeaderBlock(data.subarray(0, end).toString('latin1'), this.opts.rewrite!);
    if (!this.headers.messageId) this.addedMessageId = /^Message-Id: (<[^\n]*>)$/m.exec(block)?.[1];
    await this.emit(Buffer.concat([Buffer.from(block, 'latin1'), data.subarray(end)]));
  }

  private async emit(chunk: Buffer): Promise<void> {
    try {
      const jobs: Array<Promise<void>> = [];
      if (this.opts.batch) jobs.push(this.opts.batch.write(chunk));
      if (this.opts.queue) jobs.push(this.opts.queue.write(this.toCrlf.convert(chunk)));
      await Promise.all(jobs);
    } catch (err) {
      // keep reading the client's data; the error is reported after the end of data
      this.failure ??= err as Error;
    }
  }

  /** A write error happened while receiving. */
  get writeError(): Error | undefined {
    return this.failure;
  }

  /** Make the message durable everywhere, or nowhere (throws; everything rolled back). */
  async commit(): Promise<void> {
    // a message that ended inside its header (no empty line): the added headers go at the end
    if (this.holding) {
      const all = Buffer.concat(this.held);
      await this.release(all, all.length);
    }
    if (this.failure) throw this.failure;
    const { batch, queue } = this.opts;
    if (batch) await batch.prepare();
    if (queue) {
      try {
        await queue.commit();
      } catch (err) {
        if (batch) await batch.rollback();
        throw err;
      }
    }
  }

  async abort(): Promise<void> {
    await Promise.all([this.opts.batch?.rollback(), this.opts.queue?.abort()].map((p) => p?.catch(() => undefined)));
  }
}
