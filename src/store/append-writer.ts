// Streams one message into a folder's tmp/ (APPEND, COPY across devices), storing LF
// line ends as Dovecot does with mail_save_crlf = no, counting the file size (`,S=`)
// and the CRLF size (`,W=`, RFC822.SIZE). The file is fsync'd before it is renamed
// (DESIGN.md principle 1); an aborted write removes the temp file.
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { uniqueBase } from './maildir/names.js';

export class AppendWriter {
  /** Bytes written to the file (LF line ends). */
  size = 0;
  /** Line feeds written (vsize = size + lfs). */
  lfs = 0;
  private pendingCr = false;
  private buffered: Buffer[] = [];
  private bufferedBytes = 0;
  private done = false;

  private constructor(
    readonly path: string,
    readonly base: string,
    private readonly fh: fsp.FileHandle,
    private readonly fsync: boolean,
  ) {}

  static async create(folderDir: string, fsync = true): Promise<AppendWriter> {
    const base = uniqueBase();
    const path = join(folderDir, 'tmp', base);
    const fh = await fsp.open(path, 'wx', 0o600);
    return new AppendWriter(path, base, fh, fsync);
  }

  /** RFC822.SIZE of what was written. */
  get vsize(): number {
    return this.size + this.lfs;
  }

  /** Add raw message bytes (CRLF or LF line ends); CRLF becomes LF. */
  async write(chunk: Buffer): Promise<void> {
    let start = 0;
    const out: Buffer[] = [];
    if (this.pendingCr) {
      this.pendingCr = false;
      if (chunk.length > 0 && chunk[0] === 10) {
        // CR LF across chunks: drop the CR
      } else out.push(Buffer.from([13]));
    }
    for (;;) {
      const i = chunk.indexOf(13, start);
      if (i < 0) {
        out.push(chunk.subarray(start));
        break;
      }
      if (i === chunk.length - 1) {
        out.push(chunk.subarray(start, i));
        this.pendingCr = true;
        break;
      }
      if (chunk[i + 1] === 10) {
        out.push(chunk.subarray(start, i));
        start = i + 1; // keep the LF
      } else {
        out.push(chunk.subarray(start, i + 1));
        start = i + 1;
      }
    }
    for (const b of out) {
      if (b.length === 0) continue;
      this.size += b.length;
      let p = b.indexOf(10);
      while (p >= 0) {
        this.lfs++;
        p = b.indexOf(10, p + 1);
      }
      this.buffered.push(b);
      this.bufferedBytes += b.length;
    }
    if (this.bufferedBytes >= 256 * 1024) await this.flushBuffer();
  }

  private async flushBuffer(): Promise<void> {
    if (this.bufferedBytes === 0) return;
    const data = Buffer.concat(this.buffered, this.bufferedBytes);
    this.buffered = [];
    this.bufferedBytes = 0;
    await this.fh.write(data);
  }

  /** Flush, fsync and close; optionally set the mtime (INTERNALDATE). */
  async finish(internalDate?: Date): Promise<void> {
    if (this.pendingCr) {
      this.pendingCr = false;
      this.buffered.push(Buffer.from([13]));
      this.bufferedBytes++;
      this.size++;
    }
    await this.flushBuffer();
    if (internalDate) await this.fh.utimes(internalDate, internalDate);
    if (this.fsync) await this.fh.sync();
    await this.fh.close();
    this.done = true;
  }

  /** Remove the temp file (failed or refused APPEND): nothing is left in tmp/. */
  async abort(): Promise<void> {
    if (!this.done) await this.fh.close().catch(() => undefined);
    this.done = true;
    await fsp.unlink(this.path).catch(() => undefined);
  }
}

/** fsync a directory so that a rename into it is durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await fsp.open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
