// i;unicode-casemap (RFC 5051), the comparator Dovecot uses for SEARCH: every character is
// case-mapped and fully decomposed, then substrings are compared. Dovecot maps to titlecase with
// simple (one-to-one) mappings; here each character takes its uppercase form when that is a
// single character (ß stays ß, as in Dovecot, instead of becoming "SS"), and NFKD decomposes.

/** BMP characters whose full uppercase is more than one character (ß, ŉ, ǰ, ﬀ, ...). */
const EXPANDING = ((): RegExp => {
  let cls = '';
  for (let cp = 0x80; cp <= 0xffff; cp++) {
    if (cp >= 0xd800 && cp <= 0xdfff) continue;
    const ch = String.fromCharCode(cp);
    if (ch.toUpperCase().length > 1) cls += '\\u' + cp.toString(16).padStart(4, '0');
  }
  return new RegExp(`[${cls}]`, 'g');
})();

const ASCII_ONLY = /^[\x00-\x7f]*$/;

/** The comparable form of s. */
export function casemap(s: string): string {
  if (ASCII_ONLY.test(s)) return s.toUpperCase();
  const d = s.normalize('NFKD');
  EXPANDING.lastIndex = 0;
  if (!EXPANDING.test(d)) return d.toUpperCase().normalize('NFKD');
  EXPANDING.lastIndex = 0;
  let out = '';
  let last = 0;
  for (let m = EXPANDING.exec(d); m !== null; m = EXPANDING.exec(d)) {
    out += d.slice(last, m.index).toUpperCase() + m[0];
    last = m.index + m[0].length;
  }
  out += d.slice(last).toUpperCase();
  return out.normalize('NFKD');
}

/** Case-insensitive substring test under i;unicode-casemap; an empty needle matches. */
export function casemapIncludes(haystack: string, needle: string): boolean {
  return casemap(haystack).includes(casemap(needle));
}
