// The Dovecot passwd-file user database: parsing, lookups, homes, atomic rewrites, reload.
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { Config } from '../../src/config/config.js';
import { addLogSink, type LogRecord } from '../../src/log.js';
import { expandUserVariables, mailHomeFor } from '../../src/auth/users/home.js';
import { editPasswdFile, formatPasswdRecord, parsePasswdFile, PasswdFileDatabase, UserDatabaseUnavailableError } from '../../src/auth/users/passwd-file.js';
import { openUserDatabase, userDatabaseRef } from '../../src/auth/users/index.js';
import { withFileLock, writeFileAtomic } from '../../src/auth/users/atomic-file.js';

const dirs: string[] = [];
function tmp(): string {
  const d = mkdtempSync(join(tmpdir(), 'facteur-users-'));
  dirs.push(d);
  return d;
}
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function captureLogs(): { lines: string[]; stop: () => void } {
  const lines: string[] = [];
  const stop = addLogSink((_r: LogRecord, line: string) => lines.push(line));
  return { lines, stop };
}

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500; i++) {
    if (cond()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.fail(`timed out waiting for ${what}`);
}

const SAMPLE = [
  '# users of example.test',
  '',
  'alice@example.test:{PLAIN}alice-secret::::::',
  'Bob@Example.Test:{SHA512-CRYPT}$6$x$y:1001:1001:Bob B.:/srv/mail/bob:/bin/false:userdb_mail=maildir:~/Mail allow_nets=10.0.0.0/8 nopassword',
  'carol',
  'dave:{PLAIN}d',
  'erin@other.test:{PLAIN}e:::::::maildir:/var/mail/erin',
  ':nobody:x',
  'frank:secret[34]',
  '',
].join('\n');

describe('parsing', () => {
  it('reads comments, blank lines, missing trailing fields, extra fields and the old mail field', () => {
    const { records, problems } = parsePasswdFile(SAMPLE.replace('carol\n', ''));
    assert.deepEqual(problems, []);
    assert.deepEqual(
      records.map((r) => r.user),
      ['alice@example.test', 'Bob@Example.Test', 'dave', 'erin@other.test', 'frank'],
    );
    const bob = records[1];
    assert.equal(bob.uid, 1001);
    assert.equal(bob.gid, 1001);
    assert.equal(bob.gecos, 'Bob B.');
    assert.equal(bob.home, '/srv/mail/bob');
    assert.equal(bob.shell, '/bin/false');
    assert.deepEqual(bob.extra, { userdb_mail: 'maildir:~/Mail', allow_nets: '10.0.0.0/8', nopassword: '' });
    assert.equal(records[2].home, '');
    assert.deepEqual(records[3].extra, { userdb_mail: 'maildir:/var/mail/erin' });
    assert.equal(records[4].password, '{PLAIN-MD5}secret'); // libpam-pwdfile [34]
  });

  it('reports a line without a password field as an error with its line number', () => {
    const { problems } = parsePasswdFile(SAMPLE);
    assert.equal(problems.length, 1);
    assert.equal(problems[0].line, 5);
    assert.equal(problems[0].severity, 'error');
  });

  it('warns about duplicates (first wins) and non-numeric uid', () => {
    const { records, problems } = parsePasswdFile('a:{PLAIN}1\nA:{PLAIN}2\nb:{PLAIN}3:vmail:vmail\n');
    assert.equal(records.length, 2);
    assert.equal(records[0].password, '{PLAIN}1');
    assert.deepEqual(
      problems.map((p) => [p.line, p.severity]),
      [
        [2, 'warning'],
        [3, 'warning'],
      ],
    );
  });

  it('formats records back in Dovecot order', () => {
    assert.equal(formatPasswdRecord({ user: 'a@b.test', password: '{PLAIN}x' }), 'a@b.test:{PLAIN}x::::::');
    assert.equal(formatPasswdRecord({ user: 'a', password: 'p', home: '/h', extra: { userdb_quota_rule: '*:storage=1G', nopassword: '' } }), 'a:p::::/h::userdb_quota_rule=*:storage=1G nopassword');
  });
});

describe('mail_home variables', () => {
  it('expands %u %n %d, %L/%U modifiers, long forms and %%', () => {
    assert.equal(expandUserVariables('/m/%d/%n', 'Alice@Example.Test'), '/m/Example.Test/Alice');
    assert.equal(expandUserVariables('/m/%Ld/%Ln/%Lu', 'Alice@Example.Test'), '/m/example.test/alice/alice@example.test');
    assert.equal(expandUserVariables('/m/%{domain}/%{username}/%Uu%%', 'a@b'), '/m/b/a/A@B%');
    assert.equal(expandUserVariables('/m/%x/%n', 'a@b'), '/m/%x/a');
    assert.equal(mailHomeFor('mail/%d/%n', 'bob', '/data'), '/data/mail/bob');
    assert.equal(mailHomeFor('/abs/%u', 'bob@x', '/data'), '/abs/bob@x');
  });
});

describe('PasswdFileDatabase', () => {
  it('looks users up case-insensitively, finds domainless entries by bare name, lists domains, defaults homes', () => {
    const d = tmp();
    const path = join(d, 'users');
    writeFileSync(path, SAMPLE.replace('carol\n', ''));
    const db = new PasswdFileDatabase(path, { mailHome: `${d}/mail/%d/%n`, baseDir: d, watch: false });
    assert.equal(db.lookup('ALICE@EXAMPLE.TEST')?.user, 'alice@example.test');
    assert.equal(db.lookup('bob@example.test')?.user, 'Bob@Example.Test');
    assert.equal(db.lookup('dave')?.user, 'dave');
    assert.equal(db.lookup('dave@example.test'), undefined);
    assert.equal(db.lookup('alice'), undefined);
    assert.equal(db.lookup('nobody'), undefined);
    assert.deepEqual([...db.domains()].sort(), ['example.test', 'other.test']);
    assert.equal(db.lookup('alice@example.test')!.home, `${d}/mail/example.test/alice`);
    assert.equal(db.lookup('dave')!.home, `${d}/mail/dave`);
    assert.equal(db.lookup('bob@example.test')!.home, '/srv/mail/bob');
    assert.equal(db.all().length, 5);
  });

  it('a file that cannot be read is a temporary error for lookups (and is logged)', () => {
    const d = tmp();
    mkdirSync(join(d, 'users')); // EISDIR on read, also as root
    const log = captureLogs();
    try {
      const db = new PasswdFileDatabase(join(d, 'users'), { mailHome: '%u', baseDir: d, watch: false });
      assert.throws(() => db.lookup('a'), UserDatabaseUnavailableError);
      assert.ok(log.lines.some((l) => /error: passwd-file .*cannot read/.test(l)));
    } finally {
      log.stop();
    }
  });

  it('a missing file is an empty database', () => {
    const d = tmp();
    const db = new PasswdFileDatabase(join(d, 'nope', 'users'), { mailHome: '%u', baseDir: d });
    assert.equal(db.all().length, 0);
    assert.equal(db.lookup('a'), undefined);
    db.close();
  });

  it('notices a rewrite on the next lookup, even without a watcher', () => {
    const d = tmp();
    const path = join(d, 'users');
    writeFileSync(path, 'a:{PLAIN}1\n');
    const db = new PasswdFileDatabase(path, { mailHome: '%u', baseDir: d, watch: false });
    assert.equal(db.lookup('a')?.password, '{PLAIN}1');
    writeFileAtomic(path, 'a:{PLAIN}2\nb:{PLAIN}3\n');
    assert.equal(db.lookup('a')?.password, '{PLAIN}2');
    assert.equal(db.lookup('b')?.password, '{PLAIN}3');
  });

  it('re-reads when the file changes (fs.watch) and keeps the old users when the new file is malformed', async () => {
    const d = tmp();
    const path = join(d, 'users');
    writeFileSync(path, 'a:{PLAIN}1\nb:{PLAIN}2\n');
    const log = captureLogs();
    let reloads = 0;
    const db = new PasswdFileDatabase(path, { mailHome: '%u', baseDir: d, onReload: () => reloads++ });
    try {
      assert.equal(reloads, 1);
      // the watcher reloads without any lookup
      editPasswdFile(path, (doc) => ({ lines: [...doc.lines, 'c:{PLAIN}3'], result: undefined }));
      await until(() => reloads === 2, 'the watcher to reload');
      assert.ok(db.all().some((u) => u.user === 'c'));
      // a truncated write (partial line) must not wipe the users
      writeFileSync(path, 'a:{PLAIN}1\nb:{PLAIN}2\nc:{PLAIN}3\nd');
      await until(() => log.lines.some((l) => l.includes(`${path}:4:`)), 'the warning with file:line');
      assert.deepEqual(
        db.all().map((u) => u.user),
        ['a', 'b', 'c'],
      );
      assert.ok(log.lines.some((l) => /warning: .*not reloaded .*keeping the 3 users/.test(l)));
      // fixing the file loads it
      writeFileSync(path, 'a:{PLAIN}1\nd:{PLAIN}4\n');
      await until(() => db.lookup('d') !== undefined, 'the fixed file');
      assert.equal(db.lookup('b'), undefined);
    } finally {
      log.stop();
      db.close();
    }
  });
});

describe('atomic rewrites', () => {
  it('edits keep other lines byte for byte, make mode 0600 files and keep an existing mode', () => {
    const d = tmp();
    const path = join(d, 'sub', 'users');
    editPasswdFile(path, (doc) => ({ lines: [...doc.lines, '# comment\twith tab', 'a:{PLAIN}1::::::'], result: undefined }));
    assert.equal(statSync(path).mode & 0o777, 0o600);
    chmodSync(path, 0o640);
    editPasswdFile(path, (doc) => ({ lines: [...doc.lines, 'b:{PLAIN}2::::::'], result: undefined }));
    assert.equal(statSync(path).mode & 0o777, 0o640);
    assert.equal(readFileSync(path, 'utf8'), '# comment\twith tab\na:{PLAIN}1::::::\nb:{PLAIN}2::::::\n');
    assert.deepEqual(readdirSync(join(d, 'sub')), ['users']); // no temporary file or lock left
  });

  it('a held lock makes another writer wait and then fail, a stale lock is taken over', () => {
    const d = tmp();
    const path = join(d, 'users');
    withFileLock(path, () => {
      assert.throws(() => withFileLock(path, () => 1, 100), /locked by another process/);
    });
    writeFileSync(`${path}.lock`, '999999999\n'); // no such process
    assert.equal(withFileLock(path, () => 42, 1000), 42);
  });
});

describe('user_database from the configuration', () => {
  it('reads passwd-file:${data_directory}/users and mail_home', () => {
    const d = tmp();
    const config = Config.fromObject({ data_directory: d });
    assert.deepEqual(userDatabaseRef(config.view()), { type: 'passwd-file', path: join(d, 'users') });
    writeFileSync(join(d, 'users'), 'alice@example.test:{PLAIN}x\n');
    const db = openUserDatabase(config.view(), { watch: false });
    assert.equal(db.lookup('alice@example.test')?.home, join(d, 'mail/example.test/alice'));
  });

  it('refuses other table types with a clear message', () => {
    const config = Config.fromObject({ user_database: 'ldap:/etc/x' });
    assert.throws(() => userDatabaseRef(config.view()), /unsupported table type "ldap"/);
  });
});
