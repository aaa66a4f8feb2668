// bench/smtp-ingest: how fast facteur's MX path takes mail into Maildir, against the raw
// limit of this disk measured the same way in the same run.
//
//   node --import tsx bench/smtp-ingest.ts [--connections 20] [--messages 100] [--size 4096] [--dir DIR]
//
// An SMTP server (the real session, LocalDelivery, Maildir with fsync and grouped directory
// fsyncs, a permissive policy) runs in this process; a separate process (bench/smtp-ingest-client.mjs,
// no facteur code) opens N connections that each send M messages of SIZE bytes to one local user.
// Then the raw limit: the same number of SIZE-byte files written with the same concurrency,
// each write + fsync + rename into new/. Prints messages/s for both and the ratio.
import { execFileSync, spawn } from 'node:child_process';
import { createWriteStream, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { promises as fsp } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

// the libuv thread pool runs every fsync: size it before it is first used (DESIGN.md)
if (!process.env.UV_THREADPOOL_SIZE) {
  const r = spawnSelf();
  process.exit(r);
}

function spawnSelf(): number {
  try {
    execFileSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), ...process.argv.slice(2)], {
      stdio: 'inherit',
      env: { ...process.env, UV_THREADPOOL_SIZE: '64' },
    });
    return 0;
  } catch (err) {
    return (err as { status?: number }).status ?? 1;
  }
}

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
}
function sarg(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<void> {
  const connections = arg('connections', 20);
  const messages = arg('messages', 100);
  const size = arg('size', 4096);
  const base = sarg('dir') ?? tmpdir();
  mkdirSync(base, { recursive: true });
  const dir = mkdtempSync(join(base, 'facteur-bench-'));

  const { Config } = await import('../src/config/config.js');
  const { LocalDelivery } = await import('../src/delivery/agent.js');
  const { setLogSinks } = await import('../src/log.js');
  const { smtpConnectionHandler } = await import('../src/smtp/service.js');
  // the log goes to a file in batches (as a syslog daemon would take it), not to the terminal
  const logFile = createWriteStream(join(dir, 'maillog'));
  let pendingLog: string[] = [];
  const logTimer = setInterval(() => {
    if (pendingLog.length) logFile.write(pendingLog.join(''));
    pendingLog = [];
  }, 100);
  setLogSinks([(_r, line) => pendingLog.push(line + '\n')]);

  const config = Config.fromObject({
    data_directory: dir,
    myhostname: 'mail.example.test',
    mydestination: 'example.test',
    smtpd_client_connection_count_limit: '0',
    default_process_limit: '10000',
  });
  const home = join(dir, 'home', 'bench');
  const entry = { user: 'bench@example.test', password: '', gecos: '', home, shell: '', extra: {} };
  const users = { lookup: (n: string) => (n.toLowerCase() === entry.user ? entry : undefined), all: () => [entry], domains: () => new Set(['example.test']) };
  const delivery = new LocalDelivery({ config, users });
  const ok = { ok: true } as const;
  const handler = smtpConnectionHandler({
    config,
    delivery,
    policy: () => ({
      connect: async (s) => ((s.clientName = 'localhost'), ok),
      helo: async () => ok,
      mail: async () => ok,
      rcpt: async () => ok,
      data: async () => ok,
      endOfData: async () => ok,
      vrfy: async () => ok,
      reset: () => undefined,
    }),
  });
  let n = 0;
  const server = createServer((socket) => {
    handler(socket, {
      service: 'smtp',
      id: `B${++n}`,
      remoteAddress: socket.remoteAddress ?? '',
      remotePort: socket.remotePort ?? 0,
      localAddress: socket.localAddress ?? '',
      localPort: socket.localPort ?? 0,
      implicitTls: false,
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;

  // the raw limit of this disk, measured before and after the SMTP run (the average is used:
  // virtual disks are often faster at first, then throttled)
  const before = await rawLimit(join(dir, 'raw-before'), connections * messages, connections, size);
  const cpu0 = process.cpuUsage();
  const client = spawn(process.execPath, [fileURLToPath(new URL('./smtp-ingest-client.mjs', import.meta.url)), String(port), String(connections), String(messages), String(size)], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  client.stdout.on('data', (d) => (out += d));
  const code: number = await new Promise((r) => client.on('close', (c) => r(c ?? 1)));
  if (code !== 0) throw new Error(`load generator failed (${code})`);
  const { sent, ms, cpu: clientCpu } = JSON.parse(out) as { sent: number; ms: number; cpu: { user: number; system: number } };
  const cpu = process.cpuUsage(cpu0);
  server.close();
  const stored = (await fsp.readdir(join(home, 'Maildir', 'new'))).length;
  if (stored !== sent) throw new Error(`${sent} messages accepted but ${stored} in Maildir/new`);
  const smtpRate = (sent / ms) * 1000;

  const after = await rawLimit(join(dir, 'raw-after'), sent, connections, size);
  const rawRate = (before.rate + after.rate) / 2;
  const rawCpuPerMsg = (before.cpu + after.cpu) / 2;
  const total = sent;
  clearInterval(logTimer);
  await new Promise((r) => logFile.end(pendingLog.join(''), () => r(undefined)));
  rmSync(dir, { recursive: true, force: true });
  process.stdout.write(
    `smtp-ingest: ${connections} connections x ${Math.round(total / connections)} messages of ${size} bytes: ${smtpRate.toFixed(0)} msg/s into Maildir; ` +
      `raw disk (write+fsync+rename, same count and concurrency): ${rawRate.toFixed(0)} msg/s; ratio ${(smtpRate / rawRate).toFixed(2)}; ` +
      `CPU per message: server ${((cpu.user + cpu.system) / sent).toFixed(0)} µs, load generator ${((clientCpu.user + clientCpu.system) / sent).toFixed(0)} µs, raw ${rawCpuPerMsg.toFixed(0)} µs (raw before/after: ${before.rate.toFixed(0)}/${after.rate.toFixed(0)} msg/s)\n`,
  );
}

/** write SIZE bytes + fdatasync + close + rename into new/, `count` times with `concurrency` writers. */
async function rawLimit(rawDir: string, count: number, concurrency: number, size: number): Promise<{ rate: number; cpu: number }> {
  mkdirSync(join(rawDir, 'tmp'), { recursive: true });
  mkdirSync(join(rawDir, 'new'));
  const buf = Buffer.alloc(size + 300, 'x');
  let next = 0;
  const t0 = performance.now();
  const cpu0 = process.cpuUsage();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const k = next++;
        const p = join(rawDir, 'tmp', String(k));
        const fh = await fsp.open(p, 'wx');
        await fh.write(buf);
        await fh.datasync();
        await fh.close();
        await fsp.rename(p, join(rawDir, 'new', String(k)));
      }
    }),
  );
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  return { rate: (count / ms) * 1000, cpu: (cpu.user + cpu.system) / count };
}

await main();
