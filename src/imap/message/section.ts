// FETCH BODY[section]<partial> (RFC 3501 §6.4.5) as Dovecot's imap-msgpart resolves it:
// part numbers walk multiparts and message/rfc822 bodies; "1" of a non-multipart is its body;
// HEADER/TEXT/HEADER.FIELDS after a part number need a message/rfc822 part; MIME of a part
// that has no MIME header of its own returns its header; anything missing is empty.
// HEADER.FIELDS keeps the message order and ends with an empty line.

import { parseHeaderBlock, type HeaderField } from '../../mail/headers.js';
import { bodyStart, partEnd, type MessageStructure, type MimePart } from '../../mail/mime.js';

export type SectionText = 'HEADER' | 'HEADER.FIELDS' | 'HEADER.FIELDS.NOT' | 'TEXT' | 'MIME';

export interface SectionSpec {
  /** Part numbers ("1.2" → [1, 2]); [] for the whole message. */
  part: number[];
  text?: SectionText;
  /** Field names for HEADER.FIELDS[.NOT]. */
  fields?: string[];
}

/** imap_msgpart_find(): the part a section number names, or undefined. */
export function findPart(root: MimePart, path: readonly number[]): MimePart | undefined {
  let part: MimePart | undefined = root;
  for (let i = 0; i < path.length && part !== undefined; i++) {
    const num = path[i]!;
    const more = i + 1 < path.length;
    if (part.multipart) {
      // Dovecot walks num-1 siblings from the first child (0 counts as 1)
      part = part.children[num <= 1 ? 0 : num - 1];
    } else if (num !== 1 || (more && !part.messageRfc822)) {
      part = undefined;
    }
    if (part !== undefined && part.messageRfc822 && more) part = part.children[0];
  }
  return part;
}

/**
 * Parses the text inside BODY[...] ("1.2.HEADER.FIELDS (From To)", "TEXT", "3.MIME", "").
 * Returns undefined for what Dovecot answers with BAD.
 */
export function parseSection(section: string): SectionSpec | undefined {
  let i = 0;
  let nextDigit = true;
  for (; i < section.length; i++) {
    const c = section.charCodeAt(i);
    if (c >= 0x30 && c <= 0x39) nextDigit = false;
    else if (!nextDigit && c === 0x2e) nextDigit = true;
    else break;
  }
  let numbers = '';
  let rest = section;
  if (i > 0) {
    if (i === section.length) {
      if (section[i - 1] === '.') return undefined;
      numbers = section;
      rest = '';
    } else {
      if (section[i - 1] !== '.') return undefined;
      numbers = section.slice(0, i - 1);
      rest = section.slice(i);
    }
  }
  const part = numbers === '' ? [] : numbers.split('.').map((n) => Number(n));
  if (part.some((n) => !Number.isSafeInteger(n))) return undefined;
  if (rest === '') return { part };
  const upper = rest.toUpperCase();
  if (upper === 'MIME') return part.length === 0 ? undefined : { part, text: 'MIME' };
  if (upper === 'TEXT') return { part, text: 'TEXT' };
  if (upper === 'HEADER') return { part, text: 'HEADER' };
  let text: SectionText;
  let list: string;
  if (upper.startsWith('HEADER.FIELDS.NOT')) {
    text = 'HEADER.FIELDS.NOT';
    list = rest.slice(17);
  } else if (upper.startsWith('HEADER.FIELDS')) {
    text = 'HEADER.FIELDS';
    list = rest.slice(13);
  } else {
    return undefined;
  }
  const fields = parseFieldList(list.startsWith(' ') ? list.slice(1) : list);
  if (fields === undefined) return undefined;
  return { part, text, fields };
}

/** "(" 1*astring ")" with quoted strings allowed. */
function parseFieldList(s: string): string[] | undefined {
  if (!s.startsWith('(') || !s.endsWith(')')) return undefined;
  const inner = s.slice(1, -1);
  const out: string[] = [];
  let i = 0;
  while (i < inner.length) {
    if (inner[i] === ' ') {
      i++;
      continue;
    }
    if (inner[i] === '"') {
      let v = '';
      i++;
      while (i < inner.length && inner[i] !== '"') {
        if (inner[i] === '\\' && i + 1 < inner.length) i++;
        v += inner[i];
        i++;
      }
      if (i >= inner.length) return undefined;
      i++;
      out.push(v);
      continue;
    }
    let j = i;
    while (j < inner.length && inner[j] !== ' ') j++;
    const atom = inner.slice(i, j);
    if (/[(){%*"\\\]\x00-\x1f\x7f]/.test(atom)) return undefined;
    out.push(atom);
    i = j;
  }
  return out.length > 0 ? out : undefined;
}

function fieldLines(raw: Buffer, f: HeaderField, out: Buffer[]): void {
  for (const l of f.lines) {
    out.push(raw.subarray(l.start, l.contentEnd));
    if (l.newline) out.push(CRLF);
  }
}

const CRLF = Buffer.from('\r\n');
const EMPTY = Buffer.alloc(0);

/**
 * istream-header-filter: the header of a part with only (include) or without (exclude) the
 * named fields; the empty line is kept when the header has one, or always (addMissingEoh).
 */
export function filterHeader(raw: Buffer, part: MimePart, names: readonly string[], include: boolean, addMissingEoh: boolean): Buffer {
  const wanted = new Set(names.map((n) => n.toLowerCase()));
  const block = parseHeaderBlock(raw, part.pos, part.pos + part.headerSize);
  const out: Buffer[] = [];
  for (const f of block.fields) {
    if (wanted.has(f.name.toLowerCase()) === include) fieldLines(raw, f, out);
  }
  if (block.eoh || addMissingEoh) out.push(CRLF);
  return Buffer.concat(out);
}

/** IMAP literals cannot carry NUL: Dovecot sends 0x80 instead (istream-nonuls). */
function noNuls(b: Buffer): Buffer {
  if (b.indexOf(0) === -1) return b;
  const c = Buffer.from(b);
  for (let i = c.indexOf(0); i !== -1; i = c.indexOf(0, i + 1)) c[i] = 0x80;
  return c;
}

function sectionBytes(raw: Buffer, ms: MessageStructure, spec: SectionSpec): Buffer {
  const root = ms.root;
  if (spec.part.length === 0) {
    switch (spec.text) {
      case undefined:
        return raw;
      case 'HEADER':
        return raw.subarray(0, root.headerSize);
      case 'TEXT':
        return raw.subarray(bodyStart(root), partEnd(root));
      case 'HEADER.FIELDS':
        return filterHeader(raw, root, spec.fields ?? [], true, true);
      case 'HEADER.FIELDS.NOT':
        return filterHeader(raw, root, spec.fields ?? [], false, false);
      case 'MIME':
        return EMPTY;
    }
  }
  let part = findPart(root, spec.part);
  if (part === undefined) return EMPTY;
  switch (spec.text) {
    case undefined:
      return raw.subarray(bodyStart(part), partEnd(part));
    case 'MIME':
      // a message/rfc822 part: Dovecot returns the same as HEADER would for the part itself
      return raw.subarray(part.pos, part.pos + part.headerSize);
    default:
      break;
  }
  if (!part.messageRfc822) return EMPTY;
  part = part.children[0]!;
  switch (spec.text) {
    case 'HEADER':
      return raw.subarray(part.pos, part.pos + part.headerSize);
    case 'TEXT':
      return raw.subarray(bodyStart(part), partEnd(part));
    case 'HEADER.FIELDS':
      return filterHeader(raw, part, spec.fields ?? [], true, false);
    case 'HEADER.FIELDS.NOT':
      return filterHeader(raw, part, spec.fields ?? [], false, false);
  }
}

/**
 * The bytes of BODY[section] (before any <partial>), NULs shown as 0x80. A MIME section without a
 * part number is not valid IMAP (the caller answers BAD); it gives an empty result here.
 */
export function fetchSection(raw: Buffer, ms: MessageStructure, spec: SectionSpec): Buffer {
  return noNuls(sectionBytes(raw, ms, spec));
}

/** BODY[...]<offset.length>: the slice, empty when offset is past the end (RFC 3501 §6.4.5). */
export function applyPartial(data: Buffer, offset: number, length?: number): Buffer {
  if (offset >= data.length) return EMPTY;
  return data.subarray(offset, length === undefined ? data.length : Math.min(data.length, offset + length));
}
