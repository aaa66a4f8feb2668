import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { describe, it } from 'node:test';
import { Config } from '../../src/config/config.js';
import type { ConnectionHandler, SessionHandle } from '../../src/server/connection.js';
import { FacteurServer } from '../../src/server/server.js';
import { tmpDir } from '../helpers/tmp.js';

const OFF = { smtp_listen: '', submission_listen: '', submissions_listen: '', imap_listen: '', imaps_listen: '', pop3_listen: '', pop3s_listen: '' };

/** A line echo protocol: greets, echoes lines, says bye on shutdown. */
const echo: ConnectionHandler = (socket, info) => {
  let resolveClosed!: () => void;
  const closed = new Promise<void>((r) => (resolveClosed = r));
  socket.write(`hello ${info.service} ${info.remoteAddress} tls=${info.implicitTls}\n`);
  socket.on('data', (d) => socket.write(d));
  socket.on('close', () => resolveClosed());
  socket.on('error', () => {});
  const handle: SessionHandle = {
    closed,
    shutdown: (reason) => socket.end(`bye ${reason}\n`),
  };
  return handle;
};

function readLine(s: Socket | TLSSocket): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const onData = (d: Buffer) => {
      buf += d.toString();
      const i = buf.indexOf('\n');
      if (i >= 0) {
        s.off('data', onData);
        resolve(buf.slice(0, i));
      }
    };
    s.on('data', onData);
    s.once('error', reject);
    s.once('end', () => resolve(buf));
  });
}

function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port }, () => resolve(s));
    s.once('error', reject);
  });
}

describe('FacteurServer', () => {
  it('listens on the configured services, hands connections to the handler, and stops gracefully', async () => {
    const data = tmpDir();
    const config = Config.fromObject({ ...OFF, data_directory: data, smtp_listen: '127.0.0.1:0', submissions_listen: '127.0.0.1:0', myhostname: 'mx.example.test' }).assertValid();
    const server = new FacteurServer(config, () => ({ smtp: echo, submissions: echo }));
    const listening = await server.start();
    assert.deepEqual(listening.map((l) => l.service).sort(), ['smtp', 'submissions']);
    const smtpPort = listening.find((l) => l.service === 'smtp')!.port;
    const s = await open(smtpPort);
    assert.equal(await readLine(s), 'hello smtp 127.0.0.1 tls=false');
    s.write('ping\n');
    assert.equal(await readLine(s), 'ping');

    // submissions is TLS from the first byte, with the generated self-signed certificate
    const tlsPort = listening.find((l) => l.service === 'submissions')!.port;
    const t = tlsConnect({ host: '127.0.0.1', port: tlsPort, rejectUnauthorized: false });
    assert.equal(await readLine(t), 'hello submissions 127.0.0.1 tls=true');
    assert.match(String(t.getPeerCertificate().subject.CN), /mx\.example\.test/);

    const bye = readLine(s);
    const tbye = readLine(t);
    await server.stop(2000);
    assert.equal(await bye, 'bye server shutdown');
    assert.equal(await tbye, 'bye server shutdown');
    await assert.rejects(open(smtpPort));
  });

  it('enforces default_process_limit per service, with the protocol\'s refusal', async () => {
    const config = Config.fromObject({ ...OFF, data_directory: tmpDir(), imap_listen: '127.0.0.1:0', 'imap.default_process_limit': '1' }).assertValid();
    const server = new FacteurServer(config, () => ({ imap: echo }));
    const [{ port }] = await server.start();
    const a = await open(port);
    assert.match(await readLine(a), /^hello imap/);
    const b = await open(port);
    assert.equal(await readLine(b), '* BYE [UNAVAILABLE] Too many connections, try again later.\r');
    a.destroy();
    await server.stop(1000);
    const smtpConfig = Config.fromObject({ ...OFF, data_directory: tmpDir(), smtp_listen: '127.0.0.1:0', 'smtp.default_process_limit': '1', myhostname: 'mx.example.test' }).assertValid();
    const smtp = new FacteurServer(smtpConfig, () => ({ smtp: echo }));
    const [{ port: smtpPort }] = await smtp.start();
    const c = await open(smtpPort);
    assert.match(await readLine(c), /^hello smtp/);
    const d = await open(smtpPort);
    assert.equal(await readLine(d), '421 4.3.2 mx.example.test Error: all server ports are busy\r');
    c.destroy();
    await smtp.stop(1000);
  });

  it('reload opens new listeners and closes removed ones without dropping sessions', async () => {
    const data = tmpDir();
    const base = { ...OFF, data_directory: data, smtp_listen: '127.0.0.1:0' };
    const server = new FacteurServer(Config.fromObject(base).assertValid(), () => ({ smtp: echo, pop3: echo }));
    const [first] = await server.start();
    const s = await open(first.port);
    await readLine(s);
    await server.reload(Config.fromObject({ ...base, smtp_listen: '', pop3_listen: '127.0.0.1:0' }).assertValid());
    assert.deepEqual(server.listening.map((l) => l.service), ['pop3']);
    // the running session is still served
    s.write('still here\n');
    assert.equal(await readLine(s), 'still here');
    await assert.rejects(open(first.port));
    const p = await open(server.listening[0].port);
    assert.match(await readLine(p), /^hello pop3/);
    p.destroy();
    s.destroy();
    await server.stop(1000);
  });
});
