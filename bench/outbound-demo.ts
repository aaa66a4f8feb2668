// A real run for the issue note: a remote MX on loopback that defers one domain and
// rejects an unknown user; prints `facteur queue list` afterwards and the bounce the
// sender got (through a LocalDeliveryAgent that writes the notice to a file).
//   node --import tsx bench/outbound-demo.ts
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SMTPServer } from 'smtp-server';
import { main } from '../src/cli/main.js';
import { Config } from '../src/config/config.js';
import type { LocalDeliveryAgent } from '../src/delivery/types.js';
import { StaticResolver } from '../src/dns/static.js';
import { setLogSinks } from '../src/log.js';
import { newQueueId } from '../src/queue/id.js';
import { QueueManager } from '../src/queue/manager.js';

const dir = mkdtempSync(join(tmpdir(), 'facteur-demo-'));
const log: string[] = [];
setLogSinks([(_r, l) => log.push(l)]);
const mx = new SMTPServer({
  authOptional: true,
  hideENHANCEDSTATUSCODES: true,
  logger: false,
  onRcptTo(a, _s, cb) {
    const e = (code: number, m: string) => Object.assign(new Error(m), { responseCode: code });
    if (a.address.startsWith('nosuchuser')) return cb(e(550, `5.1.1 <${a.address}>: Recipient address rejected: User unknown in virtual mailbox table`));
    if (a.address.endsWith('@slow.test')) return cb(e(450, '4.7.1 Service unavailable - try again later'));
    cb();
  },
  onData(s, _x, cb) {
    s.resume();
    s.on('end', () => cb(null, '2.0.0 Ok: queued'));
  },
});
await new Promise<void>((r) => mx.listen(0, '127.0.0.1', () => r()));
const port = (mx.server.address() as { port: number }).port;
const config = Config.fromObject({ data_directory: dir, myhostname: 'mail.example.test', myorigin: 'example.test', mydestination: 'example.test', smtp_destination_port: String(port) }).assertValid();
const resolver = new StaticResolver({ mx: { 'remote.test': [{ exchange: 'mx.remote.test', priority: 10 }], 'slow.test': [{ exchange: 'mx.remote.test', priority: 10 }] }, a: { 'mx.remote.test': ['127.0.0.1'] } });
let n = 0;
const local: LocalDeliveryAgent = {
  async deliver(m) {
    writeFileSync(join(dir, `local-${++n}.eml`), readFileSync(m.contentPath));
    return m.recipients.map((recipient) => ({ recipient, status: 'delivered', dsnStatus: '2.0.0', text: 'delivered to maildir' }));
  },
};
const qm = new QueueManager({ config, resolver, localDelivery: local });
await qm.start();
const send = async (rcpts: string[], subject: string) => {
  const w = await qm.create({ id: newQueueId(), sender: 'alice@example.test', recipients: rcpts.map((address) => ({ address })), arrival: new Date() });
  await w.write(Buffer.from(`From: Alice <alice@example.test>\nTo: ${rcpts.join(', ')}\nSubject: ${subject}\nMessage-ID: <${newQueueId()}@example.test>\n\nHello.\n`));
  await w.commit();
};
await send(['bob@remote.test', 'nosuchuser@remote.test'], 'one ok, one unknown user');
await send(['carol@slow.test', 'dave@slow.test'], 'greylisted');
await send(['erin@slow.test'], 'greylisted too');
await qm.idle();
process.stdout.write('$ facteur queue list\n');
await main(['queue', 'list', '--data', dir]);
process.stdout.write('\n--- maillog ---\n' + log.filter((l) => !/TLS connection/.test(l)).join('\n') + '\n');
process.stdout.write('\n--- the bounce in alice\'s mailbox ---\n' + readFileSync(join(dir, 'local-1.eml'), 'utf8'));
await qm.stop();
mx.close();
