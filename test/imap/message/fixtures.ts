// The Dovecot IMAP fixture set (test/fixtures/dovecot-imap): messages in their IMAP (CRLF) form.

import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { toCrlf } from '../../../src/imap/message/index.js';

export const FIXTURES = fileURLToPath(new URL('../../fixtures/dovecot-imap/', import.meta.url));

export function loadMessages(): { n: number; name: string; raw: Buffer }[] {
  return readdirSync(join(FIXTURES, 'messages'))
    .filter((f) => f.endsWith('.eml'))
    .sort()
    .map((name) => ({ n: Number(name.slice(0, 3)), name, raw: toCrlf(readFileSync(join(FIXTURES, 'messages', name))) }));
}
