// mbox delivery (Postfix local(8) with home_mailbox = Mailbox or mail_spool_directory):
// a `From sender asctime` line, the message with mboxrd quoting (every line matching
// /^>*From / gets one more `>`), an empty line. The append happens under a dot-lock
// (FILE.lock, created O_EXCL, stale after mbox_stale_lock_time) and an in-process lock;
// it is fsync'd, and rolled back (ftruncate to the old size) when anything fails, so the
// mbox is never left with half a message.
import { promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** C asctime() without the newline: `Sat Nov 28 23:21:26 2026`, `Sun Nov  8 …`. */
export function asctime(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${DAYS[d.getDay()]} ${MONTHS[d.getMonth()]} ${String(d.getDate()).padStart(2, ' ')} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())} ${d.getFullYear()}`;
}

/** The mbox separator line: `From sender@domain Sat Nov 28 23:21:26 2026\n` (MAILER-DAEMON for <>). */
export function mboxFromLine(sender: string, date: Date): string {
  return `From ${sender === '' ? 'MAILER-DAEMON' : sender.replace(/\s/g, '_')} ${asctime(date)}\n`;
}

const FROM_PREFIX = /^>*(F(r(o(m( )?)?)?)?)?$/;
const FROM_LINE = /^>*From /;

/** Streaming mboxrd quoting of LF-terminated content. */
export class MboxrdQuoter {
  private carry = '';
  private midLine = false;

  transform(chunk: Buffer): Buffer {
    const out: Buffer[] = [];
    let data = chunk;
    if (this.carry) {
      data = Buffer.concat([Buffer.from(this.carry, 'latin1'), chunk]);
      this.carry = '';
    }
    let pos = 0;
    while (pos < data.length) {
      const lf = data.indexOf(0x0a, pos);
      const end = lf < 0 ? data.length : lf + 1;
      if (!this.midLine) {
        const head = data.subarray(pos, Math.min(end, pos + 64)).toString('latin1');
        if (lf < 0 && FROM_PREFIX.test(head) && end - pos < 64) {
          this.carry = head;
          break;
        }
        if (FROM_LINE.test(head)) out.push(Buffer.from('>'));
      }
      out.push(data.subarray(pos, end));
      this.midLine = lf < 0;
      pos = end;
    }
    return out.length === 1 ? out[0] : Buffer.concat(out);
  }

  /** Whatever was held back at the end. */
  flush(): Buffer {
    const c = this.carry;
    this.carry = '';
    return Buffer.from(c, 'latin1');
  }
}

const inProcess = new Map<string, Promise<void>>();

export interface MboxLock {
  release(): Promise<void>;
}

/** Take the in-process lock and the dot-lock of an mbox file. */
export async function lockMbox(path: string, staleSeconds = 500, timeoutMs = 30_000): Promise<MboxLock> {
  // in-process: chain on the previous holder
  const prev = inProcess.get(path) ?? Promise.resolve();
  let releaseLocal!: () => void;
  const mine = new Promise<void>((r) => {
    releaseLocal = r;
  });
  const chained = prev.then(() => mine);
  inProcess.set(path, chained);
  await prev;
  const lockPath = `${path}.lock`;
  const started = Date.now();
  for (let delay = 20; ; delay = Math.min(delay * 2, 1000)) {
    try {
      const fh = await fsp.open(lockPath, 'wx', 0o600);
      await fh.writeFile(`${process.pid}\n`);
      await fh.close();
      break;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST') {
        releaseLocal();
        if (inProcess.get(path) === chained) inProcess.delete(path);
        throw err;
      }
      try {
        const st = await fsp.stat(lockPath);
        if (Date.now() - st.mtimeMs > staleSeconds * 1000) {
          await fsp.unlink(lockPath).catch(() => undefined);
          continue;
        }
      } catch {
        continue;
      }
      if (Date.now() - started > timeoutMs) {
        releaseLocal();
        if (inProcess.get(path) === chained) inProcess.delete(path);
        const e = new Error(`unable to lock ${path}: ${lockPath} exists`) as NodeJS.ErrnoException;
        e.code = 'EAGAIN';
        throw e;
      }
      await new Promise((r) => setTimeout(r, delay));
    }
  }
  let released = false;
  return {
    async release() {
      if (released) return;
      released = true;
      await fsp.unlink(lockPath).catch(() => undefined);
      releaseLocal();
      if (inProcess.get(path) === chained) inProcess.delete(path);
    },
  };
}

/** An append in progress: the file is locked and the old size known until commit/rollback. */
export class MboxAppend {
  private constructor(
    readonly path: string,
    private readonly fh: FileHandle,
    private readonly lock: MboxLock,
    readonly startSize: number,
    private offset: number,
  ) {}

  static async open(path: string, opts: { staleSeconds?: number; uid?: number; gid?: number } = {}): Promise<MboxAppend> {
    const lock = await lockMbox(path, opts.staleSeconds);
    try {
      const fh = await fsp.open(path, 'a+', 0o600);
      try {
        const st = await fh.stat();
        if (!st.isFile()) throw Object.assign(new Error(`${path} is not a regular file`), { code: 'EISDIR' });
        if (st.size === 0 && opts.uid !== undefined && typeof process.getuid === 'function' && process.getuid() === 0) {
          await fh.chown(opts.uid, opts.gid ?? -1);
        }
        return new MboxAppend(path, fh, lock, st.size, st.size);
      } catch (err) {
        await fh.close();
        throw err;
      }
    } catch (err) {
      await lock.release();
      throw err;
    }
  }

  get size(): number {
    return this.offset;
  }

  async write(chunk: Buffer): Promise<void> {
    if (chunk.length === 0) return;
    await this.fh.write(chunk, 0, chunk.length, this.offset);
    this.offset += chunk.length;
  }

  async sync(): Promise<void> {
    await this.fh.sync();
  }

  async commit(): Promise<void> {
    try {
      await this.fh.close();
    } finally {
      await this.lock.release();
    }
  }

  /** Truncate back to the size before this append. */
  async rollback(): Promise<void> {
    try {
      await this.fh.truncate(this.startSize);
      await this.fh.sync();
    } catch {
      // best effort: the lock is released below either way
    }
    try {
      await this.fh.close();
    } finally {
      await this.lock.release();
    }
  }
}
