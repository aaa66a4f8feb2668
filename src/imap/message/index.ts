// The IMAP message engine: what FETCH and SEARCH need to know about one message, computed from its
// bytes exactly as Dovecot 2.3 does. Every function takes the message as IMAP serves it (CRLF
// line ends: convert a stored LF file with toCrlf() first) and its parsed structure.
// ENVELOPE and BODY/BODYSTRUCTURE come back as wire bytes, ready to cache and to send unchanged.

import { toCrlf, crlfSize, toLf } from '../../mail/line-ends.js';
import { parseStructure as parseMime, type MessageStructure, type MimePart } from '../../mail/mime.js';
import { bodyStructureOf } from './bodystructure.js';
import { envelope as envelopeOf } from './envelope.js';

export type { MessageStructure, MimePart } from '../../mail/mime.js';
export type { SectionSpec, SectionText } from './section.js';
export type { BinaryResult, BinaryError } from './binary.js';
export type { HeaderMatchMode, SentDate } from './search.js';
export { toCrlf, crlfSize, toLf };
export { fetchSection, parseSection, applyPartial, findPart } from './section.js';
export { fetchBinary, binarySize } from './binary.js';
export { headerMatches, headerModeForKey, bodyMatches, textMatches, sentDate } from './search.js';
export { isKnownCharset, decodeCharset } from '../../mail/charset.js';
export { MAX_NESTED_MIME_PARTS, MAX_TOTAL_MIME_PARTS } from '../../mail/mime.js';

/** The MIME tree with byte offsets (never throws; bounded nesting and part count). */
export function parseStructure(raw: Buffer): MessageStructure {
  return parseMime(raw);
}

/** ENVELOPE "(...)" of the message. */
export function envelope(ms: MessageStructure, raw: Buffer): Buffer {
  return envelopeOf(raw, ms.root);
}

/** BODYSTRUCTURE (extended = true) or BODY (false) "(...)" of the message. */
export function bodyStructure(ms: MessageStructure, raw: Buffer, extended: boolean): Buffer {
  return bodyStructureOf(raw, ms.root, extended);
}

/** Number of parts in the tree (root included). */
export function partCount(ms: MessageStructure): number {
  let n = 0;
  const stack: MimePart[] = [ms.root];
  while (stack.length > 0) {
    const p = stack.pop()!;
    n++;
    for (const c of p.children) stack.push(c);
  }
  return n;
}
