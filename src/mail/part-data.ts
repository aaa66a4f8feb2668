// The MIME data of one part (RFC 2045 §5, §6; RFC 2183; RFC 3282; RFC 2557 §4; RFC 1864) as
// Dovecot's message-part-data keeps it for BODYSTRUCTURE: case kept as written, the first
// occurrence of each Content-* field wins, unparseable parts dropped the way Dovecot drops them.
// Strings are latin1 byte strings (one char per byte).

import { parseParams, type MimeParam } from './rfc2231.js';
import { Rfc822Parser } from './rfc822.js';

export interface PartData {
  /** Main type as written ("" when the field was unparseable); undefined without Content-Type. */
  contentType?: string;
  contentSubtype?: string;
  contentTypeParams: MimeParam[];
  contentTransferEncoding?: string;
  contentId?: string;
  contentDescription?: string;
  contentMd5?: string;
  contentLocation?: string;
  contentDisposition?: string;
  contentDispositionParams?: MimeParam[];
  contentLanguage?: string[];
}

export function emptyPartData(): PartData {
  return { contentTypeParams: [] };
}

/** NUL → U+FFFD in UTF-8, like Dovecot's message_header_strdup (result stays a latin1 byte string). */
export function headerStrdup(v: string): string {
  return v.includes('\0') ? v.replace(/\0/g, '\xef\xbf\xbd') : v;
}

/** C string semantics: the value ends at the first NUL. */
function cstr(v: string): string {
  const i = v.indexOf('\0');
  return i === -1 ? v : v.slice(0, i);
}

function cleanParams(list: MimeParam[]): MimeParam[] {
  return list.map((p) => ({ name: cstr(p.name), value: cstr(p.value) }));
}

export interface ContentTypeInfo {
  /** "type/subtype" as far as it parsed (Dovecot's rfc822_parse_content_type output). */
  full: string;
  ok: boolean;
  params: MimeParam[];
}

export function parseContentTypeValue(value: string): ContentTypeInfo {
  const p = new Rfc822Parser(value);
  p.skipLwsp();
  const out = { s: '' };
  const ret = p.parseContentType(out);
  const params = ret < 0 ? [] : cleanParams(parseParams(p));
  return { full: out.s, ok: ret >= 0, params };
}

function applyContentType(d: PartData, value: string): void {
  const ct = parseContentTypeValue(value);
  const slash = ct.full.indexOf('/');
  d.contentType = cstr(slash === -1 ? ct.full : ct.full.slice(0, slash));
  d.contentSubtype = slash === -1 ? '' : cstr(ct.full.slice(slash + 1));
  if (ct.ok) d.contentTypeParams = ct.params;
}

function applyCte(d: PartData, value: string): void {
  const p = new Rfc822Parser(value);
  p.skipLwsp();
  const out = { s: '' };
  if (p.parseMimeToken(out) >= 0 && p.skipLwsp() === 0 && out.s.length > 0) d.contentTransferEncoding = out.s;
}

function applyDisposition(d: PartData, value: string): void {
  const p = new Rfc822Parser(value);
  p.skipLwsp();
  const out = { s: '' };
  if (p.parseMimeToken(out) < 0) return;
  d.contentDisposition = out.s;
  d.contentDispositionParams = cleanParams(parseParams(p));
}

function applyLanguage(d: PartData, value: string): void {
  // Content-Language = 1#Language-tag (RFC 3282)
  const p = new Rfc822Parser(value);
  const langs: string[] = [];
  p.skipLwsp();
  for (;;) {
    const out = { s: '' };
    if (p.parseAtom(out) < 0) break;
    langs.push(out.s);
    if (p.atEnd || p.peek() !== 0x2c) break;
    p.pos++;
    p.skipLwsp();
  }
  if (langs.length > 0) d.contentLanguage = langs;
}

/**
 * Applies one Content-* field (name without case change, value unfolded with "\n" between
 * lines and leading LWSP skipped). Fields other than Content-* are ignored.
 */
export function applyContentField(d: PartData, name: string, value: string): void {
  if (name.length < 8 || name.slice(0, 8).toLowerCase() !== 'content-') return;
  const sub = name.slice(8).toLowerCase();
  switch (sub) {
    case 'id':
      if (d.contentId === undefined) d.contentId = headerStrdup(value);
      break;
    case 'md5':
      if (d.contentMd5 === undefined) d.contentMd5 = headerStrdup(value);
      break;
    case 'type':
      if (d.contentType === undefined) applyContentType(d, value);
      break;
    case 'transfer-encoding':
      if (d.contentTransferEncoding === undefined) applyCte(d, value);
      break;
    case 'language':
      if (d.contentLanguage === undefined) applyLanguage(d, value);
      break;
    case 'location':
      if (d.contentLocation === undefined) d.contentLocation = headerStrdup(value);
      break;
    case 'description':
      if (d.contentDescription === undefined) d.contentDescription = headerStrdup(value);
      break;
    case 'disposition':
      // Dovecot tests the parameter list, not the value: a later field replaces one without parameters.
      if (d.contentDispositionParams === undefined || d.contentDispositionParams.length === 0) applyDisposition(d, value);
      break;
  }
}
