// `facteur user add|passwd|del|list` on the passwd-file named by the configuration,
// including while a server has the file open.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Config } from '../../src/config/config.js';
import { createAuthService } from '../../src/auth/service.js';
import { closeCryptPool, verifyPassword } from '../../src/auth/schemes/index.js';
import { PasswdFileDatabase } from '../../src/auth/users/passwd-file.js';
import { runCli, runCliOnTty } from './cli-helpers.js';

const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'facteur-user-'));
  dirs.push(d);
  return d;
}
after(async () => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  await closeCryptPool();
});

const req = { service: 'imap', remoteIp: '192.0.2.1', tls: true, secured: true };

describe('facteur user', () => {
  it('add, list, passwd, del on $data_directory/users (--data)', async () => {
    const d = tmp();
    const add = await runCli(['user', 'add', 'alice@Example.TEST', '--password-stdin', '--data', d], 'alice-secret\n');
    assert.deepEqual(add, { code: 0, stdout: 'added alice@example.test\n', stderr: '' });
    const file = join(d, 'users');
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const line = readFileSync(file, 'utf8');
    assert.match(line, /^alice@example\.test:\{ARGON2ID\}\$argon2id\$v=19\$m=65536,t=3,p=1\$[^:]+::::::\n$/);
    assert.equal(await verifyPassword('alice-secret', line.split(':')[1]), true);

    const bob = await runCli(['user', 'add', 'bob@example.test', '--password-stdin', '--scheme', 'SHA512-CRYPT', '--home', 'homes/bob', '--data', d], 'bob-secret');
    assert.equal(bob.code, 0, bob.stderr);
    const list = await runCli(['user', 'list', '--data', d]);
    assert.deepEqual(list, { code: 0, stdout: 'alice@example.test\nbob@example.test\n', stderr: '' });
    const long = await runCli(['user', 'list', '-l', '--data', d]);
    assert.equal(long.stdout, `alice@example.test\tARGON2ID\t${d}/mail/example.test/alice\nbob@example.test\tSHA512-CRYPT\t${join(process.cwd(), 'homes/bob')}\n`);

    const dup = await runCli(['user', 'add', 'ALICE@example.test', '--password-stdin', '--data', d], 'x\n');
    assert.equal(dup.code, 1);
    assert.equal(dup.stdout, '');
    assert.equal(dup.stderr, 'facteur: user alice@example.test already exists\n');

    const pw = await runCli(['user', 'passwd', 'Alice@example.test', '--password-stdin', '--scheme', 'SSHA512', '--data', d], 'new-secret\n');
    assert.deepEqual(pw, { code: 0, stdout: 'password changed for alice@example.test\n', stderr: '' });
    const after1 = readFileSync(file, 'utf8').split('\n');
    assert.match(after1[0], /^alice@example\.test:\{SSHA512\}[A-Za-z0-9+/=]+::::::$/);
    assert.equal(await verifyPassword('new-secret', after1[0].split(':')[1]), true);
    assert.match(after1[1], /^bob@example\.test:\{SHA512-CRYPT\}\$6\$[^:]+::::\/.*homes\/bob::$/);

    const del = await runCli(['user', 'del', 'bob@example.test', '--data', d]);
    assert.deepEqual(del, { code: 0, stdout: 'deleted bob@example.test\n', stderr: '' });
    const missing = await runCli(['user', 'del', 'bob@example.test', '--data', d]);
    assert.deepEqual(missing, { code: 1, stdout: '', stderr: 'facteur: no such user: bob@example.test\n' });
    assert.equal((await runCli(['user', 'list', '--data', d])).stdout, 'alice@example.test\n');
  });

  it('refuses bad input with an error on stderr and a non-zero exit', async () => {
    const d = tmp();
    const cases: [string[], string, RegExp][] = [
      [['user', 'add', 'bad:name', '--password-stdin', '--data', d], 'x', /invalid address "bad:name"/],
      [['user', 'add', 'a@b@c', '--password-stdin', '--data', d], 'x', /invalid address/],
      [['user', 'add', 'a@example.test', '--data', d], 'x', /no password: use --password-stdin/],
      [['user', 'add', 'a@example.test', '--password-stdin', '--data', d], '\n', /empty password/],
      [['user', 'add', 'a@example.test', '--password-stdin', '--scheme', 'NOPE', '--data', d], 'x', /Unknown scheme NOPE/],
      [['user', 'passwd', 'nobody@example.test', '--password-stdin', '--data', d], 'x', /no such user/],
    ];
    for (const [args, input, err] of cases) {
      const r = await runCli(args, input);
      assert.equal(r.code, 1, args.join(' '));
      assert.equal(r.stdout, '');
      assert.match(r.stderr, err);
    }
    assert.equal((await runCli(['user', 'list', '--data', d])).stdout, '');
  });

  it('uses user_database and default_pass_scheme from -c FILE; a bad configuration is an error', async () => {
    const d = tmp();
    const conf = join(d, 'facteur.conf');
    writeFileSync(conf, `data_directory = ${d}\nuser_database = passwd-file:${d}/etc/passwd.facteur\ndefault_pass_scheme = BLF-CRYPT\n`);
    const r = await runCli(['user', 'add', 'carol', '-c', conf, '--password-stdin'], 'c');
    assert.equal(r.code, 0, r.stderr);
    assert.match(readFileSync(join(d, 'etc/passwd.facteur'), 'utf8'), /^carol:\{BLF-CRYPT\}\$2y\$05\$/);
    writeFileSync(conf, `data_directory = ${d}\nmynetworks = 10.0.0.1/8\n`);
    const bad = await runCli(['user', 'list', '-c', conf]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /facteur\.conf:2.*mynetworks/);
  });

  it('on a terminal the password is asked twice', async () => {
    const d = tmp();
    const r = await runCliOnTty(['user', 'add', 'dave@example.test', '--data', d], [
      ['Enter new password: ', 'dave-secret'],
      ['Retype new password: ', 'dave-secret'],
    ]);
    assert.equal(r.code, 0, r.stdout);
    assert.match(r.stdout, /added dave@example\.test/);
    assert.ok(!r.stdout.includes('dave-secret'));
    assert.equal(await verifyPassword('dave-secret', readFileSync(join(d, 'users'), 'utf8').split(':')[1]), true);
  });

  it('a running server sees added, changed and deleted users without a restart', async () => {
    const d = tmp();
    const config = Config.fromObject({ data_directory: d });
    let reloads = 0;
    const users = new PasswdFileDatabase(join(d, 'users'), { mailHome: config.get('mail_home'), baseDir: d, onReload: () => reloads++ });
    const svc = createAuthService(config, users, { failureDelayMs: 1 });
    try {
      assert.equal((await svc.verifyPassword('erin@example.test', 'erin-secret', req)).ok, false);
      // counted before the command runs: on a loaded machine the watcher may fire before runCli returns
      const before = reloads;
      await runCli(['user', 'add', 'erin@example.test', '--password-stdin', '--data', d], 'erin-secret\n');
      // the watcher is asynchronous: give a loaded machine time (this bounds the wait, it does not assert a duration)
      for (const deadline = Date.now() + 20_000; reloads === before && Date.now() < deadline; ) await new Promise((r) => setTimeout(r, 20));
      assert.ok(reloads > before, 'the watcher noticed the new file');
      assert.deepEqual(await svc.verifyPassword('erin@example.test', 'erin-secret', req), { ok: true, user: 'erin@example.test' });
      assert.equal(users.lookup('erin@example.test')!.home, join(d, 'mail/example.test/erin'));
      await runCli(['user', 'passwd', 'erin@example.test', '--password-stdin', '--data', d], 'changed\n');
      assert.equal((await svc.verifyPassword('erin@example.test', 'erin-secret', req)).ok, false);
      assert.equal((await svc.verifyPassword('erin@example.test', 'changed', req)).ok, true);
      await runCli(['user', 'del', 'erin@example.test', '--data', d]);
      assert.equal(users.lookup('erin@example.test'), undefined);
    } finally {
      users.close();
    }
  });
});
