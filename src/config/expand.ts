// Postfix's `$name` macro syntax (postconf(5) "parameter expansion", mac_expand(3)): `$name`,
// `${name}`, `$(name)`, `${name?text}`, `${name:text}`, `${name?{text1}:{text2}}` (Postfix 3.0)
// and `$$`. One expander for main.cf values (src/config/config.ts) and for reply templates
// such as default_rbl_reply (src/smtp/policy/engine.ts); the caller says what a name means.

export interface MacroOptions {
  /** What a name inside `${…}`/`$(…)` may be (default: letters, digits and `_`). */
  bracedName?: RegExp;
  /**
   * A malformed macro: 'report' (main.cf) tells `onProblem`; a bad `${…}` expands to nothing and
   * an unclosed one is copied as written. 'keep' (reply templates) copies a bad `${…}` as
   * written and reads an unclosed one to the end of the text.
   */
  malformed?: 'report' | 'keep';
  onProblem?: (message: string) => void;
}

const WORD = /^[A-Za-z0-9_]+$/;

/** Expand the macros in `text`; `lookup(name)` gives a name's value ('' when it has none). */
export function expandMacros(text: string, lookup: (name: string) => string, opts: MacroOptions = {}): string {
  const bracedName = opts.bracedName ?? WORD;
  const report = (opts.malformed ?? 'report') === 'report';
  let out = '';
  let i = 0;
  while (i < text.length) {
    const ch = text[i];
    if (ch !== '$') {
      out += ch;
      i++;
      continue;
    }
    const next = text[i + 1];
    if (next === '$') {
      out += '$';
      i += 2;
      continue;
    }
    if (next === '{' || next === '(') {
      const close = next === '{' ? '}' : ')';
      // find the matching close, allowing nested braces in the conditional text
      let depth = 0;
      let j = i + 1;
      for (; j < text.length; j++) {
        if (text[j] === next) depth++;
        else if (text[j] === close && --depth === 0) break;
      }
      if (j >= text.length && report) {
        opts.onProblem?.(`missing '${close}' in "${text}"`);
        out += text.slice(i);
        break;
      }
      const inner = text.slice(i + 2, j);
      const opAt = inner.search(/[?:]/);
      const name = opAt < 0 ? inner : inner.slice(0, opAt);
      if (!bracedName.test(name)) {
        if (report) opts.onProblem?.(`bad parameter expansion "\${${inner}}"`);
        else out += text.slice(i, j + 1);
        i = j + 1;
        continue;
      }
      const value = lookup(name);
      if (opAt < 0) out += value;
      else {
        const op = inner[opAt];
        const rest = inner.slice(opAt + 1);
        // Postfix 3.0 form ${name?{text1}:{text2}}
        const two = /^\{([\s\S]*)\}\s*:\s*\{([\s\S]*)\}$/.exec(rest);
        let whenSet = rest;
        let whenEmpty = '';
        if (op === '?' && two) {
          whenSet = two[1];
          whenEmpty = two[2];
        } else if (op === ':') {
          whenSet = '';
          whenEmpty = rest;
        }
        out += expandMacros(value !== '' ? whenSet : whenEmpty, lookup, opts);
      }
      i = j + 1;
      continue;
    }
    const m = /^[A-Za-z0-9_]+/.exec(text.slice(i + 1));
    if (!m) {
      out += '$';
      i++;
      continue;
    }
    out += lookup(m[0]);
    i += 1 + m[0].length;
  }
  return out;
}
