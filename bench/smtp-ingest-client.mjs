// Load generator for bench/smtp-ingest.ts: a deliberately simple SMTP client (no facteur code).
// N connections, each sends M messages (MAIL/RCPT/DATA pipelined, then the content), and
// reports {sent, ms} on stdout as JSON.
import { connect } from 'node:net';

const [port, connections, messages, size] = process.argv.slice(2).map(Number);
const line = 'x'.repeat(74) + '\r\n';
let body = '';
while (body.length < size) body += line;
const content = `From: bench@remote.test\r\nTo: bench@example.test\r\nSubject: bench\r\n\r\n${body.slice(0, size)}\r\n.\r\n`;

function client() {
  return new Promise((resolve, reject) => {
    const s = connect({ port, host: '127.0.0.1' });
    s.setNoDelay(true);
    let buf = '';
    let waiting = [];
    const early = [];
    s.setEncoding('latin1');
    s.on('data', (d) => {
      buf += d;
      for (;;) {
        const m = /^(\d{3}) [^\r\n]*\r\n/m.exec(buf);
        if (!m) break;
        const end = m.index + m[0].length;
        buf = buf.slice(end);
        const w = waiting.shift();
        if (w) w(m[1]);
        else early.push(m[1]);
      }
    });
    s.on('error', reject);
    const reply = () => (early.length > 0 ? Promise.resolve(early.shift()) : new Promise((r) => waiting.push(r)));
    (async () => {
      let sent = 0;
      if ((await reply()) !== '220') throw new Error('no greeting');
      s.write('EHLO bench.test\r\n');
      if ((await reply()) !== '250') throw new Error('EHLO');
      for (let i = 0; i < messages; i++) {
        s.write('MAIL FROM:<bench@remote.test>\r\nRCPT TO:<bench@example.test>\r\nDATA\r\n');
        const codes = [await reply(), await reply(), await reply()];
        if (codes.join() !== '250,250,354') throw new Error(`transaction: ${codes}`);
        s.write(content);
        const done = await reply();
        if (done !== '250') throw new Error(`DATA: ${done}`);
        sent++;
      }
      s.write('QUIT\r\n');
      await reply();
      s.end();
      resolve(sent);
    })().catch(reject);
  });
}

const t0 = performance.now();
const counts = await Promise.all(Array.from({ length: connections }, client));
const ms = performance.now() - t0;
process.stdout.write(JSON.stringify({ sent: counts.reduce((a, b) => a + b, 0), ms, cpu: process.cpuUsage() }) + '\n');
