// Materialise the Dovecot-written Maildir fixture (test/fixtures/dovecot-maildir) in a
// temporary directory: version control keeps neither empty directories nor mtimes, so
// cur/ new/ tmp/ are recreated and each message file gets its INTERNALDATE as mtime
// (from STATE.md).
import { cpSync, mkdirSync, mkdtempSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const FIXTURE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../fixtures/dovecot-maildir');

/** file (relative to Maildir/) → INTERNALDATE */
export const FIXTURE_DATES: Record<string, string> = {
  'cur/1795908109.M427778P29971.vm,S=307,W=317:2,Sb': '2025-09-01T09:00:00Z',
  'cur/1795908109.M429726P29971.vm,S=283,W=293:2,S': '2025-09-02T09:30:00Z',
  'cur/1795908109.M433082P29971.vm,S=297,W=307:2,FRa': '2025-09-04T12:15:00Z',
  'cur/1795908109.M435275P29971.vm,S=294,W=304:2,Sb': '2025-09-05T13:45:00Z',
  'cur/1795908109.M437204P29971.vm,S=294,W=304:2,DS': '2025-09-06T15:00:00Z',
  'new/1795908109.M468304P29973.vm,S=302,W=312': '2025-09-10T06:00:00Z',
  'cur/1795908109.M471403P29973.vm,S=297,W=307:2,F': '2025-09-10T06:05:00Z',
  '.Sent/cur/1795908109.M446136P29971.vm,S=275,W=285:2,S': '2025-09-08T17:00:00Z',
  '.Trash/cur/1795908109.M431815P29971.vm,S=297,W=307:2,RS': '2025-09-03T11:00:00Z',
  '.Archive.2024/cur/1795908109.M448025P29971.vm,S=284,W=294:2,S': '2024-03-15T10:00:00Z',
  '.Archive.2024/cur/1795908109.M450133P29971.vm,S=278,W=288:2,FSa': '2024-11-20T16:20:00Z',
  '.Entw&APw-rfe/cur/1795908109.M452853P29971.vm,S=293,W=303:2,D': '2025-09-09T07:45:00Z',
};

/** Copy the fixture Maildir to a new temp dir; returns the home directory (Maildir is home/Maildir). */
export function materializeFixture(): string {
  const home = mkdtempSync(join(tmpdir(), 'facteur-fixture-'));
  const maildir = join(home, 'Maildir');
  cpSync(join(FIXTURE_ROOT, 'Maildir'), maildir, { recursive: true });
  for (const folder of ['', '.Sent', '.Trash', '.Archive.2024', '.Entw&APw-rfe']) {
    for (const sub of ['cur', 'new', 'tmp']) mkdirSync(join(maildir, folder, sub), { recursive: true });
  }
  for (const [file, date] of Object.entries(FIXTURE_DATES)) {
    const t = new Date(date);
    utimesSync(join(maildir, file), t, t);
  }
  return home;
}
