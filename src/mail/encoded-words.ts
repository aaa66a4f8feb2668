// RFC 2047 encoded words decoded the way Dovecot's message-header-decode does it for SEARCH:
// "=?" starts a word anywhere (also inside a word or quotes), a block that is not
// "charset?Q|B?text?=" stays as text, whitespace that only separates encoded words is dropped,
// broken base64/Q data keeps what decoded so far, an unknown charset keeps the bytes as UTF-8.
// ENVELOPE does not decode (it passes words through); this is for matching only.

import { decodeCharset, decodeUtf8, isUtf8Charset } from './charset.js';
import { decodeBase64 } from './transfer-decode.js';

function hexVal(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

/** RFC 2047 §4.2 "Q": '_' is a space, =XX a byte; a bad escape stays as written. */
function qDecode(src: Uint8Array): Buffer {
  const out: number[] = [];
  for (let i = 0; i < src.length; i++) {
    const c = src[i]!;
    if (c === 0x5f) out.push(0x20);
    else if (c === 0x3d && i + 2 < src.length && hexVal(src[i + 1]!) >= 0 && hexVal(src[i + 2]!) >= 0) {
      out.push((hexVal(src[i + 1]!) << 4) | hexVal(src[i + 2]!));
      i += 2;
    } else if (c === 0x3d && i + 2 >= src.length) {
      for (; i < src.length; i++) out.push(src[i]!);
    } else out.push(c);
  }
  return Buffer.from(out);
}

function isOnlyLwsp(buf: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const c = buf[i];
    if (c !== 0x20 && c !== 0x09 && c !== 0x0d && c !== 0x0a) return false;
  }
  return true;
}

function convert(bytes: Uint8Array, charset: string | null): string {
  if (charset === null || isUtf8Charset(charset)) return decodeUtf8(bytes);
  // RFC 2231 §5: "charset*language"
  const star = charset.indexOf('*');
  const cs = star === -1 ? charset : charset.slice(0, star);
  if (isUtf8Charset(cs)) return decodeUtf8(bytes);
  return decodeCharset(bytes, cs) ?? decodeUtf8(bytes);
}

/**
 * Tries "charset?encoding?text?=" at data[pos..]; returns the decoded word and the offset after
 * "?=", or undefined for an invalid block.
 */
function decodeWord(data: Uint8Array, pos: number, end: number): { text: string; next: number } | undefined {
  const q: number[] = [];
  let i = pos;
  for (; i < end; i++) {
    if (data[i] === 0x3f) {
      q.push(i);
      if (q.length === 3) break;
    }
  }
  if (i + 1 >= end || data[i + 1] !== 0x3d) return undefined;
  const charset = Buffer.from(data.subarray(pos, q[0]!)).toString('latin1');
  const enc = data[q[0]! + 1];
  const payload = data.subarray(q[1]! + 1, q[2]!);
  let bytes: Uint8Array;
  if (enc === 0x71 || enc === 0x51) bytes = qDecode(payload);
  else if (enc === 0x62 || enc === 0x42) bytes = decodeBase64(payload).data;
  else return undefined;
  return { text: bytes.length > 0 ? convert(bytes, charset) : '', next: q[2]! + 2 };
}

/** Decodes a header value (raw bytes) to Unicode, raw 8-bit text read as UTF-8. */
export function decodeHeaderValue(data: Uint8Array): string {
  let out = '';
  let start = 0;
  let pos = 0;
  const size = data.length;
  while (pos + 1 < size) {
    if (data[pos] !== 0x3d || data[pos + 1] !== 0x3f) {
      pos++;
      continue;
    }
    if (pos !== start && !isOnlyLwsp(data, start, pos)) out += convert(data.subarray(start, pos), null);
    pos += 2;
    const word = decodeWord(data, pos, size);
    if (word === undefined) {
      start = pos - 2;
      continue;
    }
    out += word.text;
    pos = word.next;
    start = pos;
  }
  if (start < size) out += convert(data.subarray(start), null);
  return out;
}
