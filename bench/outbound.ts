// bench/outbound: how fast the outbound queue drains to a remote MX.
//
//   node --import tsx bench/outbound.ts [--count 5000] [--size 4096] [--no-tls] [--live]
//
// N messages of SIZE bytes for one remote domain (its MX is a sink on loopback, a
// separate process) are queued through the OutboundQueue contract (write, fsync, rename),
// then the queue manager delivers them with default_destination_concurrency_limit = 20.
// With --live the manager runs while the messages are queued (arrival and delivery
// overlap); otherwise the queue is filled first and the drain alone is timed.
// Prints the drain rate, the connections the sink saw and this process's memory.
import { fork } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Config } from '../src/config/config.js';
import { StaticResolver } from '../src/dns/static.js';
import { setLogSinks } from '../src/log.js';
import { newQueueId } from '../src/queue/id.js';
import { QueueManager } from '../src/queue/manager.js';
import type { OutboundQueue } from '../src/queue/types.js';

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}
const COUNT = arg('--count', 5000);
const SIZE = arg('--size', 4096);
const TLS = !process.argv.includes('--no-tls');
const LIVE = process.argv.includes('--live');

const mib = (n: number) => (n / 1048576).toFixed(1);

async function main(): Promise<void> {
  if (!process.env.BENCH_LOG) setLogSinks([]);
  const sink = fork(fileURLToPath(new URL('./outbound-sink.ts', import.meta.url)), TLS ? [] : ['--no-tls'], { execArgv: ['--import', 'tsx'] });
  const port = await new Promise<number>((resolve) => sink.once('message', (m: { port: number }) => resolve(m.port)));
  const dir = mkdtempSync(join(tmpdir(), 'facteur-bench-outbound-'));
  const config = Config.fromObject({
    data_directory: dir,
    myhostname: 'mail.bench.test',
    mydestination: 'bench.test',
    smtp_destination_port: String(port),
    default_destination_concurrency_limit: '20',
  }).assertValid();
  const resolver = new StaticResolver({ mx: { 'remote.bench.test': [{ exchange: 'mx.remote.bench.test', priority: 10 }] }, a: { 'mx.remote.bench.test': ['127.0.0.1'] } });
  const qm = new QueueManager({ config, resolver, controlSocket: false });

  const line = 'Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.\n';
  const head = 'From: <sender@bench.test>\nTo: <rcpt@remote.bench.test>\nSubject: bench\n\n';
  const body = Buffer.from(head + line.repeat(Math.ceil((SIZE - head.length) / line.length))).subarray(0, SIZE);

  let peakRss = 0;
  let peakHeap = 0;
  let peakLoaded = 0;
  const sampler = setInterval(() => {
    peakLoaded = Math.max(peakLoaded, qm.stats().loaded);
    const m = process.memoryUsage();
    peakRss = Math.max(peakRss, m.rss);
    peakHeap = Math.max(peakHeap, m.heapUsed);
  }, 20);
  const before = process.memoryUsage();

  const enqueue = async (q: OutboundQueue): Promise<number> => {
    const t = performance.now();
    let next = 0;
    // 20 writers at a time, as 20 SMTP sessions would
    await Promise.all(
      Array.from({ length: 20 }, async () => {
        while (next < COUNT) {
          next++;
          const w = await q.create({ id: newQueueId(), sender: 'sender@bench.test', recipients: [{ address: `rcpt${next}@remote.bench.test` }], arrival: new Date() });
          await w.write(body);
          await w.commit();
        }
      }),
    );
    return (performance.now() - t) / 1000;
  };

  let enqueueSec: number;
  let drainSec: number;
  if (LIVE) {
    await qm.start();
    const t = performance.now();
    enqueueSec = await enqueue(qm);
    await qm.idle();
    drainSec = (performance.now() - t) / 1000;
  } else {
    // the queue manager is not running yet: files wait in active/ as after a restart
    await qm.store.init();
    enqueueSec = await enqueue({ create: (e) => qm.store.create(e) });
    const t = performance.now();
    await qm.start();
    await qm.idle();
    drainSec = (performance.now() - t) / 1000;
  }
  clearInterval(sampler);
  const after = process.memoryUsage();
  sink.send('report');
  const rep = await new Promise<{ messages: number; connections: number; maxOpen: number }>((resolve) => sink.on('message', (m) => typeof m === 'object' && m && 'messages' in m && resolve(m as never)));
  await qm.stop();
  sink.send('exit');
  const left = ['active', 'deferred', 'incoming'].reduce((s, q) => s + readdirSync(join(dir, 'queue', q)).length, 0);
  rmSync(dir, { recursive: true, force: true });

  const rate = COUNT / drainSec;
  process.stdout.write(
    `outbound: ${COUNT} msgs x ${SIZE} B to one remote domain${TLS ? ' (STARTTLS)' : ''}${LIVE ? ', queued while delivering' : ''}: ` +
      `queued in ${enqueueSec.toFixed(2)} s (${(COUNT / enqueueSec).toFixed(0)} msgs/s), drained in ${drainSec.toFixed(2)} s = ${rate.toFixed(0)} msgs/s; ` +
      `sink got ${rep.messages} over ${rep.connections} connections (max ${rep.maxOpen} at once); left in queue ${left}; ` +
      `memory rss ${mib(before.rss)} → peak ${mib(peakRss)} → ${mib(after.rss)} MiB, heap ${mib(before.heapUsed)} → peak ${mib(peakHeap)} → ${mib(after.heapUsed)} MiB; at most ${peakLoaded} messages in memory\n`,
  );
  if (rep.messages !== COUNT || left !== 0) process.exitCode = 1;
}

await main();
