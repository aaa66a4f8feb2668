// A fast SMTP sink for bench/outbound (in the spirit of Postfix's smtp-sink): accepts
// every message, answers pipelined commands, offers STARTTLS (self-signed) unless
// --no-tls. Runs as its own process so that the benchmark measures the queue's memory
// only. Reports counts to the parent over IPC on "report".
import { readFileSync, mkdtempSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TLSSocket, createSecureContext } from 'node:tls';
import { ensureSelfSigned } from '../src/server/tls.js';

const tls = !process.argv.includes('--no-tls');
const files = ensureSelfSigned(mkdtempSync(join(tmpdir(), 'facteur-sink-')), 'sink.bench.test');
const ctx = createSecureContext({ key: readFileSync(files.key), cert: readFileSync(files.cert) });

let messages = 0;
let connections = 0;
let open = 0;
let maxOpen = 0;

function session(sock: Socket): void {
  connections++;
  open++;
  maxOpen = Math.max(maxOpen, open);
  let s: Socket = sock;
  let buf = '';
  let inData = false;
  let secure = false;
  const onData = (d: Buffer) => {
    buf += d.toString('latin1');
    let out = '';
    for (;;) {
      if (inData) {
        const end = buf.indexOf('\r\n.\r\n');
        const start = buf.startsWith('.\r\n') ? 0 : -1;
        if (start === 0) {
          buf = buf.slice(3);
        } else if (end >= 0) {
          buf = buf.slice(end + 5);
        } else {
          // keep the tail that may hold a split terminator
          if (buf.length > 4) buf = buf.slice(buf.length - 4);
          break;
        }
        inData = false;
        messages++;
        out += `250 2.0.0 Ok: queued as S${messages}\r\n`;
        continue;
      }
      const nl = buf.indexOf('\r\n');
      if (nl < 0) break;
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 2);
      const verb = line.slice(0, 4).toUpperCase();
      if (verb === 'EHLO') {
        out += `250-sink.bench.test\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n${tls && !secure ? '250-STARTTLS\r\n' : ''}250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n250 DSN\r\n`;
      } else if (verb === 'HELO') out += '250 sink.bench.test\r\n';
      else if (verb === 'STAR' && tls && !secure) {
        s.write(out + '220 2.0.0 Ready to start TLS\r\n');
        out = '';
        s.off('data', onData);
        const t = new TLSSocket(s, { isServer: true, secureContext: ctx });
        secure = true;
        buf = '';
        s = t;
        t.on('data', onData);
        t.on('error', () => {});
        return;
      } else if (verb === 'MAIL' || verb === 'RCPT' || verb === 'RSET' || verb === 'NOOP') out += '250 2.0.0 Ok\r\n';
      else if (verb === 'DATA') {
        out += '354 End data with <CR><LF>.<CR><LF>\r\n';
        inData = true;
        buf = '\r\n' + buf; // so that an empty message's ".\r\n" is found as "\r\n.\r\n"
      } else if (verb === 'QUIT') {
        s.end(out + '221 2.0.0 Bye\r\n');
        return;
      } else out += '502 5.5.2 Error: command not recognized\r\n';
    }
    if (out) s.write(out);
  };
  sock.on('data', onData);
  sock.on('error', () => {});
  sock.on('close', () => open--);
  sock.write('220 sink.bench.test ESMTP facteur bench sink\r\n');
}

const server = createServer(session);
server.listen(0, '127.0.0.1', () => {
  const addr = server.address();
  process.send?.({ port: typeof addr === 'object' && addr ? addr.port : 0 });
});
process.on('message', (m) => {
  if (m === 'report') process.send?.({ messages, connections, maxOpen });
  if (m === 'exit') process.exit(0);
});
