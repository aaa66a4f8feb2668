// The one place where IMAP FETCH/SEARCH meet the MIME engine (src/imap/message/,
// written separately: Dovecot-exact ENVELOPE, BODYSTRUCTURE, sections, BINARY and
// search predicates). Everything else in src/imap calls only the functions below.
//
// >>> PLACEHOLDER until src/imap/message/ is merged <<<
// The bodies of the functions marked PLACEHOLDER are a deliberately minimal stand-in
// (single-part messages, undecoded text search, naive address parsing). When merging
// (verified against the message engine of branch `mime` at 8510ba9):
//   1. add the import
//        import { binarySize, bodyMatches as engineBodyMatches, bodyStructure, envelope, fetchBinary,
//          fetchSection, headerMatches as engineHeaderMatches, parseStructure, sentDate,
//          textMatches as engineTextMatches, toCrlf, type MessageStructure } from './message/index.js';
//   2. delete every line ending in "// PLACEHOLDER" and uncomment every "// MERGE: " line;
//   3. delete the `placeholder` namespace at the end of this file;
//   4. set MIME_ENGINE_MERGED = true in test/imap/mime-merge.ts (the Dovecot recordings then
//      run as real tests: all 46 FETCH recordings and 89 of 90 searches pass with the engine).

import { isAscii } from 'node:buffer';
// (the next import is used by the placeholder only)
import { lfToCrlf } from '../store/crlf.js'; // PLACEHOLDER

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
  // MERGE: const raw = toCrlf(file);
  // MERGE: return { raw, structure: parseStructure(raw) };
  return placeholder.open(file); // PLACEHOLDER
}

/** ENVELOPE (RFC 3501 §7.4.2) as the bytes that follow "ENVELOPE ". */
export function envelopeOf(m: MessageView): Buffer {
  // MERGE: return envelope(m.structure as MessageStructure, m.raw);
  return placeholder.envelope(m); // PLACEHOLDER
}

/** BODYSTRUCTURE (extended = true) or BODY (extended = false). */
export function bodyStructureOf(m: MessageView, extended: boolean): Buffer {
  // MERGE: return bodyStructure(m.structure as MessageStructure, m.raw, extended);
  return placeholder.bodyStructure(m, extended); // PLACEHOLDER
}

/** BODY[section]: the bytes; a part that does not exist is empty (Dovecot: "MIME part not found. return an empty part."). */
export function sectionOf(m: MessageView, s: SectionSpec): Buffer {
  // MERGE: return fetchSection(m.raw, m.structure as MessageStructure, s);
  return placeholder.section(m, s); // PLACEHOLDER
}

/** BINARY[part] (RFC 3516): the decoded part. */
export function binaryOf(m: MessageView, part: number[]): BinaryResult {
  // MERGE: const r = fetchBinary(m.raw, m.structure as MessageStructure, part);
  // MERGE: return 'error' in r ? { ok: false, code: r.error, text: r.text } : { ok: true, data: r.data, decoded: r.literal8 };
  return placeholder.binary(m, part); // PLACEHOLDER
}

/** BINARY.SIZE[part]. */
export function binarySizeOf(m: MessageView, part: number[]): BinarySizeResult {
  // MERGE: const r = binarySize(m.raw, m.structure as MessageStructure, part);
  // MERGE: return 'error' in r ? { ok: false, code: r.error, text: r.text } : { ok: true, size: r.size };
  const r = placeholder.binary(m, part); // PLACEHOLDER
  return r.ok ? { ok: true, size: r.data.length } : r; // PLACEHOLDER
}

/** SEARCH HEADER field needle (also FROM/TO/CC/BCC/SUBJECT): decoded, case-insensitive substring; "" matches when the field exists. */
export function headerMatches(m: MessageView, field: string, needle: string): boolean {
  // MERGE: return engineHeaderMatches(m.raw, m.structure as MessageStructure, field, needle);
  return placeholder.headerMatches(m, field, needle); // PLACEHOLDER
}

/** SEARCH BODY needle: decoded text of the body parts. */
export function bodyMatches(m: MessageView, needle: string): boolean {
  // MERGE: return engineBodyMatches(m.raw, m.structure as MessageStructure, needle);
  return placeholder.bodyMatches(m, needle); // PLACEHOLDER
}

/** SEARCH TEXT needle: headers and body. */
export function textMatches(m: MessageView, needle: string): boolean {
  // MERGE: return engineTextMatches(m.raw, m.structure as MessageStructure, needle);
  return placeholder.textMatches(m, needle); // PLACEHOLDER
}

/** The Date: header: the instant and its own calendar day (SENTON/SENTSINCE/SENTBEFORE compare that day); undefined when missing or unparseable. */
export function sentDateOf(m: MessageView): { ms: number; day: [number, number, number] } | undefined {
  // MERGE: const d = sentDate(m.structure as MessageStructure, m.raw);
  // MERGE: return d ? { ms: Date.UTC(d.y, d.m - 1, d.d), day: [d.y, d.m - 1, d.d] } : undefined;
  return placeholder.sentDate(m); // PLACEHOLDER
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

// ------------------------------------------------------------------------------------
// PLACEHOLDER implementation: delete this whole namespace after the merge.
// ------------------------------------------------------------------------------------
// eslint-disable-next-line @typescript-eslint/no-namespace
namespace placeholder {
  interface Simple {
    headerEnd: number;
    bodyStart: number;
    headers: [string, string][];
  }

  function split(raw: Buffer): Simple {
    const i = raw.indexOf('\r\n\r\n');
    let headerEnd: number;
    let bodyStart: number;
    if (raw.subarray(0, 2).toString() === '\r\n') {
      headerEnd = 0;
      bodyStart = 2;
    } else if (i < 0) {
      headerEnd = raw.length;
      bodyStart = raw.length;
    } else {
      headerEnd = i + 2;
      bodyStart = i + 4;
    }
    const text = raw.toString('latin1', 0, headerEnd);
    const headers: [string, string][] = [];
    for (const line of text.split('\r\n')) {
      if (!line) continue;
      if ((line[0] === ' ' || line[0] === '\t') && headers.length) headers[headers.length - 1][1] += '\r\n' + line;
      else {
        const c = line.indexOf(':');
        if (c > 0) headers.push([line.slice(0, c), line.slice(c + 1)]);
      }
    }
    return { headerEnd, bodyStart, headers };
  }

  export function open(file: Buffer): MessageView {
    const raw = lfToCrlf(file);
    return { raw, structure: split(raw) };
  }

  function s(m: MessageView): Simple {
    return m.structure as Simple;
  }

  function header(m: MessageView, name: string): string | undefined {
    const h = s(m).headers.find(([k]) => k.toLowerCase() === name.toLowerCase());
    return h ? h[1].replace(/\r\n/g, '').trim() : undefined;
  }

  function q(v: string | undefined): string {
    if (v === undefined) return 'NIL';
    return '"' + v.replace(/[\\"]/g, (x) => '\\' + x) + '"';
  }

  function addresses(v: string | undefined): string {
    if (!v) return 'NIL';
    const out: string[] = [];
    for (const a of v.split(',')) {
      const m = /^\s*(?:"?([^"<]*?)"?\s*)?<([^@>]*)@([^>]*)>\s*$/.exec(a) ?? /^\s*()([^@\s]+)@(\S+)\s*$/.exec(a);
      if (m) out.push(`(${m[1] ? q(m[1]) : 'NIL'} NIL ${q(m[2])} ${q(m[3])})`);
    }
    return out.length ? `(${out.join('')})` : 'NIL';
  }

  export function envelope(m: MessageView): Buffer {
    const from = addresses(header(m, 'From'));
    const sender = header(m, 'Sender') ? addresses(header(m, 'Sender')) : from;
    const replyTo = header(m, 'Reply-To') ? addresses(header(m, 'Reply-To')) : from;
    return Buffer.from(
      `(${q(header(m, 'Date'))} ${q(header(m, 'Subject'))} ${from} ${sender} ${replyTo} ${addresses(header(m, 'To'))} ${addresses(header(m, 'Cc'))} ${addresses(header(m, 'Bcc'))} ${q(header(m, 'In-Reply-To'))} ${q(header(m, 'Message-ID'))})`,
    );
  }

  export function bodyStructure(m: MessageView, extended: boolean): Buffer {
    const body = m.raw.subarray(s(m).bodyStart);
    const lines = body.toString('latin1').split('\r\n').length - 1;
    const ct = /^\s*([^/;\s]+)\/([^;\s]+)/.exec(header(m, 'Content-Type') ?? '') ?? [, 'text', 'plain'];
    const cs = /charset="?([^";\s]+)/i.exec(header(m, 'Content-Type') ?? '')?.[1] ?? 'us-ascii';
    const cte = (header(m, 'Content-Transfer-Encoding') ?? '7bit').toLowerCase();
    const isText = ct[1]!.toLowerCase() === 'text';
    let out = `(${q(ct[1]!.toLowerCase())} ${q(ct[2]!.toLowerCase())} ("charset" ${q(cs)}) NIL NIL ${q(cte)} ${body.length}${isText ? ' ' + lines : ''}`;
    if (extended) out += ' NIL NIL NIL NIL';
    return Buffer.from(out + ')');
  }

  function headerBlock(m: MessageView): Buffer {
    return m.raw.subarray(0, s(m).bodyStart);
  }

  export function section(m: MessageView, sec: SectionSpec): Buffer {
    const part = sec.part;
    if (part.length > 1 || (part.length === 1 && part[0] !== 1)) return Buffer.alloc(0);
    const body = m.raw.subarray(s(m).bodyStart);
    switch (sec.text) {
      case undefined:
        return part.length ? body : m.raw;
      case 'HEADER':
      case 'MIME':
        return headerBlock(m);
      case 'TEXT':
        return body;
      case 'HEADER.FIELDS':
      case 'HEADER.FIELDS.NOT': {
        const want = new Set((sec.fields ?? []).map((f) => f.toLowerCase()));
        const not = sec.text === 'HEADER.FIELDS.NOT';
        const lines = s(m)
          .headers.filter(([k]) => want.has(k.toLowerCase()) !== not)
          .map(([k, v]) => `${k}:${v}\r\n`);
        return Buffer.from(lines.join('') + '\r\n', 'latin1');
      }
    }
  }

  export function binary(m: MessageView, part: number[]): BinaryResult {
    if (part.length > 1 || (part.length === 1 && part[0] !== 1)) return { ok: false, code: 'PARSE', text: 'No such part' };
    const body = m.raw.subarray(s(m).bodyStart);
    const cte = (header(m, 'Content-Transfer-Encoding') ?? '7bit').toLowerCase();
    if (cte === 'base64') return { ok: true, data: Buffer.from(body.toString('latin1'), 'base64'), decoded: true };
    if (['7bit', '8bit', 'binary'].includes(cte)) return { ok: true, data: body, decoded: false };
    return { ok: false, code: 'UNKNOWN-CTE', text: 'Unknown Content-Transfer-Encoding' };
  }

  const lower = (x: string) => x.toLowerCase();

  export function headerMatches(m: MessageView, field: string, needle: string): boolean {
    const values = s(m)
      .headers.filter(([k]) => lower(k) === lower(field))
      .map(([, v]) => v.replace(/\r\n/g, ''));
    if (values.length === 0) return false;
    return values.some((v) => lower(v).includes(lower(needle)));
  }

  export function bodyMatches(m: MessageView, needle: string): boolean {
    return lower(m.raw.subarray(s(m).bodyStart).toString('utf8')).includes(lower(needle));
  }

  export function textMatches(m: MessageView, needle: string): boolean {
    return lower(m.raw.toString('utf8')).includes(lower(needle));
  }

  export function sentDate(m: MessageView): { ms: number; day: [number, number, number] } | undefined {
    const v = header(m, 'Date');
    if (!v) return undefined;
    const ms = Date.parse(v.replace(/\([^)]*\)/g, ''));
    if (Number.isNaN(ms)) return undefined;
    // the Date: header's own calendar day (its own zone)
    const z = /([+-])(\d{2})(\d{2})\s*$/.exec(v);
    const off = z ? (Number(z[2]) * 60 + Number(z[3])) * (z[1] === '-' ? -1 : 1) : 0;
    const d = new Date(ms + off * 60_000);
    return { ms, day: [d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()] };
  }
}
