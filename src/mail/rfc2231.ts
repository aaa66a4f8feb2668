// RFC 2045 §5.1 parameter lists with RFC 2231 §3/§4 continuations, merged the way Dovecot's
// rfc2231-parser does: plain parameters first in their order, then the merged key*N[*]
// parameters sorted by name. Continuations are joined; an encoded (starred) result keeps its
// charset'lang' prefix undecoded under the name "key*". Missing indexes leave the pieces as
// they were ("key*0", "key*2*", ...). A parameter that cannot be parsed is skipped byte by byte.

import { Rfc822Parser } from './rfc822.js';

export interface MimeParam {
  name: string;
  value: string;
}

interface Piece {
  key: string;
  value: string;
  idx: number;
  extended: boolean;
}

function escapePercent(s: string): string {
  return s.replace(/%/g, '%25');
}

/** Reads "; key=value" pairs from the parser's position to its end. */
export function parseParams(p: Rfc822Parser): MimeParam[] {
  const result: MimeParam[] = [];
  const pieces: Piece[] = [];
  const res = { key: '', value: '' };
  // Dovecot reuses one rfc2231_param struct: a "key*" without index inherits the previous index.
  let idx = 0;
  for (;;) {
    const ret = p.parseContentParam(res);
    if (ret === 0) break;
    if (ret < 0) {
      if (p.pos >= p.end) break;
      p.pos++;
      continue;
    }
    const key = res.key;
    const star = key.indexOf('*');
    if (star !== -1) {
      let i = star;
      if (i + 1 < key.length) {
        i++;
        idx = 0;
        while (i < key.length && key.charCodeAt(i) >= 0x30 && key.charCodeAt(i) <= 0x39) {
          idx = (idx * 10 + (key.charCodeAt(i) - 0x30)) >>> 0;
          i++;
        }
      }
      let extended = false;
      if (key[i] === '*') {
        extended = true;
        i++;
      }
      if (i >= key.length) {
        pieces.push({ key: key.slice(0, star), value: res.value, idx, extended });
        continue;
      }
    }
    result.push({ name: key, value: res.value });
  }
  if (pieces.length === 0) return result;

  const cmp = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
  pieces.sort((a, b) => cmp(a.key, b.key) || a.idx - b.idx);
  let next: number;
  for (let i = 0; i < pieces.length; i = next) {
    let ok = true;
    let haveExtended = false;
    let nextIdx = 0;
    let j = i;
    for (; j < pieces.length; j++) {
      if (pieces[i]!.key.toLowerCase() !== pieces[j]!.key.toLowerCase()) break;
      if (pieces[j]!.idx !== nextIdx) ok = false;
      if (pieces[j]!.extended) haveExtended = true;
      nextIdx++;
    }
    next = j;
    if (!ok) {
      for (j = i; j < next; j++) {
        const pc = pieces[j]!;
        result.push({ name: `${pc.key}*${pc.idx}${pc.extended ? '*' : ''}`, value: pc.value });
      }
      continue;
    }
    let value = '';
    if (!pieces[i]!.extended && haveExtended) value += "''";
    for (j = i; j < next; j++) {
      const pc = pieces[j]!;
      value += !pc.extended && haveExtended ? escapePercent(pc.value) : pc.value;
    }
    result.push({ name: haveExtended ? `${pieces[i]!.key}*` : pieces[i]!.key, value });
  }
  return result;
}
