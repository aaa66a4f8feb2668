// `facteur pw` with doveadm pw's meaning.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { closeCryptPool, verifyPassword } from '../../src/auth/schemes/index.js';
import { runCli, runCliOnTty } from './cli-helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'facteur-pw-'));
after(async () => {
  rmSync(dir, { recursive: true, force: true });
  await closeCryptPool();
});

const vectors = readFileSync(new URL('../fixtures/auth/password-vectors.tsv', import.meta.url), 'utf8')
  .split('\n')
  .map((l) => l.split('\t'));
const vector = (scheme: string, label: string) => vectors.find((v) => v[0] === scheme && v[5] === label)!;

describe('facteur pw', () => {
  it('prints an ARGON2ID hash by default, in Dovecot format, that verifies', async () => {
    const r = await runCli(['pw', '-p', 'alice-secret']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^\{ARGON2ID\}\$argon2id\$v=19\$m=65536,t=3,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}\n$/);
    assert.equal(await verifyPassword('alice-secret', r.stdout.trim()), true);
  });

  it('-s picks the scheme; without -p the password comes from standard input (less the final newline)', async () => {
    const r = await runCli(['pw', '-s', 'sha512-crypt'], 'pässwörd\n');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^\{SHA512-CRYPT\}\$6\$[./A-Za-z0-9]{16}\$[./A-Za-z0-9]{86}\n$/);
    assert.equal(await verifyPassword('pässwörd', r.stdout.trim()), true);
  });

  it('default_pass_scheme from -c FILE; -V adds (verified)', async () => {
    const conf = join(dir, 'facteur.conf');
    writeFileSync(conf, `data_directory = ${dir}\ndefault_pass_scheme = SHA256-CRYPT\n`);
    const r = await runCli(['pw', '-c', conf, '-p', 'x', '-V']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^\{SHA256-CRYPT\}\$5\$\S+ \(verified\)\n$/);
  });

  it('-t HASH prints "HASH (verified)" and exits 0 for the right password, non-zero otherwise', async () => {
    const v = vector('SHA512-CRYPT', 'typical');
    const ok = await runCli(['pw', '-t', v[2], '-p', v[1]]);
    assert.deepEqual(ok, { code: 0, stdout: `${v[2]} (verified)\n`, stderr: '' });
    const bad = await runCli(['pw', '-t', v[2], '-p', 'wrong']);
    assert.notEqual(bad.code, 0);
    assert.equal(bad.stdout, '');
    assert.match(bad.stderr, /Password mismatch/);
    // raw mkpasswd output is {CRYPT}; the password from stdin
    const m = vector('CRYPT', 'utf8');
    const raw = await runCli(['pw', '-t', m[2]], m[1]);
    assert.equal(raw.code, 0, raw.stderr);
  });

  it('a yescrypt hash is reported as unsupported, an unknown scheme as unknown', async () => {
    const y = vectors.find((v) => v[2].startsWith('$y$'))!;
    const r = await runCli(['pw', '-t', y[2], '-p', y[1]]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /yescrypt .*not supported by facteur/);
    const u = await runCli(['pw', '-s', 'NOPE', '-p', 'x']);
    assert.equal(u.code, 1);
    assert.match(u.stderr, /^facteur: Unknown scheme NOPE/);
    const l = await runCli(['pw', '-l']);
    assert.match(l.stdout, /\bSHA512-CRYPT\b.*\bSSHA512\b/);
  });

  it('on a terminal the password is asked twice without echo', async () => {
    const r = await runCliOnTty(['pw', '-s', 'SHA256'], [
      ['Enter new password: ', 'secret'],
      ['Retype new password: ', 'secret'],
    ]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.ok(r.stdout.includes('{SHA256}K7gNU3sdo+OL0wNhqoVWhr3g6s1xYv72ol/pe/Unols='), r.stdout);
    assert.ok(!r.stdout.replace('{SHA256}', '').includes('secret'), 'the password is not echoed');
    const mismatch = await runCliOnTty(['pw'], [
      ['Enter new password: ', 'one'],
      ['Retype new password: ', 'two'],
    ]);
    assert.equal(mismatch.code, 1);
    assert.match(mismatch.stdout, /Passwords don't match!/);
  });
});
