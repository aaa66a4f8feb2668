// dovecot-keywords: "<index> <keyword>" per line; index i is the letter a+i in file
// names (Dovecot's maildir-keywords.c). Each folder has its own mapping.
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { MAX_KEYWORDS } from './names.js';

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

/** Replace dovecot-keywords atomically (caller holds the uidlist lock, as Dovecot does). */
export async function writeKeywords(dir: string, k: KeywordTable): Promise<void> {
  const tmp = join(dir, `${KEYWORDS_FILE}.${process.pid}.tmp`);
  await fsp.writeFile(tmp, formatKeywords(k), { mode: 0o600 });
  await fsp.rename(tmp, join(dir, KEYWORDS_FILE));
}
