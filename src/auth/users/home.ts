// Dovecot-style %-variables for mail_home (Dovecot's var_expand: %u user, %n local part,
// %d domain, %% a percent sign; modifiers L (lower case) and U (upper case) before the
// letter, as in %Lu; long forms %{user}, %{username}, %{domain}).
import { isAbsolute, resolve } from 'node:path';

function varValue(key: string, user: string): string | undefined {
  const at = user.indexOf('@');
  switch (key) {
    case 'u':
    case 'user':
      return user;
    case 'n':
    case 'username':
      return at >= 0 ? user.slice(0, at) : user;
    case 'd':
    case 'domain':
      return at >= 0 ? user.slice(at + 1) : '';
    default:
      return undefined;
  }
}

/** Expand %-variables of `template` for `user`; unknown variables are left as written. */
export function expandUserVariables(template: string, user: string): string {
  let out = '';
  for (let i = 0; i < template.length; i++) {
    const ch = template[i];
    if (ch !== '%') {
      out += ch;
      continue;
    }
    let j = i + 1;
    if (template[j] === '%') {
      out += '%';
      i = j;
      continue;
    }
    let mod = '';
    while (template[j] === 'L' || template[j] === 'U') mod = template[j++];
    let key: string;
    if (template[j] === '{') {
      const close = template.indexOf('}', j);
      if (close < 0) {
        out += template.slice(i);
        break;
      }
      key = template.slice(j + 1, close);
      j = close;
    } else {
      key = template[j] ?? '';
    }
    const v = varValue(key, user);
    if (v === undefined) {
      out += template.slice(i, j + 1);
    } else {
      out += mod === 'L' ? v.toLowerCase() : mod === 'U' ? v.toUpperCase() : v;
    }
    i = j;
  }
  return out;
}

/** A user's home from `mail_home`, absolute (relative results are under `baseDir`, data_directory). */
export function mailHomeFor(template: string, user: string, baseDir: string): string {
  const expanded = expandUserVariables(template, user);
  return isAbsolute(expanded) ? resolve(expanded) : resolve(baseDir, expanded);
}
