// Password schemes against hashes made by doveadm pw and mkpasswd (Dovecot 2.3.19.1,
// test/fixtures/auth/password-vectors.tsv, copied from the shared fixtures), and hashes
// facteur makes in the formats Dovecot makes them.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import {
  closeCryptPool,
  generatableSchemes,
  generatePassword,
  parseStoredPassword,
  PasswordSchemeError,
  setCryptWorkers,
  storedPlaintext,
  verifyPassword,
} from '../../src/auth/schemes/index.js';
import { cryptAsync } from '../../src/auth/schemes/crypt-pool.js';
import { desCrypt } from '../../src/auth/schemes/des-crypt.js';
import { md4 } from '../../src/auth/schemes/md-legacy.js';

interface Vector {
  scheme: string;
  password: string;
  hash: string;
  tool: string;
  note: string;
  label: string;
}

const VECTORS: Vector[] = readFileSync(new URL('../fixtures/auth/password-vectors.tsv', import.meta.url), 'utf8')
  .split('\n')
  .slice(1)
  .filter((l) => l.length > 0)
  .map((l) => {
    const [scheme, password, hash, tool, note, label] = l.split('\t');
    return { scheme, password, hash, tool, note, label };
  });

/** A wrong password that differs within the first 8 characters (DES) and 72 bytes (bcrypt). */
function wrong(pw: string): string {
  return 'W' + pw;
}

after(() => closeCryptPool());

describe('password vectors from doveadm pw / mkpasswd', () => {
  it('the fixture has the rows the tests below count on', () => {
    assert.equal(VECTORS.length, 183);
    assert.ok(VECTORS.every((v) => v.scheme && v.hash));
  });

  const verifiedPerScheme = new Map<string, number>();
  const rejectedPerScheme = new Map<string, number>();

  for (const v of VECTORS) {
    const name = `${v.scheme} ${v.label} (${v.tool.split(' ')[0]})`;
    const yescrypt = v.hash.startsWith('$y$');
    if (v.note.startsWith('NOT-VERIFIED')) {
      it(`${name}: not verifiable, as doveadm found`, async () => {
        await assert.rejects(verifyPassword(v.password, v.hash), (err: unknown) => err instanceof PasswordSchemeError && /missing length/.test(err.message));
        rejectedPerScheme.set(v.scheme, (rejectedPerScheme.get(v.scheme) ?? 0) + 1);
      });
      continue;
    }
    if (yescrypt) {
      it(`${name}: yescrypt is reported as unsupported`, async () => {
        await assert.rejects(
          verifyPassword(v.password, v.hash),
          (err: unknown) => err instanceof PasswordSchemeError && err.unsupported && /yescrypt/.test(err.message) && /not supported/.test(err.message),
        );
      });
      continue;
    }
    it(`${name}: verifies; a wrong password does not`, async () => {
      // DIGEST-MD5 rows were made with -u alice@example.test; mkpasswd rows have no {prefix} (passwd-file default CRYPT)
      const ctx = { user: 'alice@example.test' };
      assert.equal(await verifyPassword(v.password, v.hash, ctx), true, v.hash);
      assert.equal(await verifyPassword(wrong(v.password), v.hash, ctx), false);
      verifiedPerScheme.set(v.scheme, (verifiedPerScheme.get(v.scheme) ?? 0) + 1);
    });
  }

  it('truncation facts: DES-CRYPT uses 8 characters, BLF-CRYPT 72 bytes', async () => {
    const des = VECTORS.find((v) => v.label === 'typical-vs-8prefix')!;
    assert.equal(await verifyPassword('alice-secret', des.hash), true);
    assert.equal(await verifyPassword('alice-se', des.hash), true);
    assert.equal(await verifyPassword('alice-s', des.hash), false);
    const blf = VECTORS.find((v) => v.label === 'long100-vs-72prefix')!;
    const long100 = VECTORS.find((v) => v.label === 'long100')!.password;
    assert.equal(await verifyPassword(long100, blf.hash), true);
    assert.equal(await verifyPassword(long100.slice(0, 71), blf.hash), false);
  });

  it('DIGEST-MD5 depends on the user name', async () => {
    const v = VECTORS.find((x) => x.scheme === 'DIGEST-MD5' && x.label === 'typical')!;
    assert.equal(await verifyPassword(v.password, v.hash, { user: 'bob@example.test' }), false);
    await assert.rejects(verifyPassword(v.password, v.hash), PasswordSchemeError);
  });

  it('counts: every scheme of the fixture was checked', () => {
    const counts = Object.fromEntries([...verifiedPerScheme].sort());
    // printed for the report
    console.log('verified vectors per scheme:', JSON.stringify(counts));
    const expected = new Set(VECTORS.filter((v) => !v.note.startsWith('NOT-VERIFIED')).map((v) => v.scheme));
    for (const s of expected) assert.ok((verifiedPerScheme.get(s) ?? 0) > 0, `no vector verified for ${s}`);
    assert.equal(rejectedPerScheme.get('PLAIN-TRUNC'), 5);
  });
});

describe('stored values', () => {
  it('parses {SCHEME.ENC} prefixes and defaults to CRYPT', () => {
    assert.deepEqual(parseStoredPassword('{sha256.hex}abcd'), { scheme: 'SHA256', encoding: 'hex', value: 'abcd' });
    assert.deepEqual(parseStoredPassword('{PLAIN.b64}eA=='), { scheme: 'PLAIN', encoding: 'base64', value: 'eA==' });
    assert.deepEqual(parseStoredPassword('$6$x$y'), { scheme: 'CRYPT', value: '$6$x$y' });
    assert.equal(parseStoredPassword('$1$abc$def', 'PLAIN').scheme, 'MD5-CRYPT');
  });

  it('honours .hex/.b64 suffixes and guesses hex vs base64 for fixed-length digests', async () => {
    const hex = (await generatePassword('x', 'SHA256.HEX')).replace('{SHA256.HEX}', '');
    assert.match(hex, /^[0-9a-f]{64}$/);
    assert.equal(await verifyPassword('x', `{SHA256.HEX}${hex}`), true);
    assert.equal(await verifyPassword('x', `{SHA256}${hex}`), true); // 64 chars = 2 × 32: hex
    assert.equal(await verifyPassword('x', `{SHA256}${Buffer.from(hex, 'hex').toString('base64')}`), true);
    assert.equal(await verifyPassword('x', `{PLAIN.b64}${Buffer.from('x').toString('base64')}`), true);
    assert.equal(await verifyPassword('y', `{PLAIN.HEX}78`), false);
    assert.equal(await verifyPassword('x', `{SSHA512.HEX}${(await generatePassword('x', 'SSHA512.HEX')).slice('{SSHA512.HEX}'.length)}`), true);
  });

  it('rejects malformed values and unknown schemes with PasswordSchemeError', async () => {
    await assert.rejects(verifyPassword('x', '{NOPE}x'), /Unknown scheme NOPE/);
    await assert.rejects(verifyPassword('x', '{SHA256}!!!not base64!!!'), PasswordSchemeError);
    await assert.rejects(verifyPassword('x', '{SHA}AAAA'), /wrong length/);
    await assert.rejects(verifyPassword('x', '{SCRAM-SHA-256}4096,abc'), PasswordSchemeError);
    await assert.rejects(verifyPassword('x', '{SHA512-CRYPT}$5$abc$def'), PasswordSchemeError);
    await assert.rejects(verifyPassword('x', '{PBKDF2}nonsense'), PasswordSchemeError);
    await assert.rejects(verifyPassword('x', '{CRYPT}$7$CU..../....salt$hash'), (e: unknown) => e instanceof PasswordSchemeError && e.unsupported);
  });

  it('finds the plaintext of PLAIN/CLEAR entries only', () => {
    assert.equal(storedPlaintext('{PLAIN}secret')?.toString(), 'secret');
    assert.equal(storedPlaintext('{CLEARTEXT.b64}c2VjcmV0')?.toString(), 'secret');
    assert.equal(storedPlaintext('{SHA}KusvaLb24DJ0ziPMVrqjntyCRkM='), undefined);
  });
});

describe('new hashes in Dovecot formats', () => {
  const PW = 'pässwörd:with colons';
  const FORMAT: Record<string, RegExp> = {
    ARGON2ID: /^\{ARGON2ID\}\$argon2id\$v=19\$m=65536,t=3,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/,
    ARGON2I: /^\{ARGON2I\}\$argon2i\$v=19\$m=32768,t=4,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/,
    'BLF-CRYPT': /^\{BLF-CRYPT\}\$2y\$05\$[./A-Za-z0-9]{53}$/,
    CRYPT: /^\{CRYPT\}\$2y\$05\$[./A-Za-z0-9]{53}$/,
    'SHA512-CRYPT': /^\{SHA512-CRYPT\}\$6\$[./A-Za-z0-9]{16}\$[./A-Za-z0-9]{86}$/,
    'SHA256-CRYPT': /^\{SHA256-CRYPT\}\$5\$[./A-Za-z0-9]{16}\$[./A-Za-z0-9]{43}$/,
    'MD5-CRYPT': /^\{MD5-CRYPT\}\$1\$[./A-Za-z0-9]{8}\$[./A-Za-z0-9]{22}$/,
    'DES-CRYPT': /^\{DES-CRYPT\}[./A-Za-z0-9]{13}$/,
    SSHA512: /^\{SSHA512\}[A-Za-z0-9+/]{91}=$/,
    SSHA256: /^\{SSHA256\}[A-Za-z0-9+/]{48}$/,
    'SCRAM-SHA-256': /^\{SCRAM-SHA-256\}4096,[A-Za-z0-9+/]{22}==,[A-Za-z0-9+/]{43}=,[A-Za-z0-9+/]{43}=$/,
    'SCRAM-SHA-1': /^\{SCRAM-SHA-1\}4096,[A-Za-z0-9+/]{22}==,[A-Za-z0-9+/]{27}=,[A-Za-z0-9+/]{27}=$/,
    PBKDF2: /^\{PBKDF2\}\$1\$[./A-Za-z0-9]{16}\$5000\$[0-9a-f]{40}$/,
    PLAIN: /^\{PLAIN\}pässwörd:with colons$/,
  };

  for (const scheme of generatableSchemes()) {
    it(`${scheme}: makes a hash that verifies (and not with a wrong password)`, async () => {
      const h = await generatePassword(PW, scheme, { user: 'alice@example.test' });
      if (FORMAT[scheme]) assert.match(h, FORMAT[scheme]);
      assert.ok(h.startsWith(`{${scheme}}`));
      assert.equal(await verifyPassword(PW, h, { user: 'alice@example.test' }), true);
      assert.equal(await verifyPassword('W' + PW, h, { user: 'alice@example.test' }), false);
    });
  }

  it('rounds: SHA-crypt rounds=, bcrypt cost, Argon2 t, PBKDF2 iterations; SCRAM ignores -r like doveadm', async () => {
    assert.match(await generatePassword('x', 'SHA512-CRYPT', { rounds: 10000 }), /^\{SHA512-CRYPT\}\$6\$rounds=10000\$/);
    assert.match(await generatePassword('x', 'BLF-CRYPT', { rounds: 6 }), /^\{BLF-CRYPT\}\$2y\$06\$/);
    assert.match(await generatePassword('x', 'ARGON2ID', { rounds: 4 }), /t=4,p=1/);
    assert.match(await generatePassword('x', 'PBKDF2', { rounds: 1000 }), /\$1000\$/);
    assert.match(await generatePassword('x', 'SCRAM-SHA-256', { rounds: 8192 }), /^\{SCRAM-SHA-256\}4096,/);
    await assert.rejects(generatePassword('x', 'BLF-CRYPT', { rounds: 40 }), PasswordSchemeError);
  });

  it('refuses schemes that cannot be made', async () => {
    await assert.rejects(generatePassword('x', 'PLAIN-TRUNC'), /only be verified/);
    await assert.rejects(generatePassword('x', 'DIGEST-MD5'), /user name/);
    await assert.rejects(generatePassword('x', 'WHATEVER'), /Unknown scheme/);
  });
});

describe('crypt off the event loop', () => {
  it('a worker computes crypt(3) while the event loop keeps running', async () => {
    setCryptWorkers(true);
    assert.equal(await cryptAsync(Buffer.from('alice-secret'), '$6$PHVKk0T90YAFxcq9'), '$6$PHVKk0T90YAFxcq9$XmypFj7RwXHlYvm/4YRPkXUc80JLO8knpHWI/H0Lq3Rqz94qnSoQajUeUl5btBcJ.e6GbODMfcJ/TBd6gfjVp/');
    // a costly hash (many rounds) in the worker: the event loop must get to run meanwhile
    let ticked = false;
    const p = cryptAsync(Buffer.from('alice-secret'), '$6$rounds=400000$PHVKk0T90YAFxcq9');
    setImmediate(() => {
      ticked = true;
    });
    const h = await p;
    assert.equal(ticked, true, 'the event loop ran while the hash was computed');
    assert.match(h, /^\$6\$rounds=400000\$PHVKk0T90YAFxcq9\$[./0-9A-Za-z]{86}$/);
  });

  it('many concurrent verifications all complete', async () => {
    const v = VECTORS.find((x) => x.scheme === 'SHA256-CRYPT' && x.label === 'typical')!;
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => verifyPassword(i % 2 ? v.password : 'bad', v.hash)));
    assert.deepEqual(
      results,
      Array.from({ length: 40 }, (_, i) => i % 2 === 1),
    );
  });

  it('unsupported methods come back from the worker as such', async () => {
    await assert.rejects(cryptAsync(Buffer.from('x'), '$y$j9T$abc$def'), /yescrypt/);
  });
});

describe('building blocks', () => {
  it('MD4 matches RFC 1320 test vectors', () => {
    assert.equal(md4(Buffer.from('')).toString('hex'), '31d6cfe0d16ae931b73c59d7e0c089c0');
    assert.equal(md4(Buffer.from('abc')).toString('hex'), 'a448017aaf21d8525fc10ae87aa6729d');
    assert.equal(md4(Buffer.from('12345678901234567890123456789012345678901234567890123456789012345678901234567890')).toString('hex'), 'e33b4ddc9c38f2199c3e7b164fcc0536');
  });

  it('DES crypt matches the classic test value', () => {
    // crypt("test", "aa") from glibc
    assert.equal(desCrypt(Buffer.from('test'), 'aa'), 'aaqPiZY5xR5l.');
  });
});
