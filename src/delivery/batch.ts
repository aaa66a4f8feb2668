// One message being delivered to a set of local mailboxes, all or nothing:
//   write(chunk)*  — content in canonical form (LF line ends), our Received: header first;
//                    kept in memory up to a limit, then streamed into the first Maildir's tmp/
//                    file (so a big message is written once) or a spool file;
//   prepare()      — every copy written with its own Return-Path/X-Original-To/Delivered-To
//                    and fsync'd (Maildir tmp/ files, mbox appends under lock);
//   publish()      — renames into new/, grouped fsync of new/, mbox locks released, IMAP told;
//   rollback()     — tmp files removed, mboxes truncated back: nothing half-delivered.
import { promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { externalAddress } from '../mail/smtp-address.js';
import { ensureMaildir, moveToNew, openTmpFile, publishNew, SizeCounter, writeTmpFile } from '../store/maildir/deliver.js';
import { mboxFromLine, MboxAppend, MboxrdQuoter } from './mbox.js';
import type { MailboxTarget } from './resolve.js';

export interface BatchRecipient {
  /** The recipient as the client gave it (X-Original-To:). */
  original: string;
  target: MailboxTarget;
}

export interface BatchOptions {
  queueId: string;
  /** Envelope sender, qualified ('' = null sender): Return-Path. */
  sender: string;
  recipients: BatchRecipient[];
  arrival: Date;
  /** Directory for a spool file when a large message has no Maildir to stream into. */
  spoolDirectory: string;
  /** Bytes kept in memory before streaming to disk. */
  memoryLimit: number;
  /** maildir_fsync */
  fsync: boolean;
  /** mbox_stale_lock_time in seconds. */
  staleLockSeconds?: number;
  /** mailbox_size_limit (0: none). */
  mailboxSizeLimit?: number;
  /** mailbox_delivery_lock includes dotlock. */
  dotlock?: boolean;
}

export interface BatchResult {
  recipient: BatchRecipient;
  /** Final file (Maildir) or mbox path. */
  path: string;
}

/** A delivery failure with the errno-style code that decides the SMTP reply (ENOSPC → 452 4.3.1 …). */
export class DeliveryError extends Error {
  constructor(
    message: string,
    readonly code: string,
    readonly recipient?: BatchRecipient,
  ) {
    super(message);
  }
}

interface Prepared {
  recipient: BatchRecipient;
  kind: 'maildir' | 'mbox';
  root?: string;
  base?: string;
  tmpPath?: string;
  size?: number;
  vsize?: number;
  mbox?: MboxAppend;
}

const CHUNK = 1 << 16;

function prefixFor(sender: string, r: BatchRecipient): Buffer {
  return Buffer.from(`Return-Path: <${externalAddress(sender)}>\nX-Original-To: ${r.original}\nDelivered-To: ${r.target.deliveredTo}\n`);
}

export class DeliveryBatch {
  private chunks: Buffer[] = [];
  private memBytes = 0;
  private contentLength = 0;
  private readonly counter = new SizeCounter();
  /** The file content streams into once the memory limit is passed. */
  private spill: { fh: FileHandle; path: string; offset: number; recipientIndex: number; base?: string; root?: string } | undefined;
  private spillPending: Promise<void> = Promise.resolve();
  private prepared: Prepared[] = [];
  private state: 'open' | 'prepared' | 'done' = 'open';
  private lastByte = 0x0a;

  constructor(readonly opts: BatchOptions) {}

  get size(): number {
    return this.contentLength;
  }

  async write(chunk: Buffer): Promise<void> {
    if (chunk.length === 0) return;
    this.counter.add(chunk);
    this.contentLength += chunk.length;
    this.lastByte = chunk[chunk.length - 1];
    if (this.spill) {
      const s = this.spill;
      await this.spillPending;
      await s.fh.write(chunk, 0, chunk.length, null);
      return;
    }
    this.chunks.push(Buffer.from(chunk));
    this.memBytes += chunk.length;
    if (this.memBytes > this.opts.memoryLimit) await this.startSpill();
  }

  private async startSpill(): Promise<void> {
    const idx = this.opts.recipients.findIndex((r) => r.target.kind === 'maildir');
    if (idx >= 0) {
      const r = this.opts.recipients[idx];
      await ensureMaildir(r.target.path, r.target);
      const tmp = await openTmpFile(r.target.path, r.target);
      const prefix = prefixFor(this.opts.sender, r);
      await tmp.fh.write(prefix);
      this.spill = { fh: tmp.fh, path: tmp.path, offset: prefix.length, recipientIndex: idx, base: tmp.base, root: r.target.path };
    } else {
      await fsp.mkdir(this.opts.spoolDirectory, { recursive: true, mode: 0o700 });
      const path = join(this.opts.spoolDirectory, `${this.opts.queueId}.${randomBytes(4).toString('hex')}`);
      const fh = await fsp.open(path, 'wx', 0o600);
      this.spill = { fh, path, offset: 0, recipientIndex: -1 };
    }
    const mem = Buffer.concat(this.chunks);
    this.chunks = [];
    this.memBytes = 0;
    await this.spill.fh.write(mem, 0, mem.length, null);
  }

  /** Feed the content (after the given leading data) to `out` in order. */
  private async eachContentChunk(out: (b: Buffer) => Promise<void> | void): Promise<void> {
    if (!this.spill) {
      for (const c of this.chunks) await out(c);
      return;
    }
    const buf = Buffer.allocUnsafe(CHUNK);
    let pos = this.spill.offset;
    const end = this.spill.offset + this.contentLength;
    while (pos < end) {
      const { bytesRead } = await this.spill.fh.read(buf, 0, Math.min(CHUNK, end - pos), pos);
      if (bytesRead === 0) throw new DeliveryError(`short read from ${this.spill.path}`, 'EIO');
      await out(Buffer.from(buf.subarray(0, bytesRead)));
      pos += bytesRead;
    }
  }

  /** Write and fsync every copy. Throws DeliveryError after undoing what was done. */
  async prepare(): Promise<void> {
    if (this.state !== 'open') throw new Error('batch already prepared');
    this.state = 'prepared';
    const needNewline = this.contentLength > 0 && this.lastByte !== 0x0a;
    if (needNewline) await this.write(Buffer.from('\n'));
    try {
      const maildirs = this.opts.recipients.map((r, i) => ({ r, i })).filter(({ r }) => r.target.kind === 'maildir');
      // at most 16 copies in flight: bounded fds, and enough to overlap fsyncs
      let next = 0;
      let failure: unknown;
      const worker = async () => {
        while (next < maildirs.length && failure === undefined) {
          const { r, i } = maildirs[next++];
          try {
            this.prepared.push(await this.prepareMaildir(r, i));
          } catch (err) {
            failure ??= err;
          }
        }
      };
      // every copy in flight has settled before a rollback looks at what was prepared
      await Promise.all(Array.from({ length: Math.min(16, maildirs.length) }, worker));
      if (failure !== undefined) throw failure;
      const mboxes = this.opts.recipients.filter((r) => r.target.kind === 'mbox').sort((a, b) => (a.target.path < b.target.path ? -1 : 1));
      for (const r of mboxes) this.prepared.push(await this.prepareMbox(r));
    } catch (err) {
      await this.rollback();
      if (err instanceof DeliveryError) throw err;
      const e = err as NodeJS.ErrnoException;
      throw new DeliveryError(e.message, e.code ?? 'EIO');
    }
  }

  private async prepareMaildir(r: BatchRecipient, index: number): Promise<Prepared> {
    const t = r.target;
    const prefix = prefixFor(this.opts.sender, r);
    const size = prefix.length + this.contentLength;
    const vsize = prefix.length + 3 + this.counter.vsize;
    if (this.spill && this.spill.recipientIndex === index) {
      const s = this.spill;
      if (this.opts.fsync) await s.fh.datasync();
      // closed in publish()/rollback(): the other copies still read from it
      return { recipient: r, kind: 'maildir', root: s.root, base: s.base, tmpPath: s.path, size, vsize };
    }
    await ensureMaildir(t.path, t);
    if (!this.spill) {
      // the common case: the whole message is in memory, one durable write
      try {
        const tmp = await writeTmpFile(t.path, Buffer.concat([prefix, ...this.chunks]), t, this.opts.fsync);
        return { recipient: r, kind: 'maildir', root: t.path, base: tmp.base, tmpPath: tmp.path, size, vsize };
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        throw new DeliveryError(`${t.path}: ${e.message}`, e.code ?? 'EIO', r);
      }
    }
    const tmp = await openTmpFile(t.path, t);
    const p: Prepared = { recipient: r, kind: 'maildir', root: t.path, base: tmp.base, tmpPath: tmp.path, size, vsize };
    try {
      if (!this.spill) {
        const all = Buffer.concat([prefix, ...this.chunks]);
        await tmp.fh.write(all, 0, all.length, 0);
      } else {
        await tmp.fh.write(prefix, 0, prefix.length, 0);
        let at = prefix.length;
        await this.eachContentChunk(async (b) => {
          await tmp.fh.write(b, 0, b.length, at);
          at += b.length;
        });
      }
      if (this.opts.fsync) await tmp.fh.datasync();
      await tmp.fh.close();
    } catch (err) {
      await tmp.fh.close().catch(() => undefined);
      await fsp.unlink(tmp.path).catch(() => undefined);
      const e = err as NodeJS.ErrnoException;
      throw new DeliveryError(`${t.path}: ${e.message}`, e.code ?? 'EIO', r);
    }
    return p;
  }

  private async prepareMbox(r: BatchRecipient): Promise<Prepared> {
    const t = r.target;
    try {
      await fsp.mkdir(dirname(t.path), { recursive: true, mode: 0o700 });
    } catch {
      // the spool directory usually exists; a real problem shows up at open
    }
    let mbox: MboxAppend;
    try {
      mbox = await MboxAppend.open(t.path, { staleSeconds: this.opts.staleLockSeconds, uid: t.uid, gid: t.gid, dotlock: this.opts.dotlock });
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw new DeliveryError(`${t.path}: ${e.message}`, e.code ?? 'EIO', r);
    }
    const p: Prepared = { recipient: r, kind: 'mbox', mbox };
    try {
      const limit = this.opts.mailboxSizeLimit ?? 0;
      if (limit > 0 && mbox.startSize + this.contentLength > limit) throw Object.assign(new Error('mailbox size limit exceeded'), { code: 'EDQUOT' });
      const q = new MboxrdQuoter();
      await mbox.write(Buffer.from(mboxFromLine(this.opts.sender, this.opts.arrival)));
      await mbox.write(q.transform(prefixFor(this.opts.sender, r)));
      await this.eachContentChunk((b) => mbox.write(q.transform(b)));
      await mbox.write(q.flush());
      await mbox.write(Buffer.from('\n'));
      await mbox.sync();
    } catch (err) {
      await mbox.rollback();
      const e = err as NodeJS.ErrnoException;
      throw new DeliveryError(`${t.path}: ${e.message}`, e.code ?? 'EIO', r);
    }
    return p;
  }

  /** Make every prepared copy visible; returns where each went. */
  async publish(): Promise<BatchResult[]> {
    if (this.state !== 'prepared') throw new Error('batch not prepared');
    this.state = 'done';
    const results: BatchResult[] = [];
    const roots = new Set<string>();
    let failure: unknown;
    await Promise.all(
      this.prepared.map(async (p) => {
        try {
          if (p.kind === 'maildir') {
            const path = await moveToNew(p.root!, p.base!, p.size!, p.vsize!);
            roots.add(p.root!);
            results.push({ recipient: p.recipient, path });
          } else {
            await p.mbox!.commit();
            results.push({ recipient: p.recipient, path: p.mbox!.path });
          }
        } catch (err) {
          failure ??= err;
        }
      }),
    );
    await Promise.all([...roots].map((root) => publishNew(root, this.opts.fsync)));
    await this.cleanupSpool();
    if (failure) {
      const e = failure as NodeJS.ErrnoException;
      throw new DeliveryError(e.message, e.code ?? 'EIO');
    }
    return results;
  }

  /** Undo everything: remove tmp files, truncate mboxes, delete the spool file. */
  async rollback(): Promise<void> {
    this.state = 'done';
    const ps = this.prepared;
    this.prepared = [];
    await Promise.all(
      ps.map(async (p) => {
        if (p.kind === 'maildir' && p.tmpPath) await fsp.unlink(p.tmpPath).catch(() => undefined);
        if (p.kind === 'mbox') await p.mbox!.rollback();
      }),
    );
    if (this.spill) {
      const s = this.spill;
      await s.fh.close().catch(() => undefined);
      await fsp.unlink(s.path).catch(() => undefined);
      this.spill = undefined;
    }
    this.chunks = [];
  }

  private async cleanupSpool(): Promise<void> {
    const s = this.spill;
    if (!s) return;
    this.spill = undefined;
    await s.fh.close().catch(() => undefined);
    if (s.recipientIndex < 0) await fsp.unlink(s.path).catch(() => undefined);
    this.chunks = [];
  }
}
