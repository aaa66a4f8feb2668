// Message-content predicates for SEARCH (RFC 3501 §6.4.4) with Dovecot 2.3's semantics (no FTS):
//  - header keys look at the top-level header only, decode RFC 2047 words and compare with
//    i;unicode-casemap; FROM/TO/CC/BCC match the address list as Dovecot writes it back
//    (display names, group names, "local@domain"); SUBJECT collapses whitespace;
//  - BODY searches each part's decoded text (QP/base64 undone, charset converted) when the part is
//    text/* or message/* or has no Content-Type, never headers;
//  - TEXT also searches every header of every part (attached messages included);
//  - a match never spans two MIME parts.
// Needles are Unicode strings (the IMAP layer converts SEARCH CHARSET literals first).

import { parseAddressList, writeAddressList } from '../../mail/address.js';
import { casemap } from '../../mail/casemap.js';
import { decodeCharset, decodeUtf8 } from '../../mail/charset.js';
import { parseMessageDate } from '../../mail/date.js';
import { decodeHeaderValue } from '../../mail/encoded-words.js';
import { fieldMiddle, fieldValue, nameIs, parseHeaderBlock, type HeaderBlock, type HeaderField } from '../../mail/headers.js';
import { bodyStart, partEnd, type MessageStructure, type MimePart } from '../../mail/mime.js';
import { parseContentTypeValue } from '../../mail/part-data.js';
import { decodeBase64, decodeQuotedPrintable, parseCte } from '../../mail/transfer-decode.js';

export type HeaderMatchMode = 'plain' | 'address' | 'compress-lwsp';

/** The mode Dovecot uses for an IMAP search key: FROM/TO/CC/BCC 'address', SUBJECT 'compress-lwsp'. HEADER <name> is always 'plain'. */
export function headerModeForKey(key: string): HeaderMatchMode {
  switch (key.toUpperCase()) {
    case 'FROM':
    case 'TO':
    case 'CC':
    case 'BCC':
      return 'address';
    case 'SUBJECT':
      return 'compress-lwsp';
    default:
      return 'plain';
  }
}

const SEARCH_VALUE = { skipInitialLwsp: false, fold: 'oneline' } as const;

/** Runs of SP/TAB become one space, leading ones go (index-search.c compress_lwsp()). */
function compressLwsp(s: string): string {
  return s.replace(/^[ \t]+/, '').replace(/[ \t]+/g, ' ');
}

function decodeLatin1Header(v: string): string {
  return decodeHeaderValue(Buffer.from(v, 'latin1'));
}

function rootHeader(raw: Buffer, ms: MessageStructure): HeaderBlock {
  return parseHeaderBlock(raw, 0, ms.root.headerSize);
}

/**
 * SUBJECT/FROM/TO/CC/BCC/HEADER: does a top-level field with this name contain needle?
 * An empty needle tests that the field exists. mode defaults to headerModeForKey(fieldName);
 * pass 'plain' for SEARCH HEADER.
 */
export function headerMatches(raw: Buffer, ms: MessageStructure, fieldName: string, needle: string, mode: HeaderMatchMode = headerModeForKey(fieldName)): boolean {
  const lname = fieldName.toLowerCase();
  const fields = rootHeader(raw, ms).fields.filter((f) => nameIs(f, lname));
  if (needle === '') return fields.length > 0;
  const key = casemap(needle);
  if (key === '') return false;
  // Dovecot feeds every matching field into one matcher, each value followed by CRLF
  let hay = '';
  for (const f of fields) {
    let v = fieldValue(raw, f, SEARCH_VALUE);
    if (mode === 'address') v = writeAddressList(parseAddressList(v, true));
    else if (mode === 'compress-lwsp') v = compressLwsp(v);
    hay += casemap(decodeLatin1Header(v));
    if (f.lines[f.lines.length - 1]!.newline) hay += '\r\n';
  }
  return hay.includes(key);
}

/** How message-decoder reads a part: charset from the first Content-Type, encoding from the last CTE. */
interface PartReading {
  /** text/* or message/* per the last Content-Type field; true without one. */
  textual: boolean;
  charset?: string;
  cte: ReturnType<typeof parseCte>;
}

function partReading(raw: Buffer, block: HeaderBlock): PartReading {
  let textual = true;
  let charset: string | undefined;
  let seenCt = false;
  let cte: ReturnType<typeof parseCte> = '78bit';
  for (const f of block.fields) {
    if (nameIs(f, 'content-type')) {
      const ct = parseContentTypeValue(fieldValue(raw, f, SEARCH_VALUE));
      const full = ct.full.toLowerCase();
      textual = full.startsWith('text/') || full.startsWith('message/');
      if (!seenCt) {
        seenCt = true;
        charset = ct.params.find((p) => p.name.toLowerCase() === 'charset')?.value;
      }
    } else if (nameIs(f, 'content-transfer-encoding')) {
      cte = parseCte(fieldValue(raw, f, SEARCH_VALUE));
    }
  }
  return { textual, charset, cte };
}

/** The decoded, casemapped text of a leaf body, or '' when SEARCH skips it. */
function bodyText(raw: Buffer, part: MimePart, r: PartReading): string {
  if (!r.textual || part.bodySize === 0) return '';
  const body = raw.subarray(bodyStart(part), partEnd(part));
  let bytes: Uint8Array;
  switch (r.cte) {
    case 'unknown':
      return '';
    case 'qp':
      bytes = decodeQuotedPrintable(body, false).data;
      break;
    case 'base64':
      bytes = decodeBase64(body).data;
      break;
    default:
      bytes = body;
  }
  const text = r.charset === undefined ? decodeUtf8(bytes) : (decodeCharset(bytes, r.charset) ?? decodeUtf8(bytes));
  return casemap(text);
}

function headerText(raw: Buffer, block: HeaderBlock): string {
  let s = '';
  for (const f of block.fields) s += fieldText(raw, f);
  if (block.eoh) s += '\r\n';
  return s;
}

function fieldText(raw: Buffer, f: HeaderField): string {
  const name = casemap(decodeUtf8(Buffer.from(f.name, 'latin1')));
  const value = casemap(decodeLatin1Header(fieldValue(raw, f, SEARCH_VALUE)));
  return name + fieldMiddle(raw, f, false) + value + (f.lines[f.lines.length - 1]!.newline ? '\r\n' : '');
}

function* partsInOrder(root: MimePart): Generator<MimePart> {
  const stack: MimePart[] = [root];
  while (stack.length > 0) {
    const p = stack.pop()!;
    yield p;
    for (let i = p.children.length - 1; i >= 0; i--) stack.push(p.children[i]!);
  }
}

function searchParts(raw: Buffer, ms: MessageStructure, needle: string, withHeaders: boolean): boolean {
  const key = casemap(needle);
  if (key === '') return false;
  for (const part of partsInOrder(ms.root)) {
    const block = parseHeaderBlock(raw, part.pos, part.pos + part.headerSize);
    let hay = withHeaders ? headerText(raw, block) : '';
    // multipart preambles/epilogues are not searched; message/rfc822 bodies are their child part
    if (part.children.length === 0 && !part.multipart) hay += bodyText(raw, part, partReading(raw, block));
    if (hay.includes(key)) return true;
  }
  return false;
}

/** SEARCH BODY: decoded text of the text parts, attached messages' bodies included, no headers. */
export function bodyMatches(raw: Buffer, ms: MessageStructure, needle: string): boolean {
  return searchParts(raw, ms, needle, false);
}

/** SEARCH TEXT: every header of every part plus what BODY searches. */
export function textMatches(raw: Buffer, ms: MessageStructure, needle: string): boolean {
  return searchParts(raw, ms, needle, true);
}

export interface SentDate {
  y: number;
  m: number;
  d: number;
}

/**
 * SENTBEFORE/SENTON/SENTSINCE: the calendar day written in the first Date: field (its own zone).
 * undefined when there is none or it cannot be parsed; Dovecot then uses 1 Jan 1970, so such a
 * message matches SENTBEFORE of any later day and never SENTSINCE/SENTON.
 */
export function sentDate(ms: MessageStructure, raw: Buffer): SentDate | undefined {
  const f = rootHeader(raw, ms).fields.find((x) => nameIs(x, 'date'));
  if (f === undefined) return undefined;
  const d = parseMessageDate(fieldValue(raw, f, { skipInitialLwsp: true, fold: 'lf' }));
  return d === undefined ? undefined : { y: d.year, m: d.month, d: d.day };
}
