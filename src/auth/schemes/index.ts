// Dovecot password schemes: `{SCHEME}data` values as `doveadm pw` makes them, verified
// and created the way Dovecot 2.3 does (src/auth/password-scheme*.c). A value without a
// `{SCHEME}` prefix uses the passdb's default scheme (CRYPT for passwd-file).
// Encoding suffixes `.b64`/`.base64`/`.hex` override a scheme's default encoding; a binary
// scheme with a fixed length and no suffix is read as hex when the text is exactly twice
// that length, else as base64 (Dovecot's password_decode()).
import { hash as argon2Hash, verify as argon2Verify, Algorithm } from '@node-rs/argon2';
import bcrypt from 'bcryptjs';
import { createHash, pbkdf2, randomBytes } from 'node:crypto';
import { cryptAsync } from './crypt-pool.js';
import { cryptMethod, unsupportedCryptMethod, UnsupportedCryptError } from './crypt.js';
import { cramMd5Context, md4 } from './md-legacy.js';
import { deriveScramCredentials, formatScramStored, parseScramStored, scramHashOfScheme } from './scram.js';
import { constantTimeEqual, cryptSalt, decodeBase64Strict, decodeHexStrict } from './util.js';

export { closeCryptPool, setCryptWorkers } from './crypt-pool.js';

/** A stored value that cannot be checked (unknown scheme, malformed data, unsupported crypt method). */
export class PasswordSchemeError extends Error {
  constructor(
    message: string,
    /** True when the value is well-formed but facteur has no implementation (yescrypt …). */
    readonly unsupported = false,
  ) {
    super(message);
  }
}

type Encoding = 'none' | 'base64' | 'hex';

export interface SchemeContext {
  /** The login name (DIGEST-MD5 hashes include it). */
  user?: string;
}

export interface GenerateOptions extends SchemeContext {
  /** Cost/rounds as doveadm pw -r: SHA-crypt rounds, bcrypt cost, Argon2 t, PBKDF2 iterations. */
  rounds?: number;
}

interface Scheme {
  name: string;
  encoding: Encoding;
  /** Length of the raw (decoded) value when fixed; 0 when variable. */
  rawLength: number;
  /** Whether the stored value is the password itself (usable for SCRAM, CRAM …). */
  plaintext?: boolean;
  verify(password: Buffer, raw: Buffer, ctx: SchemeContext): Promise<boolean>;
  /** The raw value for a new password; missing for verify-only schemes. */
  generate?(password: Buffer, opts: GenerateOptions): Promise<Buffer>;
}

const md5 = (b: Buffer) => createHash('md5').update(b).digest();
const sha = (alg: string) => (b: Buffer) => createHash(alg).update(b).digest();

function plainScheme(name: string): Scheme {
  return {
    name,
    encoding: 'none',
    rawLength: 0,
    plaintext: true,
    verify: async (pw, raw) => constantTimeEqual(pw, raw),
    generate: async (pw) => Buffer.from(pw),
  };
}

function digestScheme(name: string, fn: (b: Buffer) => Buffer, encoding: Encoding, rawLength: number): Scheme {
  return {
    name,
    encoding,
    rawLength,
    verify: async (pw, raw) => constantTimeEqual(fn(pw), raw),
    generate: async (pw) => fn(pw),
  };
}

function saltedScheme(name: string, fn: (b: Buffer) => Buffer, digestLength: number): Scheme {
  return {
    name,
    encoding: 'base64',
    rawLength: 0,
    async verify(pw, raw) {
      if (raw.length <= digestLength) throw new PasswordSchemeError(`${name}(${raw.length}) password too short`);
      const salt = raw.subarray(digestLength);
      return constantTimeEqual(fn(Buffer.concat([pw, salt])), raw.subarray(0, digestLength));
    },
    async generate(pw) {
      const salt = randomBytes(4); // as Dovecot
      return Buffer.concat([fn(Buffer.concat([pw, salt])), salt]);
    },
  };
}

/** crypt(3)-based: the whole stored string is the setting. */
async function verifyCrypt(pw: Buffer, raw: Buffer, expectPrefix?: RegExp, schemeName = 'CRYPT'): Promise<boolean> {
  const stored = raw.toString('latin1');
  if (expectPrefix && !expectPrefix.test(stored)) throw new PasswordSchemeError(`${schemeName}: not a ${schemeName} hash`);
  const unsupported = unsupportedCryptMethod(stored);
  if (unsupported) {
    throw new PasswordSchemeError(
      `${unsupported} hashes (${stored.slice(0, stored.indexOf('$', 1) + 1)}) are not supported by facteur: set a new password (facteur user passwd)`,
      true,
    );
  }
  if (stored.length < 2) throw new PasswordSchemeError(`${schemeName}: malformed hash`);
  let computed: string;
  try {
    computed = await cryptAsync(pw, stored);
  } catch (err) {
    throw new PasswordSchemeError(`${schemeName} (${cryptMethod(stored)}): ${(err as Error).message}`, err instanceof UnsupportedCryptError);
  }
  return constantTimeEqual(Buffer.from(computed, 'latin1'), raw);
}

function cryptScheme(name: string, prefix: RegExp | undefined, makeSetting: (opts: GenerateOptions) => string): Scheme {
  return {
    name,
    encoding: 'none',
    rawLength: 0,
    verify: (pw, raw) => verifyCrypt(pw, raw, prefix, name),
    generate: async (pw, opts) => Buffer.from(await cryptAsync(pw, makeSetting(opts)), 'latin1'),
  };
}

function bcryptSetting(opts: GenerateOptions): string {
  const cost = opts.rounds ?? 5; // Dovecot's default
  if (!Number.isInteger(cost) || cost < 4 || cost > 31) throw new PasswordSchemeError('BLF-CRYPT rounds must be 4..31');
  return bcrypt.genSaltSync(cost).replace(/^\$2b\$/, '$2y$');
}

function shaCryptSetting(id: '5' | '6') {
  return (opts: GenerateOptions): string => {
    const rounds = opts.rounds;
    if (rounds !== undefined && (!Number.isInteger(rounds) || rounds < 1000 || rounds > 999_999_999)) {
      throw new PasswordSchemeError('SHA-crypt rounds must be 1000..999999999');
    }
    return `$${id}$${rounds !== undefined && rounds !== 5000 ? `rounds=${rounds}$` : ''}${cryptSalt(16)}`;
  };
}

function argon2Scheme(name: 'ARGON2I' | 'ARGON2ID'): Scheme {
  const id = name === 'ARGON2ID';
  return {
    name,
    encoding: 'none',
    rawLength: 0,
    async verify(pw, raw) {
      const stored = raw.toString('latin1');
      // libsodium's crypto_pwhash_str_verify (Dovecot) accepts either variant under either name
      if (!/^\$argon2(id|i)\$/.test(stored)) throw new PasswordSchemeError(`${name}: not an Argon2 hash`);
      try {
        return await argon2Verify(stored, pw);
      } catch (err) {
        throw new PasswordSchemeError(`${name}: ${(err as Error).message}`);
      }
    },
    async generate(pw, opts) {
      // Dovecot 2.3 (libsodium): ARGON2ID m=65536,t=3,p=1; ARGON2I m=32768,t=4,p=1; 16-byte salt, 32-byte hash.
      const timeCost = opts.rounds ?? (id ? 3 : 4);
      if (!Number.isInteger(timeCost) || timeCost < 1 || timeCost > 100) throw new PasswordSchemeError(`${name} rounds must be 1..100`);
      const out = await argon2Hash(pw, {
        algorithm: id ? Algorithm.Argon2id : Algorithm.Argon2i,
        memoryCost: id ? 65536 : 32768,
        timeCost,
        parallelism: 1,
        outputLen: 32,
        salt: randomBytes(16),
      });
      return Buffer.from(out, 'latin1');
    },
  };
}

function pbkdf2Async(pw: Buffer, salt: Buffer, iterations: number): Promise<Buffer> {
  return new Promise((resolve, reject) => pbkdf2(pw, salt, iterations, 20, 'sha1', (err, key) => (err ? reject(err) : resolve(key))));
}

const PBKDF2: Scheme = {
  // Dovecot: $1$salt$rounds$hex(PBKDF2-HMAC-SHA1(password, salt, rounds, 20))
  name: 'PBKDF2',
  encoding: 'none',
  rawLength: 0,
  async verify(pw, raw) {
    const m = /^\$1\$([^$]+)\$(\d+)\$([0-9a-fA-F]+)$/.exec(raw.toString('latin1'));
    if (!m) throw new PasswordSchemeError('PBKDF2: malformed value');
    const rounds = Number(m[2]);
    if (rounds < 1 || rounds > 100_000_000) throw new PasswordSchemeError('PBKDF2: bad rounds');
    const expected = Buffer.from(m[3], 'hex');
    const key = await pbkdf2Async(pw, Buffer.from(m[1], 'latin1'), rounds);
    return constantTimeEqual(key.subarray(0, expected.length), expected) && expected.length > 0;
  },
  async generate(pw, opts) {
    const rounds = opts.rounds ?? 5000;
    if (!Number.isInteger(rounds) || rounds < 1) throw new PasswordSchemeError('PBKDF2 rounds must be positive');
    const salt = cryptSalt(16);
    const key = await pbkdf2Async(pw, Buffer.from(salt, 'latin1'), rounds);
    return Buffer.from(`$1$${salt}$${rounds}$${key.toString('hex')}`, 'latin1');
  },
};

function scramScheme(name: 'SCRAM-SHA-1' | 'SCRAM-SHA-256'): Scheme {
  const h = scramHashOfScheme(name)!;
  return {
    name,
    encoding: 'none',
    rawLength: 0,
    async verify(pw, raw) {
      const c = parseScramStored(h, raw.toString('latin1'));
      if (typeof c === 'string') throw new PasswordSchemeError(`${name}: ${c}`);
      const d = await deriveScramCredentials(h, pw, c.salt, c.iterations);
      return constantTimeEqual(d.storedKey, c.storedKey);
    },
    async generate(pw) {
      // doveadm pw ignores -r for SCRAM: always 4096 iterations, 16-byte salt.
      return Buffer.from(formatScramStored(await deriveScramCredentials(h, pw, randomBytes(16), 4096)), 'latin1');
    },
  };
}

const PLAIN_TRUNC: Scheme = {
  // `<length>-<password>`: the password was truncated to <length> bytes when stored.
  name: 'PLAIN-TRUNC',
  encoding: 'none',
  rawLength: 0,
  async verify(pw, raw) {
    const m = /^(\d+)-/.exec(raw.toString('latin1'));
    if (!m) throw new PasswordSchemeError('PLAIN-TRUNC missing length: prefix');
    const trunc = Number(m[1]);
    const stored = raw.subarray(m[0].length);
    if (stored.length === trunc && pw.length >= trunc) return constantTimeEqual(stored, pw.subarray(0, trunc));
    return constantTimeEqual(stored, pw);
  },
};

const MD5_SCHEME: Scheme = {
  // {MD5} is MD5-CRYPT, or PLAIN-MD5 for values that are not `$1$…` (Dovecot's md5_verify()).
  name: 'MD5',
  encoding: 'none',
  rawLength: 0,
  async verify(pw, raw, ctx) {
    const s = raw.toString('latin1');
    if (s.startsWith('$1$')) return verifyCrypt(pw, raw, /^\$1\$/, 'MD5-CRYPT');
    return SCHEMES.get('PLAIN-MD5')!.verify(pw, decodeValue(SCHEMES.get('PLAIN-MD5')!, s, undefined), ctx);
  },
  generate: (pw, opts) => SCHEMES.get('MD5-CRYPT')!.generate!(pw, opts),
};

function digestMd5Hash(pw: Buffer, user: string | undefined): Buffer {
  // DIGEST-MD5 (RFC 2831 §2.1.2.1): MD5("user:realm:password"), user@realm split at the last '@'.
  if (user === undefined) throw new PasswordSchemeError('DIGEST-MD5 needs the user name');
  const at = user.lastIndexOf('@');
  const name = at >= 0 ? user.slice(0, at) : user;
  const realm = at >= 0 ? user.slice(at + 1) : '';
  return md5(Buffer.concat([Buffer.from(`${name}:${realm}:`, 'utf8'), pw]));
}

const SCHEMES = new Map<string, Scheme>();
function add(s: Scheme, ...aliases: string[]): void {
  SCHEMES.set(s.name, s);
  for (const a of aliases) SCHEMES.set(a, { ...s, name: a });
}

add(plainScheme('PLAIN'), 'CLEAR', 'CLEARTEXT');
add(PLAIN_TRUNC);
add(cryptScheme('CRYPT', undefined, bcryptSetting)); // Dovecot 2.3 makes bcrypt for CRYPT
add(cryptScheme('MD5-CRYPT', /^\$1\$/, () => `$1$${cryptSalt(8)}`));
add(MD5_SCHEME);
add(cryptScheme('SHA256-CRYPT', /^\$5\$/, shaCryptSetting('5')));
add(cryptScheme('SHA512-CRYPT', /^\$6\$/, shaCryptSetting('6')));
add(cryptScheme('BLF-CRYPT', /^\$2[aby]?\$/, bcryptSetting));
add(cryptScheme('DES-CRYPT', /^[./0-9A-Za-z]{13}$/, () => cryptSalt(2)));
add(argon2Scheme('ARGON2I'));
add(argon2Scheme('ARGON2ID'));
add(digestScheme('SHA', sha('sha1'), 'base64', 20), 'SHA1');
add(digestScheme('SHA256', sha('sha256'), 'base64', 32));
add(digestScheme('SHA512', sha('sha512'), 'base64', 64));
add(saltedScheme('SSHA', sha('sha1'), 20));
add(saltedScheme('SSHA256', sha('sha256'), 32));
add(saltedScheme('SSHA512', sha('sha512'), 64));
add(saltedScheme('SMD5', md5, 16));
add(digestScheme('PLAIN-MD5', md5, 'hex', 16));
add(digestScheme('LDAP-MD5', md5, 'base64', 16));
add(digestScheme('PLAIN-MD4', md4, 'hex', 16));
add(digestScheme('CRAM-MD5', (b) => cramMd5Context(b, md5), 'hex', 32), 'HMAC-MD5');
add(
  {
    name: 'DIGEST-MD5',
    encoding: 'hex',
    rawLength: 16,
    verify: async (pw, raw, ctx) => constantTimeEqual(digestMd5Hash(pw, ctx.user), raw),
    generate: async (pw, opts) => digestMd5Hash(pw, opts.user),
  },
);
add(PBKDF2);
add(scramScheme('SCRAM-SHA-1'));
add(scramScheme('SCRAM-SHA-256'));

/** Scheme names facteur knows (verification), sorted. */
export function knownSchemes(): string[] {
  return [...SCHEMES.keys()].sort();
}

/** Scheme names `generatePassword` can make. */
export function generatableSchemes(): string[] {
  return [...SCHEMES.values()].filter((s) => s.generate).map((s) => s.name).sort();
}

export interface StoredPassword {
  /** Upper-case scheme name without the encoding suffix (`SHA256`). */
  scheme: string;
  /** Explicit encoding suffix, if any. */
  encoding?: 'base64' | 'hex';
  /** The text after `{…}`. */
  value: string;
}

/** Split `{SCHEME[.enc]}value`; a value without a prefix has `defaultScheme`. */
export function parseStoredPassword(stored: string, defaultScheme = 'CRYPT'): StoredPassword {
  const m = /^\{([^}]*)\}/.exec(stored);
  if (!m) {
    // Dovecot recognizes a bare $1$ value as MD5-CRYPT whatever the default.
    return { scheme: stored.startsWith('$1$') ? 'MD5-CRYPT' : defaultScheme.toUpperCase(), value: stored };
  }
  const value = stored.slice(m[0].length);
  let scheme = m[1].toUpperCase();
  let encoding: StoredPassword['encoding'];
  const dot = scheme.lastIndexOf('.');
  if (dot > 0) {
    const suffix = scheme.slice(dot + 1);
    if (suffix === 'B64' || suffix === 'BASE64') encoding = 'base64';
    else if (suffix === 'HEX') encoding = 'hex';
    if (encoding) scheme = scheme.slice(0, dot);
  }
  return { scheme, encoding, value };
}

function decodeValue(s: Scheme, value: string, explicit: StoredPassword['encoding']): Buffer {
  let enc: Encoding = explicit ?? s.encoding;
  if (!explicit && s.encoding !== 'none' && s.rawLength > 0) enc = value.length === s.rawLength * 2 ? 'hex' : 'base64';
  if (enc === 'none') return Buffer.from(value, 'utf8');
  const raw = enc === 'hex' ? decodeHexStrict(value) : decodeBase64Strict(value);
  if (!raw) throw new PasswordSchemeError(`${s.name}: invalid ${enc === 'hex' ? 'hex' : 'base64'} encoding`);
  if (s.rawLength > 0 && raw.length !== s.rawLength) {
    throw new PasswordSchemeError(`${s.name}(${value.length}) has wrong length (expected ${s.rawLength} bytes, got ${raw.length})`);
  }
  return raw;
}

export function toBuffer(password: string | Buffer): Buffer {
  return typeof password === 'string' ? Buffer.from(password, 'utf8') : password;
}

/**
 * Verify `password` against a stored `{SCHEME}value`. Resolves true/false; rejects with a
 * PasswordSchemeError when the value cannot be checked (unknown scheme, malformed data,
 * yescrypt …). All comparisons are constant-time.
 */
export async function verifyPassword(password: string | Buffer, stored: string, ctx: SchemeContext & { defaultScheme?: string } = {}): Promise<boolean> {
  const p = parseStoredPassword(stored, ctx.defaultScheme);
  const s = SCHEMES.get(p.scheme);
  if (!s) throw new PasswordSchemeError(`Unknown scheme ${p.scheme}`);
  return s.verify(toBuffer(password), decodeValue(s, p.value, p.encoding), ctx);
}

/** Make `{SCHEME}value` for a new password, as `doveadm pw -s SCHEME` does. `scheme` may carry `.B64`/`.HEX`. */
export async function generatePassword(password: string | Buffer, scheme: string, opts: GenerateOptions = {}): Promise<string> {
  const p = parseStoredPassword(`{${scheme}}`);
  const s = SCHEMES.get(p.scheme);
  if (!s) throw new PasswordSchemeError(`Unknown scheme ${p.scheme}`);
  if (!s.generate) throw new PasswordSchemeError(`${p.scheme} can only be verified, not generated`);
  const raw = await s.generate(toBuffer(password), opts);
  const enc: Encoding = p.encoding ?? s.encoding;
  const text = enc === 'hex' ? raw.toString('hex') : enc === 'base64' ? raw.toString('base64') : raw.toString(s.plaintext ? 'utf8' : 'latin1');
  const label = p.encoding ? `${p.scheme}.${p.encoding === 'hex' ? 'HEX' : 'B64'}` : p.scheme;
  return `{${label}}${text}`;
}

/** The plaintext password when the stored value holds it (PLAIN/CLEAR/CLEARTEXT, any encoding), else undefined. */
export function storedPlaintext(stored: string, defaultScheme = 'CRYPT'): Buffer | undefined {
  const p = parseStoredPassword(stored, defaultScheme);
  const s = SCHEMES.get(p.scheme);
  if (!s?.plaintext) return undefined;
  try {
    return decodeValue(s, p.value, p.encoding);
  } catch {
    return undefined;
  }
}
