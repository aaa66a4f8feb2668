// The one place where IMAP FETCH/SEARCH meet the MIME engine (src/imap/message/,
// written separately: Dovecot-exact ENVELOPE, BODYSTRUCTURE, sections, BINARY and
// search predicates). Everything else in src/imap calls only the functions below.

import { isAscii } from 'node:buffer';
import {
  binarySize, bodyMatches as engineBodyMatches, bodyStructure, envelope, fetchBinary,
  fetchSection, headerMatches as engineHeaderMatches, parseStructure, sentDate,
  textMatches as engineTextMatches, toCrlf, type MessageStructure } from './message/index.js';

/** Which part of a message a BODY[section] / BINARY[section] names (RFC 3501 §6.4.5). */
export interface SectionSpec {
  /** Part numbers, [] for the whole message. */
  part: number[];
  /** Text part specifier, if any. */
  text?: 'HEADER' | 'HEADER.FIELDS' | 'HEADER.FIELDS.NOT' | 'TEXT' | 'MIME';
  /** Field names for HEADER.FIELDS (.NOT), as the client wrote them. */
  fields?: string[];
}

/** A message ready for FETCH: the CRLF form and its parsed structure. */
export interface MessageView {
  /** The message with CRLF line ends (what RFC822.SIZE counts). */
  raw: Buffer;
  /** The MIME engine's structure (opaque here). */
  structure: unknown;
}

export type BinaryResult =
  | { ok: true; data: Buffer; /** decoded from base64/QP: send as literal8 ~{n} */ decoded: boolean }
  | { ok: false; code: 'UNKNOWN-CTE' | 'PARSE'; text: string };

export type BinarySizeResult = { ok: true; size: number } | { ok: false; code: 'UNKNOWN-CTE' | 'PARSE'; text: string };

/** The stored file (LF or CRLF line ends) → a message view. */
export function openMessage(file: Buffer): MessageView {
  const raw = toCrlf(file);
  return { raw, structure: parseStructure(raw) };
}

/** ENVELOPE (RFC 3501 §7.4.2) as the bytes that follow "ENVELOPE ". */
export function envelopeOf(m: MessageView): Buffer {
  return envelope(m.structure as MessageStructure, m.raw);
}

/** BODYSTRUCTURE (extended = true) or BODY (extended = false). */
export function bodyStructureOf(m: MessageView, extended: boolean): Buffer {
  return bodyStructure(m.structure as MessageStructure, m.raw, extended);
}

/** BODY[section]: the bytes; a part that does not exist is empty (Dovecot: "MIME part not found. return an empty part."). */
export function sectionOf(m: MessageView, s: SectionSpec): Buffer {
  return fetchSection(m.raw, m.structure as MessageStructure, s);
}

/** BINARY[part] (RFC 3516): the decoded part. */
export function binaryOf(m: MessageView, part: number[]): BinaryResult {
  const r = fetchBinary(m.raw, m.structure as MessageStructure, part);
  return 'error' in r ? { ok: false, code: r.error, text: r.text } : { ok: true, data: r.data, decoded: r.literal8 };
}

/** BINARY.SIZE[part]. */
export function binarySizeOf(m: MessageView, part: number[]): BinarySizeResult {
  const r = binarySize(m.raw, m.structure as MessageStructure, part);
  return 'error' in r ? { ok: false, code: r.error, text: r.text } : { ok: true, size: r.size };
}

/** SEARCH HEADER field needle (also FROM/TO/CC/BCC/SUBJECT): decoded, case-insensitive substring; "" matches when the field exists. */
export function headerMatches(m: MessageView, field: string, needle: string): boolean {
  return engineHeaderMatches(m.raw, m.structure as MessageStructure, field, needle);
}

/** SEARCH BODY needle: decoded text of the body parts. */
export function bodyMatches(m: MessageView, needle: string): boolean {
  return engineBodyMatches(m.raw, m.structure as MessageStructure, needle);
}

/** SEARCH TEXT needle: headers and body. */
export function textMatches(m: MessageView, needle: string): boolean {
  return engineTextMatches(m.raw, m.structure as MessageStructure, needle);
}

/** The Date: header: the instant and its own calendar day (SENTON/SENTSINCE/SENTBEFORE compare that day); undefined when missing or unparseable. */
export function sentDateOf(m: MessageView): { ms: number; day: [number, number, number] } | undefined {
  const d = sentDate(m.structure as MessageStructure, m.raw);
  return d ? { ms: Date.UTC(d.y, d.m - 1, d.d), day: [d.y, d.m - 1, d.d] } : undefined;
}

/** Charsets whose decoding maps each ASCII byte to itself (so 7-bit text decodes to itself). */
const ASCII_TRANSPARENT = /^"?(us-ascii|ascii|utf-8|utf8|iso-8859-\d+|latin1|windows-125\d|cp125\d)"?$/;

/**
 * Can a SEARCH BODY/TEXT be answered "no" for this stored file without parsing it?
 * Only when that is certain: the needle is printable ASCII without white space; the file
 * is 7-bit ASCII without ESC (no ISO-2022), without encoded words ("=?"), without base64
 * or quoted-printable parts, and every charset it names maps ASCII to itself, so its
 * decoded text is its raw text (header unfolding cannot create a needle without white
 * space); and the raw text does not contain the needle, ASCII case-insensitively.
 * Anything else returns false and goes through the MIME engine. (Not a placeholder: keep
 * after the merge.)
 */
export function cannotMatchText(file: Buffer, needle: string): boolean {
  if (!/^[\x21-\x7e]+$/.test(needle) || !isAscii(file) || file.indexOf(0x1b) >= 0) return false;
  const text = file.toString('latin1').toLowerCase();
  if (text.includes(needle.toLowerCase())) return false;
  if (text.includes('=?') || text.includes('base64') || text.includes('quoted-printable')) return false;
  for (let i = text.indexOf('charset='); i >= 0; i = text.indexOf('charset=', i + 8)) {
    const value = /^[^\s;]*/.exec(text.slice(i + 8, i + 60))![0];
    if (!ASCII_TRANSPARENT.test(value)) return false;
  }
  return true;
}
