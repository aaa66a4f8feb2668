// How `facteur queue …` reaches a running queue manager: a unix socket at
// $queue_directory/public/qmgr (the place of Postfix's public/qmgr trigger fifo).
// One request line, one reply line:
//   flush    → retry every deferred message now (postqueue -f)
//   scan     → look at the deferred queue now (after a release)
//   changed  → files were moved or deleted behind the manager's back (hold, delete)
// The reply is `ok` or `error: text`. No server listening means "the mail system is down".
import { createConnection, createServer, type Server } from 'node:net';
import { unlink } from 'node:fs/promises';
import { join } from 'node:path';

export type ControlCommand = 'flush' | 'scan' | 'changed';
const COMMANDS = new Set<string>(['flush', 'scan', 'changed']);

export function controlSocketPath(queueDirectory: string): string {
  return join(queueDirectory, 'public', 'qmgr');
}

export interface ControlSignalResult {
  /** A queue manager answered. */
  delivered: boolean;
  reply?: string;
  error?: string;
}

/** Send one command to the running queue manager. */
export function signalQueueManager(queueDirectory: string, command: ControlCommand, timeoutMs = 5000): Promise<ControlSignalResult> {
  return new Promise((resolve) => {
    const sock = createConnection(controlSocketPath(queueDirectory));
    let buf = '';
    const timer = setTimeout(() => {
      sock.destroy();
      resolve({ delivered: false, error: 'no reply from the queue manager' });
    }, timeoutMs);
    sock.on('connect', () => sock.write(command + '\n'));
    sock.on('data', (d) => {
      buf += d.toString('utf8');
      const nl = buf.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(timer);
        sock.end();
        resolve({ delivered: true, reply: buf.slice(0, nl) });
      }
    });
    sock.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve({ delivered: false, error: err.code === 'ENOENT' || err.code === 'ECONNREFUSED' ? 'the queue manager is not running' : err.message });
    });
  });
}

/** Listen for commands; a stale socket from a crashed server is replaced, a live one is an error. */
export async function listenControl(queueDirectory: string, handler: (cmd: ControlCommand) => Promise<void>): Promise<Server> {
  const path = controlSocketPath(queueDirectory);
  const probe = await signalQueueManager(queueDirectory, 'scan', 1000);
  if (probe.delivered) throw new Error(`another queue manager is running on ${path}`);
  await unlink(path).catch(() => {});
  const server = createServer((sock) => {
    let buf = '';
    sock.setTimeout(10_000, () => sock.destroy());
    sock.on('error', () => {});
    sock.on('data', (d) => {
      buf += d.toString('utf8');
      if (buf.length > 256) {
        sock.end('error: request too long\n');
        return;
      }
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      const cmd = buf.slice(0, nl).trim().toLowerCase();
      if (!COMMANDS.has(cmd)) {
        sock.end(`error: unknown command "${cmd.slice(0, 40)}"\n`);
        return;
      }
      handler(cmd as ControlCommand).then(
        () => sock.end('ok\n'),
        (err: Error) => sock.end(`error: ${err.message}\n`),
      );
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.unref();
  return server;
}
