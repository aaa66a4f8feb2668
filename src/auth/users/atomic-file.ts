// Safe rewrites of small files that a running server reads (the passwd-file): write a
// temporary file, fsync, rename over the old one, fsync the directory; keep the old
// file's mode and owner (0600 for a new one). A lock file serialises concurrent writers.
import { closeSync, constants, fchownSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';

export function writeFileAtomic(path: string, data: string | Buffer, defaultMode = 0o600): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  let mode = defaultMode;
  let owner: { uid: number; gid: number } | undefined;
  try {
    const st = statSync(path);
    mode = st.mode & 0o7777;
    owner = { uid: st.uid, gid: st.gid };
  } catch {
    // new file
  }
  const tmp = join(dir, `.${basename(path)}.tmp.${process.pid}.${randomBytes(4).toString('hex')}`);
  const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode);
  try {
    const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    if (owner && process.getuid?.() === 0) {
      try {
        fchownSync(fd, owner.uid, owner.gid);
      } catch {
        // keep going: the file is still written with the right mode
      }
    }
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      // ignore
    }
    throw err;
  }
  closeSync(fd);
  try {
    renameSync(tmp, path);
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {
      // ignore
    }
    throw err;
  }
  const dfd = openSync(dir, constants.O_RDONLY);
  try {
    fsyncSync(dfd);
  } finally {
    closeSync(dfd);
  }
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/**
 * Run `fn` holding `path.lock` (created with O_EXCL). A lock older than `staleMs` whose
 * owner is gone is taken over. Throws when the lock cannot be had within `timeoutMs`.
 */
export function withFileLock<T>(path: string, fn: () => T, timeoutMs = 10_000, staleMs = 60_000): T {
  const lock = `${path}.lock`;
  mkdirSync(dirname(lock), { recursive: true, mode: 0o700 });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const fd = openSync(lock, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      if (lockIsStale(lock, staleMs)) {
        try {
          unlinkSync(lock);
        } catch {
          // someone else took it over
        }
        continue;
      }
      if (Date.now() > deadline) throw new Error(`${path} is locked by another process (${lock})`);
      sleepSync(25);
    }
  }
  try {
    return fn();
  } finally {
    try {
      unlinkSync(lock);
    } catch {
      // ignore
    }
  }
}

function lockIsStale(lock: string, staleMs: number): boolean {
  try {
    const pid = Number(readFileSync(lock, 'utf8').trim());
    if (Number.isInteger(pid) && pid > 0) {
      try {
        process.kill(pid, 0);
        return false; // owner alive
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ESRCH') return true;
      }
    }
    return Date.now() - statSync(lock).mtimeMs > staleMs;
  } catch {
    return false;
  }
}
