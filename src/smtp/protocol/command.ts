// SMTP command lines (RFC 5321 §4.1): the verb, and the MAIL FROM / RCPT TO argument
// split the way Postfix's smtpd_token() does: whitespace separates words, but a quoted
// string or an <...> path is one word even when it contains spaces.

export interface Command {
  /** Upper-case verb (`MAIL`), or the first word as given when it is not a known verb. */
  verb: string;
  /** The first word as sent. */
  word: string;
  /** Everything after the first run of spaces following the verb. */
  rest: string;
}

/** Split a command line into its verb and the rest; undefined for an empty line. */
export function parseCommand(line: string): Command | undefined {
  const s = line.replace(/^[ \t]+/, '').replace(/[ \t]+$/, '');
  if (s === '') return undefined;
  const m = /^(\S+)(?:[ \t]+([\s\S]*))?$/.exec(s);
  if (!m) return undefined;
  return { verb: m[1].toUpperCase(), word: m[1], rest: m[2] ?? '' };
}

/** Read one word starting at `i`: quoted strings and <...> keep their spaces. */
export function readWord(s: string, i: number): { word: string; end: number; error?: boolean } {
  let j = i;
  let inQuote = false;
  let angle = 0;
  while (j < s.length) {
    const c = s[j];
    if (inQuote) {
      if (c === '\\') {
        j += 2;
        continue;
      }
      if (c === '"') inQuote = false;
      j++;
      continue;
    }
    if (c === '"') inQuote = true;
    else if (c === '<') angle++;
    else if (c === '>') angle = Math.max(0, angle - 1);
    else if ((c === ' ' || c === '\t') && angle === 0) break;
    j++;
  }
  return { word: s.slice(i, Math.min(j, s.length)), end: Math.min(j, s.length), error: inQuote || angle > 0 };
}

export function splitWords(s: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < s.length) {
    while (i < s.length && (s[i] === ' ' || s[i] === '\t')) i++;
    if (i >= s.length) break;
    const w = readWord(s, i);
    out.push(w.word);
    i = w.end;
  }
  return out;
}

export type EnvelopeArgument =
  | { ok: true; path: string; params: string[] }
  /** `syntax`: not `FROM:`/`TO:` or nothing after it; `path`: a malformed path word. */
  | { ok: false; error: 'syntax' | 'path' };

/** `FROM:<a@b> SIZE=10` / `FROM: <a@b>` / `FROM:a@b` → path word and parameters. */
export function parseEnvelopeArgument(rest: string, keyword: 'FROM' | 'TO'): EnvelopeArgument {
  const k = keyword + ':';
  if (rest.slice(0, k.length).toUpperCase() !== k) return { ok: false, error: 'syntax' };
  const after = rest.slice(k.length).replace(/^[ \t]+/, '');
  if (after === '') return { ok: false, error: 'syntax' };
  const w = readWord(after, 0);
  if (w.error) return { ok: false, error: 'path' };
  return { ok: true, path: w.word, params: splitWords(after.slice(w.end)) };
}

/** Postfix is_header(): the word looks like a message header name followed by a colon. */
export function looksLikeHeader(word: string): boolean {
  return /^[\x21-\x39\x3b-\x7e]+:/.test(word);
}
