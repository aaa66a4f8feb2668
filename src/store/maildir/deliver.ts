// Delivering one message into a Maildir (the Maildir convention as Dovecot and Postfix use it):
// write into tmp/ under a unique name, fsync, rename into new/ with Dovecot's size fields
// `<sec>.M<usec>P<pid>Q<n>.<host>,S=<size>,W=<vsize>`, fsync new/. The directory fsyncs of
// concurrent deliveries into one folder are grouped (one fsync covers every rename made
// before it started), which is where a busy MX spends its time (DESIGN.md performance notes).
import { close, constants, open, promises as fsp, write } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { bareLfCount } from '../../mail/line-ends.js';
import { syncDirectory } from '../dir-sync.js';
import { mailboxEvents } from '../events.js';

let deliveryCounter = 0;
let cachedHost: string | undefined;

/** The host part of a Maildir file name: `/` and `:` escaped as \057 and \072 (Maildir spec). */
export function maildirHostname(): string {
  if (cachedHost === undefined) cachedHost = hostname().replace(/\//g, '\\057').replace(/:/g, '\\072') || 'localhost';
  return cachedHost;
}

/** A unique base name `<sec>.M<usec>P<pid>Q<n>.<host>` (Dovecot's format). */
export function uniqueMaildirName(now = Date.now(), micros?: number): string {
  const sec = Math.floor(now / 1000);
  const usec = micros ?? (now % 1000) * 1000 + Number(process.hrtime.bigint() % 1000n);
  deliveryCounter = (deliveryCounter + 1) >>> 0;
  return `${sec}.M${usec}P${process.pid}Q${deliveryCounter}.${maildirHostname()}`;
}

/** The name in new/: base name plus Dovecot's `,S=<physical size>,W=<CRLF size>`. */
export function deliveredName(base: string, size: number, vsize: number): string {
  return `${base},S=${size},W=${vsize}`;
}

export interface MaildirOwner {
  uid?: number;
  gid?: number;
}

const knownMaildirs = new Set<string>();

/** Create `root` with cur/, new/, tmp/ (mode 0700, owned by the user when running as root). */
export async function ensureMaildir(root: string, owner: MaildirOwner = {}): Promise<void> {
  if (knownMaildirs.has(root)) return;
  const created = await fsp.mkdir(root, { recursive: true, mode: 0o700 });
  for (const sub of ['cur', 'new', 'tmp']) {
    try {
      await fsp.mkdir(join(root, sub), { mode: 0o700 });
      if (canChown(owner)) await fsp.chown(join(root, sub), owner.uid!, owner.gid ?? -1);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  if (created && canChown(owner)) {
    // chown every directory mkdir created, from the first one down to root
    let dir = root;
    const chain: string[] = [];
    while (dir.length >= created.length) {
      chain.push(dir);
      const parent = join(dir, '..');
      if (parent === dir) break;
      dir = parent;
    }
    for (const d of chain) await fsp.chown(d, owner.uid!, owner.gid ?? -1);
  }
  knownMaildirs.add(root);
}

/** Forget cached knowledge (a Maildir was removed). */
export function forgetMaildir(root: string): void {
  knownMaildirs.delete(root);
}

export function canChown(owner: MaildirOwner): boolean {
  return owner.uid !== undefined && typeof process.getuid === 'function' && process.getuid() === 0;
}

/**
 * Create a uniquely named file in `root/tmp/` with `create` (which opens with O_EXCL, so that
 * the name is ours): a name already taken gets a new one (5 times at most), a missing tmp/ is
 * made again once (the Maildir was removed behind our back).
 */
async function createInTmp<T>(root: string, owner: MaildirOwner, create: (path: string) => Promise<T>): Promise<{ base: string; path: string; file: T }> {
  for (let attempt = 0; ; attempt++) {
    const base = uniqueMaildirName();
    const path = join(root, 'tmp', base);
    try {
      return { base, path, file: await create(path) };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST' && attempt < 5) continue;
      if (code === 'ENOENT' && attempt === 0) {
        forgetMaildir(root);
        await ensureMaildir(root, owner);
        continue;
      }
      throw err;
    }
  }
}

/** Open a new file in `root/tmp/` for writing; O_EXCL guarantees the name is ours. */
export async function openTmpFile(root: string, owner: MaildirOwner = {}): Promise<{ base: string; path: string; fh: FileHandle }> {
  const { base, path, file } = await createInTmp(root, owner, async (p) => {
    const fh = await fsp.open(p, 'wx', 0o600);
    if (canChown(owner)) await fh.chown(owner.uid!, owner.gid ?? -1);
    return fh;
  });
  return { base, path, fh: file };
}

/**
 * Write a whole small message into `root/tmp/` in one go: O_EXCL for a unique name, O_DSYNC so
 * that the write itself is durable (one system call less than write + fdatasync). Uses plain file
 * descriptors: no FileHandle bookkeeping on the hot path of a busy MX.
 */
export async function writeTmpFile(root: string, data: Buffer, owner: MaildirOwner = {}, durable = true): Promise<{ base: string; path: string }> {
  const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | (durable ? constants.O_DSYNC : 0);
  const { base, path, file: fd } = await createInTmp(root, owner, (p) => new Promise<number>((res, rej) => open(p, flags, 0o600, (err, f) => (err ? rej(err) : res(f)))));
  try {
    if (canChown(owner)) await fsp.chown(path, owner.uid!, owner.gid ?? -1);
    let off = 0;
    while (off < data.length) {
      off += await new Promise<number>((res, rej) => write(fd, data, off, data.length - off, off, (err, n) => (err ? rej(err) : res(n))));
    }
  } catch (err) {
    await new Promise((r) => close(fd, () => r(undefined)));
    await fsp.unlink(path).catch(() => undefined);
    throw err;
  }
  await new Promise<void>((res, rej) => close(fd, (err) => (err ? rej(err) : res())));
  return { base, path };
}

/** Move a fully written, fsync'd tmp/ file into new/; returns the final path. Does not fsync new/. */
export async function moveToNew(root: string, base: string, size: number, vsize: number): Promise<string> {
  const name = deliveredName(base, size, vsize);
  const dest = join(root, 'new', name);
  await fsp.rename(join(root, 'tmp', base), dest);
  return dest;
}

/** After renames into `root/new/`: make them durable and tell IMAP sessions (src/store/events.ts). */
export async function publishNew(root: string, fsync = true): Promise<void> {
  if (fsync) await syncDirectory(join(root, 'new'));
  mailboxEvents.notify({ folder: root, kind: 'delivered' });
}

/** Physical size is the LF file; W= counts each LF not preceded by CR as CRLF (Dovecot's virtual size). */
export class SizeCounter {
  size = 0;
  vsize = 0;
  private lastCr = false;

  add(chunk: Buffer): void {
    this.size += chunk.length;
    const extra = bareLfCount(chunk, this.lastCr);
    if (chunk.length > 0) this.lastCr = chunk[chunk.length - 1] === 0x0d;
    this.vsize += chunk.length + extra;
  }
}
