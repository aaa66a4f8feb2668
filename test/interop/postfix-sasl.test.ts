// A private Postfix 3.7 smtpd authenticating through facteur's Dovecot-protocol auth socket
// (smtpd_sasl_type = dovecot, smtpd_sasl_path = private/auth as in Dovecot's documentation:
// facteur's auth_socket_path in Postfix's queue directory, owned by postfix, mode 0660).
// Python's smtplib logs in to Postfix with AUTH PLAIN and LOGIN; a bad password is refused.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ensureSelfSigned } from '../../src/server/tls.js';
import { tmpDir } from '../helpers/tmp.js';
import { startTestFacteur, type TestFacteur } from './facteur.js';
import { Postfix, postfixSkip, python, waitFor, PY_SMTP_AUTH } from './peers.js';

// argv: port, mechanism, user, password, starttls (0/1), rcpt, message-id.
// Prints one JSON line: the AUTH reply, then the RCPT reply (when authenticated or not).
const CLIENT = `
import json, smtplib, ssl, sys
port, mech, user, pw, tls, rcpt, mid = sys.argv[1:8]
s = smtplib.SMTP('127.0.0.1', int(port), local_hostname='laptop.example.test', timeout=20)
if tls == '1':
    ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
    s.starttls(context=ctx)
${PY_SMTP_AUTH}
code, text = s.mail('alice@example.test')
code, text = s.rcpt(rcpt)
out['rcpt'] = [code, text.decode()]
if code == 250:
    code, text = s.data(('From: alice@example.test\\r\\nTo: ' + rcpt + '\\r\\nSubject: via postfix\\r\\nMessage-ID: <' + mid + '>\\r\\nDate: Sat, 01 Jun 2024 10:00:00 +0000\\r\\n\\r\\nsent through Postfix with facteur SASL\\r\\n').encode())
    out['data'] = [code, text.decode()]
s.quit()
print(json.dumps(out))
`;

interface ClientResult {
  features: string;
  auth: [number, string];
  rcpt: [number, string];
  data?: [number, string];
}

describe('Postfix smtpd with facteur as its Dovecot SASL server', { skip: postfixSkip }, () => {
  let fx: TestFacteur;
  let pf: Postfix;
  const run = async (mech: string, user: string, pw: string, opts: { tls?: boolean; rcpt?: string; mid?: string } = {}): Promise<ClientResult> =>
    JSON.parse(await python(CLIENT, [String(pf.port), mech, user, pw, opts.tls === false ? '0' : '1', opts.rcpt ?? 'bob@postfix.test', opts.mid ?? 'x@example.test'])) as ClientResult;

  before(async () => {
    const cert = ensureSelfSigned(join(tmpDir('facteur-pfcert-'), 'tls'), 'postfix.test');
    // Postfix first: facteur's socket goes into Postfix's private/ directory
    pf = await Postfix.start({
      main: {
        // relaying only for authenticated clients: loopback is not in mynetworks here
        mynetworks: '192.0.2.0/24',
        smtpd_sasl_auth_enable: 'yes',
        smtpd_sasl_type: 'dovecot',
        smtpd_sasl_path: 'private/facteur-auth',
        smtpd_sasl_authenticated_header: 'yes',
        smtpd_relay_restrictions: 'permit_sasl_authenticated, reject_unauth_destination',
        smtpd_tls_security_level: 'may',
        smtpd_tls_cert_file: cert.cert,
        smtpd_tls_key_file: cert.key,
        // relayed mail for elsewhere.test is never sent anywhere (a test must not leak)
        default_transport: 'discard:not sent from the test',
      },
    });
    fx = await startTestFacteur(
      {
        auth_socket_path: join(pf.queueDir, 'private', 'facteur-auth'),
        auth_socket_user: 'postfix',
        auth_socket_group: 'postfix',
        auth_socket_mode: '0660',
      },
      [
        { user: 'alice@example.test', password: 'alice-pw', scheme: 'SHA512-CRYPT' },
        { user: 'carol@example.test', password: 'carol-pw', scheme: 'ARGON2ID' },
      ],
    );
  });
  after(async () => {
    await pf?.stop();
    await fx?.stop();
  });

  it('AUTH PLAIN after STARTTLS succeeds and lets the client relay; Postfix records the SASL user', async () => {
    const r = await run('PLAIN', 'alice@example.test', 'alice-pw', { rcpt: 'someone@elsewhere.test', mid: 'interop-3a@example.test' });
    assert.match(r.features, /\bPLAIN\b/);
    assert.match(r.features, /\bLOGIN\b/);
    assert.deepEqual(r.auth, [235, '2.7.0 Authentication successful']);
    assert.equal(r.rcpt[0], 250);
    assert.equal(r.data?.[0], 250);
    await pf.waitLog(/postfix\/smtpd\[\d+\]: [0-9A-F]+: client=localhost\[127\.0\.0\.1\], sasl_method=PLAIN, sasl_username=alice@example\.test/);
    // the socket as Dovecot's documentation has it for Postfix: postfix-owned, 0660
    const st = statSync(join(pf.queueDir, 'private', 'facteur-auth'));
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o660);
    assert.equal(st.uid, Number(execFileSync('id', ['-u', 'postfix'], { encoding: 'utf8' }).trim()));
  });

  it('AUTH LOGIN works too, and the Received: line of a local delivery says ESMTPSA', async () => {
    const r = await run('LOGIN', 'carol@example.test', 'carol-pw', { mid: 'interop-3b@example.test' });
    assert.deepEqual(r.auth, [235, '2.7.0 Authentication successful']);
    assert.equal(r.data?.[0], 250);
    const got = await waitFor('the message at bob@postfix.test', () => pf.mailbox('bob').find((f) => f.data.includes('interop-3b')), 20_000, () => pf.log());
    const text = got.data.toString();
    assert.match(text, /\(Authenticated sender: carol@example\.test\)\n\tby postfix\.test \(Postfix\) with ESMTPSA id /);
    await pf.waitLog(/sasl_method=LOGIN, sasl_username=carol@example\.test/);
  });

  it('a bad password is refused with 535, and relaying stays closed', async () => {
    const r = await run('PLAIN', 'alice@example.test', 'wrong', { rcpt: 'someone@elsewhere.test' });
    assert.equal(r.auth[0], 535);
    assert.match(r.auth[1], /^5\.7\.8 Error: authentication failed/);
    assert.equal(r.rcpt[0], 554);
    assert.match(r.rcpt[1], /Relay access denied/);
    await pf.waitLog(/warning: localhost\[127\.0\.0\.1\]: SASL PLAIN authentication failed/);
    const login = await run('LOGIN', 'nobody@example.test', 'whatever', { rcpt: 'someone@elsewhere.test' });
    assert.equal(login.auth[0], 535);
  });

  it('without TLS Postfix still offers AUTH (smtpd_tls_auth_only = no) and facteur answers', async () => {
    // facteur's auth service applies disable_plaintext_auth to a request that is neither
    // secured nor from a trusted network, as Dovecot does: this connection is from loopback
    const r = await run('PLAIN', 'alice@example.test', 'alice-pw', { tls: false });
    assert.equal(r.auth[0], 235, JSON.stringify(r));
  });
});
