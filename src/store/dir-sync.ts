// Durable renames need an fsync of the directory (Maildir new/, the queue's active/ …). Group
// commit: every rename made before a directory fsync started is covered by it, so callers that
// ask while one is running share the next one instead of each running their own.
import { promises as fsp } from 'node:fs';

export class DirectorySync {
  private running: Promise<void> | undefined;
  private next: Promise<void> | undefined;

  constructor(readonly dir: string) {}

  sync(): Promise<void> {
    if (!this.running) {
      this.running = this.run().finally(() => {
        this.running = undefined;
      });
      return this.running;
    }
    // a rename made while a sync runs needs a sync that starts after it
    if (!this.next) {
      this.next = this.running
        .catch(() => undefined)
        .then(() => {
          this.next = undefined;
          return this.sync();
        });
    }
    return this.next;
  }

  private async run(): Promise<void> {
    const fh = await fsp.open(this.dir, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  }
}

const dirSyncs = new Map<string, DirectorySync>();

/** fsync a directory, sharing the fsync with concurrent callers for the same directory. */
export function syncDirectory(dir: string): Promise<void> {
  let s = dirSyncs.get(dir);
  if (!s) {
    if (dirSyncs.size > 4096) dirSyncs.clear();
    s = new DirectorySync(dir);
    dirSyncs.set(dir, s);
  }
  return s.sync();
}
