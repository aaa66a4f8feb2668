// `facteur migrate mbox SRC DEST_MAILDIR`: convert an mbox (e.g. /var/mail/alice) into a
// Maildir, as the tutorial's move from mbox to Maildir needs. Each message keeps its bytes
// (mbox quoting undone), its date (the `From ` line's date becomes the file's mtime, which
// Dovecot uses as the internal date) and its Status:/X-Status: flags as Maildir flags (old
// messages go to cur/ with `:2,FLAGS`, unread ones to new/). Streams the mbox: memory stays
// bounded whatever its size. Refuses a destination that already holds messages.
import { createReadStream, promises as fsp, statSync } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Command } from 'commander';
import { MboxReader, statusFlags, type MboxMessage } from '../../delivery/mbox.js';
import { syncDirectory } from '../../store/dir-sync.js';
import { ensureMaildir, openTmpFile, SizeCounter } from '../../store/maildir/deliver.js';

export interface MigrateOptions {
  variant?: 'mboxrd' | 'mboxo';
  fsync?: boolean;
  /** Called now and then with messages and bytes done. */
  progress?: (messages: number, bytes: number, total: number) => void;
}

export interface MigrateResult {
  messages: number;
  bytes: number;
}

async function hasMessages(dir: string): Promise<boolean> {
  let entries: string[];
  try {
    entries = await fsp.readdir(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
  for (const sub of ['cur', 'new']) {
    if (!entries.includes(sub)) continue;
    if ((await fsp.readdir(join(dir, sub))).length > 0) return true;
  }
  return entries.some((e) => !['cur', 'new', 'tmp'].includes(e));
}

export async function migrateMbox(src: string, dest: string, opts: MigrateOptions = {}): Promise<MigrateResult> {
  const st = statSync(src);
  if (!st.isFile()) throw new Error(`${src} is not a file`);
  if (await hasMessages(dest)) throw new Error(`${dest} already contains mail: refusing to overwrite it`);
  await ensureMaildir(dest);
  const fsync = opts.fsync !== false;
  let messages = 0;
  let bytesRead = 0;

  interface Open {
    msg: MboxMessage;
    fh: FileHandle;
    base: string;
    tmpPath: string;
    counter: SizeCounter;
    buffered: Buffer[];
    bufferedBytes: number;
    offset: number;
    inHeaders: boolean;
    status?: string;
    xstatus?: string;
  }
  let cur: Open | undefined;

  const open = async (msg: MboxMessage): Promise<Open> => {
    const t = await openTmpFile(dest);
    return { msg, fh: t.fh, base: t.base, tmpPath: t.path, counter: new SizeCounter(), buffered: [], bufferedBytes: 0, offset: 0, inHeaders: true };
  };
  const flush = async (o: Open) => {
    if (o.bufferedBytes === 0) return;
    const parts = o.buffered;
    const n = o.bufferedBytes;
    o.buffered = [];
    o.bufferedBytes = 0;
    // the lines are views of the input chunks: written as they are, never copied
    let written = 0;
    while (written < n) {
      const { bytesWritten } = await o.fh.writev(written === 0 ? parts : sliceFrom(parts, written), o.offset + written);
      written += bytesWritten;
    }
    o.offset += n;
  };

  const reader = new MboxReader(
    async (msg) => {
      const o = cur && cur.msg === msg ? cur : await open(msg);
      cur = undefined;
      try {
        await flush(o);
        if (fsync) await o.fh.datasync();
        await o.fh.close();
        const { flags, old } = statusFlags(o.status, o.xstatus);
        const name = `${o.base},S=${o.counter.size},W=${o.counter.vsize}`;
        const final = old ? join(dest, 'cur', `${name}:2,${flags}`) : join(dest, 'new', name);
        await fsp.rename(o.tmpPath, final);
        const date = msg.date && !Number.isNaN(msg.date.getTime()) ? msg.date : new Date();
        await fsp.utimes(final, date, date);
      } catch (err) {
        await o.fh.close().catch(() => undefined);
        await fsp.unlink(o.tmpPath).catch(() => undefined);
        throw err;
      }
      messages++;
      opts.progress?.(messages, bytesRead, st.size);
    },
    (msg, line) => {
      if (!cur || cur.msg !== msg) {
        return open(msg).then((o) => {
          cur = o;
          return addLine(o, line);
        });
      }
      return addLine(cur, line);
    },
    opts.variant,
  );

  function addLine(o: Open, line: Buffer): Promise<void> | void {
    {
      if (o.inHeaders) {
        if (line.length <= 2 && (line[0] === 0x0a || line[0] === 0x0d)) o.inHeaders = false;
        else {
          const m = /^(X-Status|Status):[ \t]*(\S*)/i.exec(line.subarray(0, 100).toString('latin1'));
          if (m) {
            if (m[1].toLowerCase() === 'status') o.status = m[2];
            else o.xstatus = m[2];
          }
        }
      }
      o.counter.add(line);
      o.buffered.push(line);
      o.bufferedBytes += line.length;
      if (o.bufferedBytes >= 1 << 16) return flush(o);
    }
  }

  try {
    for await (const chunk of createReadStream(src, { highWaterMark: 1 << 16 })) {
      bytesRead += (chunk as Buffer).length;
      await reader.push(chunk as Buffer);
    }
    await reader.end();
  } catch (err) {
    if (cur) {
      await cur.fh.close().catch(() => undefined);
      await fsp.unlink(cur.tmpPath).catch(() => undefined);
    }
    throw err;
  }
  if (fsync) await Promise.all([syncDirectory(join(dest, 'new')), syncDirectory(join(dest, 'cur'))]);
  return { messages, bytes: bytesRead };
}

function sliceFrom(parts: Buffer[], skip: number): Buffer[] {
  const out: Buffer[] = [];
  for (const p of parts) {
    if (skip >= p.length) {
      skip -= p.length;
      continue;
    }
    out.push(skip > 0 ? p.subarray(skip) : p);
    skip = 0;
  }
  return out;
}

function human(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(1)} ${units[i]}`;
}

export function migrateCommand(): Command {
  const cmd = new Command('migrate').description('move existing mail into facteur');
  cmd
    .command('mbox')
    .description('convert an mbox file (e.g. /var/mail/alice) into a Maildir, keeping bytes, dates and Status flags')
    .argument('<src>', 'the mbox file')
    .argument('<dest>', 'the Maildir to create (e.g. /home/alice/Maildir); must not contain mail yet')
    .option('--mboxo', 'the mbox uses mboxo quoting (only ">From " is unquoted)')
    .option('--no-fsync', 'do not fsync each message (faster; only for a copy you can redo)')
    .action(async (src: string, dest: string, opts: { mboxo?: boolean; fsync: boolean }) => {
      const tty = process.stderr.isTTY;
      let last = 0;
      const started = Date.now();
      try {
        const r = await migrateMbox(resolve(src), resolve(dest), {
          variant: opts.mboxo ? 'mboxo' : 'mboxrd',
          fsync: opts.fsync,
          progress: tty
            ? (m, b, total) => {
                const now = Date.now();
                if (now - last < 200) return;
                last = now;
                const pct = total > 0 ? ` (${Math.floor((b / total) * 100)}%)` : '';
                process.stderr.write(`\r${m} messages, ${human(b)} of ${human(total)}${pct}   `);
              }
            : undefined,
        });
        if (tty) process.stderr.write('\r\x1b[K');
        process.stdout.write(`${src}: ${r.messages} messages (${human(r.bytes)}) written to ${dest} in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
      } catch (err) {
        if (tty) process.stderr.write('\n');
        process.stderr.write(`facteur: migrate: ${(err as Error).message}\n`);
        process.exitCode = 1;
      }
    });
  return cmd;
}
