// facteur's submission service authenticating through a real Dovecot 2.3 auth server
// (smtpd_sasl_type = dovecot, smtpd_sasl_path = Dovecot's auth-client socket, passwd-file
// passdb with hashes made by doveadm pw): AUTH PLAIN and LOGIN from Python's smtplib.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startTestFacteur, type TestFacteur } from './facteur.js';
import { DOVEADM, Dovecot, dovecotSkip, maildirFiles, PYTHON, python, sharedTmpDir, waitFor, PY_SMTP_AUTH } from './peers.js';

// argv: port, mechanism, user, password, sender, rcpt, message-id. Submission: STARTTLS, AUTH, one message.
const CLIENT = `
import json, smtplib, ssl, sys
port, mech, user, pw, sender, rcpt, mid = sys.argv[1:8]
s = smtplib.SMTP('127.0.0.1', int(port), local_hostname='laptop.example.test', timeout=20)
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
s.starttls(context=ctx)
${PY_SMTP_AUTH}
if code == 235:
    s.sendmail(sender, [rcpt], ('From: ' + sender + '\\r\\nTo: ' + rcpt + '\\r\\nSubject: dovecot sasl\\r\\nMessage-ID: <' + mid + '>\\r\\n\\r\\nauthenticated by Dovecot\\r\\n').encode())
    out['sent'] = True
s.quit()
print(json.dumps(out))
`;

interface ClientResult {
  features: string;
  auth: [number, string];
  sent?: boolean;
}

describe('facteur submission with Dovecot as its SASL server', { skip: dovecotSkip || (!PYTHON && 'python3 not installed') }, () => {
  let dv: Dovecot;
  let fx: TestFacteur;
  const run = async (mech: string, user: string, pw: string, mid: string): Promise<ClientResult> =>
    JSON.parse(await python(CLIENT, [String(fx.facteur.port('submission')), mech, user, pw, user, 'alice@example.test', mid])) as ClientResult;

  before(async () => {
    const dir = sharedTmpDir('facteur-dvusers-');
    const usersFile = join(dir, 'users');
    // passwords hashed by Dovecot itself
    const hash = (scheme: string, pw: string) => execFileSync(DOVEADM!, ['pw', '-s', scheme, '-p', pw], { encoding: 'utf8' }).trim();
    writeFileSync(usersFile, `dave@dovecot.test:${hash('SHA512-CRYPT', 'dave-pw')}::::::\nerin@dovecot.test:${hash('ARGON2ID', 'erin-pw')}::::::\n`, { mode: 0o644 });
    dv = await Dovecot.start({ usersFile, home: join(dir, 'home', '%n'), extra: 'auth_failure_delay = 0\nauth_verbose = yes\nauth_debug = yes\n' });
    fx = await startTestFacteur(
      {
        'submission.smtpd_sasl_type': 'dovecot',
        'submission.smtpd_sasl_path': dv.authClient,
        'submission.smtpd_sasl_authenticated_header': 'yes',
        // Dovecot's users are not facteur's: accept their sender addresses
        'submission.smtpd_sender_restrictions': '',
      },
      [{ user: 'alice@example.test', password: 'alice-pw' }],
    );
  });
  after(async () => {
    await fx?.stop();
    await dv?.stop();
  });

  it('AUTH PLAIN is checked by Dovecot (SHA512-CRYPT hash) and the message is delivered as ESMTPSA', async () => {
    const r = await run('PLAIN', 'dave@dovecot.test', 'dave-pw', 'interop-4a@dovecot.test');
    assert.match(r.features, /\bPLAIN\b/);
    assert.match(r.features, /\bLOGIN\b/);
    assert.deepEqual(r.auth, [235, '2.7.0 Authentication successful']);
    assert.equal(r.sent, true);
    const got = await waitFor('the message in alice\'s Maildir', () => maildirFiles(fx.maildir('alice@example.test')).find((f) => f.data.includes('interop-4a')), 10_000, () => fx.log());
    assert.match(got.data.toString(), /\(Authenticated sender: dave@dovecot\.test\)\n\tby mx\.facteur\.test \(facteur\) with ESMTPSA id /);
    // what facteur told Dovecot: service smtp, the TLS-secured flag and the client's address
    const req = /auth: Debug: client in: AUTH\t(\d+)\tPLAIN\t([^\n]*)/.exec(dv.log());
    assert.ok(req, dv.log());
    assert.match(req[2], /\bservice=smtp\b/);
    assert.match(req[2], /\bsecured\b/);
    assert.match(req[2], /\brip=127\.0\.0\.1\b/);
  });

  it('AUTH LOGIN (ARGON2ID hash) works too', async () => {
    const r = await run('LOGIN', 'erin@dovecot.test', 'erin-pw', 'interop-4b@dovecot.test');
    assert.deepEqual(r.auth, [235, '2.7.0 Authentication successful']);
    await waitFor('erin\'s message', () => maildirFiles(fx.maildir('alice@example.test')).find((f) => f.data.includes('interop-4b')), 10_000, () => fx.log());
  });

  it('a wrong password or an unknown user is refused with 535 5.7.8', async () => {
    // at the same time: Dovecot delays the next attempt from an address that just failed (auth penalty)
    const [bad, unknown] = await Promise.all([run('PLAIN', 'dave@dovecot.test', 'nope', 'x1@dovecot.test'), run('LOGIN', 'zed@dovecot.test', 'nope', 'x2@dovecot.test')]);
    assert.equal(bad.auth[0], 535);
    assert.match(bad.auth[1], /^5\.7\.8 /);
    assert.equal(bad.sent, undefined);
    assert.equal(unknown.auth[0], 535);
    assert.match(dv.log(), /passwd-file\(dave@dovecot\.test,127\.0\.0\.1[^)]*\): (Password mismatch|.*mismatch)/);
    assert.match(dv.log(), /passwd-file\(zed@dovecot\.test,127\.0\.0\.1[^)]*\): unknown user/);
  });
});
