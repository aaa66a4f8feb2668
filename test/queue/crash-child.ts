// Runs a queue manager in its own process so that a test can kill -9 it.
// argv: data directory, MX port, JSON list of domains whose MX is mx.remote.test (127.0.0.1).
import { Config } from '../../src/config/config.js';
import { setLogSinks } from '../../src/log.js';
import { QueueManager } from '../../src/queue/manager.js';
import { remoteResolver } from './helpers.js';

const [dir, port, domains] = process.argv.slice(2);
setLogSinks([(_r, line) => process.stdout.write(line + '\n')]);
const config = Config.fromObject({
  data_directory: dir,
  myhostname: 'mail.example.test',
  mydestination: 'example.test',
  smtp_destination_port: port,
}).assertValid();
const qm = new QueueManager({ config, resolver: remoteResolver(JSON.parse(domains) as string[]), controlSocket: false });
await qm.start();
process.stdout.write('started\n');
setInterval(() => {}, 1000);
