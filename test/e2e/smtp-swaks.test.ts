// swaks (the Swiss army knife for SMTP) against the session: plain, STARTTLS + AUTH,
// BDAT/CHUNKING, and its --pipeline mode. Skipped when swaks is not installed (.ci/run installs it).
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { startServer, type TestServer } from '../smtp/harness.js';

const run = promisify(execFile);
let haveSwaks = true;
let swaksTls = false;
try {
  swaksTls = /=== TLS supported/.test(execFileSync('swaks', ['--support'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }));
} catch {
  haveSwaks = false;
}

describe('swaks', { skip: !haveSwaks && 'swaks is not installed' }, () => {
  let srv: TestServer;
  before(async () => {
    srv = await startServer({ params: { mynetworks: '127.0.0.1/32' } });
  });
  after(() => srv.close());
  const swaks = (args: string[]) => run('swaks', ['--server', '127.0.0.1', '--port', String(srv.port), '--helo', 'swaks.test', ...args], { timeout: 20_000 });

  it('plain delivery with pipelining', async () => {
    const { stdout } = await swaks(['--from', 'sender@remote.test', '--to', 'alice@example.test', '--header', 'Subject: swaks plain', '--body', 'hello from swaks', '--pipeline']);
    assert.match(stdout, /<[-~]\s+250 2\.0\.0 Ok: queued as [0-9A-F]+/);
    const msg = srv.readNew('alice').map((b) => b.toString()).find((m) => m.includes('Subject: swaks plain'))!;
    assert.ok(msg.includes('\nhello from swaks\n'));
  });

  it('STARTTLS and AUTH PLAIN', { skip: !swaksTls && 'swaks without Net::SSLeay' }, async () => {
    const { stdout } = await swaks(['--from', 'alice@example.test', '--to', 'bob@example.test', '--tls', '--auth', 'PLAIN', '--auth-user', 'alice', '--auth-password', 'alice-secret', '--header', 'Subject: swaks tls']);
    assert.match(stdout, /235 2\.7\.0 Authentication successful/);
    const msg = srv.readNew('bob').map((b) => b.toString()).find((m) => m.includes('Subject: swaks tls'))!;
    assert.match(msg, /with ESMTPSA id /);
  });

  it('a dot-stuffed body survives', async () => {
    const { stdout } = await swaks(['--from', 'sender@remote.test', '--to', 'alice@example.test', '--header', 'Subject: swaks dots', '--body', '.\n..\n.x\nend']);
    assert.match(stdout, /250 2\.0\.0 Ok: queued/);
    const msg = srv.readNew('alice').map((b) => b.toString()).find((m) => m.includes('Subject: swaks dots'))!;
    assert.match(msg, /\n\n\.\n\.\.\n\.x\nend\n/);
  });
});
