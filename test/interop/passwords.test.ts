// Password hashes between facteur and Dovecot 2.3: what `facteur user add` writes (default
// scheme and every scheme facteur can make) verifies with `doveadm pw -t`; what
// `doveadm pw -s SCHEME` makes verifies with `facteur pw -t`; and Dovecot's own passdb
// reading facteur's users file authenticates those users (`doveadm auth test`).
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, chownSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { closeCryptPool, generatableSchemes, generatePassword, knownSchemes, verifyPassword } from '../../src/auth/schemes/index.js';
import { runCli } from '../helpers/cli.js';
import { tmpDir } from '../helpers/tmp.js';
import { DOVEADM, Dovecot, dovecotSkip, isRoot, sharedTmpDir } from './peers.js';

after(() => closeCryptPool());

const execFileP = promisify(execFile);
const PASSWORD = 'pässwörd ☃ 1';
// differs in the first 8 bytes too (DES-CRYPT reads no more)
const WRONG = 'Wrong pässwörd';
/** The schemes default_pass_scheme offers: what an administrator picks for users. */
const USER_SCHEMES = ['ARGON2ID', 'ARGON2I', 'BLF-CRYPT', 'SHA512-CRYPT', 'SHA256-CRYPT', 'SSHA512', 'SSHA256', 'SCRAM-SHA-256', 'PLAIN'];

const dovecotGid = () => Number(execFileSync('id', ['-g', 'dovecot'], { encoding: 'utf8' }).trim());

async function verifyQuietly(password: string, hash: string): Promise<boolean> {
  try {
    return await verifyPassword(password, hash, { user: USER });
  } catch {
    return false;
  }
}
const USER = 'u@example.test';

/** Run `fn` over `items`, `limit` at a time (each CLI run is a Node process). */
async function pool<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]);
      }
    }),
  );
  return out;
}

async function doveadmPwTest(hash: string, password: string): Promise<{ ok: boolean; out: string }> {
  try {
    const { stdout } = await execFileP(DOVEADM!, ['pw', '-t', hash, '-p', password, '-u', USER], { encoding: 'utf8' });
    return { ok: true, out: stdout.trim() };
  } catch (err) {
    const e = err as { stderr?: string; code?: number };
    return { ok: false, out: `${e.code}: ${e.stderr ?? ''}` };
  }
}

/** `facteur user add` into a data directory of its own; returns the hash it wrote. */
async function userAdd(scheme: string | undefined): Promise<string> {
  const data = tmpDir('facteur-pw-');
  const r = await runCli(['user', 'add', '--data', data, '--password-stdin', ...(scheme ? ['--scheme', scheme] : []), USER], { input: PASSWORD + '\n' });
  assert.equal(r.code, 0, `user add --scheme ${scheme}: ${r.stderr}`);
  const line = readFileSync(join(data, 'users'), 'utf8').split('\n').find((l) => l.startsWith(USER + ':'));
  assert.ok(line, 'the user line');
  return line.split(':')[1];
}

describe('facteur user add → doveadm pw -t', { skip: !DOVEADM && 'dovecot not installed' }, () => {
  it('facteur user add with the default scheme and each default_pass_scheme choice: doveadm verifies the hash', async () => {
    const schemes: (string | undefined)[] = [undefined, ...USER_SCHEMES];
    const results = await pool(schemes, 4, async (scheme) => {
      const hash = await userAdd(scheme);
      return { scheme: scheme ?? '(default)', hash, good: await doveadmPwTest(hash, PASSWORD), bad: await doveadmPwTest(hash, WRONG) };
    });
    assert.match(results[0].hash, /^\{ARGON2ID\}\$argon2id\$/);
    const failed = results.filter((r) => !r.good.ok || r.good.out !== `${r.hash} (verified)` || r.bad.ok);
    assert.deepEqual(
      failed.map((r) => `${r.scheme} ${r.hash}: good=${r.good.out} bad=${r.bad.out}`),
      [],
    );
  });

  it('every scheme facteur can make (generatePassword, what user add calls): doveadm verifies the hash', async () => {
    const schemes = generatableSchemes();
    assert.ok(schemes.length > 20, `${schemes.length} schemes`);
    const results = await pool(schemes, 4, async (scheme) => {
      const hash = await generatePassword(PASSWORD, scheme, { user: USER });
      return { scheme, hash, good: await doveadmPwTest(hash, PASSWORD), bad: await doveadmPwTest(hash, WRONG) };
    });
    const failed = results.filter((r) => !r.good.ok || r.good.out !== `${r.hash} (verified)` || r.bad.ok);
    assert.deepEqual(
      failed.map((r) => `${r.scheme} ${r.hash}: good=${r.good.out} bad=${r.bad.out}`),
      [],
    );
  });
});

describe('doveadm pw -s → facteur pw -t', { skip: !DOVEADM && 'dovecot not installed' }, () => {
  /** doveadm's schemes facteur knows, each with a hash doveadm made and doveadm's own verdicts. */
  let made: { scheme: string; hash: string; good: boolean; bad: boolean }[] = [];
  before(async () => {
    const { stdout } = await execFileP(DOVEADM!, ['pw', '-l'], { encoding: 'utf8' });
    const dovecotSchemes = stdout.trim().split(/\s+/).sort();
    const known = new Set(knownSchemes());
    // OTP is a one-time-password state (RFC 2289), not a hash of a fixed password
    assert.deepEqual(
      dovecotSchemes.filter((s) => !known.has(s)),
      ['OTP'],
    );
    made = await pool(
      dovecotSchemes.filter((s) => known.has(s)),
      4,
      async (scheme) => {
        const hash = (await execFileP(DOVEADM!, ['pw', '-s', scheme, '-p', PASSWORD, '-u', USER], { encoding: 'utf8' })).stdout.trim();
        return { scheme, hash, good: (await doveadmPwTest(hash, PASSWORD)).ok, bad: (await doveadmPwTest(hash, WRONG)).ok };
      },
    );
  });

  it('facteur verifies every hash doveadm makes exactly as doveadm does', async () => {
    // doveadm cannot verify its own PLAIN-TRUNC output (no "<length>-" prefix): facteur agrees
    assert.deepEqual(
      made.filter((m) => !m.good).map((m) => m.scheme),
      ['PLAIN-TRUNC'],
    );
    const verdicts = await pool(made, 8, async (m) => ({
      scheme: m.scheme,
      doveadm: [m.good, m.bad],
      facteur: [await verifyQuietly(PASSWORD, m.hash), await verifyQuietly(WRONG, m.hash)],
    }));
    assert.deepEqual(
      verdicts.filter((v) => v.doveadm.join() !== v.facteur.join()).map((v) => `${v.scheme}: doveadm ${v.doveadm} facteur ${v.facteur}`),
      [],
    );
  });

  it('facteur pw -t (the command) prints "HASH (verified)" for the default_pass_scheme choices, exit 75 for a wrong password', async () => {
    const chosen = made.filter((m) => USER_SCHEMES.includes(m.scheme));
    assert.equal(chosen.length, USER_SCHEMES.length);
    const results = await pool(chosen, 4, async (m) => ({
      m,
      good: await runCli(['pw', '-t', m.hash, '-p', PASSWORD, '-u', USER]),
      bad: m.scheme === 'SHA512-CRYPT' ? await runCli(['pw', '-t', m.hash, '-p', WRONG, '-u', USER]) : undefined,
    }));
    for (const { m, good, bad } of results) {
      assert.equal(good.code, 0, `${m.scheme}: ${good.stderr}`);
      assert.equal(good.stdout, `${m.hash} (verified)\n`);
      if (bad) assert.equal(bad.code, 75, `${m.scheme} wrong password: ${bad.stdout}`);
    }
  });
});

describe("Dovecot's passdb reads facteur's users file", { skip: dovecotSkip }, () => {
  const SCHEMES = ['ARGON2ID', 'SHA512-CRYPT', 'BLF-CRYPT', 'SSHA512', 'SCRAM-SHA-256'];
  let dv: Dovecot;
  before(async () => {
    const data = sharedTmpDir('facteur-pwdb-');
    const add = async (s: string) => {
      const r = await runCli(['user', 'add', '--data', data, '--password-stdin', '--scheme', s, `${s.toLowerCase()}@example.test`], { input: PASSWORD });
      assert.equal(r.code, 0, r.stderr);
    };
    // at the same time: user add serialises its rewrites with a lock file
    await Promise.all(SCHEMES.slice(0, -1).map(add));
    // facteur writes its users file 0600; Dovecot's auth process runs as dovecot: the
    // administrator's step, which facteur's next rewrite of the file must keep
    const users = join(data, 'users');
    if (isRoot) {
      chownSync(users, 0, dovecotGid());
      chmodSync(users, 0o640);
    }
    await add(SCHEMES[SCHEMES.length - 1]);
    dv = await Dovecot.start({ usersFile: users, home: join(data, 'mail', '%d', '%n'), extra: 'auth_failure_delay = 0\n' });
  });
  after(async () => {
    await dv?.stop();
  });

  it('the users file kept the mode and group the administrator gave it', () => {
    const st = statSync(dv.options.usersFile);
    assert.equal(st.mode & 0o777, isRoot ? 0o640 : 0o600);
    if (isRoot) assert.equal(st.gid, dovecotGid());
  });

  it('doveadm auth test succeeds for each scheme with the right password only', async () => {
    // a client address of its own for each attempt: Dovecot delays the next try from an address that failed
    let n = 0;
    const authTest = (user: string, password: string) => execFileP(DOVEADM!, ['-c', dv.conf, 'auth', 'test', '-x', 'service=imap', '-x', `rip=192.0.2.${++n}`, user, password], { encoding: 'utf8' });
    for (const s of SCHEMES) {
      const user = `${s.toLowerCase()}@example.test`;
      const { stdout } = await authTest(user, PASSWORD);
      assert.match(stdout, new RegExp(`passdb: ${user} auth succeeded`), `${s}: ${stdout}\n${dv.log()}`);
      await assert.rejects(
        authTest(user, WRONG),
        (err: { code?: number; stdout?: string }) => err.code === 77 && new RegExp(`passdb: ${user} auth failed`).test(err.stdout ?? ''),
        s,
      );
    }
  });
});
