import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { Config } from '../../src/config/config.js';
import { createPop3Handler } from '../../src/pop3/service.js';
import { isSecured, Pop3ContentEncoder, startPop3Session } from '../../src/pop3/session.js';
import { TlsProvider } from '../../src/server/tls.js';
import { formatUidl } from '../../src/pop3/uidl.js';
import { FacteurServer } from '../../src/server/server.js';
import { tmpDir } from '../helpers/tmp.js';
import { FakeAuth, FakeMaildrops } from './fakes.js';

const run = promisify(execFile);
const OFF = { smtp_listen: '', submission_listen: '', submissions_listen: '', imap_listen: '', imaps_listen: '', pop3_listen: '127.0.0.1:0', pop3s_listen: '127.0.0.1:0' };

const MSG1 = 'From: a@example.org\nSubject: one\n\nline 1\n.leading dot\n..two dots\nlast\n';
const MSG2 = 'From: b@example.org\r\nSubject: two\r\n\r\nbody\r\n';

async function startServer(extra: Record<string, string> = {}, boxes = { alice: [{ uid: 1, content: MSG1 }, { uid: 4, content: MSG2 }] }) {
  const config = Config.fromObject({ ...OFF, data_directory: tmpDir(), myhostname: 'mx.example.test', ...extra }).assertValid();
  const auth = new FakeAuth({ alice: 'secret', bob: 'bob-pw' });
  const maildrops = new FakeMaildrops(boxes);
  const server = new FacteurServer(config, (c, tls) => ({
    pop3: createPop3Handler({ config: c, tls, auth, maildrops }),
    pop3s: createPop3Handler({ config: c, tls, auth, maildrops }),
  }));
  const listening = await server.start();
  const port = listening.find((l) => l.service === 'pop3')!.port;
  const tlsPort = listening.find((l) => l.service === 'pop3s')!.port;
  return { server, port, tlsPort, auth, maildrops };
}

/** A raw client that collects everything the server says. */
class Raw {
  data = '';
  private waiters: (() => void)[] = [];
  constructor(readonly socket: Socket) {
    socket.on('data', (d) => {
      this.data += d.toString('latin1');
      for (const w of this.waiters.splice(0)) w();
    });
  }
  static open(port: number): Promise<Raw> {
    return new Promise((resolve, reject) => {
      const s = connect({ host: '127.0.0.1', port }, () => resolve(new Raw(s)));
      s.once('error', reject);
    });
  }
  /** Wait until the received text matches. */
  async until(re: RegExp, ms = 5000): Promise<string> {
    const deadline = Date.now() + ms;
    while (!re.test(this.data)) {
      if (Date.now() > deadline) throw new Error(`timeout waiting for ${re}; got ${JSON.stringify(this.data)}`);
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 100);
      });
    }
    return this.data;
  }
  send(s: string): void {
    this.socket.write(s);
  }
}

describe('POP3 session', () => {
  it('serves Python poplib: USER/PASS, STAT, LIST, UIDL, RETR with exact bytes, DELE + QUIT', async () => {
    const { server, port, maildrops } = await startServer();
    const script = `
import poplib, json
p = poplib.POP3('127.0.0.1', ${port})
out = {'welcome': p.getwelcome().decode()}
p.user('alice'); out['pass'] = p.pass_('secret').decode()
out['stat'] = list(p.stat())
out['list'] = [x.decode() for x in p.list()[1]]
out['uidl'] = [x.decode() for x in p.uidl()[1]]
resp, lines, octets = p.retr(1)
out['retr1'] = [l.decode() for l in lines]; out['octets1'] = octets
out['top2'] = [l.decode() for l in p.top(2, 0)[1]]
out['dele'] = p.dele(2).decode()
out['stat2'] = list(p.stat())
out['quit'] = p.quit().decode()
print(json.dumps(out))
`;
    const { stdout } = await run('python3', ['-c', script]);
    const out = JSON.parse(stdout);
    assert.equal(out.welcome, '+OK facteur ready.');
    assert.equal(out.pass, '+OK Logged in.');
    const size1 = Buffer.byteLength(MSG1.replace(/\n/g, '\r\n'));
    const size2 = Buffer.byteLength(MSG2);
    assert.deepEqual(out.stat, [2, size1 + size2]);
    assert.deepEqual(out.list, [`1 ${size1}`, `2 ${size2}`]);
    assert.deepEqual(out.uidl, ['1 000000016b0b620e', '2 000000046b0b620e']);
    // poplib undoes the dot-stuffing: the lines are the message's own lines
    assert.deepEqual(out.retr1, MSG1.split('\n').slice(0, -1));
    assert.equal(out.octets1, size1); // poplib counts the unstuffed bytes
    assert.deepEqual(out.top2, ['From: b@example.org', 'Subject: two', '']);
    assert.equal(out.dele, '+OK Marked to be deleted.');
    assert.deepEqual(out.stat2, [1, size1]);
    assert.equal(out.quit, '+OK Logging out, messages deleted.');
    assert.deepEqual(maildrops.boxes.alice.map((m) => m.uid), [1]);
    assert.equal(maildrops.boxes.alice[0].seen, true, 'RETR sets \\Seen');
    await server.stop(1000);
  });

  it('a dropped connection deletes nothing and releases the lock; a second session gets [IN-USE]', async () => {
    const { server, port, maildrops } = await startServer();
    const a = await Raw.open(port);
    a.send('USER alice\r\nPASS secret\r\n');
    await a.until(/Logged in/);
    const b = await Raw.open(port);
    b.send('USER alice\r\nPASS secret\r\n');
    await b.until(/-ERR \[IN-USE\]/);
    a.send('DELE 1\r\nDELE 2\r\n');
    await a.until(/Marked to be deleted.\r\n.*Marked to be deleted/s);
    a.socket.destroy();
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(maildrops.boxes.alice.length, 2);
    assert.equal(maildrops.locked.size, 0);
    b.socket.destroy();
    await server.stop(1000);
  });

  it('refuses plaintext logins on a non-secured connection when disable_plaintext_auth = yes (Dovecot 2.3)', async () => {
    const config = Config.fromObject({ ...OFF, data_directory: tmpDir(), myhostname: 'mx.example.test', login_trusted_networks: '198.51.100.0/24' }).assertValid();
    const auth = new FakeAuth({ alice: 'secret' });
    const maildrops = new FakeMaildrops({ alice: [] });
    const tls = new TlsProvider(config);
    // a connection as if from a remote, untrusted address (the session only sees ConnectionInfo)
    const session = async (remoteAddress: string) => {
      const srv = createServer((sock) => {
        startPop3Session(sock, { service: 'pop3', id: 'T1', remoteAddress, remotePort: 40000, localAddress: '203.0.113.1', localPort: 110, implicitTls: false }, { config: config.view('pop3'), tls, auth, maildrops });
      });
      await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
      const c = await Raw.open((srv.address() as AddressInfo).port);
      return { c, srv };
    };
    const { c, srv } = await session('192.0.2.7');
    c.send('CAPA\r\nUSER alice\r\nAUTH PLAIN\r\nSTLS\r\n');
    await c.until(/Begin TLS/);
    const capa = c.data.slice(c.data.indexOf('+OK\r\nCAPA'), c.data.indexOf('\r\n.\r\n'));
    assert.doesNotMatch(capa, /USER|SASL/, 'no plaintext mechanism is offered');
    assert.match(capa, /STLS/);
    assert.match(c.data, /-ERR \[AUTH\] Plaintext authentication disallowed on non-secure \(SSL\/TLS\) connections\.\r\n-ERR \[AUTH\] Plaintext authentication disallowed/);
    c.socket.destroy();
    srv.close();
    // from login_trusted_networks the same is allowed
    const t = await session('198.51.100.9');
    t.c.send('USER alice\r\nPASS secret\r\n');
    await t.c.until(/Logged in/);
    t.c.socket.destroy();
    t.srv.close();
    assert.equal(isSecured(config.view('pop3'), { remoteAddress: '127.0.0.1', localAddress: '127.0.0.1' }, false), true);
    assert.equal(isSecured(config.view('pop3'), { remoteAddress: '192.0.2.7', localAddress: '203.0.113.1' }, true), true);
  });

  it('answers bad commands, wrong-state commands and over-long lines, and goes on', async () => {
    const { server, port } = await startServer();
    const c = await Raw.open(port);
    c.send('STAT\r\nFOO bar\r\nPASS x\r\n' + 'X'.repeat(10000) + '\r\nNOOP\r\nUSER alice\r\nPASS wrong\r\nUSER alice\r\nPASS secret\r\nRETR 9\r\nRETR x\r\nDELE 1\r\nRETR 1\r\nLIST 1\r\nRSET\r\nLIST 1\r\nQUIT\r\n');
    await c.until(/Logging out\.\r\n/);
    const lines = c.data.split('\r\n');
    assert.deepEqual(lines.slice(0, 16), [
      '+OK facteur ready.',
      '-ERR Unknown command: STAT',
      '-ERR Unknown command: FOO',
      '-ERR No username given.',
      '-ERR Input line too long.',
      '-ERR Unknown command: NOOP',
      '+OK',
      '-ERR [AUTH] Authentication failed.',
      '+OK',
      '+OK Logged in.',
      "-ERR There's no message 9.",
      '-ERR Invalid message number: x',
      '+OK Marked to be deleted.',
      '-ERR Message is deleted.',
      '-ERR Message is deleted.',
      '+OK',
    ]);
    assert.match(lines[16], /^\+OK 1 \d+$/);
    assert.equal(lines[17], '+OK Logging out.');
    await server.stop(1000);
  });

  it('AUTH PLAIN with an initial response and through a continuation; * cancels', async () => {
    const { server, port } = await startServer();
    const c = await Raw.open(port);
    const creds = Buffer.from('\0alice\0secret').toString('base64');
    c.send(`AUTH PLAIN\r\n*\r\nAUTH PLAIN\r\n${creds}\r\n`);
    await c.until(/Logged in/);
    assert.deepEqual(c.data.split('\r\n').slice(0, 5), ['+OK facteur ready.', '+ ', '-ERR Authentication aborted by client.', '+ ', '+OK Logged in.']);
    c.socket.destroy();
    const d = await Raw.open(port);
    d.send(`AUTH PLAIN ${Buffer.from('\0alice\0secret').toString('base64')}\r\nSTAT\r\nQUIT\r\n`);
    await d.until(/Logging out/);
    assert.match(d.data, /\+OK Logged in\.\r\n\+OK 2 \d+\r\n/);
    await server.stop(1000);
  });

  it('STLS upgrades, and input pipelined after STLS is discarded', async () => {
    const { server, port } = await startServer();
    const c = await Raw.open(port);
    await c.until(/ready/);
    c.send('STLS\r\nUSER alice\r\nPASS secret\r\n');
    await c.until(/Begin TLS negotiation now\.\r\n/);
    await new Promise((r) => setTimeout(r, 200));
    // the pipelined USER/PASS were not answered in clear text
    assert.equal(c.data, '+OK facteur ready.\r\n+OK Begin TLS negotiation now.\r\n');
    c.socket.destroy();
    // a real TLS client after STLS works
    const { stdout } = await run('python3', [
      '-c',
      `import poplib, ssl
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
p = poplib.POP3('127.0.0.1', ${port}); p.stls(context=ctx); p.user('alice'); p.pass_('secret'); print(p.stat()); p.quit()`,
    ]);
    assert.match(stdout, /^\(2, \d+\)/);
    await server.stop(1000);
  });

  it('pop3s is TLS from the first byte', async () => {
    const { server, tlsPort } = await startServer();
    const { stdout } = await run('python3', [
      '-c',
      `import poplib, ssl
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
p = poplib.POP3_SSL('127.0.0.1', ${tlsPort}, context=ctx); print(p.getwelcome().decode()); p.user('alice'); p.pass_('secret'); print(p.stat()); p.quit()`,
    ]);
    assert.match(stdout, /^\+OK facteur ready\.\n\(2, \d+\)/);
    await server.stop(1000);
  });
});

describe('POP3 content encoding', () => {
  const enc = (s: string, lines = Infinity) => {
    const e = new Pop3ContentEncoder(lines);
    const parts: Buffer[] = [];
    // feed one byte at a time to exercise chunk boundaries
    for (const b of Buffer.from(s)) {
      parts.push(e.push(Buffer.from([b])));
      if (e.done) break;
    }
    parts.push(e.end());
    return Buffer.concat(parts).toString();
  };
  it('converts LF to CRLF, keeps CRLF, stuffs leading dots, ends with CRLF', () => {
    assert.equal(enc('a\n.b\r\n..c\nno-final-newline'), 'a\r\n..b\r\n...c\r\nno-final-newline\r\n');
  });
  it('TOP sends the header, the blank line and n body lines', () => {
    const m = 'H: 1\nH: 2\n\nb1\nb2\nb3\n';
    assert.equal(enc(m, 0), 'H: 1\r\nH: 2\r\n\r\n');
    assert.equal(enc(m, 2), 'H: 1\r\nH: 2\r\n\r\nb1\r\nb2\r\n');
    assert.equal(enc(m, 10), 'H: 1\r\nH: 2\r\n\r\nb1\r\nb2\r\nb3\r\n');
  });
  it('formats UIDLs like Dovecot', () => {
    assert.equal(formatUidl('%08Xu%08Xv', 1, 0x6b0b620e), '000000016b0b620e');
    assert.equal(formatUidl('%u.%v', 12, 345), '12.345');
  });
});
