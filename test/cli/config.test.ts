import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runCli } from '../helpers/cli.js';
import { tmpDir } from '../helpers/tmp.js';

const tutorial = fileURLToPath(new URL('../config/tutorial.conf', import.meta.url));

describe('facteur config', () => {
  it('check passes the tutorial configuration with no warning', async () => {
    const r = await runCli(['config', 'check', '-c', tutorial]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '');
    assert.match(r.stdout, /tutorial\.conf: ok\n$/);
  });

  it('check fails with file:line errors for a bad restriction, a bad CIDR and an unreadable file', async () => {
    const dir = tmpDir();
    const file = join(dir, 'facteur.conf');
    writeFileSync(file, ['myhostname = mx.example.test', 'mynetworks = 127.0.0.0/8, 192.168.1.0/40', 'smtpd_recipient_restrictions = permit_mynetworks, reject_bogus_thing', 'alias_maps = texthash:/no/such/aliases', 'some_unknown = 1', ''].join('\n'));
    const r = await runCli(['config', 'check', '-c', file]);
    assert.equal(r.code, 1);
    const lines = r.stderr.trim().split('\n');
    assert.deepEqual(
      lines.map((l) => l.replace(file, 'F')),
      [
        'F:2: error: mynetworks: bad network mask length in "192.168.1.0/40" (at most 32)',
        'F:3: error: smtpd_recipient_restrictions: unknown restriction "reject_bogus_thing"',
        'F:4: error: alias_maps: cannot read texthash table "/no/such/aliases": ENOENT',
        'F:5: warning: some_unknown: unused parameter (unknown to facteur)',
      ],
    );
  });

  it('show prints effective values; -n only what the file sets', async () => {
    const dir = tmpDir();
    const file = join(dir, 'facteur.conf');
    writeFileSync(file, 'myhostname = mx.example.test\nsubmission.smtpd_tls_security_level = may\n');
    const all = await runCli(['config', 'show', '-c', file, 'mydomain', 'mydestination', 'submission.smtpd_tls_security_level']);
    assert.equal(all.code, 0, all.stderr);
    assert.equal(all.stdout, 'mydomain = example.test\nmydestination = mx.example.test, localhost.example.test, localhost\nsubmission.smtpd_tls_security_level = may\n');
    const n = await runCli(['config', 'show', '-n', '-c', file]);
    assert.equal(n.stdout, 'myhostname = mx.example.test\nsubmission.smtpd_tls_security_level = may\n');
  });

  it('serve refuses to start with configuration errors', async () => {
    const dir = tmpDir();
    const file = join(dir, 'facteur.conf');
    writeFileSync(file, `data_directory = ${dir}/data\nsmtpd_helo_restrictions = reject_nonsense\n`);
    const r = await runCli(['serve', '-c', file]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /facteur\.conf:2: error: smtpd_helo_restrictions: unknown restriction "reject_nonsense"/);
    assert.match(r.stderr, /not starting/);
  });

  it('--help lists the commands', async () => {
    const r = await runCli(['--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /serve/);
    assert.match(r.stdout, /config/);
  });
});
