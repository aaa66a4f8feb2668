// dovecot-keywords: "<index> <keyword>" per line; index i is the letter a+i in file
// names (Dovecot's maildir-keywords.c). Each folder has its own mapping.
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { MAX_KEYWORDS } from './names.js';
import { dotlock } from './uidlist.js';

export const KEYWORDS_FILE = 'dovecot-keywords';

/** Keyword names by index (undefined holes allowed). */
export type KeywordTable = (string | undefined)[];

export function parseKeywords(text: string): KeywordTable {
  const out: KeywordTable = [];
  for (const line of text.split('\n')) {
    const m = /^(\d+) (.+)$/.exec(line.replace(/\r$/, ''));
    if (!m) continue;
    const i = Number(m[1]);
    if (i < MAX_KEYWORDS && !out.includes(m[2])) out[i] = m[2];
  }
  return out;
}

export function formatKeywords(k: KeywordTable): string {
  let s = '';
  k.forEach((name, i) => {
    if (name !== undefined) s += `${i} ${name}\n`;
  });
  return s;
}

export async function readKeywords(dir: string): Promise<{ table: KeywordTable; mtimeMs: number }> {
  try {
    const [text, st] = await Promise.all([fsp.readFile(join(dir, KEYWORDS_FILE), 'utf8'), fsp.stat(join(dir, KEYWORDS_FILE))]);
    return { table: parseKeywords(text), mtimeMs: st.mtimeMs };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { table: [], mtimeMs: 0 };
    throw e;
  }
}

/**
 * Add keywords to dovecot-keywords under dovecot-keywords.lock (Dovecot's dotlock for this
 * file): re-read it, keep what others defined meanwhile, give each new keyword the first
 * free index, replace the file atomically. Returns the resulting table; throws when the
 * 26 letters are used up.
 */
export async function addKeywords(dir: string, current: KeywordTable, names: readonly string[]): Promise<KeywordTable> {
  const lock = await dotlock(join(dir, `${KEYWORDS_FILE}.lock`));
  try {
    const { table } = await readKeywords(dir);
    const next: KeywordTable = [...table];
    for (let i = 0; i < current.length; i++) if (next[i] === undefined && current[i] !== undefined && !next.includes(current[i])) next[i] = current[i];
    for (const n of names) {
      if (next.some((k) => k !== undefined && k.toLowerCase() === n.toLowerCase())) continue;
      let i = 0;
      while (i < MAX_KEYWORDS && next[i] !== undefined) i++;
      if (i >= MAX_KEYWORDS) throw new Error('too many keywords');
      next[i] = n;
    }
    const tmp = join(dir, `${KEYWORDS_FILE}.${process.pid}.tmp`);
    await fsp.writeFile(tmp, formatKeywords(next), { mode: 0o600 });
    await fsp.rename(tmp, join(dir, KEYWORDS_FILE));
    return next;
  } finally {
    await lock.release();
  }
}
