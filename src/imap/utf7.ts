// Modified UTF-7 for mailbox names (RFC 3501 §5.1.3), both ways, hand-written:
// printable US-ASCII except "&" stands for itself, "&" is "&-", anything else is
// "&" + base64 of UTF-16BE with "," for "/" and no padding + "-".

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,';
const B64_INDEX = new Int8Array(128).fill(-1);
for (let i = 0; i < B64.length; i++) B64_INDEX[B64.charCodeAt(i)] = i;

function isDirect(c: number): boolean {
  return c >= 0x20 && c <= 0x7e;
}

/** Unicode mailbox name → modified UTF-7. */
export function encodeMailboxName(name: string): string {
  let out = '';
  let i = 0;
  while (i < name.length) {
    const c = name.charCodeAt(i);
    if (c === 0x26) {
      out += '&-';
      i++;
      continue;
    }
    if (isDirect(c)) {
      out += name[i];
      i++;
      continue;
    }
    // a run of characters that need encoding, as UTF-16 code units
    const units: number[] = [];
    while (i < name.length && !isDirect(name.charCodeAt(i))) {
      units.push(name.charCodeAt(i));
      i++;
    }
    let bits = 0;
    let nbits = 0;
    out += '&';
    for (const u of units) {
      bits = (bits << 16) | u;
      nbits += 16;
      while (nbits >= 6) {
        nbits -= 6;
        out += B64[(bits >> nbits) & 0x3f];
      }
      bits &= (1 << nbits) - 1;
    }
    if (nbits > 0) out += B64[(bits << (6 - nbits)) & 0x3f];
    out += '-';
  }
  return out;
}

/**
 * Modified UTF-7 → Unicode; undefined when the text is not valid modified UTF-7
 * (8-bit or control characters, a bad base64 run, leftover bits, an encoded
 * printable ASCII character, unpaired surrogates), as Dovecot refuses such names.
 */
export function decodeMailboxName(text: string): string | undefined {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (!isDirect(c)) return undefined;
    if (c !== 0x26) {
      out += text[i];
      i++;
      continue;
    }
    const end = text.indexOf('-', i + 1);
    if (end < 0) return undefined;
    if (end === i + 1) {
      out += '&';
      i = end + 1;
      continue;
    }
    let bits = 0;
    let nbits = 0;
    const units: number[] = [];
    for (let j = i + 1; j < end; j++) {
      const cc = text.charCodeAt(j);
      const v = cc < 128 ? B64_INDEX[cc] : -1;
      if (v < 0) return undefined;
      bits = (bits << 6) | v;
      nbits += 6;
      if (nbits >= 16) {
        nbits -= 16;
        units.push((bits >> nbits) & 0xffff);
        bits &= (1 << nbits) - 1;
      }
    }
    // leftover must be fewer than 6 zero bits
    if (nbits >= 6 || bits !== 0 || units.length === 0) return undefined;
    for (let k = 0; k < units.length; k++) {
      const u = units[k];
      if (isDirect(u)) return undefined;
      if (u >= 0xd800 && u <= 0xdbff) {
        const lo = units[k + 1];
        if (lo === undefined || lo < 0xdc00 || lo > 0xdfff) return undefined;
        out += String.fromCharCode(u, lo);
        k++;
        continue;
      }
      if (u >= 0xdc00 && u <= 0xdfff) return undefined;
      out += String.fromCharCode(u);
    }
    i = end + 1;
    // two adjacent encoded runs are not canonical
    if (text.charCodeAt(i) === 0x26 && text.charCodeAt(i + 1) !== 0x2d) return undefined;
  }
  return out;
}
