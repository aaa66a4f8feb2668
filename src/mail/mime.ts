// The MIME tree of a message (RFC 2045, RFC 2046 §5, RFC 2046 §5.2.1 message/rfc822) with byte
// offsets and line counts, built in one pass over the bytes with the rules of Dovecot 2.3's
// message-parser:
//  - the [CR]LF before "--boundary" belongs to the delimiter; a line that merely starts with
//    "--boundary" is a delimiter; the innermost (then longest) matching boundary wins;
//  - a multipart only starts when its header ends with an empty line and the part is MIME
//    (MIME-Version, Content-Type, or being a body part); a boundary line ends a header;
//  - no Content-Type means text/plain, or message/rfc822 inside multipart/digest;
//  - message/rfc822 bodies are parsed as messages whatever their Content-Transfer-Encoding;
//  - at most 100 nesting levels and 10000 parts; deeper containers are kept as plain bodies.
// The input is the message as IMAP serves it (CRLF line ends, see toCrlf()).

import { fieldValue, isEohAt, isLwsp, newField, readLine, type HeaderField } from './headers.js';
import { applyContentField, emptyPartData, parseContentTypeValue, type PartData } from './part-data.js';

export const MAX_NESTED_MIME_PARTS = 100;
export const MAX_TOTAL_MIME_PARTS = 10000;
/** RFC 2046 allows 70 characters; Dovecot keeps up to 80 (BOUNDARY_STRING_MAX_LEN). */
const BOUNDARY_STRING_MAX_LEN = 80;
const BOUNDARY_END_MAX_LEN = BOUNDARY_STRING_MAX_LEN + 2 + 2;

const LF = 0x0a;
const CR = 0x0d;

export interface MimePart {
  /** Offset of the part's first header byte. */
  pos: number;
  /** Header bytes, the empty line included when there is one. */
  headerSize: number;
  headerLines: number;
  /** Body bytes: everything after the header up to the [CR]LF of the next delimiter. */
  bodySize: number;
  bodyLines: number;
  multipart: boolean;
  /** multipart/digest: children default to message/rfc822. */
  digest: boolean;
  /** message/rfc822 whose body is the single child. */
  messageRfc822: boolean;
  text: boolean;
  /** MIME-Version or Content-Type seen, or a body part of a multipart. */
  isMime: boolean;
  /** A NUL byte in this part's own header or body bytes. */
  hasNuls: boolean;
  data: PartData;
  children: MimePart[];
}

export interface MessageStructure {
  root: MimePart;
  /** Size of the parsed bytes (RFC822.SIZE when they are the CRLF form). */
  size: number;
  hasNuls: boolean;
}

interface Boundary {
  part: MimePart;
  text: Buffer;
  epilogueFound: boolean;
}

function newPart(pos: number): MimePart {
  return {
    pos,
    headerSize: 0,
    headerLines: 0,
    bodySize: 0,
    bodyLines: 0,
    multipart: false,
    digest: false,
    messageRfc822: false,
    text: false,
    isMime: false,
    hasNuls: false,
    data: emptyPartData(),
    children: [],
  };
}

const enum State {
  Header,
  BodyToBoundary,
  BodyToEof,
  SkipBoundaryLine,
  Done,
}

class StructureParser {
  private pos = 0;
  private readonly stack: MimePart[];
  private boundaries: Boundary[] = [];
  private lastBoundary: Buffer | null = null;
  private multipartPending = false;
  private totalParts = 1;
  private state = State.Header;
  readonly root: MimePart;

  constructor(private readonly buf: Buffer) {
    this.root = newPart(0);
    this.stack = [this.root];
  }

  private get part(): MimePart {
    return this.stack[this.stack.length - 1]!;
  }

  private tooManyParts(): boolean {
    return this.stack.length >= MAX_NESTED_MIME_PARTS || this.totalParts >= MAX_TOTAL_MIME_PARTS;
  }

  run(): MimePart {
    while (this.state !== State.Done) {
      switch (this.state) {
        case State.Header:
          this.parseHeader();
          break;
        case State.BodyToBoundary:
          this.bodyToBoundary();
          break;
        case State.BodyToEof:
          this.addBody(this.pos, this.buf.length);
          this.pos = this.buf.length;
          this.state = State.Done;
          break;
        case State.SkipBoundaryLine:
          this.skipBoundaryLine();
          break;
      }
    }
    while (this.stack.length > 1) this.finishPart();
    return this.root;
  }

  /** Attributes buf[from, to) to the current part's body. */
  private addBody(from: number, to: number): void {
    if (to <= from) return;
    const part = this.part;
    part.bodySize += to - from;
    const block = this.buf.subarray(from, to);
    let i = block.indexOf(LF);
    while (i !== -1) {
      part.bodyLines++;
      i = block.indexOf(LF, i + 1);
    }
    if (!part.hasNuls && block.indexOf(0) !== -1) part.hasNuls = true;
  }

  private appendChild(): MimePart {
    const child = newPart(this.pos);
    this.part.children.push(child);
    this.stack.push(child);
    this.totalParts++;
    return child;
  }

  private finishPart(): void {
    const child = this.stack.pop()!;
    const parent = this.part;
    parent.bodySize += child.headerSize + child.bodySize;
    parent.bodyLines += child.headerLines + child.bodyLines;
  }

  /** A "--boundary" line at pos that matches one of the open boundaries. */
  private boundaryLineFind(pos: number): Boundary | undefined {
    const buf = this.buf;
    const end = buf.length;
    if (end - pos < 2 || buf[pos] !== 0x2d || buf[pos + 1] !== 0x2d) return undefined;
    const data = pos + 2;
    const size = end - data;
    const lf = buf.indexOf(LF, data);
    let findSize: number;
    if (lf !== -1) {
      findSize = lf - data;
      if (findSize > 0 && buf[data + findSize - 1] === CR) findSize--;
      if (findSize > 2 && buf[data + findSize - 1] === 0x2d && buf[data + findSize - 2] === 0x2d) findSize -= 2;
    } else {
      findSize = Math.min(size, BOUNDARY_END_MAX_LEN);
    }
    let best: Boundary | undefined;
    for (let i = this.boundaries.length - 1; i >= 0; i--) {
      const b = this.boundaries[i]!;
      const len = b.text.length;
      if (len <= findSize && buf.compare(b.text, 0, len, data, data + len) === 0 && (best === undefined || best.text.length < len)) {
        best = b;
        if (len === findSize) break;
      }
    }
    if (best === undefined) return undefined;
    const len = best.text.length;
    best.epilogueFound = size >= len + 2 && buf[data + len] === 0x2d && buf[data + len + 1] === 0x2d;
    return best;
  }

  private parseHeader(): void {
    const buf = this.buf;
    const end = buf.length;
    const part = this.part;
    part.pos = this.pos;
    let seenContentType = false;
    let prevNewlineSize = 0;
    let field: HeaderField | undefined;
    let continued = false;

    for (;;) {
      const pos = this.pos;
      if (!continued && isEohAt(buf, pos, end) && this.lastBoundary !== null && part.isMime) {
        // the multipart's own boundary is known before its body starts, so that a shorter
        // outer boundary that prefixes it cannot steal its delimiter lines
        if (!this.tooManyParts()) {
          this.boundaries.push({ part, text: this.lastBoundary, epilogueFound: false });
          this.lastBoundary = null;
          this.multipartPending = true;
        } else {
          part.multipart = false;
        }
      }
      if (this.boundaries.length > 0 && !continued) {
        const b = this.boundaryLineFind(pos);
        if (b !== undefined && b.part !== part) {
          // a delimiter ends the header; the previous line end belongs to the delimiter
          if (prevNewlineSize > 0) {
            part.headerSize -= prevNewlineSize;
            part.headerLines--;
            const parent = this.stack[this.stack.length - 2]!;
            parent.bodySize += prevNewlineSize;
            parent.bodyLines++;
          }
          break;
        }
      }
      if (pos >= end) break;
      if (!continued && isEohAt(buf, pos, end)) {
        const n = buf[pos] === CR ? 2 : 1;
        part.headerSize += n;
        part.headerLines++;
        this.pos += n;
        break;
      }
      const line = readLine(buf, pos, end);
      if (continued) field!.lines.push(line);
      else field = newField(buf, line);
      part.headerSize += line.next - line.start;
      if (line.newline) part.headerLines++;
      prevNewlineSize = line.newline ? (line.next - line.contentEnd === 2 ? 2 : 1) : 0;
      this.pos = line.next;
      continued = line.newline && line.next < end && isLwsp(buf[line.next]);
      if (!continued) seenContentType = this.headerField(part, field!, seenContentType);
    }
    if (buf.subarray(part.pos, part.pos + part.headerSize).indexOf(0) !== -1) part.hasNuls = true;
    this.endOfHeaders(part, seenContentType);
  }

  /** One complete header field of the part being parsed; returns whether Content-Type was seen. */
  private headerField(part: MimePart, f: HeaderField, seenContentType: boolean): boolean {
    const lname = f.name.toLowerCase();
    if (lname === 'mime-version') {
      part.isMime = true;
      return seenContentType;
    }
    if (!lname.startsWith('content-')) return seenContentType;
    const value = fieldValue(this.buf, f, { skipInitialLwsp: true, fold: 'lf' });
    if (lname === 'content-type') {
      part.isMime = true;
      if (!seenContentType) {
        seenContentType = true;
        this.contentTypeFlags(part, value);
      }
    }
    applyContentField(part.data, f.name, value);
    return seenContentType;
  }

  private contentTypeFlags(part: MimePart, value: string): void {
    const ct = parseContentTypeValue(value);
    const full = ct.full.toLowerCase();
    if (full === 'message/rfc822') part.messageRfc822 = true;
    else if (full.startsWith('text') && (full.length === 4 || full[4] === '/')) part.text = true;
    else if (full.startsWith('multipart/')) {
      part.multipart = true;
      if (full.slice(10) === 'digest') part.digest = true;
    }
    if (!ct.ok || !part.multipart || this.lastBoundary !== null) return;
    const b = ct.params.find((p) => p.name.toLowerCase() === 'boundary');
    if (b !== undefined) this.lastBoundary = Buffer.from(b.value.slice(0, BOUNDARY_STRING_MAX_LEN), 'latin1');
  }

  private endOfHeaders(part: MimePart, seenContentType: boolean): void {
    if (!part.isMime) {
      // not MIME: forget what Content-* said
      part.multipart = part.digest = part.messageRfc822 = part.text = false;
      part.data = emptyPartData();
    }
    this.lastBoundary = null;
    if (!seenContentType || !part.isMime) {
      const parent = this.stack.length > 1 ? this.stack[this.stack.length - 2]! : undefined;
      if (parent !== undefined && parent.digest) part.messageRfc822 = true;
      else part.text = true;
    }
    if (this.multipartPending) {
      this.multipartPending = false;
      this.state = State.BodyToBoundary;
    } else if (part.messageRfc822 && !this.tooManyParts()) {
      this.appendChild();
      this.state = State.Header;
    } else {
      part.messageRfc822 = false;
      this.state = this.boundaries.length > 0 ? State.BodyToBoundary : State.BodyToEof;
    }
  }

  private bodyToBoundary(): void {
    const buf = this.buf;
    const start = this.pos;
    const first = this.boundaryLineFind(start);
    if (first !== undefined) {
      this.partFinish(first, true);
      return;
    }
    let from = start;
    for (;;) {
      const lf = buf.indexOf(LF, from);
      if (lf === -1) {
        this.addBody(start, buf.length);
        this.pos = buf.length;
        this.state = State.Done;
        return;
      }
      const b = this.boundaryLineFind(lf + 1);
      if (b !== undefined) {
        const bstart = lf > start && buf[lf - 1] === CR ? lf - 1 : lf;
        this.addBody(start, bstart);
        this.pos = bstart;
        this.partFinish(b, false);
        return;
      }
      from = lf + 1;
    }
  }

  private partFinish(b: Boundary, firstLine: boolean): void {
    while (this.part !== b.part) this.finishPart();
    const idx = this.boundaries.indexOf(b);
    // a close delimiter ends this boundary; any delimiter forgets the inner ones
    this.boundaries.length = b.epilogueFound ? idx : idx + 1;
    let len = firstLine ? 0 : this.buf[this.pos] === CR ? 2 : 1;
    len += 2 + b.text.length + (b.epilogueFound ? 2 : 0);
    this.addBody(this.pos, this.pos + len);
    this.pos += len;
    this.state = State.SkipBoundaryLine;
  }

  private skipBoundaryLine(): void {
    const lf = this.buf.indexOf(LF, this.pos);
    if (lf === -1) {
      this.addBody(this.pos, this.buf.length);
      this.pos = this.buf.length;
      this.state = State.Done;
      return;
    }
    this.addBody(this.pos, lf + 1);
    this.pos = lf + 1;
    const top = this.boundaries[this.boundaries.length - 1];
    if (top === undefined || top.part !== this.part || this.totalParts >= MAX_TOTAL_MIME_PARTS) {
      // epilogue (or no room for more parts)
      this.state = this.boundaries.length > 0 ? State.BodyToBoundary : State.BodyToEof;
    } else {
      this.appendChild().isMime = true;
      this.state = State.Header;
    }
  }
}

/** Parses the message (CRLF form) into its MIME tree. Never throws on any input. */
export function parseStructure(raw: Buffer): MessageStructure {
  const root = new StructureParser(raw).run();
  return { root, size: raw.length, hasNuls: raw.indexOf(0) !== -1 };
}

/** Offset of the part's body. */
export function bodyStart(p: MimePart): number {
  return p.pos + p.headerSize;
}

/** Offset after the part's body. */
export function partEnd(p: MimePart): number {
  return p.pos + p.headerSize + p.bodySize;
}
