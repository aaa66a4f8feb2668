// facteur's Dovecot auth-client protocol server, driven over its UNIX socket: replays of
// what real clients sent to Dovecot 2.3 (our own client sessions and Postfix smtpd's
// bytes, test/fixtures/auth/*.jsonl) must get the answers Dovecot gave.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Config } from '../../src/config/config.js';
import { createAuthService } from '../../src/auth/service.js';
import { DovecotAuthServer, startAuthSocket } from '../../src/auth/dovecot/server.js';
import { closeCryptPool, generatePassword } from '../../src/auth/schemes/index.js';
import { createSaslClient } from '../../src/auth/sasl-client.js';
import { PasswdFileDatabase } from '../../src/auth/users/passwd-file.js';
import { type LineClient, LineClient as LineClientImpl, sameServerLine, SilentLogger } from './helpers.js';

interface TranscriptEvent {
  d: string;
  t: number;
  text: string;
}
interface TranscriptSession {
  part: string;
  session: string;
  events: TranscriptEvent[];
}
interface CaptureChunk {
  part: string;
  conn?: number;
  dir?: string;
  data?: string;
}

const fixture = (name: string) => new URL(`../fixtures/auth/${name}`, import.meta.url);
const SESSIONS: TranscriptSession[] = readFileSync(fixture('dovecot-auth-transcript.jsonl'), 'utf8')
  .split('\n')
  .filter(Boolean)
  .map((l) => JSON.parse(l) as TranscriptSession);
const CAPTURE: CaptureChunk[] = readFileSync(fixture('postfix-capture.jsonl'), 'utf8')
  .split('\n')
  .filter(Boolean)
  .map((l) => JSON.parse(l) as CaptureChunk)
  .filter((c) => c.part === 'postfix-proxy');

let dir: string;
let users: PasswdFileDatabase;
const silent = new SilentLogger('auth');

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'facteur-authsock-'));
  // the recording's passdb: passwd-file, scheme=PLAIN, alice/alice-secret and bob/bob-secret
  writeFileSync(
    join(dir, 'users'),
    ['alice:{PLAIN}alice-secret', 'bob:{PLAIN}bob-secret', `carol:${await generatePassword('carol-secret', 'SCRAM-SHA-256')}`, `dave:${await generatePassword('dave-secret', 'SHA512-CRYPT')}`].join('\n') + '\n',
  );
  users = new PasswdFileDatabase(join(dir, 'users'), { mailHome: '%u', baseDir: dir, watch: false });
});
after(async () => {
  rmSync(dir, { recursive: true, force: true });
  await closeCryptPool();
});

let counter = 0;
const cleanups: (() => unknown)[] = [];
after(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
/** Connect, and close at the end of the file whatever happens. */
async function connect(path: string): Promise<LineClient> {
  const c = await LineClientImpl.connect(path);
  cleanups.push(() => c.close());
  return c;
}

async function startServer(params: Record<string, string> = {}, delay = 5, opts: ConstructorParameters<typeof DovecotAuthServer>[1] = {}) {
  const config = Config.fromObject({ data_directory: dir, ...params });
  const svc = createAuthService(config, users, { failureDelayMs: delay, log: silent });
  const server = new DovecotAuthServer(svc, { log: silent, ...opts });
  const path = join(dir, `auth-${++counter}`);
  await server.listen(path);
  cleanups.push(() => server.close());
  return { server, path, svc };
}

describe('replay of Dovecot 2.3 sessions (part 1: own client)', () => {
  let ctx: Awaited<ReturnType<typeof startServer>>;
  before(async () => {
    ctx = await startServer({ auth_mechanisms: 'plain login' });
  });
  after(() => ctx.server.close());

  for (const s of SESSIONS.filter((x) => x.part === 'own-client')) {
    it(s.session, async () => {
      const c = await connect(ctx.path);
      try {
        for (const e of s.events) {
          if (e.d === 'S') {
            const got = await c.next();
            assert.ok(sameServerLine(got, e.text), `expected ${JSON.stringify(e.text)}, got ${JSON.stringify(got)}`);
          } else if (e.d === 'C') {
            c.send(e.text);
          } else if (e.d === '#' && e.text === 'connection closed by the server') {
            assert.equal(await c.next(), null, 'the server closes the connection without a reply');
          }
        }
      } finally {
        c.close();
      }
    });
  }
});

describe('replay of what Postfix smtpd sends (part 2)', () => {
  it('every Postfix request gets the answer Dovecot gave', async () => {
    const ctx = await startServer({ auth_mechanisms: 'plain login' });
    try {
      const conns = [...new Set(CAPTURE.map((c) => c.conn!))];
      assert.deepEqual(conns, [1, 2]);
      let answered = 0;
      for (const n of conns) {
        const chunks = CAPTURE.filter((c) => c.conn === n);
        const c = await connect(ctx.path);
        for (const ch of chunks) {
          if (ch.dir === 'C') c.send(ch.data!);
          else if (ch.dir === 'S') {
            for (const expected of ch.data!.split('\n').filter((l) => l !== '')) {
              const got = await c.next();
              assert.ok(sameServerLine(got, expected), `conn ${n}: expected ${JSON.stringify(expected)}, got ${JSON.stringify(got)}`);
              answered++;
            }
          }
        }
        c.close();
      }
      assert.equal(answered, 22); // 2 handshakes of 7 lines + 8 answers
    } finally {
      await ctx.server.close();
    }
  });
});

describe('protocol', () => {
  it('announces SCRAM mechanisms with the mutual-auth flag', async () => {
    const { server, path } = await startServer();
    const c = await connect(path);
    const hs = await c.handshake();
    assert.deepEqual(hs.slice(0, 5), ['VERSION\t1\t2', 'MECH\tPLAIN\tplaintext', 'MECH\tLOGIN\tplaintext', 'MECH\tSCRAM-SHA-256\tmutual-auth', 'MECH\tSCRAM-SHA-1\tmutual-auth']);
    c.close();
    await server.close();
  });

  it('SCRAM over the socket: server-final as CONT, then OK (or OK resp= with final-resp-ok)', async () => {
    const { server, path } = await startServer();
    const c = await connect(path);
    await c.handshake();
    c.send('VERSION\t1\t2\nCPID\t1\n');
    for (const [id, finalRespOk] of [
      ['1', false],
      ['2', true],
    ] as const) {
      const client = createSaslClient('SCRAM-SHA-256', { username: 'carol', password: 'carol-secret' })!;
      c.send(`AUTH\t${id}\tSCRAM-SHA-256\tservice=imap${finalRespOk ? '\tfinal-resp-ok' : ''}\tresp=${client.initialResponse()!.toString('base64')}`);
      const first = (await c.next())!.split('\t');
      assert.deepEqual(first.slice(0, 2), ['CONT', id]);
      c.send(`CONT\t${id}\t${(await client.respond(Buffer.from(first[2], 'base64'))).toString('base64')}`);
      const second = (await c.next())!.split('\t');
      if (finalRespOk) {
        assert.deepEqual(second.slice(0, 3), ['OK', id, 'user=carol']);
        client.complete(Buffer.from(second[3].slice('resp='.length), 'base64'));
      } else {
        assert.deepEqual(second.slice(0, 2), ['CONT', id]);
        assert.equal((await client.respond(Buffer.from(second[2], 'base64'))).length, 0);
        c.send(`CONT\t${id}\t`);
        assert.equal(await c.next(), `OK\t${id}\tuser=carol`);
        client.complete();
      }
    }
    c.close();
    await server.close();
  });

  it('answers requests as they finish: a quick success is not held up by a delayed failure', async () => {
    const { server, path } = await startServer({}, 200);
    const c = await connect(path);
    await c.handshake();
    c.send('VERSION\t1\t2\nCPID\t1\nAUTH\t1\tPLAIN\tservice=smtp\trip=192.0.2.1\tresp=AGFsaWNlAHdyb25n\nAUTH\t2\tPLAIN\tservice=smtp\trip=192.0.2.2\tresp=AGFsaWNlAGFsaWNlLXNlY3JldA==\n');
    assert.equal(await c.next(), 'OK\t2\tuser=alice');
    assert.equal(await c.next(), 'FAIL\t1\tuser=alice');
    c.close();
    await server.close();
  });

  it('many pipelined requests on one connection all get their own answer', async () => {
    const { server, path } = await startServer();
    const c = await connect(path);
    await c.handshake();
    let out = 'VERSION\t1\t2\nCPID\t1\n';
    for (let i = 1; i <= 100; i++) out += `AUTH\t${i}\tPLAIN\tservice=smtp\trip=10.0.0.${i}\tresp=${Buffer.from(`\0${i % 2 ? 'alice' : 'bob'}\0${i % 2 ? 'alice' : 'bob'}-secret`).toString('base64')}\n`;
    c.send(out);
    const got = new Map<string, string>();
    for (let i = 0; i < 100; i++) {
      const l = (await c.next())!.split('\t');
      assert.equal(l[0], 'OK');
      got.set(l[1], l[2]);
    }
    for (let i = 1; i <= 100; i++) assert.equal(got.get(String(i)), `user=${i % 2 ? 'alice' : 'bob'}`);
    c.close();
    await server.close();
  });

  it('a temporary failure is FAIL … temp; SHA512-CRYPT entries verify through the worker pool', async () => {
    const { server, path } = await startServer();
    const c = await connect(path);
    await c.handshake();
    c.send(`VERSION\t1\t2\nCPID\t1\nAUTH\t1\tPLAIN\tservice=smtp\tresp=${Buffer.from('\0dave\0dave-secret').toString('base64')}\n`);
    assert.equal(await c.next(), 'OK\t1\tuser=dave');
    c.close();
    await server.close();
    // an unreadable user database
    const d = mkdtempSync(join(tmpdir(), 'facteur-authsock-broken-'));
    try {
      const broken = new PasswdFileDatabase(d, { mailHome: '%u', baseDir: d, watch: false }); // a directory: EISDIR
      const svc = createAuthService(Config.fromObject({ data_directory: d }), broken, { failureDelayMs: 1, log: silent });
      const s2 = new DovecotAuthServer(svc, { log: silent });
      await s2.listen(join(d, 'sock'));
      const c2 = await connect(join(d, 'sock'));
      await c2.handshake();
      c2.send(`VERSION\t1\t2\nCPID\t1\nAUTH\t1\tPLAIN\tservice=smtp\tresp=${Buffer.from('\0alice\0x').toString('base64')}\n`);
      assert.equal(await c2.next(), 'FAIL\t1\tuser=alice\ttemp\treason=Temporary authentication failure');
      c2.close();
      await s2.close();
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });

  it('a too long line closes the connection; the server goes on', async () => {
    const { server, path } = await startServer();
    const c = await connect(path);
    await c.handshake();
    c.send('VERSION\t1\t2\nCPID\t1\n');
    c.socket.write('AUTH\t1\tPLAIN\tservice=smtp\tresp=' + 'A'.repeat(40_000));
    assert.equal(await c.next(), null);
    const c2 = await connect(path);
    assert.equal((await c2.handshake())[0], 'VERSION\t1\t2');
    c2.close();
    await server.close();
  });

  it('a client waiting too long for CONT gets "Authentication request timed out"', async () => {
    const { server, path } = await startServer({}, 5, { requestTimeoutMs: 50 });
    const c = await connect(path);
    await c.handshake();
    c.send('VERSION\t1\t2\nCPID\t1\nAUTH\t1\tLOGIN\tservice=smtp\trip=192.0.2.50');
    assert.equal(await c.next(), 'CONT\t1\tVXNlcm5hbWU6');
    assert.equal(await c.next(), 'FAIL\t1\treason=Authentication request timed out');
    c.close();
    await server.close();
  });

  it('1,000 rapid bad logins over the socket never authenticate, and another client is still served', async () => {
    const { server, path, svc } = await startServer({ auth_failure_limit: '10' }, 1);
    const attacker = await connect(path);
    const other = await connect(path);
    await attacker.handshake();
    await other.handshake();
    other.send('VERSION\t1\t0\nCPID\t100\n');
    // dave's SHA512-CRYPT entry makes every guess cost a real crypt(3) in the worker pool
    let flood = 'VERSION\t1\t0\nCPID\t99\n';
    for (let i = 1; i <= 1000; i++) flood += `AUTH\t${i}\tPLAIN\tservice=smtp\tnologin\tlip=127.0.0.1\trip=198.51.100.9\tresp=${Buffer.from(`\0dave\0guess${i}`).toString('base64')}\n`;
    attacker.send(flood);
    other.send(`AUTH\t1\tPLAIN\tservice=smtp\tnologin\trip=192.0.2.77\tresp=${Buffer.from('\0bob\0bob-secret').toString('base64')}\n`);
    let seen = 0;
    let ok = 0;
    const answers = (async () => {
      for (let i = 0; i < 1000; i++) {
        const l = await attacker.next(60_000);
        assert.notEqual(l, null);
        if (l!.startsWith('OK')) ok++;
        assert.match(l!, /^FAIL\t\d+\t/);
        seen++;
      }
    })();
    assert.equal(await other.next(), 'OK\t1\tuser=bob');
    const seenWhenOtherServed = seen;
    await answers;
    assert.equal(ok, 0);
    assert.ok(seenWhenOtherServed < 1000, `other client answered while the flood was in progress (${seenWhenOtherServed})`);
    assert.equal(svc.isThrottled('198.51.100.9'), true);
    assert.equal(svc.isThrottled('192.0.2.77'), false);
    attacker.close();
    other.close();
    await server.close();
  });
});

describe('the socket file', () => {
  it('auth_socket_path/mode/user/group: created under queue_directory with the mode and owner', async () => {
    const config = Config.fromObject({ data_directory: dir, auth_socket_mode: '0620', auth_socket_user: 'root', auth_socket_group: '0' });
    const svc = createAuthService(config, users, { failureDelayMs: 1, log: silent });
    const server = (await startAuthSocket(config.view(), svc, { log: silent }))!;
    const path = join(dir, 'queue', 'private', 'auth-client');
    const st = statSync(path);
    assert.ok(st.isSocket());
    assert.equal(st.mode & 0o777, 0o620);
    assert.equal(st.uid, 0);
    assert.equal(st.gid, 0);
    const c = await connect(path);
    assert.equal((await c.handshake())[0], 'VERSION\t1\t2');
    c.close();
    await server.close();
    assert.throws(() => statSync(path), /ENOENT/);
    assert.equal(await startAuthSocket(Config.fromObject({ data_directory: dir, auth_socket_path: '' }).view(), svc), undefined);
  });

  it('an unknown owner is a clear error; a live socket is not taken over; a stale one is replaced', async () => {
    const svc = createAuthService(Config.fromObject({ data_directory: dir }), users, { failureDelayMs: 1, log: silent });
    const path = join(dir, 'sock-owner');
    await assert.rejects(new DovecotAuthServer(svc, { log: silent }).listen(path, { user: 'no-such-user-facteur' }), /user "no-such-user-facteur" not found/);
    const first = new DovecotAuthServer(svc, { log: silent });
    await first.listen(path);
    await assert.rejects(new DovecotAuthServer(svc, { log: silent }).listen(path), /in use/);
    await first.close();
    // a stale socket: something listened there and went away without removing it
    const stale = createServer();
    await new Promise<void>((r) => stale.listen(path, r));
    (stale as unknown as { _handle: { close(): void } | null })._handle?.close(); // drop without unlinking
    const second = new DovecotAuthServer(svc, { log: silent });
    await second.listen(path);
    const c = await connect(path);
    assert.equal((await c.handshake())[0], 'VERSION\t1\t2');
    c.close();
    await second.close();
    writeFileSync(path, 'not a socket');
    await assert.rejects(new DovecotAuthServer(svc, { log: silent }).listen(path), /not a socket/);
  });
});
