// smtpd_sasl_type = dovecot: facteur's Dovecot auth client against facteur's own auth
// socket server, the choice of service (smtpd_sasl_path = facteur's own socket means the
// built-in service), and temporary failures when the auth server is away.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Config } from '../../src/config/config.js';
import { createAuthService, type BuiltinAuthService } from '../../src/auth/service.js';
import { DovecotAuthServer } from '../../src/auth/dovecot/server.js';
import { CONNECTION_LOST, DovecotAuthClient, resolveSaslPath } from '../../src/auth/dovecot/client.js';
import { AuthServiceResolver, authServiceFor, isOwnAuthSocket } from '../../src/auth/factory.js';
import { closeCryptPool, generatePassword } from '../../src/auth/schemes/index.js';
import { createSaslClient } from '../../src/auth/sasl-client.js';
import { PasswdFileDatabase } from '../../src/auth/users/passwd-file.js';
import type { AuthRequest, SaslServerExchange, SaslStep } from '../../src/auth/types.js';
import { SilentLogger } from './helpers.js';

let dir: string;
let users: PasswdFileDatabase;
let builtin: BuiltinAuthService;
const silent = new SilentLogger('auth');
const cleanups: (() => unknown)[] = [];

const req = (ip = '192.0.2.10', extra: Partial<AuthRequest> = {}): AuthRequest => ({ service: 'submission', remoteIp: ip, localIp: '192.0.2.1', tls: true, secured: true, ...extra });
const b = (s: string) => Buffer.from(s, 'utf8');

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'facteur-authclient-'));
  writeFileSync(join(dir, 'users'), ['alice@example.test:{PLAIN}alice-secret::::::', `bob@example.test:${await generatePassword('bob-secret', 'SCRAM-SHA-256')}::::::`].join('\n') + '\n');
  users = new PasswdFileDatabase(join(dir, 'users'), { mailHome: '%u', baseDir: dir, watch: false });
  builtin = createAuthService(Config.fromObject({ data_directory: dir }), users, { failureDelayMs: 1, log: silent });
});
after(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  rmSync(dir, { recursive: true, force: true });
  await closeCryptPool();
});

let n = 0;
async function server(): Promise<{ srv: DovecotAuthServer; path: string }> {
  const srv = new DovecotAuthServer(builtin, { log: silent });
  const path = join(dir, `sock-${++n}`);
  await srv.listen(path);
  cleanups.push(() => srv.close());
  return { srv, path };
}

function client(path: string, opts: ConstructorParameters<typeof DovecotAuthClient>[1] = {}): DovecotAuthClient {
  const c = new DovecotAuthClient({ kind: 'unix', path }, { log: silent, reconnectDelayMs: 0, ...opts });
  cleanups.push(() => c.close());
  return c;
}

async function drive(ex: SaslServerExchange, mech: string, username: string, password: string): Promise<SaslStep> {
  const sc = createSaslClient(mech, { username, password })!;
  let step = await ex.step(sc.initialResponse());
  while (step.kind === 'challenge') step = await ex.step(await sc.respond(step.data));
  if (step.kind === 'success') sc.complete(step.data);
  return step;
}

describe('DovecotAuthClient against facteur\'s auth socket', () => {
  it('learns the mechanisms from the handshake', async () => {
    const { path } = await server();
    const c = client(path);
    assert.equal(await c.ready(), true);
    assert.deepEqual(c.mechanisms({ allowPlaintext: true }), ['PLAIN', 'LOGIN', 'SCRAM-SHA-256', 'SCRAM-SHA-1']);
    assert.deepEqual(c.mechanisms({ allowPlaintext: false }), ['SCRAM-SHA-256', 'SCRAM-SHA-1']);
    assert.equal(c.start('CRAM-MD5', req()), undefined);
  });

  it('relays PLAIN, LOGIN and SCRAM exchanges (with the server-final message as a challenge)', async () => {
    const { path } = await server();
    const c = client(path);
    assert.deepEqual(await drive(c.start('PLAIN', req())!, 'PLAIN', 'alice@example.test', 'alice-secret'), { kind: 'success', user: 'alice@example.test', data: undefined });
    assert.deepEqual(await drive(c.start('login', req())!, 'LOGIN', 'alice@example.test', 'alice-secret'), { kind: 'success', user: 'alice@example.test', data: undefined });
    const s = await drive(c.start('SCRAM-SHA-256', req())!, 'SCRAM-SHA-256', 'bob@example.test', 'bob-secret');
    assert.equal(s.kind, 'success');
    // PLAIN without an initial response: the empty challenge comes from the server
    const ex = c.start('PLAIN', req())!;
    assert.deepEqual(await ex.step(undefined), { kind: 'challenge', data: Buffer.alloc(0) });
    assert.equal((await ex.step(b('\0alice@example.test\0alice-secret'))).kind, 'success');
  });

  it('passes failures on with the user name and no reason, as Postfix sees them', async () => {
    const { path } = await server();
    const c = client(path);
    const f = await c.start('PLAIN', req('198.51.100.1'))!.step(b('\0alice@example.test\0wrong'));
    assert.deepEqual(f, { kind: 'failure', reason: '(reason unavailable)', temporary: undefined, user: 'alice@example.test' });
    assert.deepEqual(await c.verifyPassword('alice@example.test', 'alice-secret', req()), { ok: true, user: 'alice@example.test' });
    assert.equal((await c.verifyPassword('alice@example.test', 'nope', req('198.51.100.2'))).ok, false);
  });

  it('counts failures per IP for isThrottled()', async () => {
    const { path } = await server();
    const c = client(path, { failureLimit: 2, failureWindowMs: 60_000 });
    for (let i = 0; i < 2; i++) await c.verifyPassword('alice@example.test', 'nope', req('198.51.100.3'));
    assert.equal(c.isThrottled('198.51.100.3'), true);
    assert.equal(c.isThrottled('198.51.100.4'), false);
  });

  it('cancel sends CANCEL and the connection stays usable', async () => {
    const { path } = await server();
    const c = client(path);
    const ex = c.start('LOGIN', req())!;
    assert.deepEqual(await ex.step(undefined), { kind: 'challenge', data: b('Username:') });
    ex.cancel();
    assert.equal((await c.verifyPassword('alice@example.test', 'alice-secret', req())).ok, true);
  });

  it('reuses one connection, and reconnects after the auth server restarted', async () => {
    const { srv, path } = await server();
    const c = client(path);
    assert.equal((await c.verifyPassword('alice@example.test', 'alice-secret', req())).ok, true);
    assert.equal((await c.verifyPassword('alice@example.test', 'alice-secret', req())).ok, true);
    assert.equal(srv.connectionCount, 1);
    await srv.close();
    const again = new DovecotAuthServer(builtin, { log: silent });
    await again.listen(path);
    cleanups.push(() => again.close());
    assert.equal((await c.verifyPassword('alice@example.test', 'alice-secret', req())).ok, true);
    assert.equal(again.connectionCount, 1);
  });

  it('no auth server: a temporary failure (SMTP 454 4.7.0), and no mechanisms', async () => {
    const c = client(join(dir, 'nothing-here'));
    assert.equal(await c.ready(), false);
    assert.deepEqual(c.mechanisms({ allowPlaintext: true }), []);
    const ex = c.start('PLAIN', req())!;
    assert.deepEqual(await ex.step(b('\0alice@example.test\0alice-secret')), { kind: 'failure', reason: CONNECTION_LOST, temporary: true });
  });

  it('the auth server going away in the middle of an exchange is a temporary failure', async () => {
    const { srv, path } = await server();
    const c = client(path);
    const ex = c.start('LOGIN', req())!;
    assert.equal((await ex.step(undefined)).kind, 'challenge');
    const pending = ex.step(b('alice@example.test'));
    await srv.close();
    const r = await pending;
    // either answered before the close or lost with it
    if (r.kind === 'challenge') {
      assert.deepEqual(await ex.step(b('alice-secret')), { kind: 'failure', reason: CONNECTION_LOST, temporary: true });
    } else {
      assert.deepEqual(r, { kind: 'failure', reason: CONNECTION_LOST, temporary: true });
    }
  });

  it('inet:host:port reaches a TCP listener', async () => {
    const srv = new DovecotAuthServer(builtin, { log: silent });
    const tcp = createServer((s) => srv.handle(s));
    await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => tcp.close(() => r())));
    cleanups.push(() => srv.close());
    const port = (tcp.address() as AddressInfo).port;
    const view = Config.fromObject({ data_directory: dir, smtpd_sasl_type: 'dovecot', smtpd_sasl_path: `inet:127.0.0.1:${port}` }).view();
    const c = DovecotAuthClient.fromConfig(view, { log: silent });
    cleanups.push(() => c.close());
    assert.deepEqual(c.endpoint, { kind: 'inet', host: '127.0.0.1', port });
    assert.equal((await c.verifyPassword('alice@example.test', 'alice-secret', req())).ok, true);
  });
});

describe('the bytes the client sends', () => {
  it('are the ones Postfix smtpd sends to Dovecot (postfix-capture.jsonl), and it understands Dovecot\'s handshake', async () => {
    const capture = readFileSync(new URL('../fixtures/auth/postfix-capture.jsonl', import.meta.url), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { part: string; conn?: number; dir?: string; data?: string })
      .filter((c) => c.part === 'postfix-proxy');
    const dovecotHandshake = capture.find((c) => c.conn === 1 && c.dir === 'S')!.data!;
    const postfixAuth = capture.filter((c) => c.dir === 'C' && c.data!.startsWith('AUTH')).map((c) => c.data!);
    const received: string[] = [];
    const fake = createServer((s) => {
      s.write(dovecotHandshake);
      let buf = '';
      s.setEncoding('utf8').on('data', (d: string) => {
        buf += d;
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl + 1);
          buf = buf.slice(nl + 1);
          received.push(line);
          const f = line.split('\t');
          if (f[0] === 'AUTH') s.write(f.some((x) => x.startsWith('resp=')) ? `OK\t${f[1]}\tuser=alice\n` : `CONT\t${f[1]}\t\n`);
          if (f[0] === 'CONT') s.write(`OK\t${f[1]}\tuser=alice\n`);
        }
      });
    });
    const path = join(dir, 'fake-dovecot');
    await new Promise<void>((r) => fake.listen(path, r));
    cleanups.push(() => new Promise<void>((r) => fake.close(() => r())));
    const c = client(path);
    cleanups.push(() => c.close());
    assert.deepEqual(c.mechanisms({ allowPlaintext: true }), [], 'not connected yet');
    assert.equal(await c.ready(), true);
    assert.deepEqual(c.mechanisms({ allowPlaintext: true }), ['PLAIN', 'LOGIN']);
    // MX port without TLS, AUTH PLAIN with an initial response (session mx-plain-ok)
    const r1 = { service: 'smtp', remoteIp: '127.0.0.3', localIp: '127.0.0.1', tls: false, secured: false };
    assert.deepEqual(await c.start('PLAIN', r1)!.step(b('\0alice\0alice-secret')), { kind: 'success', user: 'alice', data: undefined });
    // submission after STARTTLS (submission-plain-ok): secured
    const r2 = { service: 'submission', remoteIp: '127.0.0.3', localIp: '127.0.0.1', tls: true, secured: true };
    assert.equal((await c.start('PLAIN', r2)!.step(b('\0alice\0alice-secret'))).kind, 'success');
    // AUTH PLAIN without initial response (mx-plain-abort)
    const ex = c.start('PLAIN', r1)!;
    assert.equal((await ex.step(undefined)).kind, 'challenge');
    assert.equal((await ex.step(b('\0alice\0alice-secret'))).kind, 'success');
    assert.match(received[0], /^VERSION\t1\t\d+\n$/);
    assert.equal(received[1], `CPID\t${process.pid}\n`);
    const sent = received.filter((l) => l.startsWith('AUTH')).map((l) => l.replace(/^AUTH\t\d+/, 'AUTH\tN'));
    const norm = (l: string) => l.replace(/^AUTH\t\d+/, 'AUTH\tN');
    assert.equal(sent[0], norm(postfixAuth[0])); // mx-plain-ok
    assert.equal(sent[1], norm(postfixAuth.find((l) => l.includes('secured\tresp='))!)); // submission-plain-ok
    assert.equal(sent[2], norm(postfixAuth.find((l) => l.includes('rip=127.0.0.3\n'))!)); // no initial response
  });
});

describe('which service SMTP uses', () => {
  it('smtpd_sasl_path: relative to queue_directory, absolute, inet:', () => {
    const v = (p: string) => Config.fromObject({ data_directory: '/srv/facteur', smtpd_sasl_path: p }).view();
    assert.deepEqual(resolveSaslPath(v('private/auth')), { kind: 'unix', path: '/srv/facteur/queue/private/auth' });
    assert.deepEqual(resolveSaslPath(v('/var/spool/postfix/private/auth')), { kind: 'unix', path: '/var/spool/postfix/private/auth' });
    assert.deepEqual(resolveSaslPath(v('inet:[::1]:12345')), { kind: 'inet', host: '::1', port: 12345 });
  });

  it("the tutorial's smtpd_sasl_type = dovecot + smtpd_sasl_path = private/auth-client is facteur's own service", () => {
    const tutorial = Config.fromObject({ data_directory: dir, smtpd_sasl_type: 'dovecot', smtpd_sasl_path: 'private/auth-client' }).view();
    assert.equal(isOwnAuthSocket(tutorial), true);
    assert.equal(authServiceFor(tutorial, builtin), builtin);
    const own = Config.fromObject({ data_directory: dir, smtpd_sasl_type: 'dovecot', smtpd_sasl_path: '/var/spool/postfix/private/auth', auth_socket_path: '/var/spool/postfix/private/auth' }).view();
    assert.equal(authServiceFor(own, builtin), builtin);
    assert.equal(authServiceFor(Config.fromObject({ data_directory: dir }).view(), builtin), builtin);
  });

  it('another socket gets a Dovecot client, shared by the services that name it', () => {
    const config = Config.fromObject({ data_directory: dir, smtpd_sasl_type: 'dovecot', smtpd_sasl_path: '/run/dovecot/auth-client', 'submissions.smtpd_sasl_type': 'facteur' });
    const resolver = new AuthServiceResolver(builtin, { log: silent });
    cleanups.push(() => resolver.close());
    const sub = resolver.forView(config.view('submission'));
    assert.ok(sub instanceof DovecotAuthClient);
    assert.deepEqual((sub as DovecotAuthClient).endpoint, { kind: 'unix', path: '/run/dovecot/auth-client' });
    assert.equal(resolver.forView(config.view('smtp')), sub);
    assert.equal(resolver.forView(config.view('submissions')), builtin);
    assert.equal(resolver.externalClients().length, 1);
  });
});
