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
export async function lockMbox(path: string, staleSeconds = 500, timeoutMs = 30_000, dotlock = true): Promise<MboxLock> {
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
  for (let delay = 20; dotlock; delay = Math.min(delay * 2, 1000)) {
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
      if (dotlock) await fsp.unlink(lockPath).catch(() => undefined);
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

  static async open(path: string, opts: { staleSeconds?: number; uid?: number; gid?: number; dotlock?: boolean } = {}): Promise<MboxAppend> {
    const lock = await lockMbox(path, opts.staleSeconds, 30_000, opts.dotlock ?? true);
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

/** One message read from an mbox: the `From ` line, its bytes (unquoted), its Status flags. */
export interface MboxMessage {
  fromLine: string;
  /** The date of the `From ` line, when it parses. */
  date: Date | undefined;
  content: Buffer[];
  size: number;
}

const NEWLINE = Buffer.from('\n');
const MONTH_INDEX: Record<string, number> = Object.fromEntries(MONTHS.map((m, i) => [m, i]));

/** `From sender Sat Nov 28 23:21:26 2026` (asctime, optionally with a zone before the year or after it). */
export function parseFromLineDate(line: string): Date | undefined {
  const m = /(\w{3}) +(\w{3}) +(\d{1,2}) +(\d{1,2}):(\d\d)(?::(\d\d))? +(?:([A-Z]{2,5}|[+-]\d{4}) +)?(\d{4})(?: +([+-]\d{4}))?\s*$/.exec(line);
  if (!m) return undefined;
  const month = MONTH_INDEX[m[2]];
  if (month === undefined) return undefined;
  const zone = m[7] ?? m[9];
  const [y, d, h, mi, s] = [Number(m[8]), Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6] ?? 0)];
  if (zone && /^[+-]\d{4}$/.test(zone)) {
    const off = (Number(zone.slice(1, 3)) * 60 + Number(zone.slice(3))) * (zone[0] === '-' ? -1 : 1);
    return new Date(Date.UTC(y, month, d, h, mi, s) - off * 60_000);
  }
  if (zone === 'UTC' || zone === 'GMT') return new Date(Date.UTC(y, month, d, h, mi, s));
  // asctime() is local time
  return new Date(y, month, d, h, mi, s);
}

/**
 * Streaming mbox splitter: a `From ` line at the start of the file or after an empty line
 * starts a message; the empty line before it belongs to the mbox, not the message. Lines
 * matching /^>+From / lose one `>` (mboxrd; with `mboxo` only `>From ` is unquoted).
 * Memory is bounded by one line: whole messages are never held.
 */
export class MboxReader {
  private carry: Buffer | undefined;
  private current: MboxMessage | undefined;
  private pendingBlank = false;
  private atStart = true;
  private sawAny = false;

  constructor(
    private readonly onMessage: (m: MboxMessage) => Promise<void>,
    private readonly onLine: (m: MboxMessage, line: Buffer) => Promise<void> | void,
    private readonly variant: 'mboxrd' | 'mboxo' = 'mboxrd',
  ) {}

  async push(chunk: Buffer): Promise<void> {
    let data = this.carry ? Buffer.concat([this.carry, chunk]) : chunk;
    this.carry = undefined;
    let pos = 0;
    for (;;) {
      const lf = data.indexOf(0x0a, pos);
      if (lf < 0) break;
      const p = this.line(data.subarray(pos, lf + 1));
      if (p) await p;
      pos = lf + 1;
    }
    if (pos < data.length) this.carry = Buffer.from(data.subarray(pos));
    data = Buffer.alloc(0);
  }

  /** Returns a promise only when a callback had to wait (most lines are handled synchronously). */
  private line(l: Buffer): Promise<void> | void {
    const isBlank = l.length === 1 || (l.length === 2 && l[0] === 0x0d);
    const isFrom = l.length >= 5 && l[0] === 0x46 && l.subarray(0, 5).toString('latin1') === 'From ';
    if (isFrom && (this.atStart || this.pendingBlank)) {
      const prev = this.current;
      this.pendingBlank = false;
      this.atStart = false;
      this.sawAny = true;
      const text = l.toString('latin1').replace(/\r?\n$/, '');
      this.current = { fromLine: text, date: parseFromLineDate(text), content: [], size: 0 };
      return prev ? this.onMessage(prev) : undefined;
    }
    this.atStart = false;
    if (!this.current) {
      if (!isBlank) throw new Error('not an mbox file: it does not start with a "From " line');
      return;
    }
    const cur = this.current;
    let held: Promise<void> | void = undefined;
    if (this.pendingBlank) {
      // the held-back empty line was message content after all
      held = this.onLine(cur, NEWLINE);
      this.pendingBlank = false;
    }
    if (isBlank) {
      this.pendingBlank = true;
      return held;
    }
    let out = l;
    if (l[0] === 0x3e) {
      const text = l.subarray(0, Math.min(l.length, 80)).toString('latin1');
      if (this.variant === 'mboxrd' ? /^>+From /.test(text) : /^>From /.test(text)) out = l.subarray(1);
    }
    if (held) return held.then(() => this.onLine(cur, out));
    return this.onLine(cur, out);
  }

  async end(): Promise<void> {
    if (this.carry && this.carry.length > 0) {
      const c = this.carry;
      this.carry = undefined;
      await this.line(c);
    }
    if (this.current) {
      if (this.pendingBlank && !this.sawAny) await this.onLine(this.current, Buffer.from('\n'));
      await this.onMessage(this.current);
      this.current = undefined;
    }
  }
}

/** Maildir flags from mbox Status:/X-Status: (R seen, O old; A answered, F flagged, T draft, D deleted). */
export function statusFlags(status: string | undefined, xstatus: string | undefined): { flags: string; old: boolean } {
  const f = new Set<string>();
  const s = status ?? '';
  const x = xstatus ?? '';
  if (s.includes('R')) f.add('S');
  if (x.includes('A')) f.add('R');
  if (x.includes('F')) f.add('F');
  if (x.includes('T')) f.add('D');
  if (x.includes('D')) f.add('T');
  return { flags: [...f].sort().join(''), old: s.includes('O') || s.includes('R') };
}
