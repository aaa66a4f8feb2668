// RFC 5322 §2.2 header fields, read the way Dovecot's message-header-parser does:
// a line without ':' is a field whose whole line is the name, a line starting with
// SP/TAB continues the previous one, the header ends at an empty line or at the end
// of the data. Offsets are byte offsets into the message buffer.

const LF = 0x0a;
const CR = 0x0d;

export function isLwsp(c: number | undefined): boolean {
  return c === 0x20 || c === 0x09;
}

/** One physical line. */
export interface RawLine {
  start: number;
  /** End of the line's content: before CRLF or LF (a lone LF keeps no CR). */
  contentEnd: number;
  /** Start of the next line (after the line end), or the limit. */
  next: number;
  /** False for a last line that ends without LF. */
  newline: boolean;
}

export function readLine(buf: Buffer, pos: number, limit: number): RawLine {
  let lf = limit < buf.length ? buf.subarray(pos, limit).indexOf(LF) : buf.indexOf(LF, pos);
  if (lf !== -1 && limit < buf.length) lf += pos;
  if (lf === -1 || lf >= limit) return { start: pos, contentEnd: limit, next: limit, newline: false };
  const contentEnd = lf > pos && buf[lf - 1] === CR ? lf - 1 : lf;
  return { start: pos, contentEnd, next: lf + 1, newline: true };
}

/** True when the line at pos is the empty line ending a header ("\n" or "\r\n"). */
export function isEohAt(buf: Buffer, pos: number, limit: number): boolean {
  if (pos >= limit) return false;
  if (buf[pos] === LF) return true;
  return buf[pos] === CR && pos + 1 < limit && buf[pos + 1] === LF;
}

/** A header field: its first line and its continuation lines. */
export interface HeaderField {
  /** Bytes before ':' without trailing SP/TAB, as a latin1 string (one char per byte). */
  name: string;
  /** Offset of ':' or -1 when the line has none. */
  colon: number;
  /** End of the name (start of the "middle": LWSP, ':' and the skipped LWSP). */
  nameEnd: number;
  lines: RawLine[];
}

export interface HeaderBlock {
  start: number;
  /** Offset after the last header byte (the empty line included when there is one). */
  end: number;
  fields: HeaderField[];
  /** An empty line ended the header. */
  eoh: boolean;
  lineCount: number;
  hasNuls: boolean;
}

/** Starts a field at a line that is not a continuation. */
export function newField(buf: Buffer, line: RawLine): HeaderField {
  let colon = buf.subarray(line.start, line.contentEnd).indexOf(0x3a);
  if (colon !== -1) colon += line.start;
  if (colon === -1) {
    return { name: buf.toString('latin1', line.start, line.contentEnd), colon: -1, nameEnd: line.contentEnd, lines: [line] };
  }
  let nameEnd = colon;
  while (nameEnd > line.start && isLwsp(buf[nameEnd - 1])) nameEnd--;
  return { name: buf.toString('latin1', line.start, nameEnd), colon, nameEnd, lines: [line] };
}

/** Parses the header starting at start, up to the empty line or limit. */
export function parseHeaderBlock(buf: Buffer, start: number, limit: number): HeaderBlock {
  const fields: HeaderField[] = [];
  let pos = start;
  let lineCount = 0;
  let eoh = false;
  let prevNewline = false;
  while (pos < limit) {
    const continued = prevNewline && fields.length > 0 && isLwsp(buf[pos]);
    if (!continued && isEohAt(buf, pos, limit)) {
      eoh = true;
      lineCount++;
      pos += buf[pos] === CR ? 2 : 1;
      break;
    }
    const line = readLine(buf, pos, limit);
    if (continued) fields[fields.length - 1]!.lines.push(line);
    else fields.push(newField(buf, line));
    if (line.newline) lineCount++;
    prevNewline = line.newline;
    pos = line.next;
  }
  return { start, end: pos, fields, eoh, lineCount, hasNuls: buf.subarray(start, pos).indexOf(0) !== -1 };
}

export interface ValueOptions {
  /** MESSAGE_HEADER_PARSER_FLAG_SKIP_INITIAL_LWSP: skip all LWSP after ':' (one if the value is only LWSP). */
  skipInitialLwsp: boolean;
  /**
   * How continuation lines are joined: 'lf' keeps "\n" + the line (Dovecot's DROP_CR, used for
   * ENVELOPE/BODYSTRUCTURE); 'oneline' joins without newline and turns a leading TAB into a
   * space (CLEAN_ONELINE, used by SEARCH).
   */
  fold: 'lf' | 'oneline';
}

/** Offset where the value of the field's first line starts. */
export function valueStart(buf: Buffer, f: HeaderField, skipInitialLwsp: boolean): number {
  const first = f.lines[0]!;
  if (f.colon === -1) return first.contentEnd;
  const v = f.colon + 1;
  const end = first.contentEnd;
  if (!skipInitialLwsp) return v < end && isLwsp(buf[v]) ? v + 1 : v;
  let p = v;
  while (p < end && isLwsp(buf[p])) p++;
  if (p === end && v < end) p = v + 1;
  return p;
}

/** The unfolded value (Dovecot's full_value) as a latin1 string. */
export function fieldValue(buf: Buffer, f: HeaderField, opts: ValueOptions): string {
  const first = f.lines[0]!;
  let s = f.colon === -1 ? '' : buf.toString('latin1', valueStart(buf, f, opts.skipInitialLwsp), first.contentEnd);
  for (let i = 1; i < f.lines.length; i++) {
    const l = f.lines[i]!;
    if (opts.fold === 'lf') {
      s += '\n' + buf.toString('latin1', l.start, l.contentEnd);
    } else if (buf[l.start] === 0x09) {
      s += ' ' + buf.toString('latin1', l.start + 1, l.contentEnd);
    } else {
      s += buf.toString('latin1', l.start, l.contentEnd);
    }
  }
  return s;
}

/** The "middle" between name and value (LWSP, ':' and the skipped LWSP), latin1. */
export function fieldMiddle(buf: Buffer, f: HeaderField, skipInitialLwsp: boolean): string {
  if (f.colon === -1) return '';
  return buf.toString('latin1', f.nameEnd, valueStart(buf, f, skipInitialLwsp));
}

/** Byte range of the field including the line end of its last line. */
export function fieldRange(f: HeaderField): [number, number] {
  return [f.lines[0]!.start, f.lines[f.lines.length - 1]!.next];
}

export function nameIs(f: HeaderField, lowerName: string): boolean {
  return f.name.length === lowerName.length && f.name.toLowerCase() === lowerName;
}
