// FETCH BODY / BODYSTRUCTURE (RFC 3501 §7.4.2, RFC 3501 §9 body-extension) as Dovecot 2.3
// writes them: type, subtype and parameter names as written; "charset" "us-ascii" added to
// text parts that have none; a multipart without parts shows one empty text/plain part;
// extension data (MD5, disposition, language, location) in BODYSTRUCTURE only.

import type { MimePart } from '../../mail/mime.js';
import type { MimeParam } from '../../mail/rfc2231.js';
import { envelopeData, writeEnvelope } from './envelope.js';
import { nstring, nstringNolf } from './quote.js';

const EMPTY_BODY = '("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0)';
const EMPTY_BODYSTRUCTURE = '("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 0 0 NIL NIL NIL NIL)';

function writeParams(params: MimeParam[] | undefined, defaultCharset: boolean): string {
  const list = params ?? [];
  if (!defaultCharset && list.length === 0) return 'NIL';
  const items: string[] = [];
  let seenCharset = false;
  for (const p of list) {
    if (defaultCharset && p.name.toLowerCase() === 'charset') seenCharset = true;
    items.push(nstring(p.name) + ' ' + nstring(p.value));
  }
  if (defaultCharset && !seenCharset) items.push('"charset" "us-ascii"');
  return '(' + items.join(' ') + ')';
}

/** Disposition, language and location (the extension data shared by all part types). */
function writeCommonExtension(part: MimePart): string {
  const d = part.data;
  let out = ' ';
  if (d.contentDisposition === undefined) out += 'NIL';
  else out += '(' + nstring(d.contentDisposition) + ' ' + writeParams(d.contentDispositionParams, false) + ')';
  out += ' ';
  if (d.contentLanguage === undefined) out += 'NIL';
  else out += '(' + d.contentLanguage.map((l) => nstring(l)).join(' ') + ')';
  out += ' ' + nstringNolf(d.contentLocation);
  return out;
}

function writeMultipart(raw: Buffer, part: MimePart, extended: boolean): string {
  let out = '';
  if (part.children.length > 0) {
    for (const child of part.children) out += '(' + writePart(raw, child, extended) + ')';
  } else {
    out += extended ? EMPTY_BODYSTRUCTURE : EMPTY_BODY;
  }
  out += ' ' + nstring(part.data.contentSubtype ?? '');
  if (!extended) return out;
  out += ' ' + writeParams(part.data.contentTypeParams, false);
  return out + writeCommonExtension(part);
}

function writeSinglepart(raw: Buffer, part: MimePart, extended: boolean): string {
  const d = part.data;
  let out: string;
  let text: boolean;
  if (part.messageRfc822) {
    out = '"message" "rfc822"';
    text = false;
  } else if (d.contentType === undefined) {
    out = '"text" "plain"';
    text = true;
  } else {
    text = d.contentType.toLowerCase() === 'text';
    out = nstring(d.contentType) + ' ' + nstring(d.contentSubtype ?? '');
  }
  out += ' ' + writeParams(d.contentTypeParams, text);
  out += ' ' + nstringNolf(d.contentId);
  out += ' ' + nstringNolf(d.contentDescription);
  out += ' ' + (d.contentTransferEncoding !== undefined ? nstring(d.contentTransferEncoding) : '"7bit"');
  out += ' ' + part.bodySize;
  if (text) {
    out += ' ' + part.bodyLines;
  } else if (part.messageRfc822) {
    const child = part.children[0]!;
    out += ' (' + writeEnvelope(envelopeData(raw, child)) + ') ';
    out += '(' + writePart(raw, child, extended) + ')';
    out += ' ' + part.bodyLines;
  }
  if (!extended) return out;
  out += ' ' + nstringNolf(d.contentMd5);
  return out + writeCommonExtension(part);
}

/** One part's BODY/BODYSTRUCTURE contents (without the outer parentheses), latin1. */
export function writePart(raw: Buffer, part: MimePart, extended: boolean): string {
  return part.multipart ? writeMultipart(raw, part, extended) : writeSinglepart(raw, part, extended);
}

/** BODYSTRUCTURE (extended) or BODY as wire bytes, "(" ... ")". */
export function bodyStructureOf(raw: Buffer, part: MimePart, extended: boolean): Buffer {
  return Buffer.from('(' + writePart(raw, part, extended) + ')', 'latin1');
}
