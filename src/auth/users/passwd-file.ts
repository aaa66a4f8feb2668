// Dovecot passwd-file (https://doc.dovecot.org/configuration_manual/authentication/passwd_file/):
//   user[@domain]:{SCHEME}hash:uid:gid:gecos:home:shell:extra_fields
// Trailing fields may be missing; `#` lines and lines starting with `:` are skipped;
// extra_fields is a space-separated list of `key=value` (or bare `key`), `userdb_`-prefixed
// keys are userdb fields (Dovecot's old format "empty field 8, mail in field 9" is read
// as userdb_mail). The file is read into memory and re-read when it changes.
import { readFileSync, statSync, watch, type FSWatcher, type Stats } from 'node:fs';
import { basename, dirname } from 'node:path';
import { logger, type Logger } from '../../log.js';
import type { UserDatabase, UserEntry } from '../types.js';
import { writeFileAtomic, withFileLock } from './atomic-file.js';
import { mailHomeFor } from './home.js';

/** One user line as written (before home defaulting). */
export interface PasswdRecord {
  user: string;
  password: string;
  uid?: number;
  gid?: number;
  /** uid/gid as written (may be a name). */
  uidText: string;
  gidText: string;
  gecos: string;
  /** The home field as written ('' when absent). */
  home: string;
  shell: string;
  extra: Record<string, string>;
  /** 1-based line number. */
  line: number;
}

export interface PasswdProblem {
  line: number;
  message: string;
  /** Errors make a reload keep the previous users; warnings do not. */
  severity: 'error' | 'warning';
}

export interface ParsedPasswdFile {
  records: PasswdRecord[];
  problems: PasswdProblem[];
}

/** `key=value key2 userdb_mail=maildir:~/Maildir` → record. */
export function parseExtraFields(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const tok of text.split(/\s+/)) {
    if (!tok) continue;
    const eq = tok.indexOf('=');
    if (eq < 0) out[tok] = '';
    else out[tok.slice(0, eq)] = tok.slice(eq + 1);
  }
  return out;
}

const USER_NAME_RE = /^[^\s:\x00-\x1f\x7f]+$/;

/** A name usable as a passwd-file user (no colon, whitespace or control character). */
export function isValidUserName(name: string): boolean {
  return name.length > 0 && name.length <= 320 && USER_NAME_RE.test(name);
}

export function parsePasswdLine(text: string, line: number): PasswdRecord | PasswdProblem | undefined {
  const l = text.endsWith('\r') ? text.slice(0, -1) : text;
  if (l === '' || l.startsWith('#') || l.startsWith(':')) return undefined;
  if (/^\s*$/.test(l)) return undefined;
  const f = l.split(':');
  const user = f[0];
  if (f.length < 2) return { line, severity: 'error', message: `no ":" after the user name (truncated or malformed line)` };
  if (!isValidUserName(user)) return { line, severity: 'error', message: `invalid user name "${user}"` };
  let password = f[1];
  // libpam-pwdfile compatibility (Dovecot): password[13] = DES, [34] = MD5, [56] = DIGEST-MD5
  const pam = /^([^{$].*)\[(\d\d)\]$/.exec(password);
  if (pam) password = pam[2] === '34' ? `{PLAIN-MD5}${pam[1]}` : pam[2] === '56' ? `{DIGEST-MD5}${pam[1]}` : `{CRYPT}${pam[1]}`;
  const uidText = f[2] ?? '';
  const gidText = f[3] ?? '';
  let extra: Record<string, string> = {};
  if (f.length > 7) {
    if (f[7] === '' && f.length > 8 && f.slice(8).join(':') !== '') extra = { userdb_mail: f.slice(8).join(':') };
    else extra = parseExtraFields(f.slice(7).join(':'));
  }
  const num = (s: string) => (/^\d+$/.test(s) ? Number(s) : undefined);
  return {
    user,
    password,
    uid: num(uidText),
    gid: num(gidText),
    uidText,
    gidText,
    gecos: f[4] ?? '',
    home: f[5] ?? '',
    shell: f[6] ?? '',
    extra,
    line,
  };
}

export function parsePasswdFile(text: string): ParsedPasswdFile {
  const records: PasswdRecord[] = [];
  const problems: PasswdProblem[] = [];
  const seen = new Map<string, number>();
  const lines = text.split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  lines.forEach((t, i) => {
    const r = parsePasswdLine(t, i + 1);
    if (!r) return;
    if ('message' in r) {
      problems.push(r);
      return;
    }
    const key = r.user.toLowerCase();
    const prev = seen.get(key);
    if (prev !== undefined) {
      problems.push({ line: r.line, severity: 'warning', message: `user ${r.user} exists more than once (line ${prev} is used)` });
      return;
    }
    if ((r.uidText && r.uid === undefined) || (r.gidText && r.gid === undefined)) {
      problems.push({ line: r.line, severity: 'warning', message: `user ${r.user}: uid/gid "${r.uidText}:${r.gidText}" is not numeric (ignored)` });
    }
    seen.set(key, r.line);
    records.push(r);
  });
  return { records, problems };
}

/** The user-entry form of a record, with the user's password field and a line of text for writing. */
export function formatPasswdRecord(r: Pick<PasswdRecord, 'user' | 'password'> & Partial<PasswdRecord>): string {
  const extra = Object.entries(r.extra ?? {})
    .map(([k, v]) => (v === '' ? k : `${k}=${v}`))
    .join(' ');
  return [r.user, r.password, r.uidText ?? (r.uid?.toString() ?? ''), r.gidText ?? (r.gid?.toString() ?? ''), r.gecos ?? '', r.home ?? '', r.shell ?? '', extra].join(':');
}

/** Thrown by lookups when the user database cannot be read at all (answer a temporary failure). */
export class UserDatabaseUnavailableError extends Error {}

export interface PasswdFileDatabaseOptions {
  /** mail_home with main.cf `$` expansion done (`%` variables left). */
  mailHome: string;
  /** Relative homes resolve under this directory (data_directory). */
  baseDir: string;
  /** Watch the directory for changes (default true). Lookups also compare mtime/size/inode. */
  watch?: boolean;
  log?: Logger;
  /** Called after the users were (re)loaded from the file. */
  onReload?: (users: readonly UserEntry[]) => void;
}

/** The passwd-file as a UserDatabase, re-read when it changes (Dovecot's passwd_file_sync()). */
export class PasswdFileDatabase implements UserDatabase {
  private byName = new Map<string, UserEntry>();
  private list: UserEntry[] = [];
  private domainSet = new Set<string>();
  private stamp: { mtimeMs: number; size: number; ino: number } | undefined;
  private loaded = false;
  private unreadable: string | undefined;
  private watcher: FSWatcher | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private readonly log: Logger;

  constructor(
    readonly path: string,
    private readonly options: PasswdFileDatabaseOptions,
  ) {
    this.log = options.log ?? logger('auth');
    this.sync();
    if (options.watch !== false) this.startWatch();
  }

  private startWatch(): void {
    try {
      const w = watch(dirname(this.path), { persistent: false }, (_event, filename) => {
        if (filename !== null && filename.toString() !== basename(this.path)) return;
        if (this.debounce) clearTimeout(this.debounce);
        this.debounce = setTimeout(() => {
          this.debounce = undefined;
          this.sync();
        }, 20);
        this.debounce.unref();
      });
      w.on('error', () => {
        w.close();
        if (this.watcher === w) this.watcher = undefined;
      });
      this.watcher = w;
    } catch {
      // directory missing or no inotify: lookups still notice changes by stat()
    }
  }

  close(): void {
    this.watcher?.close();
    this.watcher = undefined;
    if (this.debounce) clearTimeout(this.debounce);
  }

  /** Re-read the file if it changed since the last read; true when the users were replaced. */
  sync(): boolean {
    let st: Stats;
    try {
      st = statSync(this.path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') {
        if (this.stamp || !this.loaded) {
          if (this.loaded && this.list.length > 0) this.log.warn(`passwd-file ${this.path}: file is gone: no users`);
          this.replace([]);
          this.stamp = undefined;
          this.loaded = true;
          this.unreadable = undefined;
          this.options.onReload?.(this.list);
          return true;
        }
        return false;
      }
      return this.readFailed((err as Error).message);
    }
    if (this.stamp && this.stamp.mtimeMs === st.mtimeMs && this.stamp.size === st.size && this.stamp.ino === st.ino) return false;
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (err) {
      return this.readFailed((err as Error).message);
    }
    this.unreadable = undefined;
    const parsed = parsePasswdFile(text);
    for (const p of parsed.problems) this.log.warn(`${this.path}:${p.line}: ${p.message}`);
    const errors = parsed.problems.filter((p) => p.severity === 'error');
    if (errors.length > 0 && this.loaded) {
      this.log.warn(`passwd-file ${this.path}: not reloaded (${errors.length} malformed line(s)); keeping the ${this.list.length} users read before`);
      // remember this version so that we do not warn on every lookup; a later write changes the stamp
      this.stamp = { mtimeMs: st.mtimeMs, size: st.size, ino: st.ino };
      return false;
    }
    this.replace(parsed.records);
    this.stamp = { mtimeMs: st.mtimeMs, size: st.size, ino: st.ino };
    this.loaded = true;
    this.options.onReload?.(this.list);
    return true;
  }

  private readFailed(message: string): boolean {
    if (this.unreadable !== message) this.log.error(`passwd-file ${this.path}: cannot read: ${message}`);
    this.unreadable = message;
    return false;
  }

  private replace(records: PasswdRecord[]): void {
    const byName = new Map<string, UserEntry>();
    const list: UserEntry[] = [];
    const domains = new Set<string>();
    for (const r of records) {
      const e: UserEntry = {
        user: r.user,
        password: r.password,
        uid: r.uid,
        gid: r.gid,
        gecos: r.gecos,
        home: r.home ? mailHomeFor(r.home, r.user, this.options.baseDir) : r.extra.userdb_home ? mailHomeFor(r.extra.userdb_home, r.user, this.options.baseDir) : mailHomeFor(this.options.mailHome, r.user, this.options.baseDir),
        shell: r.shell,
        extra: r.extra,
      };
      byName.set(r.user.toLowerCase(), e);
      list.push(e);
      const at = r.user.lastIndexOf('@');
      if (at >= 0) domains.add(r.user.slice(at + 1).toLowerCase());
    }
    this.byName = byName;
    this.list = list;
    this.domainSet = domains;
  }

  private fresh(): void {
    this.sync();
    if (!this.loaded && this.unreadable) throw new UserDatabaseUnavailableError(`user database ${this.path} is not readable: ${this.unreadable}`);
  }

  lookup(name: string): UserEntry | undefined {
    this.fresh();
    return this.byName.get(name.toLowerCase());
  }

  all(): UserEntry[] {
    this.fresh();
    return this.list.slice();
  }

  domains(): Set<string> {
    this.fresh();
    return new Set(this.domainSet);
  }
}

// ---- editing the file (CLI) -------------------------------------------------------

export interface PasswdEdit {
  /** Lines of the file, as written. */
  lines: string[];
  records: PasswdRecord[];
  problems: PasswdProblem[];
}

function readForEdit(path: string): PasswdEdit {
  let text = '';
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const parsed = parsePasswdFile(text);
  return { lines, records: parsed.records, problems: parsed.problems };
}

/**
 * Edit the passwd-file under its lock and rewrite it atomically. `fn` gets the current
 * lines and records and returns the new lines (or undefined for no change). Lines it
 * does not touch (comments, other users) are kept byte for byte.
 */
export function editPasswdFile<T>(path: string, fn: (doc: PasswdEdit) => { lines?: string[]; result: T }): T {
  return withFileLock(path, () => {
    const doc = readForEdit(path);
    const { lines, result } = fn(doc);
    if (lines) writeFileAtomic(path, lines.length ? lines.join('\n') + '\n' : '');
    return result;
  });
}

/** Read the records (no lock: a rename is atomic). */
export function readPasswdFile(path: string): PasswdEdit {
  return readForEdit(path);
}
