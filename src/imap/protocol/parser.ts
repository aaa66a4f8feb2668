// Grammar-directed parser of one IMAP command (RFC 3501 §9 formal syntax) over the
// wire reader. A command is a line that may be continued after each literal
// (`{n}` synchronizing: we send "+ " first; `{n+}` RFC 7888 LITERAL+; `~{n}` RFC 3516
// literal8). Every size is bounded: a literal above the bound is refused before any of
// its bytes are read.
import { WireReader } from './reader.js';
import { parseSequenceSet, type SequenceSet } from '../sequence.js';

/** A user error in the command: the session answers `tag BAD text` (or NO with a code). */
export class ParseError extends Error {
  constructor(
    message: string,
    /** Response status to use: BAD by default; NO for TOOBIG APPEND literals. */
    readonly status: 'BAD' | 'NO' = 'BAD',
    /** Response code, e.g. TOOBIG. */
    readonly code?: string,
  ) {
    super(message);
  }
}

/** A command not allowed in the current state: "tag BAD text" without the syntax-error prefix. */
export class StateError extends ParseError {}

/** The connection can not continue (end of input, or a literal we cannot skip). */
export class ConnectionEnd extends Error {
  constructor(readonly bye?: string) {
    super(bye ?? 'end of input');
  }
}

export interface LiteralSpec {
  size: number;
  sync: boolean;
  /** literal8 (`~{n}`), RFC 3516 */
  binary: boolean;
}

export interface ParserLimits {
  /** Longest line (without literals). */
  maxLine: number;
  /** Largest literal for string arguments (not APPEND messages). */
  maxStringLiteral: number;
  /** Largest non-synchronizing literal we are willing to read and throw away after an error. */
  maxDiscard: number;
}

const CR = 13;
const LF = 10;
const SP = 32;
const DQUOTE = 34;
const BACKSLASH = 92;

function isAtomChar(c: number): boolean {
  // ATOM-CHAR: any CHAR except atom-specials: ( ) { SP CTL % * " \ ]
  return c > 0x20 && c < 0x7f && c !== 0x28 && c !== 0x29 && c !== 0x7b && c !== 0x25 && c !== 0x2a && c !== DQUOTE && c !== BACKSLASH && c !== 0x5d;
}

/** Characters allowed in a tag: ASTRING-CHAR except "+". */
function isTagChar(c: number): boolean {
  return isAtomChar(c) && c !== 0x2b;
}

export class CommandParser {
  /** The current line segment (between literals). */
  line: Buffer = Buffer.alloc(0);
  pos = 0;
  /** Total bytes of line text in this command (for the line bound across literals). */
  private textBytes = 0;
  /** The current line was over-long and has been discarded (only its head is kept). */
  tooLong = false;

  constructor(
    readonly reader: WireReader,
    /** Send a command continuation request ("+ Ready for literal data"). */
    private readonly continuation: (text: string) => Promise<void>,
    readonly limits: ParserLimits,
  ) {}

  /** Read the first line of the next command; false at end of input. Over-long lines raise ParseError after being discarded. */
  async begin(): Promise<boolean> {
    this.textBytes = 0;
    this.tooLong = false;
    return this.nextLine();
  }

  /** Continue with the next line segment (after a literal). */
  async nextLine(): Promise<boolean> {
    const r = await this.reader.readLine(this.limits.maxLine);
    if (r === null) {
      this.line = Buffer.alloc(0);
      this.pos = 0;
      return false;
    }
    if ('tooLong' in r) {
      // keep the beginning so that the tag of the refused command is known
      this.line = r.head;
      this.pos = 0;
      this.tooLong = true;
      throw new ParseError('Too long argument.');
    }
    this.textBytes += r.line.length;
    if (this.textBytes > this.limits.maxLine) {
      this.line = r.line;
      this.pos = r.line.length;
      throw new ParseError('Too long argument.');
    }
    this.line = r.line;
    this.pos = 0;
    return true;
  }

  // ---- low-level

  peek(): number {
    return this.pos < this.line.length ? this.line[this.pos] : -1;
  }

  atEnd(): boolean {
    return this.pos >= this.line.length;
  }

  /** The rest of the current line segment as text (for error messages and IDLE's DONE). */
  rest(): string {
    return this.line.subarray(this.pos).toString('latin1');
  }

  sp(): void {
    if (this.peek() !== SP) throw new ParseError(this.atEnd() ? 'Missing argument' : 'Expected space');
    this.pos++;
  }

  /** Consume one space if present. */
  maybeSp(): boolean {
    if (this.peek() === SP) {
      this.pos++;
      return true;
    }
    return false;
  }

  expectEnd(): void {
    if (!this.atEnd()) throw new ParseError('Unexpected argument');
  }

  expectChar(c: string): void {
    if (this.peek() !== c.charCodeAt(0)) throw new ParseError(`Expected '${c}'`);
    this.pos++;
  }

  maybeChar(c: string): boolean {
    if (this.peek() === c.charCodeAt(0)) {
      this.pos++;
      return true;
    }
    return false;
  }

  /** A tag; undefined if the line does not start with one. */
  tag(): string | undefined {
    const start = this.pos;
    while (this.pos < this.line.length && isTagChar(this.line[this.pos])) this.pos++;
    if (this.pos === start) return undefined;
    return this.line.toString('latin1', start, this.pos);
  }

  /** An atom (letters of a command name, search key, fetch item …). */
  atom(what = 'argument'): string {
    const start = this.pos;
    while (this.pos < this.line.length && isAtomChar(this.line[this.pos])) this.pos++;
    if (this.pos === start) throw new ParseError(this.atEnd() ? 'Missing argument' : `Invalid ${what}`);
    return this.line.toString('latin1', start, this.pos);
  }

  /** Characters up to the next space, ")" or end (fetch-att like BODY.PEEK[...]<0.10> are handled by the caller). */
  word(stopAt: (c: number) => boolean = (c) => c === SP || c === 0x29): string {
    const start = this.pos;
    while (this.pos < this.line.length && !stopAt(this.line[this.pos])) this.pos++;
    return this.line.toString('latin1', start, this.pos);
  }

  number(what = 'number'): number {
    const start = this.pos;
    while (this.pos < this.line.length && this.line[this.pos] >= 0x30 && this.line[this.pos] <= 0x39) this.pos++;
    if (this.pos === start) throw new ParseError(`Invalid ${what}`);
    const text = this.line.toString('latin1', start, this.pos);
    if (text.length > 10) throw new ParseError(`Invalid ${what}`);
    const n = Number(text);
    if (n > 0xffffffff) throw new ParseError(`Invalid ${what}`);
    return n;
  }

  /** number64 (RFC 7162 mod-sequence-value), bounded to 2^53 for exactness. */
  number64(what = 'number'): number {
    const start = this.pos;
    while (this.pos < this.line.length && this.line[this.pos] >= 0x30 && this.line[this.pos] <= 0x39) this.pos++;
    if (this.pos === start) throw new ParseError(`Invalid ${what}`);
    const text = this.line.toString('latin1', start, this.pos);
    const n = Number(text);
    if (!Number.isSafeInteger(n)) throw new ParseError(`Invalid ${what}`);
    return n;
  }

  sequenceSet(): SequenceSet {
    const start = this.pos;
    while (this.pos < this.line.length) {
      const c = this.line[this.pos];
      if ((c >= 0x30 && c <= 0x39) || c === 0x3a || c === 0x2c || c === 0x2a || c === 0x24) this.pos++;
      else break;
    }
    const text = this.line.toString('latin1', start, this.pos);
    const set = parseSequenceSet(text);
    if (!set) {
      this.pos = start;
      throw new ParseError('Invalid messageset');
    }
    return set;
  }

  /** Is the next token a sequence set (SEARCH keys)? */
  looksLikeSequenceSet(): boolean {
    const c = this.peek();
    return (c >= 0x30 && c <= 0x39) || c === 0x2a || c === 0x24;
  }

  // ---- strings

  /** Parse `{n}`, `{n+}` or `~{n}` which must end the current line segment; does not read the literal. */
  literalSpec(): LiteralSpec | undefined {
    const save = this.pos;
    let binary = false;
    if (this.peek() === 0x7e) {
      binary = true;
      this.pos++;
    }
    if (this.peek() !== 0x7b) {
      this.pos = save;
      return undefined;
    }
    this.pos++;
    const start = this.pos;
    while (this.pos < this.line.length && this.line[this.pos] >= 0x30 && this.line[this.pos] <= 0x39) this.pos++;
    const digits = this.line.toString('latin1', start, this.pos);
    let sync = true;
    if (this.peek() === 0x2b) {
      sync = false;
      this.pos++;
    }
    if (digits.length === 0 || this.peek() !== 0x7d) throw new ParseError('Invalid literal');
    this.pos++;
    if (!this.atEnd()) throw new ParseError('Literal must be at the end of the line');
    // a number too long for exactness is certainly too large: keep it as Infinity
    const size = digits.length > 15 ? Infinity : Number(digits);
    return { size, sync, binary };
  }

  /**
   * Read the literal whose spec was just parsed, into memory (bounded by `max`). For
   * a synchronizing literal the continuation request is sent first. Afterwards the next
   * line segment is loaded.
   */
  async literalBytes(spec: LiteralSpec, max = this.limits.maxStringLiteral): Promise<Buffer> {
    if (spec.size > max) {
      this.pendingLiteral = spec;
      throw new ParseError('Literal too large');
    }
    if (spec.sync) await this.continuation('Ready for literal data');
    const data = await this.reader.readBytes(spec.size);
    if (data === null) throw new ConnectionEnd();
    if (!(await this.nextLine())) throw new ConnectionEnd();
    return data;
  }

  /** Stream the literal to `sink` (APPEND). The caller has checked the size. */
  async literalStream(spec: LiteralSpec, sink: (chunk: Buffer) => void | Promise<void>): Promise<void> {
    if (spec.sync) await this.continuation('Ready for literal data');
    const ok = await this.reader.pipeBytes(spec.size, sink);
    if (!ok) throw new ConnectionEnd();
    if (!(await this.nextLine())) throw new ConnectionEnd();
  }

  /** A literal refused before it was read; skipRest() must not wait for its bytes if it was synchronizing. */
  pendingLiteral: LiteralSpec | undefined;

  /** quoted string (RFC 3501 quoted: \" and \\ escapes) as bytes. */
  quoted(): Buffer {
    if (this.peek() !== DQUOTE) throw new ParseError('Expected quoted string');
    this.pos++;
    const out: number[] = [];
    for (;;) {
      if (this.pos >= this.line.length) throw new ParseError('Missing \'"\'');
      const c = this.line[this.pos++];
      if (c === DQUOTE) break;
      if (c === BACKSLASH) {
        const n = this.line[this.pos++];
        if (n !== DQUOTE && n !== BACKSLASH) throw new ParseError('Invalid escape in quoted string');
        out.push(n);
        continue;
      }
      if (c === CR || c === LF || c === 0) throw new ParseError('Invalid character in quoted string');
      out.push(c);
    }
    return Buffer.from(out);
  }

  /** string = quoted / literal */
  async string(max?: number): Promise<Buffer> {
    if (this.peek() === DQUOTE) return this.quoted();
    const spec = this.literalSpec();
    if (!spec) throw new ParseError(this.atEnd() ? 'Missing argument' : 'Expected string');
    return this.literalBytes(spec, max);
  }

  /** astring = 1*ASTRING-CHAR / string (ASTRING-CHAR = ATOM-CHAR / "]") */
  async astring(max?: number): Promise<Buffer> {
    const c = this.peek();
    if (c === DQUOTE || c === 0x7b || c === 0x7e) return this.string(max);
    const start = this.pos;
    while (this.pos < this.line.length && (isAtomChar(this.line[this.pos]) || this.line[this.pos] === 0x5d)) this.pos++;
    if (this.pos === start) throw new ParseError(this.atEnd() ? 'Missing argument' : 'Invalid argument');
    return Buffer.from(this.line.subarray(start, this.pos));
  }

  async astringText(): Promise<string> {
    return (await this.astring()).toString('utf8');
  }

  /** nstring: NIL or string */
  async nstring(): Promise<Buffer | null> {
    if (this.peekAtomUpper() === 'NIL') {
      this.pos += 3;
      return null;
    }
    return this.string();
  }

  /** list-mailbox = 1*list-char / string (list-char adds %, * and ]) */
  async listMailbox(): Promise<Buffer> {
    const c = this.peek();
    if (c === DQUOTE || c === 0x7b || c === 0x7e) return this.string();
    const start = this.pos;
    while (this.pos < this.line.length) {
      const x = this.line[this.pos];
      if (isAtomChar(x) || x === 0x25 || x === 0x2a || x === 0x5d) this.pos++;
      else break;
    }
    if (this.pos === start) throw new ParseError('Missing argument');
    return Buffer.from(this.line.subarray(start, this.pos));
  }

  /** The next atom upper-cased without consuming it ('' if none). */
  peekAtomUpper(): string {
    let i = this.pos;
    while (i < this.line.length && isAtomChar(this.line[i])) i++;
    return this.line.toString('latin1', this.pos, i).toUpperCase();
  }

  /** flag = "\" atom / atom (keywords); "\*" only where allowed. */
  flag(allowStar = false): string {
    if (this.peek() === BACKSLASH) {
      this.pos++;
      if (allowStar && this.peek() === 0x2a) {
        this.pos++;
        return '\\*';
      }
      return '\\' + this.atom('flag');
    }
    return this.atom('flag');
  }

  /** flag-list = "(" [flag *(SP flag)] ")" ; or a single flag without parentheses when `bare` (STORE allows it). */
  flagList(bare = false): string[] {
    const flags: string[] = [];
    if (this.peek() !== 0x28) {
      if (!bare) throw new ParseError('Invalid flags');
      flags.push(this.flag());
      while (this.peek() === SP && this.line[this.pos + 1] !== undefined) {
        this.pos++;
        flags.push(this.flag());
      }
      return flags;
    }
    this.pos++;
    if (this.maybeChar(')')) return flags;
    for (;;) {
      flags.push(this.flag());
      if (this.maybeChar(')')) return flags;
      this.sp();
    }
  }

  /** date-time = DQUOTE date-day-fixed "-" date-month "-" date-year SP time SP zone DQUOTE */
  dateTime(): Date {
    const s = this.quoted().toString('latin1');
    const d = parseDateTime(s);
    if (!d) throw new ParseError('Invalid date-time');
    return d;
  }

  /** date = date-text / DQUOTE date-text DQUOTE; returns the calendar day as [y, m(0-11), d]. */
  date(): [number, number, number] {
    let text: string;
    if (this.peek() === DQUOTE) text = this.quoted().toString('latin1');
    else text = this.word((c) => c === SP || c === 0x29);
    const d = parseDate(text);
    if (!d) throw new ParseError('Invalid search date parameter');
    return d;
  }

  /**
   * After an error: skip the rest of the command. A non-synchronizing literal that
   * follows is read and thrown away (within maxDiscard); a synchronizing one is never
   * sent by the client because we do not send "+".
   */
  async skipRest(): Promise<void> {
    if (this.tooLong) {
      this.tooLong = false;
      this.line = Buffer.alloc(0);
      this.pos = 0;
      return;
    }
    for (;;) {
      const pending = this.pendingLiteral;
      this.pendingLiteral = undefined;
      let spec: LiteralSpec | undefined = pending;
      if (!spec) {
        const m = /(~?)\{(\d+)(\+?)\}$/.exec(this.line.toString('latin1', Math.max(0, this.line.length - 24)));
        if (!m || this.pos > this.line.length) return;
        spec = { size: m[2].length > 15 ? Infinity : Number(m[2]), sync: m[3] !== '+', binary: m[1] === '~' };
      }
      if (spec.sync) return;
      if (spec.size > this.limits.maxDiscard) throw new ConnectionEnd('Too long literal');
      const ok = await this.reader.pipeBytes(spec.size, () => undefined);
      if (!ok) throw new ConnectionEnd();
      const r = await this.reader.readLine(this.limits.maxLine);
      if (r === null) throw new ConnectionEnd();
      if ('tooLong' in r) return;
      this.line = r.line;
      this.pos = 0;
    }
  }
}

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];

/** "1-Feb-1994" → [1994, 1, 1]. */
export function parseDate(text: string): [number, number, number] | undefined {
  const m = /^(\d{1,2})-([A-Za-z]{3})-(\d{4})$/.exec(text);
  if (!m) return undefined;
  const month = MONTHS.indexOf(m[2].toLowerCase());
  const day = Number(m[1]);
  if (month < 0 || day < 1 || day > 31) return undefined;
  return [Number(m[3]), month, day];
}

/** " 1-Feb-1994 21:52:25 -0800" → Date. */
export function parseDateTime(text: string): Date | undefined {
  const m = /^ ?(\d{1,2})-([A-Za-z]{3})-(\d{4}) (\d{2}):(\d{2}):(\d{2}) ([+-])(\d{2})(\d{2})$/.exec(text);
  if (!m) return undefined;
  const month = MONTHS.indexOf(m[2].toLowerCase());
  const day = Number(m[1]);
  const [h, mi, s] = [Number(m[4]), Number(m[5]), Number(m[6])];
  if (month < 0 || day < 1 || day > 31 || h > 23 || mi > 59 || s > 60) return undefined;
  const offset = (Number(m[8]) * 60 + Number(m[9])) * (m[7] === '-' ? -1 : 1);
  const t = Date.UTC(Number(m[3]), month, day, h, mi, s) - offset * 60_000;
  return new Date(t);
}
