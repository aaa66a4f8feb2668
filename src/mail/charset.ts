// Charset → Unicode for SEARCH (RFC 3501 §6.4.4) and encoded words (RFC 2047 §4).
// Like Dovecot: "us-ascii"/"ascii"/"utf-8"/"utf8" are read as UTF-8; invalid bytes become U+FFFD;
// an unknown charset is reported as undefined so that callers can fall back the way Dovecot does.
// Node 20's TextDecoder (full ICU) does the work; iconv-lite covers the labels where the WHATWG
// Encoding Standard differs from iconv (ISO-8859-1 and ISO-8859-9 are not windows-125x).

import iconv from 'iconv-lite';

const UTF8_NAMES = new Set(['utf-8', 'utf8', 'us-ascii', 'ascii']);

/** Labels that WHATWG maps to a different table than iconv does. */
const ICONV_FIRST = new Set([
  'iso-8859-1', 'iso8859-1', 'iso_8859-1', 'latin1', 'l1', 'cp819', 'ibm819', 'iso-ir-100', 'csisolatin1', 'iso_8859-1:1987',
  'iso-8859-9', 'iso8859-9', 'iso_8859-9', 'latin5', 'l5', 'iso-ir-148', 'csisolatin5', 'iso_8859-9:1989',
]);

const utf8Decoder = new TextDecoder('utf-8');

/** Dovecot's charset_is_utf8(). */
export function isUtf8Charset(name: string): boolean {
  return UTF8_NAMES.has(name.trim().toLowerCase());
}

/** UTF-8 with every invalid sequence replaced by U+FFFD. */
export function decodeUtf8(bytes: Uint8Array): string {
  return utf8Decoder.decode(bytes);
}

const decoders = new Map<string, ((b: Uint8Array) => string) | null>();

function lookup(name: string): ((b: Uint8Array) => string) | null {
  const key = name.trim().toLowerCase();
  const cached = decoders.get(key);
  if (cached !== undefined) return cached;
  let dec: ((b: Uint8Array) => string) | null = null;
  if (UTF8_NAMES.has(key)) {
    dec = decodeUtf8;
  } else if (ICONV_FIRST.has(key) && iconv.encodingExists(key)) {
    dec = (b) => iconv.decode(Buffer.from(b.buffer, b.byteOffset, b.byteLength), key);
  } else {
    try {
      const td = new TextDecoder(key);
      dec = (b) => td.decode(b);
    } catch {
      if (key !== '' && iconv.encodingExists(key)) dec = (b) => iconv.decode(Buffer.from(b.buffer, b.byteOffset, b.byteLength), key);
    }
  }
  if (decoders.size < 256) decoders.set(key, dec);
  return dec;
}

/** True when decodeCharset() knows the charset (used for SEARCH CHARSET / [BADCHARSET]). */
export function isKnownCharset(name: string): boolean {
  return lookup(name) !== null;
}

/** Decodes bytes in the given charset; undefined when the charset is unknown. */
export function decodeCharset(bytes: Uint8Array, charset: string): string | undefined {
  const dec = lookup(charset);
  return dec === null ? undefined : dec(bytes);
}
