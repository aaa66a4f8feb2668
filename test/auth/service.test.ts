// The built-in auth service: mechanisms, PLAIN/LOGIN/SCRAM exchanges, the failure delay,
// per-IP throttling, the fail2ban log line and Dovecot's "secured" rule.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Config } from '../../src/config/config.js';
import { addLogSink, Logger, logger, type LogRecord } from '../../src/log.js';
import { createAuthService, type BuiltinAuthService } from '../../src/auth/service.js';
import { createSaslClient, chooseSaslMechanism, SaslClientError } from '../../src/auth/sasl-client.js';
import { closeCryptPool, generatePassword } from '../../src/auth/schemes/index.js';
import { PasswdFileDatabase } from '../../src/auth/users/passwd-file.js';
import { formatSaslFailureLog, logSaslFailure } from '../../src/auth/log.js';
import { isSecuredConnection, plaintextAuthAllowed } from '../../src/auth/secured.js';
import type { AuthRequest, SaslServerExchange, SaslStep } from '../../src/auth/types.js';

let dir: string;
let users: PasswdFileDatabase;

/** Discards everything (the 1,000-failure test would print 1,000 lines). */
class SilentLogger extends Logger {
  override log(): void {}
  override withId(): Logger {
    return this;
  }
}

const req = (ip = '192.0.2.10', extra: Partial<AuthRequest> = {}): AuthRequest => ({ service: 'submission', remoteIp: ip, tls: true, secured: true, ...extra });

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'facteur-auth-'));
  const lines = [
    'alice@example.test:{PLAIN}alice-secret::::::',
    `bob@example.test:${await generatePassword('bob-secret', 'SCRAM-SHA-256')}::::::`,
    `carol@example.test:${await generatePassword('carol-secret', 'SHA512-CRYPT')}::::::`,
    `sam@example.test:${await generatePassword('sam-secret', 'SCRAM-SHA-1')}::::::`,
    `dan@example.test:${await generatePassword('dan-secret', 'ARGON2ID')}::::::`,
    'nopw@example.test:::::::nopassword',
    'empty@example.test:::::::',
    'netlim@example.test:{PLAIN}x::::::allow_nets=10.0.0.0/8,::1',
    'yes@example.test:$y$j9T$u2kmrerU0KMp9WjftY43i0$z468GY3jUIQii3SpRbuHnkQGUdi9n23Nz5eH/RwcX43::::::',
  ];
  writeFileSync(join(dir, 'users'), lines.join('\n') + '\n');
  users = new PasswdFileDatabase(join(dir, 'users'), { mailHome: '%u', baseDir: dir, watch: false });
});
after(async () => {
  rmSync(dir, { recursive: true, force: true });
  await closeCryptPool();
});

interface Harness {
  svc: BuiltinAuthService;
  sleeps: number[];
  clock: { now: number };
}

function harness(params: Record<string, string> = {}, delay = 100): Harness {
  const sleeps: number[] = [];
  const clock = { now: 1_000_000 };
  const config = Config.fromObject({ data_directory: dir, auth_failure_limit: '3', auth_failure_window: '1h', ...params });
  const svc = createAuthService(config, users, {
    failureDelayMs: delay,
    now: () => clock.now,
    sleep: async (ms) => {
      sleeps.push(ms);
    },
  });
  return { svc, sleeps, clock };
}

function b(s: string): Buffer {
  return Buffer.from(s, 'utf8');
}

/** Drive a server exchange with a SASL client, as an SMTP session would. */
async function runClient(ex: SaslServerExchange, mech: string, username: string, password: string): Promise<{ step: SaslStep; clientError?: Error }> {
  const client = createSaslClient(mech, { username, password })!;
  let step = await ex.step(client.initialResponse());
  try {
    while (step.kind === 'challenge') step = await ex.step(await client.respond(step.data));
    if (step.kind === 'success') client.complete(step.data);
  } catch (err) {
    return { step, clientError: err as Error };
  }
  return { step };
}

describe('mechanisms', () => {
  it('offers auth_mechanisms in order, plaintext ones only when allowed', () => {
    const { svc } = harness();
    assert.deepEqual(svc.mechanisms({ allowPlaintext: true }), ['PLAIN', 'LOGIN', 'SCRAM-SHA-256', 'SCRAM-SHA-1']);
    assert.deepEqual(svc.mechanisms({ allowPlaintext: false }), ['SCRAM-SHA-256', 'SCRAM-SHA-1']);
  });

  it('ignores mechanisms facteur does not implement, with a warning', () => {
    const lines: string[] = [];
    const stop = addLogSink((_r, l) => lines.push(l));
    try {
      const { svc } = harness({ auth_mechanisms: 'login cram-md5' });
      assert.deepEqual(svc.mechanisms({ allowPlaintext: true }), ['LOGIN']);
      assert.equal(svc.start('PLAIN', req()), undefined);
      assert.ok(lines.some((l) => l.includes('cram-md5 is not supported')));
    } finally {
      stop();
    }
  });

  it('start() is case-insensitive and refuses unknown mechanisms', () => {
    const { svc } = harness();
    assert.equal(svc.start('plain', req())?.mechanism, 'PLAIN');
    assert.equal(svc.start('CRAM-MD5', req()), undefined);
  });
});

describe('PLAIN', () => {
  it('accepts an initial response, and an empty challenge then the response', async () => {
    const { svc, sleeps } = harness();
    assert.deepEqual(await svc.start('PLAIN', req())!.step(b('\0alice@example.test\0alice-secret')), { kind: 'success', user: 'alice@example.test' });
    const ex = svc.start('PLAIN', req())!;
    const ch = await ex.step(undefined);
    assert.equal(ch.kind, 'challenge');
    assert.equal(ch.kind === 'challenge' && ch.data.length, 0);
    assert.deepEqual(await ex.step(b('\0ALICE@example.test\0alice-secret')), { kind: 'success', user: 'alice@example.test' });
    assert.deepEqual(sleeps, []);
  });

  it('allows authzid = authcid, refuses another authzid (no proxy authorization)', async () => {
    const { svc } = harness();
    assert.equal((await svc.start('PLAIN', req())!.step(b('alice@example.test\0alice@example.test\0alice-secret'))).kind, 'success');
    const f = await svc.start('PLAIN', req())!.step(b('bob@example.test\0alice@example.test\0alice-secret'));
    assert.deepEqual(f, { kind: 'failure', reason: '(reason unavailable)', temporary: undefined, user: 'alice@example.test' });
  });

  it('fails malformed messages after the failure delay, without a user name', async () => {
    const { svc, sleeps } = harness();
    for (const msg of ['', 'alice-secret', '\0alice@example.test', '\0\0x', 'a\0b\0c\0d']) {
      const f = await svc.start('PLAIN', req())!.step(b(msg));
      assert.equal(f.kind, 'failure', JSON.stringify(msg));
      assert.equal(f.kind === 'failure' && f.user, undefined);
    }
    assert.deepEqual(sleeps.slice(0, 3), [100, 100, 100]);
  });

  it('a wrong password or unknown user fails with the same answer after the delay', async () => {
    const { svc, sleeps } = harness();
    const a = await svc.start('PLAIN', req('192.0.2.1'))!.step(b('\0alice@example.test\0nope'));
    const m = await svc.start('PLAIN', req('192.0.2.2'))!.step(b('\0mallory@example.test\0nope'));
    assert.deepEqual(a, { kind: 'failure', reason: '(reason unavailable)', temporary: undefined, user: 'alice@example.test' });
    assert.deepEqual(m, { kind: 'failure', reason: '(reason unavailable)', temporary: undefined, user: 'mallory@example.test' });
    assert.deepEqual(sleeps, [100, 100]);
  });
});

describe('LOGIN', () => {
  it('asks Username: then Password:', async () => {
    const { svc } = harness();
    const ex = svc.start('LOGIN', req())!;
    assert.deepEqual(await ex.step(undefined), { kind: 'challenge', data: b('Username:') });
    assert.deepEqual(await ex.step(b('carol@example.test')), { kind: 'challenge', data: b('Password:') });
    assert.deepEqual(await ex.step(b('carol-secret')), { kind: 'success', user: 'carol@example.test' });
  });

  it('takes the user name as initial response; an empty one asks for it', async () => {
    const { svc } = harness();
    const ex = svc.start('LOGIN', req())!;
    assert.deepEqual(await ex.step(b('carol@example.test')), { kind: 'challenge', data: b('Password:') });
    assert.equal((await ex.step(b('wrong'))).kind, 'failure');
    const ex2 = svc.start('LOGIN', req())!;
    assert.deepEqual(await ex2.step(Buffer.alloc(0)), { kind: 'challenge', data: b('Username:') });
  });

  it('works with the SASL client helper', async () => {
    const { svc } = harness();
    const { step } = await runClient(svc.start('LOGIN', req())!, 'LOGIN', 'alice@example.test', 'alice-secret');
    assert.deepEqual(step, { kind: 'success', user: 'alice@example.test' });
  });
});

describe('SCRAM', () => {
  it('SCRAM-SHA-256 with a stored {SCRAM-SHA-256} entry; the client checks the server signature', async () => {
    const { svc } = harness();
    const { step, clientError } = await runClient(svc.start('SCRAM-SHA-256', req())!, 'SCRAM-SHA-256', 'bob@example.test', 'bob-secret');
    assert.equal(clientError, undefined);
    assert.equal(step.kind, 'success');
    assert.equal(step.kind === 'success' && step.user, 'bob@example.test');
    assert.match(step.kind === 'success' ? step.data!.toString() : '', /^v=[A-Za-z0-9+/]+=*$/);
  });

  it('SCRAM-SHA-1 with a stored entry, and both with a plaintext entry', async () => {
    const { svc } = harness();
    assert.equal((await runClient(svc.start('SCRAM-SHA-1', req())!, 'SCRAM-SHA-1', 'sam@example.test', 'sam-secret')).step.kind, 'success');
    assert.equal((await runClient(svc.start('SCRAM-SHA-1', req())!, 'SCRAM-SHA-1', 'alice@example.test', 'alice-secret')).step.kind, 'success');
    assert.equal((await runClient(svc.start('SCRAM-SHA-256', req())!, 'SCRAM-SHA-256', 'alice@example.test', 'alice-secret')).step.kind, 'success');
  });

  it('a wrong password fails at the end; a SHA-1 entry cannot serve SCRAM-SHA-256; neither can Argon2', async () => {
    const { svc } = harness({ auth_failure_limit: '0' });
    assert.equal((await runClient(svc.start('SCRAM-SHA-256', req())!, 'SCRAM-SHA-256', 'bob@example.test', 'wrong')).step.kind, 'failure');
    assert.equal((await runClient(svc.start('SCRAM-SHA-256', req())!, 'SCRAM-SHA-256', 'sam@example.test', 'sam-secret')).step.kind, 'failure');
    assert.equal((await runClient(svc.start('SCRAM-SHA-256', req())!, 'SCRAM-SHA-256', 'dan@example.test', 'dan-secret')).step.kind, 'failure');
  });

  it('an unknown user gets a stable fake salt and fails only at the end (no user probing)', async () => {
    const { svc } = harness({ auth_failure_limit: '0' });
    const first = async () => {
      const ex = svc.start('SCRAM-SHA-256', req())!;
      const s = await ex.step(b('n,,n=mallory@example.test,r=abcdefgh'));
      assert.equal(s.kind, 'challenge');
      return s.kind === 'challenge' ? s.data.toString() : '';
    };
    const a = await first();
    const c = await first();
    assert.match(a, /^r=abcdefgh[A-Za-z0-9+/=]+,s=[A-Za-z0-9+/=]+,i=4096$/);
    assert.equal(a.split(',')[1], c.split(',')[1]);
    const { step } = await runClient(svc.start('SCRAM-SHA-256', req())!, 'SCRAM-SHA-256', 'mallory@example.test', 'x');
    assert.deepEqual(step, { kind: 'failure', reason: '(reason unavailable)', temporary: undefined, user: 'mallory@example.test' });
  });

  it('refuses channel binding (p=), mandatory extensions, an authzid of someone else and a tampered nonce', async () => {
    const { svc } = harness({ auth_failure_limit: '0' });
    for (const first of ['p=tls-unique,,n=bob@example.test,r=abc', 'n,,m=ext,n=bob@example.test,r=abc', 'n,a=alice@example.test,n=bob@example.test,r=abc', 'x,,n=bob,r=abc', 'garbage']) {
      assert.equal((await svc.start('SCRAM-SHA-256', req())!.step(b(first))).kind, 'failure', first);
    }
    const ex = svc.start('SCRAM-SHA-256', req())!;
    const s1 = await ex.step(b('n,,n=bob@example.test,r=abc'));
    assert.equal(s1.kind, 'challenge');
    const f = await ex.step(b('c=biws,r=abcSOMETHINGELSE,p=AAAA'));
    assert.equal(f.kind, 'failure');
  });

  it('the client refuses a server that does not know the password', async () => {
    const { svc } = harness({ auth_failure_limit: '0' });
    // a server that answers the first message and then claims success with a wrong signature
    const client = createSaslClient('SCRAM-SHA-256', { username: 'bob@example.test', password: 'bob-secret' })!;
    const ex = svc.start('SCRAM-SHA-256', req())!;
    const s1 = await ex.step(client.initialResponse());
    assert.equal(s1.kind, 'challenge');
    await client.respond(s1.kind === 'challenge' ? s1.data : Buffer.alloc(0));
    await assert.rejects(client.respond(b('v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=')), SaslClientError);
    assert.throws(() => createSaslClient('SCRAM-SHA-1', { username: 'x', password: 'y' })!.complete(), SaslClientError);
  });
});

describe('verifyPassword (IMAP LOGIN, POP3 PASS)', () => {
  it('checks the stored hash; unknown users and wrong passwords fail', async () => {
    const { svc } = harness({ auth_failure_limit: '0' });
    assert.deepEqual(await svc.verifyPassword('carol@example.test', 'carol-secret', req()), { ok: true, user: 'carol@example.test' });
    assert.deepEqual(await svc.verifyPassword('dan@example.test', 'dan-secret', req()), { ok: true, user: 'dan@example.test' });
    assert.equal((await svc.verifyPassword('carol@example.test', 'x', req())).ok, false);
    assert.equal((await svc.verifyPassword('nobody@example.test', 'x', req())).ok, false);
  });

  it('nopassword accepts any password; an empty password field accepts none', async () => {
    const { svc } = harness({ auth_failure_limit: '0' });
    assert.equal((await svc.verifyPassword('nopw@example.test', 'anything', req())).ok, true);
    assert.equal((await svc.verifyPassword('empty@example.test', '', req())).ok, false);
  });

  it('allow_nets restricts where a user may log in from', async () => {
    const { svc } = harness({ auth_failure_limit: '0' });
    assert.equal((await svc.verifyPassword('netlim@example.test', 'x', req('10.1.2.3'))).ok, true);
    assert.equal((await svc.verifyPassword('netlim@example.test', 'x', req('::1'))).ok, true);
    assert.equal((await svc.verifyPassword('netlim@example.test', 'x', req('192.0.2.1'))).ok, false);
  });

  it('a yescrypt entry fails with an error in the log naming the user', async () => {
    const lines: string[] = [];
    const stop = addLogSink((_r, l) => lines.push(l));
    try {
      const { svc } = harness({ auth_failure_limit: '0' });
      const r = await svc.verifyPassword('yes@example.test', 'alice-secret', req());
      assert.equal(r.ok, false);
      assert.ok(lines.some((l) => /error: user yes@example\.test: cannot verify the stored password: yescrypt/.test(l)), lines.join('\n'));
    } finally {
      stop();
    }
  });

  it('an unreadable user database is a temporary failure', async () => {
    const d = mkdtempSync(join(tmpdir(), 'facteur-auth-broken-'));
    try {
      mkdirSync(join(d, 'users'));
      const broken = new PasswdFileDatabase(join(d, 'users'), { mailHome: '%u', baseDir: d, watch: false });
      const svc = createAuthService(Config.fromObject({ data_directory: d }), broken, { failureDelayMs: 0 });
      const r = await svc.verifyPassword('alice@example.test', 'x', req());
      assert.deepEqual(r, { ok: false, reason: 'Temporary authentication failure', temporary: true, user: 'alice@example.test' });
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });
});

describe('failure delay and per-IP throttling', () => {
  it('past auth_failure_limit an IP is throttled and slowed further; other IPs are not', async () => {
    const { svc, sleeps } = harness({ auth_failure_limit: '3' });
    const attacker = '198.51.100.7';
    for (let i = 0; i < 3; i++) assert.equal((await svc.verifyPassword('alice@example.test', 'bad', req(attacker))).ok, false);
    assert.deepEqual(sleeps, [100, 100, 100]);
    assert.equal(svc.isThrottled(attacker), true);
    assert.equal(svc.isThrottled('192.0.2.99'), false);
    sleeps.length = 0;
    // throttled: a penalty before the check, and a longer delay after a failure
    await svc.verifyPassword('alice@example.test', 'bad', req(attacker));
    assert.deepEqual(sleeps, [100, 200]);
    sleeps.length = 0;
    // another IP is not slowed
    assert.equal((await svc.verifyPassword('alice@example.test', 'alice-secret', req('192.0.2.99'))).ok, true);
    assert.deepEqual(sleeps, []);
    assert.equal(svc.isThrottled(attacker), true, "another IP's success does not reset the attacker");
    // the penalty grows, capped at 8 × the delay
    for (let i = 0; i < 6; i++) await svc.verifyPassword('alice@example.test', 'bad', req(attacker));
    assert.equal(Math.max(...sleeps), 800);
    sleeps.length = 0;
    // a success from the throttled IP is delayed too, then resets that IP
    assert.equal((await svc.verifyPassword('alice@example.test', 'alice-secret', req(attacker))).ok, true);
    assert.deepEqual(sleeps, [800]);
    assert.equal(svc.isThrottled(attacker), false);
  });

  it('failures are forgotten after auth_failure_window', async () => {
    const { svc, clock } = harness({ auth_failure_limit: '2', auth_failure_window: '10m' });
    await svc.verifyPassword('alice@example.test', 'bad', req('203.0.113.5'));
    await svc.verifyPassword('alice@example.test', 'bad', req('203.0.113.5'));
    assert.equal(svc.isThrottled('203.0.113.5'), true);
    assert.equal(svc.isThrottled('::ffff:203.0.113.5'), true, 'IPv4-mapped counts as IPv4');
    clock.now += 10 * 60 * 1000 + 1;
    assert.equal(svc.isThrottled('203.0.113.5'), false);
  });

  it('a cancelled exchange counts as a failure', () => {
    const { svc } = harness({ auth_failure_limit: '2' });
    for (let i = 0; i < 2; i++) {
      const ex = svc.start('LOGIN', req('203.0.113.9'))!;
      ex.cancel();
    }
    assert.equal(svc.isThrottled('203.0.113.9'), true);
  });

  it('1,000 rapid bad logins from one client never authenticate and do not starve another client', async () => {
    const config = Config.fromObject({ data_directory: dir, auth_failure_limit: '10' });
    const svc = createAuthService(config, users, { failureDelayMs: 1, log: new SilentLogger('auth') });
    const attacker = '198.51.100.66';
    let finished = 0;
    let okCount = 0;
    const flood = Array.from({ length: 1000 }, (_, i) => {
      const p =
        i % 2 === 0
          ? svc.verifyPassword('carol@example.test', `guess-${i}`, req(attacker))
          : svc.start('PLAIN', req(attacker))!.step(b(`\0carol@example.test\0guess-${i}`)).then((s) => ({ ok: s.kind === 'success' }));
      return p.then((r) => {
        finished++;
        if (r.ok) okCount++;
      });
    });
    const good = await svc.verifyPassword('carol@example.test', 'carol-secret', req('192.0.2.200'));
    const finishedWhenGoodDone = finished;
    await Promise.all(flood);
    assert.deepEqual(good, { ok: true, user: 'carol@example.test' });
    assert.ok(finishedWhenGoodDone < 1000, `the other client was served while the flood was in progress (${finishedWhenGoodDone} done)`);
    assert.equal(okCount, 0);
    assert.equal(finished, 1000);
    assert.equal(svc.isThrottled(attacker), true);
    assert.equal(svc.isThrottled('192.0.2.200'), false);
  });
});

describe('log lines', () => {
  it('formats the Postfix warning that fail2ban matches', () => {
    assert.equal(formatSaslFailureLog('unknown', '127.0.0.3', 'plain', '(reason unavailable)', 'alice'), 'unknown[127.0.0.3]: SASL PLAIN authentication failed: (reason unavailable), sasl_username=alice');
    assert.equal(formatSaslFailureLog(undefined, '2001:db8::1', 'LOGIN', 'authentication failure'), 'unknown[2001:db8::1]: SASL LOGIN authentication failed: authentication failure');
    const lines: string[] = [];
    const stop = addLogSink((_r: LogRecord, l: string) => lines.push(l));
    try {
      logSaslFailure(logger('smtpd'), 'client.example', '198.51.100.1', 'LOGIN', 'UGFzc3dvcmQ6');
    } finally {
      stop();
    }
    // fail2ban's postfix filter (mode normal/aggressive), prefix aside
    const failregex = /warning: [-._\w]+\[(?<host>[^\]]+)\]: SASL ((?:LOGIN|PLAIN|(?:CRAM|DIGEST)-MD5)) authentication failed:(?! Connection lost to authentication server| Invalid authentication mechanism)/i;
    const m = failregex.exec(lines[0]);
    assert.ok(m, lines[0]);
    assert.equal(m.groups!.host, '198.51.100.1');
    assert.match(lines[0], /facteur\/smtpd\[\d+\]: warning: client\.example\[198\.51\.100\.1\]: SASL LOGIN authentication failed: UGFzc3dvcmQ6$/);
  });
});

describe('secured connections (Dovecot 2.3)', () => {
  const view = Config.fromObject({ login_trusted_networks: '10.0.0.0/8, [2001:db8::]/32' }).view();
  it('TLS, loopback, same address as the server, or login_trusted_networks', () => {
    assert.equal(isSecuredConnection(view, { remoteIp: '192.0.2.1', tls: true }), true);
    assert.equal(isSecuredConnection(view, { remoteIp: '127.0.0.5', tls: false }), true);
    assert.equal(isSecuredConnection(view, { remoteIp: '::1', tls: false }), true);
    assert.equal(isSecuredConnection(view, { remoteIp: '::ffff:127.0.0.1', tls: false }), true);
    assert.equal(isSecuredConnection(view, { remoteIp: '192.0.2.1', localIp: '192.0.2.1', tls: false }), true);
    assert.equal(isSecuredConnection(view, { remoteIp: '10.9.8.7', tls: false }), true);
    assert.equal(isSecuredConnection(view, { remoteIp: '2001:db8::5', tls: false }), true);
    assert.equal(isSecuredConnection(view, { remoteIp: '192.0.2.1', localIp: '192.0.2.2', tls: false }), false);
  });
  it('disable_plaintext_auth = no allows plaintext everywhere', () => {
    assert.equal(plaintextAuthAllowed(view, { remoteIp: '192.0.2.1', tls: false }), false);
    assert.equal(plaintextAuthAllowed(Config.fromObject({ disable_plaintext_auth: 'no' }).view(), { remoteIp: '192.0.2.1', tls: false }), true);
  });
});

describe('SASL client helpers', () => {
  it('chooses the strongest offered mechanism', () => {
    assert.equal(chooseSaslMechanism(['LOGIN', 'PLAIN']), 'PLAIN');
    assert.equal(chooseSaslMechanism(['login', 'scram-sha-1', 'PLAIN']), 'SCRAM-SHA-1');
    assert.equal(chooseSaslMechanism(['CRAM-MD5']), undefined);
    assert.equal(chooseSaslMechanism(['PLAIN', 'LOGIN'], ['LOGIN']), 'LOGIN');
  });
  it('PLAIN and LOGIN produce the RFC messages', async () => {
    const p = createSaslClient('PLAIN', { username: 'u', password: 'p', authzid: 'z' })!;
    assert.equal(p.initialResponse()!.toString(), 'z\0u\0p');
    const l = createSaslClient('LOGIN', { username: 'u', password: 'p' })!;
    assert.equal(l.initialResponse(), undefined);
    assert.equal((await l.respond(b('Username:'))).toString(), 'u');
    assert.equal((await l.respond(b('Password:'))).toString(), 'p');
  });
});
