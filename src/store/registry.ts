// One Folder object per folder directory in the whole process: every IMAP/POP3
// session that opens the folder shares it (memory is per folder, not per session).
// A folder nobody uses stays in memory for `keepMs`, then its index is written and it
// is dropped.
import { Folder, type FolderOptions } from './folder.js';
import { logger } from '../log.js';

const log = logger('store');

interface Entry {
  folder?: Folder;
  opening?: Promise<Folder>;
  refs: number;
  timer?: NodeJS.Timeout;
}

export class FolderRegistry {
  private readonly entries = new Map<string, Entry>();
  /** Folders being closed (index being written): a new open of the same directory waits for it. */
  private readonly closing = new Map<string, Promise<void>>();

  constructor(
    /** How long an unused folder stays in memory. */
    public keepMs = 60_000,
  ) {}

  /** Open (or share) the folder at `dir`. Pair every acquire with a release. */
  async acquire(dir: string, opts: FolderOptions): Promise<Folder> {
    let e = this.entries.get(dir);
    if (!e) {
      e = { refs: 0 };
      this.entries.set(dir, e);
    }
    e.refs++;
    if (e.timer) {
      clearTimeout(e.timer);
      e.timer = undefined;
    }
    if (e.folder) return e.folder;
    if (!e.opening) {
      const entry = e;
      const previous = this.closing.get(dir) ?? Promise.resolve();
      entry.opening = previous.then(() => Folder.open(dir, opts)).then(
        (f) => {
          entry.folder = f;
          entry.opening = undefined;
          return f;
        },
        (err) => {
          entry.opening = undefined;
          throw err;
        },
      );
    }
    try {
      return await e.opening!;
    } catch (err) {
      e.refs--;
      if (e.refs <= 0 && !e.folder) this.entries.delete(dir);
      throw err;
    }
  }

  release(folder: Folder): void {
    const e = this.entries.get(folder.dir);
    if (!e || e.folder !== folder) return;
    e.refs--;
    if (e.refs > 0) return;
    const drop = () => {
      if (e.refs > 0 || this.entries.get(folder.dir) !== e) return;
      this.entries.delete(folder.dir);
      const dir = folder.dir;
      const done = folder
        .close()
        .catch((err) => log.warn(`closing ${dir} failed`, { error: err }))
        .finally(() => {
          if (this.closing.get(dir) === done) this.closing.delete(dir);
        });
      this.closing.set(dir, done);
    };
    if (this.keepMs <= 0) drop();
    else {
      e.timer = setTimeout(drop, this.keepMs);
      e.timer.unref?.();
    }
  }

  /** An open folder for `dir`, if any (no reference taken). */
  peek(dir: string): Folder | undefined {
    return this.entries.get(dir)?.folder;
  }

  /** A folder directory was renamed: keep the open Folder under its new path. */
  relocate(from: string, to: string): void {
    for (const [dir, e] of [...this.entries]) {
      if (dir === from || dir.startsWith(from + '/')) {
        const next = to + dir.slice(from.length);
        this.entries.delete(dir);
        this.entries.set(next, e);
        e.folder?.relocate(next);
      }
    }
  }

  /** A folder directory was deleted: its messages are gone for everyone who had it open. */
  forget(dir: string): void {
    const e = this.entries.get(dir);
    if (!e) return;
    this.entries.delete(dir);
    if (e.timer) clearTimeout(e.timer);
    e.folder?.vanish();
  }

  /** Write every open folder's index (shutdown). */
  async flushAll(): Promise<void> {
    await Promise.all([...this.entries.values()].map((e) => e.folder?.save().catch(() => undefined)));
  }

  /** Close everything (tests, shutdown). */
  async closeAll(): Promise<void> {
    const all = [...this.entries.values()];
    this.entries.clear();
    await Promise.all(
      all.map((e) => {
        if (e.timer) clearTimeout(e.timer);
        return e.folder?.close().catch(() => undefined);
      }),
    );
    await Promise.all([...this.closing.values()]);
  }

  get size(): number {
    return this.entries.size;
  }
}

/** The process-wide registry used by default (IMAP and POP3 share it). */
export const folderRegistry = new FolderRegistry();
