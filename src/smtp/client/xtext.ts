// xtext (RFC 3461 §4): ENVID= and ORCPT= values on the wire.

/** Encode: "+" , "=" and bytes outside "!".."~" become "+HH". */
export function xtextEncode(s: string): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    if (b >= 0x21 && b <= 0x7e && b !== 0x2b && b !== 0x3d) out += String.fromCharCode(b);
    else out += '+' + b.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

/** Decode "+HH" escapes (invalid escapes are kept as they are). */
export function xtextDecode(s: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '+' && /^[0-9A-Fa-f]{2}$/.test(s.slice(i + 1, i + 3))) {
      bytes.push(parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(...Buffer.from(s[i], 'utf8'));
  }
  return Buffer.from(bytes).toString('utf8');
}

/** ORCPT=type;xtext (RFC 3461 §4.2) from the decoded `rfc822;addr` form. */
export function orcptParam(orcpt: string): string {
  const i = orcpt.indexOf(';');
  if (i < 0) return `rfc822;${xtextEncode(orcpt)}`;
  return `${orcpt.slice(0, i)};${xtextEncode(orcpt.slice(i + 1))}`;
}
