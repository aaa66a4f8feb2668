// MD5-crypt (`$1$salt$hash`, Poul-Henning Kamp's FreeBSD algorithm): Dovecot's MD5-CRYPT,
// its {MD5} alias and a `$1$` {CRYPT} value.
import { createHash } from 'node:crypto';
import { CRYPT64 } from './des-crypt.js';

const MAGIC = '$1$';

function to64(v: number, n: number): string {
  let s = '';
  while (n-- > 0) {
    s += CRYPT64[v & 0x3f];
    v >>>= 6;
  }
  return s;
}

/** `setting` is `$1$salt` or a whole `$1$salt$hash`; the salt is at most 8 characters. */
export function md5Crypt(password: Buffer, setting: string): string {
  let rest = setting.startsWith(MAGIC) ? setting.slice(MAGIC.length) : setting;
  const end = rest.indexOf('$');
  if (end >= 0) rest = rest.slice(0, end);
  const salt = Buffer.from(rest.slice(0, 8), 'latin1');

  const ctx = createHash('md5').update(password).update(MAGIC).update(salt);
  const alt = createHash('md5').update(password).update(salt).update(password).digest();
  for (let pl = password.length; pl > 0; pl -= 16) ctx.update(alt.subarray(0, Math.min(pl, 16)));
  for (let i = password.length; i; i >>= 1) ctx.update(i & 1 ? Buffer.alloc(1) : password.subarray(0, 1));
  let fin = ctx.digest();
  for (let i = 0; i < 1000; i++) {
    const c = createHash('md5');
    c.update(i & 1 ? password : fin);
    if (i % 3) c.update(salt);
    if (i % 7) c.update(password);
    c.update(i & 1 ? fin : password);
    fin = c.digest();
  }
  let out = MAGIC + salt.toString('latin1') + '$';
  out += to64((fin[0] << 16) | (fin[6] << 8) | fin[12], 4);
  out += to64((fin[1] << 16) | (fin[7] << 8) | fin[13], 4);
  out += to64((fin[2] << 16) | (fin[8] << 8) | fin[14], 4);
  out += to64((fin[3] << 16) | (fin[9] << 8) | fin[15], 4);
  out += to64((fin[4] << 16) | (fin[10] << 8) | fin[5], 4);
  out += to64(fin[11], 2);
  return out;
}
