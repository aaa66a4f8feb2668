// The queue directories on disk (Postfix's incoming/, active/, deferred/, hold/,
// corrupt/ under queue_directory) and the operations on them: writing a new queue
// file (fsync + atomic rename before commit() resolves), moving files between
// queues by rename, finding and listing messages. Used by the queue manager inside
// the server and by `facteur queue …` from outside it, at the same time.
import { mkdir, open, opendir, rename, stat, unlink, utimes, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { DirectorySync } from '../store/dir-sync.js';
import { FLAG_8BIT_BODY, FLAG_8BIT_HEADERS, FLAG_COMPLETE, firstLine, headerFromEnvelope, type StoredHeader } from './file.js';
import { isQueueId } from './id.js';
import type { QueueEnvelope, QueueFileWriter } from './types.js';

export const QUEUE_NAMES = ['incoming', 'active', 'deferred', 'hold', 'corrupt'] as const;
export type QueueName = (typeof QUEUE_NAMES)[number];
/** Queues a message can be in once committed (corrupt/ is for an administrator). */
export const LIVE_QUEUES: readonly QueueName[] = ['active', 'deferred', 'hold'];

export interface QueueFileRef {
  queue: QueueName;
  id: string;
  path: string;
}

const WRITE_BUFFER = 64 * 1024;

/** The writer the SMTP session (and the bounce generator) fills. */
class Writer implements QueueFileWriter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private size = 0;
  private pos: number;
  private eightBitBody = false;
  private eightBitHeaders = false;
  private inHeaders = true;
  /** last bytes seen while in the header section, to find the blank line across chunks */
  private tail: Buffer = Buffer.alloc(0);
  private done = false;

  constructor(
    readonly id: string,
    private fh: FileHandle,
    private readonly store: QueueStore,
    headerBytes: number,
    private readonly onCommit: (id: string) => void,
  ) {
    this.pos = headerBytes;
  }

  async write(chunk: Buffer): Promise<void> {
    if (this.done) throw new Error(`queue file ${this.id} is already closed`);
    if (chunk.length === 0) return;
    this.scan(chunk);
    this.size += chunk.length;
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    if (this.pendingBytes >= WRITE_BUFFER) await this.flush();
  }

  private scan(chunk: Buffer): void {
    if (this.inHeaders) {
      const joined = this.tail.length ? Buffer.concat([this.tail, chunk]) : chunk;
      let end = -1;
      if (this.size === 0 && (joined[0] === 0x0a || (joined[0] === 0x0d && joined[1] === 0x0a))) end = 0;
      else {
        let i = joined.indexOf(0x0a);
        while (i >= 0) {
          if (joined[i + 1] === 0x0a || (joined[i + 1] === 0x0d && joined[i + 2] === 0x0a)) {
            end = i + 1;
            break;
          }
          i = joined.indexOf(0x0a, i + 1);
        }
      }
      const headerPart = end >= 0 ? joined.subarray(0, end) : joined;
      if (!this.eightBitHeaders && has8bit(headerPart)) this.eightBitHeaders = true;
      if (end >= 0) {
        this.inHeaders = false;
        if (!this.eightBitBody && has8bit(joined.subarray(end))) this.eightBitBody = true;
      } else this.tail = joined.subarray(Math.max(0, joined.length - 3));
    } else if (!this.eightBitBody && has8bit(chunk)) this.eightBitBody = true;
  }

  private async flush(): Promise<void> {
    if (this.pendingBytes === 0) return;
    const data = this.pending.length === 1 ? this.pending[0] : Buffer.concat(this.pending);
    this.pending = [];
    this.pendingBytes = 0;
    let off = 0;
    while (off < data.length) {
      const { bytesWritten } = await this.fh.write(data, off, data.length - off, this.pos);
      off += bytesWritten;
      this.pos += bytesWritten;
    }
  }

  async commit(): Promise<void> {
    if (this.done) throw new Error(`queue file ${this.id} is already closed`);
    this.done = true;
    try {
      await this.flush();
      const flags = FLAG_COMPLETE | (this.eightBitBody ? FLAG_8BIT_BODY : 0) | (this.eightBitHeaders ? FLAG_8BIT_HEADERS : 0);
      await this.fh.write(firstLine(this.size, flags), 0, undefined, 0);
      await this.fh.sync();
      await this.fh.close();
    } catch (err) {
      await this.fh.close().catch(() => {});
      await unlink(this.store.path('incoming', this.id)).catch(() => {});
      throw err;
    }
    // incoming/ → active/, durable before the caller says 250 (DESIGN.md principle 1)
    await rename(this.store.path('incoming', this.id), this.store.path('active', this.id));
    await this.store.syncDir('active');
    this.onCommit(this.id);
  }

  async abort(): Promise<void> {
    if (this.done) return;
    this.done = true;
    await this.fh.close().catch(() => {});
    await unlink(this.store.path('incoming', this.id)).catch(() => {});
  }
}

function has8bit(b: Buffer): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] >= 0x80) return true;
  return false;
}

export class QueueStore {
  private syncers = new Map<QueueName, DirectorySync>();

  constructor(readonly dir: string) {}

  path(queue: QueueName, id: string): string {
    return join(this.dir, queue, id);
  }

  /** Directory for sockets other programs talk to (`facteur queue flush`). */
  get publicDir(): string {
    return join(this.dir, 'public');
  }

  /** Scratch files (content copies handed to local delivery). */
  get tmpDir(): string {
    return join(this.dir, 'tmp');
  }

  async init(): Promise<void> {
    for (const q of QUEUE_NAMES) await mkdir(join(this.dir, q), { recursive: true, mode: 0o700 });
    await mkdir(this.publicDir, { recursive: true, mode: 0o755 });
    await mkdir(this.tmpDir, { recursive: true, mode: 0o700 });
  }

  syncDir(queue: QueueName): Promise<void> {
    let s = this.syncers.get(queue);
    if (!s) {
      s = new DirectorySync(join(this.dir, queue));
      this.syncers.set(queue, s);
    }
    return s.sync();
  }

  /** Start a new queue file in incoming/. `onCommit` runs once the file is in active/. */
  async create(envelope: QueueEnvelope, onCommit: (id: string) => void = () => {}, notice?: StoredHeader['notice']): Promise<QueueFileWriter> {
    if (!isQueueId(envelope.id)) throw new Error(`bad queue id "${envelope.id}"`);
    if (envelope.recipients.length === 0) throw new Error('a queue file needs at least one recipient');
    const header = Buffer.from(JSON.stringify(headerFromEnvelope(envelope, notice)) + '\n', 'utf8');
    let fh: FileHandle;
    try {
      fh = await open(this.path('incoming', envelope.id), 'wx', 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      await this.init(); // a first message before the queue manager started
      fh = await open(this.path('incoming', envelope.id), 'wx', 0o600);
    }
    try {
      const head = Buffer.concat([firstLine(0, 0), header]);
      await fh.write(head, 0, head.length, 0);
      return new Writer(envelope.id, fh, this, head.length, onCommit);
    } catch (err) {
      await fh.close().catch(() => {});
      await unlink(this.path('incoming', envelope.id)).catch(() => {});
      throw err;
    }
  }

  /** Which queue holds `id` now. */
  async find(id: string, queues: readonly QueueName[] = QUEUE_NAMES): Promise<QueueFileRef | undefined> {
    if (!isQueueId(id)) return undefined;
    for (const queue of queues) {
      const path = this.path(queue, id);
      try {
        await stat(path);
        return { queue, id, path };
      } catch {
        // not here
      }
    }
    return undefined;
  }

  /** Every file of the given queues, streamed (bounded memory whatever the queue length). */
  async *list(queues: readonly QueueName[] = QUEUE_NAMES): AsyncIterable<QueueFileRef> {
    for (const queue of queues) {
      let dir;
      try {
        dir = await opendir(join(this.dir, queue), { bufferSize: 256 });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw err;
      }
      for await (const ent of dir) {
        if (!ent.isFile() || !isQueueId(ent.name)) continue;
        yield { queue, id: ent.name, path: join(this.dir, queue, ent.name) };
      }
    }
  }

  /**
   * Move by atomic rename; optionally set the file's mtime (the deferred queue keeps the
   * next attempt time there, as Postfix does). False when the file was not in `from`.
   */
  async move(id: string, from: QueueName, to: QueueName, mtimeMs?: number): Promise<boolean> {
    const src = this.path(from, id);
    if (mtimeMs !== undefined) {
      try {
        await utimes(src, new Date(), new Date(mtimeMs));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
        throw err;
      }
    }
    try {
      await rename(src, this.path(to, id));
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
  }

  /** Delete a message file; false when it was not there. */
  async remove(id: string, from: QueueName): Promise<boolean> {
    try {
      await unlink(this.path(from, id));
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
  }
}
