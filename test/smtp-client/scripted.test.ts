// The SMTP client against scripted servers that misbehave in exact ways.
import assert from 'node:assert/strict';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { afterEach, describe, it } from 'node:test';
import { Config } from '../../src/config/config.js';
import { StaticResolver } from '../../src/dns/static.js';
import { SmtpTransport, transportSettings } from '../../src/smtp/client/transport.js';
import type { NextHop, OutboundMessage } from '../../src/smtp/client/types.js';
import { startRemoteMx } from './remote-mx.js';

type Answer = string | null | 'close';

interface Scripted {
  port: number;
  lines: string[];
  connections: number;
  close(): Promise<void>;
}

/** A server that greets with `greeting` and answers each command line with `answer(line)`. */
async function scripted(greeting: string, answer: (line: string, inData: boolean) => Answer): Promise<Scripted> {
  const sockets: Socket[] = [];
  const state: Scripted = { port: 0, lines: [], connections: 0, close: async () => {} };
  const srv = createServer((sock) => {
    state.connections++;
    sockets.push(sock);
    let buf = '';
    let inData = false;
    sock.on('error', () => {});
    sock.write(greeting + '\r\n');
    sock.on('data', (d) => {
      buf += d.toString('latin1');
      let nl: number;
      while ((nl = buf.indexOf('\r\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 2);
        state.lines.push(line);
        if (inData && line !== '.') continue;
        const wasData = inData;
        inData = false;
        const a = answer(line, wasData);
        if (a === 'close') {
          sock.destroy();
          return;
        }
        if (a === null) continue;
        if (a.startsWith('354')) inData = true;
        sock.write(a + '\r\n');
      }
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  state.port = (srv.address() as AddressInfo).port;
  state.close = () =>
    new Promise<void>((r) => {
      for (const s of sockets) s.destroy();
      srv.close(() => r());
    });
  return state;
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

const resolver = new StaticResolver({
  mx: { 'remote.test': [{ exchange: 'mx1.remote.test', priority: 10 }, { exchange: 'mx2.remote.test', priority: 20 }] },
  a: { 'mx1.remote.test': ['127.0.0.1'], 'mx2.remote.test': ['127.0.0.1'] },
});
const hop = (port: number): NextHop => ({ name: 'remote.test', host: 'remote.test', port, mx: true, relay: false });
const settings = (extra: Record<string, string> = {}) => transportSettings(Config.fromObject({ myhostname: 'mail.example.test', ...extra }).view());

function message(recipients: string[], extra: Partial<OutboundMessage> = {}): OutboundMessage {
  const buf = Buffer.from('Subject: x\n\nbody\n');
  return {
    queueId: 'ABCDEF12',
    sender: 'alice@example.test',
    recipients: recipients.map((address) => ({ address })),
    size: buf.length,
    eightBitBody: false,
    eightBitHeaders: false,
    declared8bit: false,
    smtputf8: false,
    content: async function* () {
      yield buf;
    },
    ...extra,
  };
}

describe('SMTP client against scripted servers', () => {
  it('452 too many recipients: the rest go in the next transaction on the same connection, at once (RFC 5321 §4.5.3.1.10)', async () => {
    let inTx = 0;
    const s = await scripted('220 limited ESMTP', (l) => {
      if (l.startsWith('EHLO')) return '250-limited\r\n250-PIPELINING\r\n250 ENHANCEDSTATUSCODES';
      if (l.startsWith('MAIL')) {
        inTx = 0;
        return '250 2.1.0 Ok';
      }
      if (l.startsWith('RCPT')) return ++inTx <= 2 ? '250 2.1.5 Ok' : '452 4.5.3 Error: too many recipients';
      if (l === 'DATA') return '354 go ahead';
      if (l === '.') return '250 2.0.0 Ok: queued';
      if (l === 'QUIT') return '221 2.0.0 Bye';
      return '500 5.5.2 what';
    });
    cleanups.push(() => s.close());
    const t = new SmtpTransport(resolver, settings());
    const rcpts = ['a', 'b', 'c', 'd', 'e'].map((x) => `${x}@remote.test`);
    const r = await t.deliver(hop(s.port), message(rcpts));
    await t.close();
    assert.deepEqual(r.results.map((x) => x.outcome), ['sent', 'sent', 'sent', 'sent', 'sent'], r.results.map((x) => x.reason).join('\n'));
    assert.equal(s.connections, 1);
    assert.equal(s.lines.filter((l) => l.startsWith('MAIL')).length, 3);
    assert.deepEqual(s.lines.filter((l) => l.startsWith('RCPT')).map((l) => l.slice(9, 10)), ['a', 'b', 'c', 'd', 'e', 'c', 'd', 'e', 'e']);
  });

  it('a 452 with no recipient accepted is a plain deferral', async () => {
    const s = await scripted('220 full ESMTP', (l) => {
      if (l.startsWith('EHLO')) return '250-full\r\n250 PIPELINING';
      if (l.startsWith('MAIL')) return '250 2.1.0 Ok';
      if (l.startsWith('RCPT')) return '452 4.2.2 Mailbox full';
      if (l === 'QUIT') return '221 2.0.0 Bye';
      return '503 5.5.1 no';
    });
    cleanups.push(() => s.close());
    const t = new SmtpTransport(resolver, settings());
    const r = await t.deliver(hop(s.port), message(['a@remote.test', 'b@remote.test']));
    await t.close();
    assert.deepEqual(r.results.map((x) => x.outcome), ['deferred', 'deferred']);
    assert.equal(s.lines.filter((l) => l.startsWith('MAIL')).length, 1);
  });

  it('falls back to HELO when EHLO is refused, and then sends one command at a time', async () => {
    const s = await scripted('220 old.example SMTP', (l) => {
      if (l.startsWith('EHLO')) return '502 5.5.2 Error: command not recognized';
      if (l.startsWith('HELO')) return '250 old.example';
      if (l.startsWith('MAIL') || l.startsWith('RCPT')) return '250 Ok';
      if (l === 'DATA') return '354 go ahead';
      if (l === '.') return '250 Ok: queued as OLD1';
      if (l === 'QUIT') return '221 Bye';
      return '500 what';
    });
    cleanups.push(() => s.close());
    const t = new SmtpTransport(resolver, settings());
    const r = await t.deliver(hop(s.port), message(['a@remote.test']));
    await t.close();
    assert.equal(r.results[0].outcome, 'sent', r.results[0].reason);
    assert.deepEqual(s.lines.slice(0, 4), ['EHLO mail.example.test', 'HELO mail.example.test', 'MAIL FROM:<alice@example.test>', 'RCPT TO:<a@remote.test>']);
    assert.ok(!s.lines.some((l) => /SIZE=|BODY=|NOTIFY=/.test(l)), 'no ESMTP parameters after HELO');
  });

  it('a 5xx greeting is a reason to try later ("refused to talk to me"), not to bounce', async () => {
    const s = await scripted('554 5.7.1 mx.remote.test go away', (l) => (l === 'QUIT' ? '221 Bye' : '503 no'));
    cleanups.push(() => s.close());
    const t = new SmtpTransport(resolver, settings());
    const r = await t.deliver(hop(s.port), message(['a@remote.test']));
    await t.close();
    assert.equal(r.results[0].outcome, 'deferred');
    assert.equal(r.results[0].dsn, '4.7.1');
    assert.equal(r.results[0].reason, 'host mx2.remote.test[127.0.0.1] refused to talk to me: 554 5.7.1 mx.remote.test go away');
    assert.equal(s.connections, 2, 'both MX hosts were tried');
  });

  it('a connection lost after the final dot is deferred and not retried on the next MX (it may have been delivered)', async () => {
    const s = await scripted('220 flaky ESMTP', (l) => {
      if (l.startsWith('EHLO')) return '250-flaky\r\n250 PIPELINING';
      if (l.startsWith('MAIL') || l.startsWith('RCPT')) return '250 Ok';
      if (l === 'DATA') return '354 go ahead';
      if (l === '.') return 'close';
      return '221 Bye';
    });
    cleanups.push(() => s.close());
    const t = new SmtpTransport(resolver, settings());
    const r = await t.deliver(hop(s.port), message(['a@remote.test']));
    await t.close();
    assert.equal(r.results[0].outcome, 'deferred');
    assert.match(r.results[0].reason, /^lost connection with mx1\.remote\.test\[127\.0\.0\.1\] while sending end of data -- message may be sent more than once$/);
    assert.equal(s.connections, 1);
  });

  it('tries the next MX host after a temporary session failure', async () => {
    let n = 0;
    const s = await scripted('220 ESMTP', (l) => {
      if (l.startsWith('EHLO')) return n++ === 0 ? '421 4.3.2 too busy' : '250 ok';
      if (l.startsWith('HELO')) return '421 4.3.2 too busy';
      if (l.startsWith('MAIL') || l.startsWith('RCPT')) return '250 Ok';
      if (l === 'DATA') return '354 go ahead';
      if (l === '.') return '250 Ok';
      return '221 Bye';
    });
    cleanups.push(() => s.close());
    const t = new SmtpTransport(resolver, settings());
    const r = await t.deliver(hop(s.port), message(['a@remote.test']));
    await t.close();
    assert.equal(r.results[0].outcome, 'sent', r.results[0].reason);
    assert.match(r.results[0].relay, /^mx2\.remote\.test\[127\.0\.0\.1\]:\d+$/);
  });

  it('bounces a message that needs SMTPUTF8 when the server lacks it', async () => {
    const mx = await startRemoteMx({ hide: ['SMTPUTF8'] });
    cleanups.push(() => mx.close());
    const t = new SmtpTransport(resolver, settings());
    const r = await t.deliver(hop(mx.port), message(['jürgen@remote.test'], { smtputf8: true }));
    await t.close();
    assert.equal(r.results[0].outcome, 'bounced');
    assert.equal(r.results[0].dsn, '5.6.7');
    assert.equal(r.results[0].reason, 'SMTPUTF8 is required, but was not offered by host mx1.remote.test[127.0.0.1]');
    // and uses it when offered
    const mx2 = await startRemoteMx();
    cleanups.push(() => mx2.close());
    const t2 = new SmtpTransport(resolver, settings());
    const r2 = await t2.deliver(hop(mx2.port), message(['jürgen@remote.test'], { smtputf8: true }));
    await t2.close();
    assert.equal(r2.results[0].outcome, 'sent', r2.results[0].reason);
    assert.equal(mx2.messages[0].mailArgs.SMTPUTF8, true);
    assert.equal(mx2.messages[0].rcpts[0].address, 'jürgen@remote.test');
  });
});
