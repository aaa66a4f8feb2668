// bench/imap-idle: RSS of the whole IMAP server with 2,000 logged-in IDLE connections
// (issue #7 target: ≤ 250 MiB). The server runs in its own process (compiled code from
// dist/, as in production); this process plays the 2,000 clients.
// Run: node --import tsx bench/imap-idle.ts [connections] [messages per INBOX]
import { execFileSync, fork } from 'node:child_process';
import { connect, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const N = Number(process.argv[2] ?? 2000);
const PER_BOX = Number(process.argv[3] ?? 20);
const root = join(dirname(fileURLToPath(import.meta.url)), '..');

function waitFor(sock: Socket, pattern: RegExp, timeoutMs = 30_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const timer = setTimeout(() => {
      sock.off('data', onData);
      reject(new Error(`timeout waiting for ${pattern}: ${buf}`));
    }, timeoutMs);
    const onData = (d: Buffer) => {
      buf += d.toString('latin1');
      if (pattern.test(buf)) {
        clearTimeout(timer);
        sock.off('data', onData);
        resolve(buf);
      }
    };
    sock.on('data', onData);
  });
}

async function client(port: number, user: string): Promise<Socket> {
  const sock = connect(port, '127.0.0.1');
  await waitFor(sock, /^\* OK .*\r\n/);
  sock.write(`a LOGIN ${user} pw\r\n`);
  await waitFor(sock, /\r\na OK|^a OK/m);
  sock.write('b SELECT INBOX\r\n');
  await waitFor(sock, /^b OK/m);
  sock.write('c IDLE\r\n');
  await waitFor(sock, /^\+ idling\r\n/m);
  return sock;
}

async function main(): Promise<void> {
  execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
  const child = fork(join(root, 'bench/imap-idle-server.mjs'), [String(N), String(PER_BOX)], { execArgv: ['--expose-gc'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const next = () => new Promise<Record<string, number>>((r) => child.once('message', (m) => r(m as Record<string, number>)));
  const hello = await next();
  const port = hello.port;
  console.log(`server up (port ${port}), RSS ${(hello.rss / 2 ** 20).toFixed(1)} MiB with ${N} users' Maildirs created`);
  const t0 = performance.now();
  const socks: Socket[] = [];
  const CONCURRENCY = 50;
  for (let i = 0; i < N; i += CONCURRENCY) {
    const batch = await Promise.all(Array.from({ length: Math.min(CONCURRENCY, N - i) }, (_, k) => client(port, `u${i + k}`)));
    socks.push(...batch);
  }
  console.log(`${N} connections logged in, INBOX selected, IDLE: ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  child.send({ cmd: 'rss' });
  const m = await next();
  const rssMiB = m.rss / 2 ** 20;
  console.log(`server RSS ${rssMiB.toFixed(1)} MiB (heap ${(m.heap / 2 ** 20).toFixed(1)} MiB) with ${N} IDLE connections`);
  // a delivery reaches the IDLE client of that user
  const target = socks[N - 1];
  const seen = waitFor(target, /\* \d+ EXISTS/, 5000);
  const t1 = performance.now();
  child.send({ cmd: 'deliver', user: `u${N - 1}` });
  await seen;
  console.log(`delivery → IDLE client: ${(performance.now() - t1).toFixed(0)} ms`);
  console.log(`RESULT imap-idle connections=${N} rss_mib=${rssMiB.toFixed(1)} target_mib=250 ${rssMiB <= 250 ? 'OK' : 'OVER'}`);
  for (const s of socks) s.destroy();
  child.send({ cmd: 'exit' });
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
