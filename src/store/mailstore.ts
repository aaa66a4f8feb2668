// One user's mail: the list of folders of a Maildir++ (or LAYOUT=fs) tree, CREATE /
// DELETE / RENAME with Dovecot's on-disk layout, subscriptions, UIDVALIDITY allocation,
// and access to the shared Folder objects. Names here are storage names: modified
// UTF-7 (as on the wire and on disk) with "." between hierarchy levels, "INBOX" for
// the inbox (matched case-insensitively).
import { constants as fsc, promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { Folder, StoreError, type FolderOptions } from './folder.js';
import { resolveMailLocation, type MailLocation } from './location.js';
import { readSubscriptions, writeSubscriptions } from './maildir/subscriptions.js';
import { Mutex } from './mutex.js';
import { folderRegistry, type FolderRegistry } from './registry.js';
import type { MailboxInfo } from './types.js';

export { StoreError };

export interface MailStoreOptions {
  location: MailLocation;
  /** fsync before success (maildir_fsync). */
  fsync?: boolean;
  /** Storage name → RFC 6154 attribute (\Sent, \Trash …). */
  specialUse?: ReadonlyMap<string, string>;
  /** Folders to create when missing (Dovecot's auto = create), and to subscribe to. */
  autocreate?: readonly string[];
  autosubscribe?: readonly string[];
  registry?: FolderRegistry;
}

/** Dovecot moves a deleted folder here first, then removes it (hidden from LIST). */
const TRASHED = 'DOVECOT-TRASHED';
const UIDVALIDITY_FILE = 'dovecot-uidvalidity';

const rootMutexes = new Map<string, Mutex>();
function rootMutex(root: string): Mutex {
  let m = rootMutexes.get(root);
  if (!m) {
    m = new Mutex();
    rootMutexes.set(root, m);
  }
  return m;
}

async function isDir(p: string): Promise<boolean> {
  try {
    return (await fsp.stat(p)).isDirectory();
  } catch {
    return false;
  }
}

/** Create cur/ new/ tmp/ (0700, as Dovecot). */
async function makeMaildir(dir: string, marker: boolean): Promise<void> {
  await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
  for (const sub of ['cur', 'new', 'tmp']) await fsp.mkdir(join(dir, sub), { recursive: true, mode: 0o700 });
  // Maildir++: "maildirfolder" marks a folder that is not the INBOX root
  if (marker) await fsp.writeFile(join(dir, 'maildirfolder'), '', { mode: 0o600, flag: 'a' });
}

/** What MailStore.forUser needs to know about a user (a subset of auth's UserEntry). */
export interface MailUser {
  user: string;
  home: string;
  /** userdb extra fields: `userdb_mail` / `mail` override mail_location (Dovecot). */
  extra?: Record<string, string>;
}

export class MailStore {
  /** The store of a user: mail_location (or the user's own `mail` field) resolved against the home. */
  static forUser(u: MailUser, opts: Omit<MailStoreOptions, 'location'> & { mailLocation: string }): MailStore {
    const spec = u.extra?.['userdb_mail'] ?? u.extra?.['mail'] ?? opts.mailLocation;
    const { mailLocation: _ignored, ...rest } = opts;
    void _ignored;
    return new MailStore({ ...rest, location: resolveMailLocation(spec, u.user, u.home) });
  }

  readonly location: MailLocation;
  private readonly registry: FolderRegistry;
  private readonly folderOpts: FolderOptions;

  constructor(private readonly opts: MailStoreOptions) {
    this.location = opts.location;
    this.registry = opts.registry ?? folderRegistry;
    this.folderOpts = { fsync: opts.fsync ?? true, newUidvalidity: () => this.newUidvalidity() };
  }

  // ---------------------------------------------------------------- names

  /** "inbox" → "INBOX"; other names unchanged. */
  static normalize(name: string): string {
    if (name.toUpperCase() === 'INBOX') return 'INBOX';
    if (name.toUpperCase().startsWith('INBOX.')) return 'INBOX' + name.slice(5);
    return name;
  }

  /** Why a storage name cannot be a folder, or undefined when it can. */
  invalidReason(name: string): string | undefined {
    if (name.length === 0) return 'Empty mailbox name';
    if (Buffer.byteLength(name) > 200) return 'Mailbox name too long';
    if (/[/\x00-\x1f\x7f]/.test(name) || name.includes('~/')) return 'Invalid characters in mailbox name';
    const parts = name.split('.');
    if (parts.some((p) => p.length === 0)) return 'Invalid mailbox name';
    if (parts[0] === TRASHED) return 'Invalid mailbox name';
    if (this.location.layout === 'fs' && parts.some((p) => p === 'cur' || p === 'new' || p === 'tmp' || p === '..' || p === '.')) return 'Invalid mailbox name';
    return undefined;
  }

  /** Directory of a folder. */
  dirOf(name: string): string {
    const n = MailStore.normalize(name);
    if (n === 'INBOX') return this.location.inbox;
    if (this.location.layout === 'fs') return join(this.location.root, ...n.split('.'));
    return join(this.location.root, '.' + n);
  }

  specialUseOf(name: string): string | undefined {
    return this.opts.specialUse?.get(name);
  }

  // ---------------------------------------------------------------- listing

  /** Names of the folders that exist (INBOX first, then directory order). */
  async folderNames(): Promise<string[]> {
    const out: string[] = [];
    if (await isDir(this.location.inbox)) out.push('INBOX');
    if (this.location.layout === 'fs') {
      const walk = async (dir: string, prefix: string[]): Promise<void> => {
        const ents = await fsp.readdir(dir, { withFileTypes: true }).catch(() => []);
        for (const e of ents) {
          if (!(e.isDirectory() || e.isSymbolicLink())) continue;
          if (['cur', 'new', 'tmp'].includes(e.name) || e.name.startsWith('.')) continue;
          const p = join(dir, e.name);
          if (!(await isDir(p))) continue;
          const name = [...prefix, e.name].join('.');
          if (name.toUpperCase() !== 'INBOX' && (await isDir(join(p, 'cur')))) out.push(name);
          await walk(p, [...prefix, e.name]);
        }
      };
      await walk(this.location.root, []);
      return out;
    }
    const ents = await fsp.readdir(this.location.root, { withFileTypes: true }).catch(() => []);
    for (const e of ents) {
      if (!e.name.startsWith('.') || e.name === '.' || e.name === '..') continue;
      if (!(e.isDirectory() || (e.isSymbolicLink() && (await isDir(join(this.location.root, e.name)))))) continue;
      const name = e.name.slice(1);
      if (this.invalidReason(name) || name.toUpperCase() === 'INBOX') continue;
      out.push(MailStore.normalize(name));
    }
    return out;
  }

  /** Every mailbox: existing folders and the parents they imply (\Noselect), with children flags. */
  async list(): Promise<MailboxInfo[]> {
    const names = await this.folderNames();
    const existing = new Set(names);
    const all = new Map<string, MailboxInfo>();
    for (const n of names) all.set(n, { name: n, exists: true, hasChildren: false, specialUse: this.specialUseOf(n) });
    for (const n of names) {
      const parts = n.split('.');
      for (let i = parts.length - 1; i >= 1; i--) {
        const parent = parts.slice(0, i).join('.');
        const info = all.get(parent);
        if (info) info.hasChildren = true;
        else all.set(parent, { name: parent, exists: existing.has(parent), hasChildren: true, specialUse: existing.has(parent) ? this.specialUseOf(parent) : undefined });
      }
    }
    return [...all.values()];
  }

  async exists(name: string): Promise<boolean> {
    const n = MailStore.normalize(name);
    if (n !== 'INBOX' && this.invalidReason(n)) return false;
    return isDir(join(this.dirOf(n), 'cur'));
  }

  // ---------------------------------------------------------------- changes

  /** CREATE (RFC 3501 §6.3.3): the folder with cur/ new/ tmp/, maildirfolder and a new UIDVALIDITY. */
  async create(name: string): Promise<void> {
    const n = MailStore.normalize(name);
    const bad = this.invalidReason(n);
    if (bad) throw new StoreError(bad, 'CANNOT');
    if (n === 'INBOX' || (await this.exists(n))) throw new StoreError('Mailbox already exists', 'ALREADYEXISTS');
    if (this.location.layout !== 'fs') await fsp.mkdir(this.location.root, { recursive: true, mode: 0o700 });
    await makeMaildir(this.dirOf(n), true);
    // open once so that the folder gets its dovecot-uidlist (UIDVALIDITY) now, as Dovecot does
    const f = await this.registry.acquire(this.dirOf(n), this.folderOpts);
    this.registry.release(f);
  }

  /** DELETE (RFC 3501 §6.3.4). Children stay (the name then remains as \Noselect). */
  async delete(name: string): Promise<void> {
    const n = MailStore.normalize(name);
    if (n === 'INBOX') throw new StoreError('INBOX can\'t be deleted.', 'CANNOT');
    if (this.invalidReason(n) || !(await this.exists(n))) {
      throw new StoreError(`Mailbox doesn't exist: ${n}`, 'NONEXISTENT');
    }
    const dir = this.dirOf(n);
    if (this.location.layout === 'fs') {
      // the folder's own files; sub-folders are directories that stay
      for (const sub of ['cur', 'new', 'tmp']) await fsp.rm(join(dir, sub), { recursive: true, force: true });
      const ents = await fsp.readdir(dir, { withFileTypes: true });
      for (const e of ents) if (!e.isDirectory()) await fsp.rm(join(dir, e.name), { force: true });
      if ((await fsp.readdir(dir)).length === 0) await fsp.rmdir(dir).catch(() => undefined);
    } else {
      const trash = join(this.location.root, '.' + TRASHED);
      await fsp.rm(trash, { recursive: true, force: true });
      await fsp.rename(dir, trash);
      await fsp.rm(trash, { recursive: true, force: true });
    }
    this.registry.forget(dir);
    const subs = await this.subscriptions();
    if (subs.includes(n)) await this.writeSubs(subs.filter((s) => s !== n));
  }

  /** RENAME (RFC 3501 §6.3.5) with its children; RENAME INBOX moves the messages and leaves INBOX empty. */
  async rename(fromName: string, toName: string): Promise<void> {
    const from = MailStore.normalize(fromName);
    const to = MailStore.normalize(toName);
    const bad = this.invalidReason(to);
    if (bad) throw new StoreError(bad, 'CANNOT');
    if (to === 'INBOX' || (await this.exists(to))) throw new StoreError('Target mailbox already exists', 'ALREADYEXISTS');
    if (from === 'INBOX') {
      await this.create(to);
      const src = await this.open('INBOX');
      const dst = await this.open(to);
      try {
        await src.sync();
        const uids = src.messages.map((r) => r.uid);
        await src.copyTo(dst, uids);
        await src.remove(uids);
      } finally {
        this.release(src);
        this.release(dst);
      }
      return;
    }
    const names = await this.folderNames();
    if (!names.includes(from) && !names.some((x) => x.startsWith(from + '.'))) {
      throw new StoreError(`Mailbox doesn't exist: ${from}`, 'NONEXISTENT');
    }
    if (to.startsWith(from + '.')) throw new StoreError('Can\'t rename mailbox under its own child.', 'CANNOT');
    const moves: [string, string][] = [];
    for (const x of names) {
      if (x === from || x.startsWith(from + '.')) {
        const target = to + x.slice(from.length);
        if (names.includes(target)) throw new StoreError('Target mailbox already exists', 'ALREADYEXISTS');
        moves.push([x, target]);
      }
    }
    if (this.location.layout === 'fs') {
      const src = this.dirOf(from);
      const dst = this.dirOf(to);
      await fsp.mkdir(join(dst, '..'), { recursive: true, mode: 0o700 });
      await fsp.rename(src, dst);
      this.registry.relocate(src, dst);
    } else {
      for (const [a, b] of moves) {
        await fsp.rename(this.dirOf(a), this.dirOf(b));
        this.registry.relocate(this.dirOf(a), this.dirOf(b));
      }
    }
    // subscriptions follow the rename
    const subs = await this.subscriptions();
    let changed = false;
    const next = subs.map((s) => {
      for (const [a, b] of moves)
        if (s === a) {
          changed = true;
          return b;
        }
      return s;
    });
    if (changed) await this.writeSubs(next);
  }

  // ---------------------------------------------------------------- subscriptions

  async subscriptions(): Promise<string[]> {
    return (await readSubscriptions(this.location.root)).map(MailStore.normalize);
  }

  private writeSubs(names: string[]): Promise<void> {
    return rootMutex(this.location.root).run(async () => {
      await fsp.mkdir(this.location.root, { recursive: true, mode: 0o700 });
      await writeSubscriptions(this.location.root, names);
    });
  }

  /** SUBSCRIBE: the mailbox must exist (Dovecot: "Mailbox doesn't exist"). */
  async subscribe(name: string): Promise<void> {
    const n = MailStore.normalize(name);
    if (!(await this.exists(n))) {
      const names = await this.folderNames();
      if (!names.some((x) => x.startsWith(n + '.'))) throw new StoreError(`Mailbox doesn't exist: ${n}`, 'NONEXISTENT');
    }
    const subs = await this.subscriptions();
    if (!subs.includes(n)) await this.writeSubs([...subs, n]);
  }

  async unsubscribe(name: string): Promise<void> {
    const n = MailStore.normalize(name);
    const subs = await this.subscriptions();
    if (subs.includes(n)) await this.writeSubs(subs.filter((s) => s !== n));
  }

  /** mailbox_autocreate / mailbox_autosubscribe (Dovecot auto = create / subscribe). */
  async ensureAutocreate(): Promise<void> {
    if (!(await isDir(join(this.location.inbox, 'cur')))) await makeMaildir(this.location.inbox, false);
    for (const n of this.opts.autocreate ?? []) {
      if (this.invalidReason(n)) continue;
      if (!(await this.exists(n))) await this.create(n).catch(() => undefined);
    }
    const want = (this.opts.autosubscribe ?? []).filter((n) => !this.invalidReason(n));
    if (want.length) {
      const subs = await this.subscriptions();
      const add = want.filter((n) => !subs.includes(n));
      if (add.length) await this.writeSubs([...subs, ...add]);
    }
  }

  // ---------------------------------------------------------------- folders

  /** Open a folder (shared with every other session); pair with release(). */
  async open(name: string): Promise<Folder> {
    const n = MailStore.normalize(name);
    if (n === 'INBOX' && !(await isDir(join(this.location.inbox, 'cur')))) await makeMaildir(this.location.inbox, false);
    if (!(await this.exists(n))) throw new StoreError(`Mailbox doesn't exist: ${n}`, 'NONEXISTENT');
    return this.registry.acquire(this.dirOf(n), this.folderOpts);
  }

  release(folder: Folder): void {
    this.registry.release(folder);
  }

  /**
   * The next UIDVALIDITY for this Maildir: max(now, last + 1), kept in
   * dovecot-uidvalidity (hex) and in the name of the empty marker file
   * dovecot-uidvalidity.<hex>, as Dovecot 2.3 does.
   */
  newUidvalidity(): Promise<number> {
    const root = this.location.root;
    return rootMutex(root).run(async () => {
      await fsp.mkdir(root, { recursive: true, mode: 0o700 });
      let last = 0;
      try {
        last = parseInt((await fsp.readFile(join(root, UIDVALIDITY_FILE), 'utf8')).trim(), 16) || 0;
      } catch {
        // first folder of this Maildir
      }
      const ents = await fsp.readdir(root).catch(() => [] as string[]);
      const markers = ents.filter((e) => e.startsWith(UIDVALIDITY_FILE + '.'));
      for (const m of markers) last = Math.max(last, parseInt(m.slice(UIDVALIDITY_FILE.length + 1), 16) || 0);
      const now = Math.floor(Date.now() / 1000);
      const next = (now > last ? now : last + 1) >>> 0;
      const hex = next.toString(16).padStart(8, '0');
      const tmp = join(root, `${UIDVALIDITY_FILE}.${process.pid}.tmp`);
      await fsp.writeFile(tmp, hex, { mode: 0o600 });
      await fsp.rename(tmp, join(root, UIDVALIDITY_FILE));
      const marker = join(root, `${UIDVALIDITY_FILE}.${hex}`);
      if (markers.length > 0) {
        await fsp.rename(join(root, markers[0]), marker).catch(() => undefined);
        for (const m of markers.slice(1)) await fsp.unlink(join(root, m)).catch(() => undefined);
      } else {
        const fh = await fsp.open(marker, fsc.O_CREAT | fsc.O_WRONLY, 0o444).catch(() => undefined);
        await fh?.close();
      }
      return next;
    });
  }
}
