// dovecot-uidlist (Dovecot's maildir-uidlist.c), version 3:
//   3 V<uidvalidity> N<nextuid> G<guid hex>        header, space-separated keyed fields
//   <uid> [<key><value> …] :<base file name>       one line per message
// Version 1 ("1 <uidvalidity> <nextuid>" then "<uid> <name>") is read too.
// Writers hold dovecot-uidlist.lock, created with O_EXCL (Dovecot's dotlock); a lock
// whose owner is dead or that has not changed for two minutes is stale and removed.
// Appended lines do not update the header's N, so the next UID is
// max(N, highest listed UID + 1) (observed in Dovecot's own files).
import { randomBytes } from 'node:crypto';
import { constants as fsc, promises as fsp } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

export const UIDLIST = 'dovecot-uidlist';
export const UIDLIST_LOCK = 'dovecot-uidlist.lock';
/** Dovecot: MAILDIR_UIDLIST_LOCK_STALE_TIMEOUT = 2 min. */
const STALE_MS = 120_000;
/** How long we wait for someone else's lock before giving up. */
const LOCK_WAIT_MS = 30_000;

export interface UidlistEntry {
  uid: number;
  /** Base file name (without the :2, info). */
  base: string;
  /** Extension fields as written ("W317", "S307" …), kept on rewrite. */
  fields: string;
}

export interface Uidlist {
  version: number;
  uidvalidity: number;
  /** Next UID to give out: max(header N, last UID + 1). */
  nextUid: number;
  /** The header's N value as written. */
  headerNext: number;
  guid: string;
  /** Other header fields, kept on rewrite. */
  headerExtra: string[];
  entries: UidlistEntry[];
}

export function parseUidlist(text: string): Uidlist | undefined {
  const lines = text.split('\n');
  const header = lines[0]?.trim();
  if (!header) return undefined;
  const parts = header.split(' ');
  const version = Number(parts[0]);
  let uidvalidity = 0;
  let headerNext = 1;
  let guid = '';
  const headerExtra: string[] = [];
  const entries: UidlistEntry[] = [];
  if (version === 1) {
    uidvalidity = Number(parts[1]);
    headerNext = Number(parts[2]);
  } else if (version === 3) {
    for (const p of parts.slice(1)) {
      const k = p[0];
      const v = p.slice(1);
      if (k === 'V') uidvalidity = Number(v);
      else if (k === 'N') headerNext = Number(v);
      else if (k === 'G') guid = v;
      else if (p) headerExtra.push(p);
    }
  } else {
    return undefined;
  }
  if (!Number.isInteger(uidvalidity) || uidvalidity <= 0 || !Number.isInteger(headerNext)) return undefined;
  let last = 0;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i];
    if (!line) continue;
    const sp = line.indexOf(' ');
    if (sp <= 0) continue;
    const uid = Number(line.slice(0, sp));
    if (!Number.isInteger(uid) || uid <= last) continue; // Dovecot: UIDs must grow; skip broken lines
    let base: string;
    let fields = '';
    if (version === 1) {
      base = line.slice(sp + 1);
    } else {
      const rest = line.slice(sp + 1);
      if (rest.startsWith(':')) base = rest.slice(1);
      else {
        const c = rest.indexOf(' :');
        if (c < 0) continue;
        fields = rest.slice(0, c).trim();
        base = rest.slice(c + 2);
      }
    }
    if (!base) continue;
    entries.push({ uid, base, fields });
    last = uid;
  }
  return { version, uidvalidity, headerNext, nextUid: Math.max(headerNext, last + 1), guid, headerExtra, entries };
}

export function formatUidlist(u: Uidlist): string {
  let out = `3 V${u.uidvalidity} N${u.nextUid}`;
  if (u.guid) out += ` G${u.guid}`;
  for (const x of u.headerExtra) out += ' ' + x;
  out += '\n';
  for (const e of u.entries) out += formatEntry(e);
  return out;
}

export function formatEntry(e: UidlistEntry): string {
  return e.fields ? `${e.uid} ${e.fields} :${e.base}\n` : `${e.uid} :${e.base}\n`;
}

/** A new mailbox GUID (Dovecot writes 16 random-ish bytes in hex). */
export function newGuid(): string {
  return randomBytes(16).toString('hex');
}

export async function readUidlist(dir: string): Promise<{ list: Uidlist | undefined; mtimeMs: number; size: number }> {
  try {
    const fh = await fsp.open(join(dir, UIDLIST), 'r');
    try {
      const st = await fh.stat();
      const text = await fh.readFile('utf8');
      return { list: parseUidlist(text), mtimeMs: st.mtimeMs, size: st.size };
    } finally {
      await fh.close();
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { list: undefined, mtimeMs: 0, size: 0 };
    throw e;
  }
}

/** Only the header line (UIDVALIDITY, next UID, GUID): enough when the index says nothing else changed. */
export async function readUidlistHeader(dir: string): Promise<Uidlist | undefined> {
  try {
    const fh = await fsp.open(join(dir, UIDLIST), 'r');
    try {
      const buf = Buffer.alloc(1024);
      const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
      const text = buf.toString('utf8', 0, bytesRead);
      const nl = text.indexOf('\n');
      if (nl < 0) return undefined;
      return parseUidlist(text.slice(0, nl + 1));
    } finally {
      await fh.close();
    }
  } catch {
    return undefined;
  }
}

export async function statUidlist(dir: string): Promise<{ mtimeMs: number; size: number } | undefined> {
  try {
    const st = await fsp.stat(join(dir, UIDLIST));
    return { mtimeMs: st.mtimeMs, size: st.size };
  } catch {
    return undefined;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether an existing lock file is stale (owner on this host is dead, or unchanged for STALE_MS). */
async function lockIsStale(path: string): Promise<boolean> {
  try {
    const st = await fsp.stat(path);
    if (Date.now() - st.mtimeMs > STALE_MS) return true;
    const text = (await fsp.readFile(path, 'utf8')).trim();
    const m = /^(\d+):(.*)$/.exec(text);
    if (m && m[2] === hostname() && Number(m[1]) !== process.pid && !pidAlive(Number(m[1]))) return true;
    return false;
  } catch {
    return false;
  }
}

export interface UidlistLock {
  release(): Promise<void>;
}

/**
 * Take dovecot-uidlist.lock (O_CREAT|O_EXCL, content "pid:host"), waiting for another
 * holder and removing stale locks. Throws after LOCK_WAIT_MS.
 */
export function lockUidlist(dir: string, waitMs = LOCK_WAIT_MS): Promise<UidlistLock> {
  return dotlock(join(dir, UIDLIST_LOCK), waitMs);
}

/** A Dovecot-style dotlock on `path` (e.g. dovecot-keywords.lock). */
export async function dotlock(path: string, waitMs = LOCK_WAIT_MS): Promise<UidlistLock> {
  const deadline = Date.now() + waitMs;
  let delay = 5;
  for (;;) {
    try {
      const fh = await fsp.open(path, fsc.O_CREAT | fsc.O_EXCL | fsc.O_WRONLY, 0o600);
      try {
        await fh.writeFile(`${process.pid}:${hostname()}`);
      } finally {
        await fh.close();
      }
      let released = false;
      return {
        release: async () => {
          if (released) return;
          released = true;
          await fsp.unlink(path).catch(() => undefined);
        },
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    if (await lockIsStale(path)) {
      await fsp.unlink(path).catch(() => undefined);
      continue;
    }
    if (Date.now() > deadline) throw new Error(`timeout waiting for ${path}`);
    await sleep(delay);
    delay = Math.min(delay * 2, 100);
  }
}

/** Rewrite the whole file atomically (temp file, fsync, rename); caller holds the lock. */
export async function writeUidlist(dir: string, u: Uidlist, fsync = true): Promise<void> {
  const tmp = join(dir, `${UIDLIST}.${process.pid}.tmp`);
  const fh = await fsp.open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(formatUidlist(u));
    if (fsync) await fh.sync();
  } finally {
    await fh.close();
  }
  await fsp.rename(tmp, join(dir, UIDLIST));
}

/** Append lines (Dovecot appends new UIDs without rewriting the header); caller holds the lock. */
export async function appendUidlist(dir: string, entries: UidlistEntry[], fsync = true): Promise<void> {
  const fh = await fsp.open(join(dir, UIDLIST), 'a', 0o600);
  try {
    await fh.writeFile(entries.map(formatEntry).join(''));
    if (fsync) await fh.sync();
  } finally {
    await fh.close();
  }
}
