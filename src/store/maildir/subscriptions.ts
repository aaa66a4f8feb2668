// The `subscriptions` file of a Maildir++ root as Dovecot 2.3 writes it:
//   "V\t2\n\n" then one mailbox per line, modified UTF-7, hierarchy separator as TAB.
// Version-less files (one name per line, "." separator, as Courier and old Dovecot
// wrote) are read too.
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';

export const SUBSCRIPTIONS_FILE = 'subscriptions';

/** Names in storage form: modified UTF-7 as on the wire, "." between hierarchy levels. */
export function parseSubscriptions(text: string): string[] {
  const lines = text.split('\n').map((l) => l.replace(/\r$/, ''));
  const out: string[] = [];
  let body = lines;
  let sep = '.';
  if (lines[0]?.startsWith('V\t')) {
    body = lines.slice(1);
    sep = '\t';
  }
  for (const line of body) {
    if (!line) continue;
    const name = line.split(sep).join('.');
    if (!out.includes(name)) out.push(name);
  }
  return out;
}

export function formatSubscriptions(names: readonly string[]): string {
  return 'V\t2\n\n' + names.map((n) => n.split('.').join('\t') + '\n').join('');
}

export async function readSubscriptions(root: string): Promise<string[]> {
  try {
    return parseSubscriptions(await fsp.readFile(join(root, SUBSCRIPTIONS_FILE), 'utf8'));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}

export async function writeSubscriptions(root: string, names: readonly string[]): Promise<void> {
  const tmp = join(root, `${SUBSCRIPTIONS_FILE}.${process.pid}.tmp`);
  await fsp.writeFile(tmp, formatSubscriptions(names), { mode: 0o600 });
  await fsp.rename(tmp, join(root, SUBSCRIPTIONS_FILE));
}
