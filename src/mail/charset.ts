// Charset → Unicode for SEARCH (RFC 3501 §6.4.4) and encoded words (RFC 2047 §4).
// Like Dovecot: "us-ascii"/"ascii"/"utf-8"/"utf8" are read as UTF-8; invalid bytes become U+FFFD;
// an unknown charset is reported as undefined so that callers can fall back the way Dovecot does.
// iconv-lite does the work where it knows the charset (it follows the iconv tables Dovecot uses;
// Node 20's TextDecoder reads windows-1252 as ISO-8859-1 and maps ISO-8859-1 to windows-1252);
// TextDecoder (full ICU) covers the rest, such as ISO-2022-JP.

import iconv from 'iconv-lite';

const UTF8_NAMES = new Set(['utf-8', 'utf8', 'us-ascii', 'ascii']);

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
  } else if (key !== '' && iconv.encodingExists(key)) {
    dec = (b) => iconv.decode(Buffer.from(b.buffer, b.byteOffset, b.byteLength), key);
  } else {
    try {
      const td = new TextDecoder(key);
      dec = (b) => td.decode(b);
    } catch {
      dec = null;
    }
  }
  if (dec !== null) {
    const inner = dec;
    // a decoder must not throw on any input; fall back to UTF-8
    dec = (b) => {
      try {
        return inner(b);
      } catch {
        return decodeUtf8(b);
      }
    };
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
