// Maildir file names (https://cr.yp.to/proto/maildir.html, Dovecot's extensions):
//   <base>[:2,<flags>]   base = <sec>.M<usec>P<pid>Q<n>.<host>[,S=<size>][,W=<vsize>]
// Flags after ":2," are sorted letters: D=\Draft F=\Flagged P=passed R=\Answered
// S=\Seen T=\Deleted; lower-case a–z are keywords indexed by dovecot-keywords.
import { hostname } from 'node:os';

/** System flags as bits (the order Dovecot lists them: \Answered \Flagged \Deleted \Seen \Draft). */
export const FLAG_ANSWERED = 1;
export const FLAG_FLAGGED = 2;
export const FLAG_DELETED = 4;
export const FLAG_SEEN = 8;
export const FLAG_DRAFT = 16;
/** Keyword i (0–25, letter a–z) is bit KEYWORD_SHIFT + i. */
export const KEYWORD_SHIFT = 5;
export const MAX_KEYWORDS = 26;
export const SYSTEM_FLAG_MASK = 31;

export const SYSTEM_FLAGS: ReadonlyArray<[string, number]> = [
  ['\\Answered', FLAG_ANSWERED],
  ['\\Flagged', FLAG_FLAGGED],
  ['\\Deleted', FLAG_DELETED],
  ['\\Seen', FLAG_SEEN],
  ['\\Draft', FLAG_DRAFT],
];

// Maildir letters in ASCII order, as the spec requires them sorted.
const LETTER_BITS: ReadonlyArray<[string, number]> = [
  ['D', FLAG_DRAFT],
  ['F', FLAG_FLAGGED],
  ['R', FLAG_ANSWERED],
  ['S', FLAG_SEEN],
  ['T', FLAG_DELETED],
];

export interface ParsedName {
  /** The name without the ":2,…" info. */
  base: string;
  /** Flag bits (system + keyword letters). */
  flags: number;
  /** Letters of the info we do not interpret (P, unknown upper-case), kept on rename. */
  extra: string;
  /** `,S=` value: the size of the file. */
  size?: number;
  /** `,W=` value: the size with CRLF line ends (RFC822.SIZE). */
  vsize?: number;
  /** The name had a ":2," info part. */
  hasInfo: boolean;
}

export function parseName(name: string): ParsedName {
  // Dovecot's maildir_info_separator is ':'
  const colon = name.indexOf(':');
  const base = colon >= 0 ? name.slice(0, colon) : name;
  let flags = 0;
  let extra = '';
  let hasInfo = false;
  if (colon >= 0 && name.startsWith('2,', colon + 1)) {
    hasInfo = true;
    for (const ch of name.slice(colon + 3)) {
      const c = ch.charCodeAt(0);
      if (c >= 0x61 && c <= 0x7a) {
        flags |= 1 << (KEYWORD_SHIFT + c - 0x61);
        continue;
      }
      const sys = LETTER_BITS.find(([l]) => l === ch);
      if (sys) flags |= sys[1];
      else if (!extra.includes(ch)) extra += ch;
    }
  }
  const out: ParsedName = { base, flags: flags >>> 0, extra, hasInfo };
  // ,S=<size> and ,W=<vsize> fields in the base name
  for (const m of base.matchAll(/,([SW])=(\d+)/g)) {
    if (m[1] === 'S') out.size = Number(m[2]);
    else out.vsize = Number(m[2]);
  }
  return out;
}

/** The ":2,<letters>" info for the given flags (letters sorted as the Maildir spec requires). */
export function infoFor(flags: number, extra = ''): string {
  const letters: string[] = [];
  for (const [l, bit] of LETTER_BITS) if (flags & bit) letters.push(l);
  for (const ch of extra) letters.push(ch);
  letters.sort();
  let kw = '';
  for (let i = 0; i < MAX_KEYWORDS; i++) if (flags & (1 << (KEYWORD_SHIFT + i))) kw += String.fromCharCode(0x61 + i);
  return ':2,' + letters.join('') + kw;
}

/** The full file name for a base name and flags. */
export function nameFor(base: string, flags: number, extra = ''): string {
  return base + infoFor(flags, extra);
}

let counter = 0;
let cachedHost: string | undefined;

/** Host part of unique names: "/" and ":" are not allowed in it (Dovecot writes \057 and \072). */
export function maildirHost(): string {
  if (cachedHost === undefined) cachedHost = hostname().replace(/\//g, '\\057').replace(/:/g, '\\072') || 'localhost';
  return cachedHost;
}

/** A new unique base name `<sec>.M<usec>P<pid>Q<n>.<host>,S=<size>,W=<vsize>` (the Q counter keeps names unique within a process). */
export function uniqueBase(size?: number, vsize?: number, now = Date.now()): string {
  counter = (counter + 1) % 1_000_000_000;
  const sec = Math.floor(now / 1000);
  const usec = (now % 1000) * 1000 + (counter % 1000);
  let base = `${sec}.M${usec}P${process.pid}Q${counter}.${maildirHost()}`;
  if (size !== undefined) base += `,S=${size}`;
  if (vsize !== undefined) base += `,W=${vsize}`;
  return base;
}
