// `facteur queue list|flush|show|hold|release|delete` (postqueue -p/-j/-f, postcat -q,
// postsuper -h/-H/-d). They work on the queue files directly, while the server runs
// or not, and tell a running queue manager through $queue_directory/public/qmgr.
import { Command } from 'commander';
import { formatDiagnostic } from '../../config/parse.js';
import {
  MAILQ_HEADER,
  deleteMessages,
  formatJsonEntry,
  formatMailqEntry,
  holdMessages,
  mailqFooter,
  queueEntries,
  releaseMessages,
  showMessage,
} from '../../queue/admin.js';
import { signalQueueManager, type ControlCommand } from '../../queue/control.js';
import { QueueStore } from '../../queue/store.js';
import { loadConfigWithData } from '../load-config.js';

interface CommonOpts {
  config?: string;
  data?: string;
}

function openStore(opts: CommonOpts): QueueStore | undefined {
  const { config } = loadConfigWithData(opts);
  if (config.errors.length > 0) {
    for (const d of config.errors) process.stderr.write(formatDiagnostic(d) + '\n');
    process.exitCode = 1;
    return undefined;
  }
  return new QueueStore(config.path('queue_directory'));
}

function common(cmd: Command): Command {
  return cmd.option('-c, --config <file>', 'configuration file').option('--data <dir>', 'data directory (overrides data_directory)');
}

async function write(chunk: string | Buffer): Promise<void> {
  if (!process.stdout.write(chunk)) await new Promise<void>((r) => process.stdout.once('drain', () => r()));
}

async function notify(store: QueueStore, cmd: ControlCommand): Promise<void> {
  // the queue manager may not run: the files are already where they must be
  await signalQueueManager(store.dir, cmd, 3000);
}

export function queueCommand(): Command {
  const cmd = new Command('queue').description('inspect and manage the outbound mail queue (like mailq, postqueue, postsuper, postcat)');

  common(cmd.command('list'))
    .description('list queued messages in mailq layout (* active, ! on hold), or as JSON lines with -j')
    .option('-j, --json', 'one JSON object per message, like postqueue -j')
    .action(async (opts: CommonOpts & { json?: boolean }) => {
      const store = openStore(opts);
      if (!store) return;
      let count = 0;
      let bytes = 0;
      for await (const e of queueEntries(store)) {
        if (opts.json) await write(formatJsonEntry(e));
        else {
          await write((count === 0 ? MAILQ_HEADER + '\n' : '') + formatMailqEntry(e) + '\n');
        }
        count++;
        bytes += e.size;
      }
      if (!opts.json) await write(mailqFooter(bytes, count));
    });

  common(cmd.command('flush'))
    .description('attempt to deliver every queued message now (postqueue -f)')
    .action(async (opts: CommonOpts) => {
      const store = openStore(opts);
      if (!store) return;
      const r = await signalQueueManager(store.dir, 'flush');
      if (!r.delivered) {
        process.stderr.write(`facteur: fatal: Cannot flush mail queue - mail system is down (${r.error})\n`);
        process.exitCode = 1;
        return;
      }
      if (r.reply !== 'ok') {
        process.stderr.write(`facteur: ${r.reply}\n`);
        process.exitCode = 1;
      }
    });

  common(cmd.command('show'))
    .description('print a queued message with its envelope and delivery status (postcat -q)')
    .argument('<id>', 'queue id')
    .action(async (id: string, opts: CommonOpts) => {
      const store = openStore(opts);
      if (!store) return;
      try {
        for await (const part of showMessage(store, id.toUpperCase())) await write(part);
      } catch (err) {
        process.stderr.write(`facteur: ${(err as Error).message}\n`);
        process.exitCode = 1;
      }
    });

  const admin = (name: string, description: string, argDoc: string, run: (store: QueueStore, target: string) => Promise<string[]>, each: string, total: string, signal: ControlCommand) =>
    common(cmd.command(name))
      .description(description)
      .argument('<targets...>', argDoc)
      .action(async (targetsArg: string[], opts: CommonOpts) => {
        const store = openStore(opts);
        if (!store) return;
        let n = 0;
        for (const raw of targetsArg) {
          const t = raw === 'ALL' || raw === 'all' ? 'ALL' : /^[0-9a-f]+$/i.test(raw) ? raw.toUpperCase() : raw;
          try {
            const ids = await run(store, t);
            for (const id of ids) process.stdout.write(`facteur: ${id}: ${each}\n`);
            if (ids.length === 0 && t !== 'ALL' && /^[0-9A-F]+$/.test(t)) {
              process.stderr.write(`facteur: ${t}: no such message\n`);
              process.exitCode = 1;
            }
            n += ids.length;
          } catch (err) {
            process.stderr.write(`facteur: ${(err as Error).message}\n`);
            process.exitCode = 1;
          }
        }
        process.stdout.write(`facteur: ${total}: ${n} message${n === 1 ? '' : 's'}\n`);
        if (n > 0) await notify(store, signal);
      });

  admin('hold', 'put messages on hold: no delivery until released (postsuper -h)', 'queue ids, or ALL', holdMessages, 'placed on hold', 'Placed on hold', 'changed');
  admin('release', 'release messages from hold (postsuper -H)', 'queue ids, or ALL', (s, t) => releaseMessages(s, t), 'released from hold', 'Released from hold', 'scan');
  admin('delete', 'delete messages (postsuper -d)', 'queue ids, ALL, or a queue name (deferred, hold)', deleteMessages, 'removed', 'Deleted', 'changed');
  return cmd;
}
