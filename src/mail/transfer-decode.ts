// Content-Transfer-Encoding decoders (RFC 2045 §6.7 quoted-printable, §6.8 base64) with the
// error semantics of Dovecot's lib/base64.c and lib-mail/qp-decoder.c: each returns what it could
// decode plus whether the input was invalid. BINARY fetches (RFC 3516) refuse invalid input,
// SEARCH uses the decoded data anyway.

import { Rfc822Parser } from './rfc822.js';

export type Cte = '78bit' | 'binary' | 'qp' | 'base64' | 'unknown';

/** Dovecot's message_decoder_parse_cte() on a Content-Transfer-Encoding value (latin1). */
export function parseCte(value: string): Cte {
  const p = new Rfc822Parser(value);
  p.skipLwsp();
  const out = { s: '' };
  p.parseMimeToken(out);
  switch (out.s.toLowerCase()) {
    case '7bit':
    case '8bit':
      return '78bit';
    case 'base64':
      return 'base64';
    case 'binary':
      return 'binary';
    case 'quoted-printable':
      return 'qp';
    default:
      return 'unknown';
  }
}

export interface Decoded {
  data: Buffer;
  /** 'invalid': bad input (Dovecot EINVAL); 'truncated': base64 ends inside a quantum (EPIPE). */
  error: 'invalid' | 'truncated' | null;
}

const B64 = new Uint8Array(256).fill(0xff);
'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'.split('').forEach((c, i) => {
  B64[c.charCodeAt(0)] = i;
});

function isEmpty(c: number): boolean {
  return c === 0x0a || c === 0x0d || c === 0x20 || c === 0x09;
}

/** base64 with whitespace allowed anywhere, '=' padding checked, nothing but whitespace after it. */
export function decodeBase64(src: Uint8Array): Decoded {
  const n = src.length;
  const out = Buffer.allocUnsafe(Math.floor((n * 3) / 4) + 3);
  let o = 0;
  let sub = 0;
  let acc = 0;
  let i = 0;
  let bad = false;
  for (; i < n; i++) {
    const c = src[i]!;
    const dm = B64[c]!;
    if (dm === 0xff) {
      if (isEmpty(c)) continue;
      bad = true;
      break;
    }
    switch (sub) {
      case 0:
        acc = dm;
        sub = 1;
        break;
      case 1:
        out[o++] = ((acc << 2) | (dm >> 4)) & 0xff;
        acc = dm;
        sub = 2;
        break;
      case 2:
        out[o++] = ((acc << 4) | (dm >> 2)) & 0xff;
        acc = dm;
        sub = 3;
        break;
      default:
        out[o++] = ((acc << 6) & 0xc0) | dm;
        acc = 0;
        sub = 0;
    }
  }
  let error: Decoded['error'] = null;
  if (bad) {
    // try to parse the padding at src[i]
    const skipWs = (): void => {
      while (i < n && isEmpty(src[i]!)) i++;
    };
    if (sub === 0 || sub === 1 || src[i] !== 0x3d) {
      error = 'invalid';
    } else {
      let ok = true;
      if (sub === 2) {
        sub = 3;
        i++;
        skipWs();
        if (i === n) ok = false; // "xx=" then end: finish() fails below
      }
      if (ok && error === null) {
        if (src[i] !== 0x3d) error = 'invalid';
        else {
          sub = 0;
          i++;
          skipWs();
          if (i < n) error = 'invalid';
        }
      }
    }
  }
  if (error === null && sub !== 0) error = 'truncated';
  return { data: out.subarray(0, o), error };
}

const enum Qp {
  Text,
  Whitespace,
  Equals,
  EqualsWhitespace,
  Hex2,
  Cr,
  SoftCr,
}

const QP_MAX_WHITESPACE_LEN = 76;

function hexVal(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

/**
 * quoted-printable; output line ends are CRLF, trailing whitespace before a line end is dropped.
 * strict (BINARY) also checks the end of the data (qp_decoder_finish); otherwise (SEARCH, Dovecot's
 * message-decoder) an unfinished escape at the very end is simply not output.
 */
export function decodeQuotedPrintable(src: Uint8Array, strict = true): Decoded {
  // output is at most the input with a CR added before each LF
  const out = Buffer.allocUnsafe(src.length * 2 + 4);
  let o = 0;
  const ws: number[] = [];
  let state = Qp.Text;
  let hexchar = 0;
  let bad = false;
  const n = src.length;
  const put = (...bytes: number[]): void => {
    for (const b of bytes) out[o++] = b;
  };
  const push = (arr: number[]): void => {
    for (const b of arr) out[o++] = b;
  };
  const copy = (from: number, to: number): void => {
    if (to > from) {
      out.set(src.subarray(from, to), o);
      o += to - from;
    }
  };
  const invalid = (): void => {
    switch (state) {
      case Qp.Equals:
        put(0x3d);
        break;
      case Qp.Hex2:
        put(0x3d, hexchar);
        break;
      case Qp.EqualsWhitespace:
        put(0x3d);
        push(ws);
        ws.length = 0;
        break;
      case Qp.Cr:
        push(ws);
        ws.length = 0;
        put(0x0d);
        break;
      case Qp.SoftCr:
        put(0x3d);
        push(ws);
        ws.length = 0;
        put(0x0d);
        break;
      default:
        break;
    }
    state = Qp.Text;
  };
  let i = 0;
  while (i < n) {
    const c = src[i]!;
    switch (state) {
      case Qp.Text: {
        let j = i;
        while (j < n) {
          const d = src[j]!;
          if (d > 0x3d) {
            j++;
            continue;
          }
          if (d === 0x3d) state = Qp.Equals;
          else if (d === 0x0d) state = Qp.Cr;
          else if (d === 0x0a) {
            copy(i, j);
            put(0x0d, 0x0a);
            i = j + 1;
            j = i;
            continue;
          } else if (d === 0x20 || d === 0x09) {
            state = Qp.Whitespace;
            ws.push(d);
          } else {
            j++;
            continue;
          }
          break;
        }
        copy(i, Math.min(j, n));
        i = j < n ? j + 1 : n;
        continue;
      }
      case Qp.Whitespace:
        if (c === 0x20 || c === 0x09) {
          if (ws.length <= QP_MAX_WHITESPACE_LEN) ws.push(c);
        } else if (c === 0x0d) {
          state = Qp.Cr;
        } else if (c === 0x0a) {
          put(0x0d, 0x0a);
          ws.length = 0;
          state = Qp.Text;
        } else {
          push(ws);
          if (ws.length > QP_MAX_WHITESPACE_LEN) bad = true;
          ws.length = 0;
          state = Qp.Text;
          continue;
        }
        break;
      case Qp.Equals:
        if (hexVal(c) >= 0) {
          hexchar = c;
          state = Qp.Hex2;
        } else if (c === 0x20 || c === 0x09) {
          ws.push(c);
          state = Qp.EqualsWhitespace;
        } else if (c === 0x0d) {
          state = Qp.SoftCr;
        } else if (c === 0x0a) {
          state = Qp.Text;
        } else {
          invalid();
          bad = true;
          continue;
        }
        break;
      case Qp.Hex2:
        if (hexVal(c) >= 0) {
          put((hexVal(hexchar) << 4) | hexVal(c));
          state = Qp.Text;
        } else {
          invalid();
          bad = true;
          continue;
        }
        break;
      case Qp.EqualsWhitespace:
        if (c === 0x20 || c === 0x09) {
          if (ws.length <= QP_MAX_WHITESPACE_LEN) ws.push(c);
        } else if (c === 0x0d) {
          state = Qp.SoftCr;
        } else if (c === 0x0a) {
          ws.length = 0;
          state = Qp.Text;
        } else {
          invalid();
          bad = true;
          continue;
        }
        break;
      case Qp.Cr:
      case Qp.SoftCr:
        if (c === 0x0a) {
          ws.length = 0;
          if (state !== Qp.SoftCr) put(0x0d, 0x0a);
          state = Qp.Text;
        } else {
          invalid();
          bad = true;
          continue;
        }
        break;
    }
    i++;
  }
  // qp_decoder_finish(): text or trailing whitespace is a valid end; anything else is not
  let trailerBad = false;
  if (strict && state !== Qp.Text && state !== Qp.Whitespace) {
    invalid();
    trailerBad = true;
  }
  return { data: out.subarray(0, o), error: bad || trailerBad ? 'invalid' : null };
}
