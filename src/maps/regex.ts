// Translating the patterns of regexp: tables (POSIX regcomp(3): extended syntax by
// default, basic syntax with the `x` flag toggled) and pcre: tables (PCRE2) into
// JavaScript regular expressions. What JavaScript cannot express (possessive
// quantifiers, atomic groups, recursion, inline option changes in mid-pattern, …) is a
// RegexTranslateError naming the construct, reported as a table error, never a silent
// change of meaning.

export class RegexTranslateError extends Error {}

export interface Translated {
  source: string;
  /** Number of capturing groups ($1..$n substitution range). */
  groups: number;
}

const POSIX_CLASSES: Record<string, string> = {
  alpha: 'A-Za-z',
  digit: '0-9',
  alnum: '0-9A-Za-z',
  upper: 'A-Z',
  lower: 'a-z',
  space: ' \\t\\n\\r\\f\\v',
  blank: ' \\t',
  punct: '!-\\/:-@\\[-`{-~',
  print: ' -~',
  graph: '!-~',
  cntrl: '\\x00-\\x1f\\x7f',
  xdigit: '0-9A-Fa-f',
  word: '\\w',
};

/** Escape one literal character for use outside a JS character class. */
function lit(ch: string): string {
  return /[\\^$.*+?()[\]{}|/]/.test(ch) ? '\\' + ch : ch === '\n' ? '\\n' : ch;
}

/** Escape one literal character for use inside a JS character class. */
function classLit(ch: string): string {
  return /[\\\]\[^-]/.test(ch) ? '\\' + ch : ch === '\n' ? '\\n' : ch;
}

/**
 * Parse a bracket expression starting at `i` (just after `[`). `posixBackslash`: in POSIX
 * bracket expressions a backslash is literal; in PCRE it escapes.
 */
function bracket(p: string, start: number, mode: 'posix' | 'pcre', escapeInClass?: (p: string, i: number) => { out: string; next: number }): { out: string; next: number } {
  let i = start;
  let out = '[';
  if (p[i] === '^') {
    out += '^';
    i++;
  }
  let first = true;
  for (;;) {
    if (i >= p.length) throw new RegexTranslateError('unmatched [ in pattern');
    const ch = p[i];
    if (ch === ']' && !first) {
      i++;
      break;
    }
    first = false;
    if (ch === '[' && (p[i + 1] === ':' || p[i + 1] === '=' || p[i + 1] === '.')) {
      const kind = p[i + 1];
      const end = p.indexOf(kind + ']', i + 2);
      if (end < 0) throw new RegexTranslateError(`unterminated [${kind} in bracket expression`);
      const name = p.slice(i + 2, end);
      if (kind === ':') {
        const neg = mode === 'pcre' && name.startsWith('^');
        const cls = POSIX_CLASSES[neg ? name.slice(1) : name];
        if (!cls) throw new RegexTranslateError(`unknown character class [:${name}:]`);
        if (neg) throw new RegexTranslateError(`negated POSIX class [:${name}:] is not supported`);
        out += cls;
      } else if (kind === '.' && name.length === 1) {
        out += classLit(name);
      } else {
        throw new RegexTranslateError(`collating element or equivalence class [${kind}${name}${kind}] is not supported`);
      }
      i = end + 2;
      continue;
    }
    if (ch === '\\' && mode === 'pcre' && escapeInClass) {
      const r = escapeInClass(p, i);
      out += r.out;
      i = r.next;
      continue;
    }
    if (ch === '-') {
      // a range operator between two items, or a literal at the start/end
      const atEnd = p[i + 1] === ']';
      const atStart = out === '[' || out === '[^';
      out += atEnd || atStart ? '\\-' : '-';
      i++;
      continue;
    }
    out += classLit(ch);
    i++;
  }
  return { out: out + ']', next: i };
}

/** A valid interval `{m}`, `{m,}`, `{m,n}` (or `{,n}` in PCRE2 10.43) at i? Returns its end. */
function intervalEnd(p: string, i: number, close = '}'): number {
  const m = close === '}' ? /^\{(\d+)(,(\d*))?\}/.exec(p.slice(i)) : /^\\\{(\d+)(,(\d*))?\\\}/.exec(p.slice(i));
  return m ? i + m[0].length : -1;
}

/** POSIX regcomp(3) pattern (extended, or basic when `extended` is false) → JS source. */
export function translatePosix(p: string, extended = true): Translated {
  let out = '';
  let groups = 0;
  let open = 0;
  let atomStart = true; // where a quantifier would have nothing to repeat
  for (let i = 0; i < p.length; ) {
    const ch = p[i];
    if (ch === '\\') {
      const c = p[i + 1];
      if (c === undefined) throw new RegexTranslateError('trailing backslash');
      i += 2;
      if (!extended && c === '(') {
        out += '(';
        groups++;
        open++;
        atomStart = true;
        continue;
      }
      if (!extended && c === ')') {
        if (open === 0) throw new RegexTranslateError('unmatched \\)');
        out += ')';
        open--;
        atomStart = false;
        continue;
      }
      if (!extended && c === '{') {
        const end = intervalEnd(p, i - 2, '\\}');
        if (end < 0) throw new RegexTranslateError('invalid \\{ interval');
        out += p.slice(i, end - 2).replace(/^/, '{') + '}';
        i = end;
        continue;
      }
      if (!extended && (c === '|' || c === '+' || c === '?')) {
        if (c !== '|' && atomStart) out += lit(c);
        else out += c;
        atomStart = c === '|';
        continue;
      }
      if (/[1-9]/.test(c)) {
        if (Number(c) > groups) throw new RegexTranslateError(`back reference \\${c} to a group that does not exist`);
        out += '\\' + c;
      } else if (/[wWsSbB]/.test(c)) out += '\\' + c;
      else if (c === '<') out += '\\b(?=\\w)';
      else if (c === '>') out += '\\b(?<=\\w)';
      else if (c === '`') out += '(?<![\\s\\S])';
      else if (c === "'") out += '(?![\\s\\S])';
      else out += lit(c);
      atomStart = false;
      continue;
    }
    if (ch === '[') {
      const r = bracket(p, i + 1, 'posix');
      out += r.out;
      i = r.next;
      atomStart = false;
      continue;
    }
    if (extended) {
      if (ch === '(') {
        if (p[i + 1] === '?') throw new RegexTranslateError('"(?" is not valid in a POSIX regular expression (use a pcre: table)');
        out += '(';
        groups++;
        open++;
        atomStart = true;
        i++;
        continue;
      }
      if (ch === ')') {
        if (open === 0) throw new RegexTranslateError('unmatched )');
        out += ')';
        open--;
        atomStart = false;
        i++;
        continue;
      }
      if (ch === '|') {
        out += '|';
        atomStart = true;
        i++;
        continue;
      }
      if (ch === '*' || ch === '+' || ch === '?') {
        out += atomStart ? lit(ch) : ch;
        i++;
        continue;
      }
      if (ch === '{') {
        const end = intervalEnd(p, i);
        if (end >= 0 && !atomStart) {
          out += p.slice(i, end);
          i = end;
        } else {
          out += '\\{';
          i++;
        }
        continue;
      }
    } else {
      if (ch === '*') {
        out += atomStart ? '\\*' : '*';
        i++;
        continue;
      }
      if ('(){}|+?'.includes(ch)) {
        out += lit(ch);
        i++;
        atomStart = false;
        continue;
      }
      if (ch === '^' && i !== 0) {
        out += '\\^';
        i++;
        continue;
      }
      if (ch === '$' && i !== p.length - 1) {
        out += '\\$';
        i++;
        continue;
      }
    }
    if (ch === '^' || ch === '$') {
      out += ch;
      atomStart = ch === '^';
      i++;
      continue;
    }
    if (ch === '.') out += '.';
    else if (ch === '}') out += '\\}';
    else if (ch === '/') out += '\\/';
    else out += ch === '\n' ? '\\n' : ch;
    atomStart = false;
    i++;
  }
  if (open > 0) throw new RegexTranslateError('unmatched (');
  return { source: out, groups };
}

export interface PcreOptions {
  /** PCRE2_EXTENDED (the `x` flag): whitespace and #comments in the pattern are ignored. */
  extended: boolean;
}

export interface PcreTranslated extends Translated {
  /** Option settings found at the very start of the pattern, e.g. (?i): toggles applied by the caller. */
  leading: { i?: boolean; m?: boolean; s?: boolean; x?: boolean };
}

const HEX = /^[0-9a-fA-F]$/;

function codeUnit(n: number): string {
  if (n > 0xffff) throw new RegexTranslateError('code points above U+FFFF are not supported');
  return n <= 0xff ? '\\x' + n.toString(16).padStart(2, '0') : '\\u' + n.toString(16).padStart(4, '0');
}

/** A PCRE escape sequence at p[i] === '\\' → JS text; `inClass` for inside [...]. */
function pcreEscape(p: string, i: number, inClass: boolean, groupCount: () => number): { out: string; next: number } {
  const c = p[i + 1];
  if (c === undefined) throw new RegexTranslateError('\\ at end of pattern');
  const two = i + 2;
  switch (c) {
    case 'd':
    case 'D':
    case 'w':
    case 'W':
    case 's':
    case 'S':
    case 't':
    case 'n':
    case 'r':
    case 'f':
      return { out: '\\' + c, next: two };
    case 'b':
      return { out: inClass ? '\\x08' : '\\b', next: two };
    case 'B':
      if (inClass) throw new RegexTranslateError('\\B is not valid in a character class');
      return { out: '\\B', next: two };
    case 'a':
      return { out: '\\x07', next: two };
    case 'e':
      return { out: '\\x1b', next: two };
    case 'h':
      return { out: inClass ? '\\t \\xa0' : '[\\t \\xa0]', next: two };
    case 'H':
      if (inClass) throw new RegexTranslateError('\\H in a character class is not supported');
      return { out: '[^\\t \\xa0]', next: two };
    case 'v':
      return { out: inClass ? '\\n\\x0b\\f\\r\\x85' : '[\\n\\x0b\\f\\r\\x85]', next: two };
    case 'V':
      if (inClass) throw new RegexTranslateError('\\V in a character class is not supported');
      return { out: '[^\\n\\x0b\\f\\r\\x85]', next: two };
    case 'R':
      if (inClass) throw new RegexTranslateError('\\R is not valid in a character class');
      return { out: '(?:\\r\\n|[\\n\\x0b\\f\\r\\x85])', next: two };
    case 'N':
      if (inClass) throw new RegexTranslateError('\\N is not valid in a character class');
      return { out: '[^\\n]', next: two };
    case 'A':
      return { out: '(?<![\\s\\S])', next: two };
    case 'z':
      return { out: '(?![\\s\\S])', next: two };
    case 'Z':
      return { out: '(?=\\n?(?![\\s\\S]))', next: two };
    case 'c': {
      const x = p[two];
      if (!x || !/[A-Za-z]/.test(x)) throw new RegexTranslateError('\\c must be followed by a letter');
      return { out: '\\c' + x, next: two + 1 };
    }
    case 'x': {
      if (p[two] === '{') {
        const end = p.indexOf('}', two);
        const hex = end > 0 ? p.slice(two + 1, end) : '';
        if (!/^[0-9a-fA-F]+$/.test(hex)) throw new RegexTranslateError('bad \\x{...} escape');
        return { out: codeUnit(parseInt(hex, 16)), next: end + 1 };
      }
      let hex = '';
      let j = two;
      while (hex.length < 2 && j < p.length && HEX.test(p[j])) hex += p[j++];
      return { out: codeUnit(hex ? parseInt(hex, 16) : 0), next: j };
    }
    case 'o': {
      if (p[two] !== '{') throw new RegexTranslateError('\\o must be followed by {');
      const end = p.indexOf('}', two);
      const oct = end > 0 ? p.slice(two + 1, end) : '';
      if (!/^[0-7]+$/.test(oct)) throw new RegexTranslateError('bad \\o{...} escape');
      return { out: codeUnit(parseInt(oct, 8)), next: end + 1 };
    }
    case '0': {
      let oct = '';
      let j = two;
      while (oct.length < 2 && j < p.length && /[0-7]/.test(p[j])) oct += p[j++];
      return { out: codeUnit(parseInt('0' + oct, 8)), next: j };
    }
    case 'g':
    case 'k': {
      if (inClass) throw new RegexTranslateError(`\\${c} is not valid in a character class`);
      const m = /^(?:\{(-?\d+|[A-Za-z_]\w*)\}|<([A-Za-z_]\w*)>|'([A-Za-z_]\w*)'|(-?\d+))/.exec(p.slice(two));
      if (!m) throw new RegexTranslateError(`bad \\${c} reference`);
      const ref = m[1] ?? m[2] ?? m[3] ?? m[4];
      if (/^-?\d+$/.test(ref)) {
        const n = Number(ref);
        const abs = n < 0 ? groupCount() + 1 + n : n;
        if (abs < 1) throw new RegexTranslateError(`bad relative back reference \\${c}${ref}`);
        if (c === 'g' && m[0].startsWith('<')) throw new RegexTranslateError('subroutine calls are not supported');
        return { out: `(?:\\${abs})`, next: two + m[0].length };
      }
      if (c === 'g' && (m[2] !== undefined || m[3] !== undefined)) throw new RegexTranslateError('subroutine calls (\\g<name>) are not supported');
      return { out: `\\k<${ref}>`, next: two + m[0].length };
    }
    case 'p':
    case 'P':
    case 'X':
    case 'C':
    case 'G':
    case 'K':
      throw new RegexTranslateError(`\\${c} is not supported in JavaScript regular expressions`);
    default:
      if (/[1-9]/.test(c)) {
        // back reference, or an octal escape when there are fewer groups
        let digits = '';
        let j = i + 1;
        while (j < p.length && /\d/.test(p[j])) digits += p[j++];
        if (!inClass && (Number(digits) < 10 || Number(digits) <= groupCount())) {
          return { out: `(?:\\${Number(digits)})`, next: j };
        }
        const oct = /^[0-7]{1,3}/.exec(digits)?.[0];
        if (!oct) throw new RegexTranslateError(`reference \\${digits} to a group that does not exist`);
        return { out: codeUnit(parseInt(oct, 8)), next: i + 1 + oct.length };
      }
      if (/[A-Za-z]/.test(c)) throw new RegexTranslateError(`unrecognized escape sequence \\${c}`);
      return { out: inClass ? classLit(c) : lit(c), next: two };
  }
}

/** PCRE2 pattern → JS source. */
export function translatePcre(p: string, opts: PcreOptions): PcreTranslated {
  const leading: PcreTranslated['leading'] = {};
  let i = 0;
  // leading option settings (?i) (?-i) (?ix) … apply to the whole pattern
  for (;;) {
    const m = /^\(\?([imsx]*)(?:-([imsx]*))?\)/.exec(p.slice(i));
    if (!m || (m[1] === '' && !m[2])) break;
    for (const f of m[1]) leading[f as 'i'] = true;
    for (const f of m[2] ?? '') leading[f as 'i'] = false;
    i += m[0].length;
  }
  const extended = leading.x ?? opts.extended;
  let out = '';
  let maxBackref = 0;
  let groups = 0;
  const groupCount = () => groups;
  let lastWasQuantifier = false;
  let quantifiable = false;
  while (i < p.length) {
    const ch = p[i];
    if (extended) {
      if (/\s/.test(ch)) {
        i++;
        continue;
      }
      if (ch === '#') {
        const nl = p.indexOf('\n', i);
        i = nl < 0 ? p.length : nl + 1;
        continue;
      }
    }
    if (ch === '\\' && p[i + 1] === 'Q') {
      const end = p.indexOf('\\E', i + 2);
      const text = end < 0 ? p.slice(i + 2) : p.slice(i + 2, end);
      out += [...text].map(lit).join('');
      i = end < 0 ? p.length : end + 2;
      lastWasQuantifier = false;
      quantifiable = text.length > 0;
      continue;
    }
    if (ch === '\\' && p[i + 1] === 'E') {
      i += 2;
      continue;
    }
    if (ch === '\\') {
      const r = pcreEscape(p, i, false, groupCount);
      out += r.out;
      i = r.next;
      lastWasQuantifier = false;
      quantifiable = true;
      continue;
    }
    if (ch === '[') {
      const r = bracket(p, i + 1, 'pcre', (pp, j) => {
        if (pp[j + 1] === 'Q') {
          const end = pp.indexOf('\\E', j + 2);
          const text = end < 0 ? pp.slice(j + 2) : pp.slice(j + 2, end);
          return { out: [...text].map(classLit).join(''), next: end < 0 ? pp.length : end + 2 };
        }
        if (pp[j + 1] === 'E') return { out: '', next: j + 2 };
        return pcreEscape(pp, j, true, groupCount);
      });
      out += r.out;
      i = r.next;
      lastWasQuantifier = false;
      quantifiable = true;
      continue;
    }
    if (ch === '(') {
      if (p[i + 1] === '*') throw new RegexTranslateError('backtracking control verbs (*...) are not supported');
      if (p[i + 1] !== '?') {
        out += '(';
        groups++;
        i++;
        lastWasQuantifier = false;
        quantifiable = false;
        continue;
      }
      const rest = p.slice(i + 2);
      let m: RegExpExecArray | null;
      if (rest.startsWith('#')) {
        const end = p.indexOf(')', i);
        if (end < 0) throw new RegexTranslateError('unterminated (?# comment');
        i = end + 1;
        continue;
      }
      if (rest.startsWith(':') || rest.startsWith('=') || rest.startsWith('!') || rest.startsWith('<=') || rest.startsWith('<!')) {
        const n = rest.startsWith('<') ? 3 : 2;
        out += p.slice(i, i + n + 1);
        i += n + 1;
        lastWasQuantifier = false;
        quantifiable = false;
        continue;
      }
      if ((m = /^(?:P?<([A-Za-z_]\w*)>|'([A-Za-z_]\w*)')/.exec(rest))) {
        out += `(?<${m[1] ?? m[2]}>`;
        groups++;
        i += 2 + m[0].length;
        lastWasQuantifier = false;
        quantifiable = false;
        continue;
      }
      if ((m = /^P=([A-Za-z_]\w*)\)/.exec(rest))) {
        out += `\\k<${m[1]}>`;
        i += 2 + m[0].length;
        lastWasQuantifier = false;
        quantifiable = true;
        continue;
      }
      if (rest.startsWith('>')) throw new RegexTranslateError('atomic groups (?>...) are not supported');
      if (rest.startsWith('|')) throw new RegexTranslateError('branch reset groups (?|...) are not supported');
      if (rest.startsWith('(')) throw new RegexTranslateError('conditional groups (?(...)...) are not supported');
      if (/^(R|[+-]?\d|&|P>)/.test(rest)) throw new RegexTranslateError('recursion and subroutine calls are not supported');
      if (rest.startsWith('C')) throw new RegexTranslateError('callouts (?C...) are not supported');
      if (/^[a-zA-Z^-]/.test(rest)) throw new RegexTranslateError('option settings in the middle of a pattern (e.g. (?i) or (?i:...)) are not supported; use the table flags or put (?i) at the very start');
      throw new RegexTranslateError(`unsupported group syntax "(?${rest.slice(0, 3)}"`);
    }
    if (ch === '*' || ch === '+' || ch === '?' || (ch === '{' && intervalEnd(p, i) >= 0)) {
      if (lastWasQuantifier) {
        if (ch === '+') throw new RegexTranslateError('possessive quantifiers (*+, ++, ?+, {n}+) are not supported');
        if (ch === '?') {
          out += '?';
          i++;
          lastWasQuantifier = false;
          continue;
        }
      }
      if (!quantifiable) throw new RegexTranslateError(`quantifier "${ch}" does not follow a repeatable item`);
      if (ch === '{') {
        const end = intervalEnd(p, i);
        out += p.slice(i, end);
        i = end;
      } else {
        out += ch;
        i++;
      }
      lastWasQuantifier = true;
      continue;
    }
    lastWasQuantifier = false;
    if (ch === ')') {
      out += ')';
      quantifiable = true;
    } else if (ch === '|' || ch === '^') {
      out += ch;
      quantifiable = false;
    } else if (ch === '$') {
      out += '$';
      quantifiable = false;
    } else if (ch === '{' || ch === '}' || ch === '/') {
      out += '\\' + ch;
      quantifiable = true;
    } else {
      out += ch === '\n' ? '\\n' : ch;
      quantifiable = true;
    }
    i++;
  }
  for (const m of out.matchAll(/\(\?:\\(\d+)\)/g)) maxBackref = Math.max(maxBackref, Number(m[1]));
  if (maxBackref > groups) throw new RegexTranslateError(`back reference \\${maxBackref} to a group that does not exist`);
  return { source: out, groups, leading };
}
