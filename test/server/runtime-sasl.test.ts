// smtpd_sasl_type = dovecot in the assembled server: like Postfix's smtpd, facteur reads the
// auth server's mechanism list before it answers the first EHLO (found by the interop test
// against a real Dovecot: the first client after start was offered no AUTH).
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DovecotAuthServer } from '../../src/auth/dovecot/server.js';
import { createAuthService } from '../../src/auth/service.js';
import { PasswdFileDatabase } from '../../src/auth/users/passwd-file.js';
import { Config } from '../../src/config/config.js';
import { setLogSinks } from '../../src/log.js';
import { startFacteur, type Facteur } from '../../src/server/facteur.js';
import { FolderRegistry } from '../../src/store/registry.js';
import { tmpDir } from '../helpers/tmp.js';

setLogSinks([]);

/** Greeting, then EHLO; resolves with the EHLO reply lines. */
function ehlo(port: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    let buf = '';
    let sent = false;
    s.on('error', reject);
    s.on('data', (d) => {
      buf += d.toString();
      if (!sent && /^220 .*\r\n$/m.test(buf)) {
        sent = true;
        buf = '';
        s.write('EHLO client.test\r\n');
      } else if (sent && /^250 .*\r\n/m.test(buf)) {
        s.end('QUIT\r\n');
        resolve(buf.split('\r\n').filter(Boolean));
      }
    });
  });
}

describe('an external Dovecot auth server (smtpd_sasl_type = dovecot)', () => {
  let authServer: DovecotAuthServer;
  let facteur: Facteur;
  before(async () => {
    const dir = tmpDir('facteur-runtime-sasl-');
    writeFileSync(join(dir, 'users'), 'alice@example.test:{PLAIN}secret::::::\n');
    const users = new PasswdFileDatabase(join(dir, 'users'), { mailHome: '%u', baseDir: dir, watch: false });
    authServer = new DovecotAuthServer(createAuthService(Config.fromObject({ data_directory: dir }), users, { failureDelayMs: 1 }));
    await authServer.listen(join(dir, 'dovecot-auth'));
    const config = Config.fromObject({
      data_directory: join(dir, 'data'),
      user_database: `passwd-file:${join(dir, 'none')}`,
      myhostname: 'mx.facteur.test',
      smtp_listen: '127.0.0.1:0',
      submission_listen: '',
      submissions_listen: '',
      imap_listen: '',
      imaps_listen: '',
      pop3_listen: '',
      pop3s_listen: '',
      auth_socket_path: '',
      smtpd_sasl_auth_enable: 'yes',
      smtpd_tls_auth_only: 'no',
      smtpd_sasl_type: 'dovecot',
      smtpd_sasl_path: join(dir, 'dovecot-auth'),
    });
    writeFileSync(join(dir, 'none'), '');
    facteur = await startFacteur(config, { registry: new FolderRegistry(), queueControlSocket: false });
  });
  after(async () => {
    await facteur?.stop(0);
    await authServer?.close();
  });

  it('the very first EHLO after start announces the auth server\'s mechanisms', async () => {
    const lines = await ehlo(facteur.port('smtp'));
    const auth = lines.find((l) => /^250[- ]AUTH /.test(l));
    assert.ok(auth, lines.join('\n'));
    assert.match(auth, /\bPLAIN\b/);
  });
});
