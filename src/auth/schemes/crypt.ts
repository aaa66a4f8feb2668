// crypt(3) as glibc/libxcrypt does it for the methods facteur can compute: `$6$`/`$5$`
// (SHA-crypt), `$2y$`/`$2b$`/`$2a$` (bcrypt), `$1$` (MD5-crypt) and 13-character DES.
// Synchronous and CPU-heavy: called from the worker pool (crypt-pool.ts), not the event loop.
import bcrypt from 'bcryptjs';
import { encrypt as shaCrypt } from 'unixcrypt';
import { desCrypt, CRYPT64 } from './des-crypt.js';
import { md5Crypt } from './md5-crypt.js';

/** A crypt method facteur cannot compute (yescrypt, scrypt, gost-yescrypt …). */
export class UnsupportedCryptError extends Error {}

const UNSUPPORTED: Record<string, string> = {
  $y$: 'yescrypt',
  $gy$: 'gost-yescrypt',
  $7$: 'scrypt',
  $sha1$: 'sha1crypt',
  $md5: 'Sun MD5',
  '_': 'BSDi extended DES',
};

/** Name a crypt method that facteur cannot verify, or undefined when it can. */
export function unsupportedCryptMethod(setting: string): string | undefined {
  for (const [prefix, name] of Object.entries(UNSUPPORTED)) if (setting.startsWith(prefix)) return name;
  return undefined;
}

/** The crypt method named by a setting/hash prefix, for messages. */
export function cryptMethod(setting: string): string {
  if (/^\$[56]\$/.test(setting)) return setting[1] === '6' ? 'sha512crypt' : 'sha256crypt';
  if (/^\$2[aby]?\$/.test(setting)) return 'bcrypt';
  if (setting.startsWith('$1$')) return 'md5crypt';
  if (/^[./0-9A-Za-z]{2}/.test(setting) && !setting.startsWith('$')) return 'descrypt';
  return unsupportedCryptMethod(setting) ?? 'unknown';
}

/**
 * crypt(password, setting): `setting` is a whole stored hash or just its prefix and salt.
 * Throws UnsupportedCryptError for methods facteur cannot compute, Error for malformed input.
 */
export function cryptSync(password: Buffer, setting: string): string {
  if (setting.startsWith('$6$') || setting.startsWith('$5$')) {
    // unixcrypt wants "$6$[rounds=N$]salt"
    const parts = setting.split('$');
    const hasRounds = parts[2]?.startsWith('rounds=');
    const salt = hasRounds ? parts[3] ?? '' : parts[2] ?? '';
    const prefix = `$${parts[1]}$${hasRounds ? parts[2] + '$' : ''}${salt.slice(0, 16)}`;
    return shaCrypt(password.toString('utf8'), prefix);
  }
  const bm = /^\$2([aby]?)\$(\d\d)\$([./A-Za-z0-9]{22})/.exec(setting);
  if (bm) {
    const cost = Number(bm[2]);
    if (cost < 4 || cost > 31) throw new Error(`bcrypt cost ${cost} out of range`);
    return bcrypt.hashSync(password.toString('utf8'), bm[0]);
  }
  if (setting.startsWith('$2')) throw new Error('malformed bcrypt hash');
  if (setting.startsWith('$1$')) return md5Crypt(password, setting);
  const unsupported = unsupportedCryptMethod(setting);
  if (unsupported) throw new UnsupportedCryptError(`${unsupported} hashes (${setting.slice(0, setting.indexOf('$', 1) + 1 || 3)}) are not supported by facteur`);
  if (setting.length >= 2 && CRYPT64.includes(setting[0]) && CRYPT64.includes(setting[1])) return desCrypt(password, setting);
  throw new Error('unknown crypt method');
}
