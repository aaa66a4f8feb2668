// regexp: (regexp_table(5), POSIX) and pcre: (pcre_table(5)) tables:
//   /pattern/flags result        first matching rule wins
//   !/pattern/flags result       matches when the pattern does not ($n not allowed)
//   if /pattern/flags … endif    rules inside apply only when the pattern matches
// Matching is case-insensitive unless the `i` flag toggles it; results may use $1..$9
// (`${n}`, `$(n)`; `$$` is a dollar). A rule whose pattern cannot be compiled or whose
// result names a group that does not exist is skipped with a diagnostic, as Postfix does.
import { logicalLines, ReloadingFile } from './source.js';
import { RegexTranslateError, translatePcre, translatePosix } from './regex.js';
import type { LookupTable, TableDiagnostic } from './types.js';

type Rule =
  | { kind: 'match'; re: RegExp; negate: boolean; result: string; line: number }
  | { kind: 'if'; re: RegExp; negate: boolean; body: Rule[]; line: number };

const REGEXP_FLAGS = 'imx';
const PCRE_FLAGS = 'imsxAEUX';

interface ParsedPattern {
  negate: boolean;
  pattern: string;
  flags: string;
  rest: string;
}

/** `[!]<delim>pattern<delim>flags rest`; a backslash protects the next character. */
export function splitPattern(l: string): ParsedPattern | string {
  let i = 0;
  let negate = false;
  if (l[i] === '!') {
    negate = true;
    i++;
  }
  const de = l[i];
  if (!de || /[\sA-Za-z0-9\\]/.test(de)) return 'expected a pattern enclosed in delimiters, e.g. /pattern/';
  i++;
  const start = i;
  while (i < l.length && l[i] !== de) {
    if (l[i] === '\\' && i + 1 < l.length) i++;
    i++;
  }
  if (i >= l.length) return `missing closing delimiter "${de}"`;
  let pattern = l.slice(start, i);
  // an escaped delimiter stands for itself
  if (de !== '/') pattern = pattern.split('\\' + de).join(de);
  i++;
  const fm = /^\S*/.exec(l.slice(i))![0];
  const rest = l.slice(i + fm.length).trim();
  return { negate, pattern, flags: fm, rest };
}

function compile(kind: 'regexp' | 'pcre', pattern: string, flags: string): { re: RegExp; groups: number } {
  const allowed = kind === 'regexp' ? REGEXP_FLAGS : PCRE_FLAGS;
  let icase = true;
  let multi = false;
  let dotall = kind === 'regexp';
  let extended = kind === 'regexp';
  let anchored = false;
  for (const f of flags) {
    if (!allowed.includes(f)) throw new RegexTranslateError(`unknown ${kind} flag "${f}"`);
    if (f === 'i') icase = !icase;
    else if (f === 'm') {
      multi = !multi;
      if (kind === 'regexp') dotall = !multi; // REG_NEWLINE: . and [^...] stop at newlines
    } else if (f === 's') dotall = !dotall;
    else if (f === 'x') extended = !extended;
    else if (f === 'A') anchored = true;
    else if (f === 'U') throw new RegexTranslateError('the U (ungreedy) flag is not supported');
    // E (dollar end only) is what JavaScript's $ does; X (extra) adds nothing here
  }
  let source: string;
  let groups: number;
  if (kind === 'regexp') {
    ({ source, groups } = translatePosix(pattern, extended));
  } else {
    const t = translatePcre(pattern, { extended });
    source = t.source;
    groups = t.groups;
    if (t.leading.i !== undefined) icase = t.leading.i;
    if (t.leading.m !== undefined) multi = t.leading.m;
    if (t.leading.s !== undefined) dotall = t.leading.s;
  }
  const jsFlags = (icase ? 'i' : '') + (multi ? 'm' : '') + (dotall ? 's' : '') + (anchored ? 'y' : '');
  try {
    return { re: new RegExp(source, jsFlags), groups };
  } catch (err) {
    throw new RegexTranslateError(`cannot compile "${pattern}": ${(err as Error).message}`);
  }
}

/** The highest $n used in a result, or an error message. */
function checkSubstitutions(result: string): number | string {
  let max = 0;
  for (let i = 0; i < result.length; i++) {
    if (result[i] !== '$') continue;
    const rest = result.slice(i + 1);
    if (rest.startsWith('$')) {
      i++;
      continue;
    }
    const m = /^(?:(\d+)|\{(\d+)\}|\((\d+)\))/.exec(rest);
    if (!m) continue; // a lone $ stays literal
    const n = Number(m[1] ?? m[2] ?? m[3]);
    if (n < 1) return `invalid substitution $${m[0]} (only $1 .. $9 exist)`;
    max = Math.max(max, n);
    i += m[0].length;
  }
  return max;
}

function substitute(result: string, match: RegExpExecArray): string {
  return result.replace(/\$(?:\$|(\d+)|\{(\d+)\}|\((\d+)\))/g, (all, a, b, c) => {
    if (all === '$$') return '$';
    return match[Number(a ?? b ?? c)] ?? '';
  });
}

export function parseRegexpTable(kind: 'regexp' | 'pcre', text: string, file: string): { value: Rule[]; diagnostics: TableDiagnostic[] } {
  const diagnostics: TableDiagnostic[] = [];
  const root: Rule[] = [];
  const stack: { rules: Rule[]; line: number }[] = [{ rules: root, line: 0 }];
  const skip = (line: number, message: string, severity: 'error' | 'warning' = 'error') => diagnostics.push({ severity, file, line, message });
  for (const { line, text: l } of logicalLines(text)) {
    const top = stack[stack.length - 1].rules;
    if (/^endif\s*$/i.test(l)) {
      if (stack.length === 1) skip(line, 'ignoring ENDIF without matching IF', 'warning');
      else stack.pop();
      continue;
    }
    const ifm = /^if\s+(\S[\s\S]*)$/i.exec(l);
    const body = ifm ? ifm[1] : l;
    const parsed = splitPattern(body);
    if (typeof parsed === 'string') {
      skip(line, `${parsed} (skipping this rule)`);
      if (ifm) stack.push({ rules: [], line });
      continue;
    }
    let compiled: { re: RegExp; groups: number };
    try {
      compiled = compile(kind, parsed.pattern, parsed.flags);
    } catch (err) {
      skip(line, `${kind} pattern ${parsed.negate ? '!' : ''}/${parsed.pattern}/${parsed.flags}: ${(err as Error).message} (skipping this rule)`);
      if (ifm) stack.push({ rules: [], line });
      continue;
    }
    if (ifm) {
      if (parsed.rest) {
        skip(line, `text after IF pattern "${parsed.rest}" (skipping this IF block)`);
        stack.push({ rules: [], line });
        continue;
      }
      const rule: Rule = { kind: 'if', re: compiled.re, negate: parsed.negate, body: [], line };
      top.push(rule);
      stack.push({ rules: rule.body, line });
      continue;
    }
    if (!parsed.rest) {
      skip(line, 'no replacement text after the pattern (skipping this rule)');
      continue;
    }
    const subst = checkSubstitutions(parsed.rest);
    if (typeof subst === 'string') {
      skip(line, `${subst} (skipping this rule)`, 'warning');
      continue;
    }
    if (subst > 0 && parsed.negate) {
      skip(line, `$${subst} substitution in a negated pattern (skipping this rule)`, 'warning');
      continue;
    }
    if (subst > compiled.groups) {
      skip(line, `out-of-range substitution $${subst}: the pattern has ${compiled.groups} group(s) (skipping this rule)`, 'warning');
      continue;
    }
    top.push({ kind: 'match', re: compiled.re, negate: parsed.negate, result: parsed.rest, line });
  }
  for (const open of stack.slice(1)) skip(open.line, 'IF has no matching ENDIF', 'warning');
  return { value: root, diagnostics };
}

function run(rules: Rule[], key: string): string | undefined {
  for (const r of rules) {
    r.re.lastIndex = 0;
    const m = r.re.exec(key);
    if (!m !== r.negate) continue; // matched XOR negated
    if (r.kind === 'if') {
      const inner = run(r.body, key);
      if (inner !== undefined) return inner;
      continue;
    }
    return m ? substitute(r.result, m) : r.result;
  }
  return undefined;
}

export class RegexpTable implements LookupTable {
  readonly fixed = false;
  private readonly file: ReloadingFile<Rule[]>;
  constructor(
    readonly type: 'regexp' | 'pcre',
    readonly text: string,
    path: string,
  ) {
    this.file = new ReloadingFile(path, (t, p) => parseRegexpTable(type, t, p));
  }
  async lookup(key: string): Promise<string | undefined> {
    return run((await this.file.get()).value, key);
  }
  async check(): Promise<TableDiagnostic[]> {
    return (await this.file.get()).diagnostics;
  }
}
