// The user database named by `user_database` (core parameter; `passwd-file:PATH`).
import type { ConfigView } from '../../config/config.js';
import type { Logger } from '../../log.js';
import { PasswdFileDatabase } from './passwd-file.js';

export { PasswdFileDatabase, UserDatabaseUnavailableError, editPasswdFile, readPasswdFile, formatPasswdRecord, parsePasswdFile, isValidUserName } from './passwd-file.js';
export { expandUserVariables, mailHomeFor } from './home.js';

export interface UserDatabaseRef {
  type: 'passwd-file';
  /** Absolute path of the file. */
  path: string;
}

/** Read `user_database`; throws an Error with a clear message for anything but passwd-file. */
export function userDatabaseRef(view: ConfigView): UserDatabaseRef {
  const raw = view.get('user_database').trim();
  const m = /^([a-z][a-z0-9-]*):(.+)$/.exec(raw);
  if (!m) throw new Error(`user_database = ${raw}: expected passwd-file:/path/to/users`);
  if (m[1] !== 'passwd-file') throw new Error(`user_database = ${raw}: unsupported table type "${m[1]}" (only passwd-file)`);
  return { type: 'passwd-file', path: view.config.resolvePath(m[2]) };
}

/** Open the configured user database (re-read on change). */
export function openUserDatabase(view: ConfigView, opts: { watch?: boolean; log?: Logger } = {}): PasswdFileDatabase {
  const ref = userDatabaseRef(view);
  return new PasswdFileDatabase(ref.path, {
    mailHome: view.get('mail_home'),
    baseDir: view.path('data_directory'),
    watch: opts.watch,
    log: opts.log,
  });
}
