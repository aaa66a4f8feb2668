// `facteur user add|passwd|del|list`: manage the passwd-file named by user_database
// (-c FILE, --data DIR). Safe while the server runs: every change is a locked, atomic
// rewrite, and the server re-reads the file when it changes.
import { Command } from 'commander';
import { resolve } from 'node:path';
import type { Config } from '../../config/config.js';
import { formatDiagnostic } from '../../config/parse.js';
import { generatePassword, parseStoredPassword, PasswordSchemeError, setCryptWorkers } from '../../auth/schemes/index.js';
import { editPasswdFile, formatPasswdRecord, isValidUserName, mailHomeFor, readPasswdFile, userDatabaseRef } from '../../auth/users/index.js';
import { loadConfigWithData } from '../load-config.js';
import { readNewPassword, readPasswordFromStdin } from './pw.js';

class UserCommandError extends Error {}

interface CommonOpts {
  config?: string;
  data?: string;
}

function load(opts: CommonOpts): { config: Config; path: string } {
  const { config } = loadConfigWithData(opts);
  if (config.errors.length > 0) {
    throw new UserCommandError(config.errors.map(formatDiagnostic).join('\n'));
  }
  try {
    return { config, path: userDatabaseRef(config.view()).path };
  } catch (err) {
    throw new UserCommandError((err as Error).message);
  }
}

/** A login name for the passwd-file: `local@domain` (domain lower-cased) or a bare name. */
export function normalizeAddress(address: string): string {
  if (!isValidUserName(address)) throw new UserCommandError(`invalid address "${address}" (no spaces, colons or control characters)`);
  const at = address.lastIndexOf('@');
  if (at < 0) return address;
  const local = address.slice(0, at);
  const domain = address.slice(at + 1).toLowerCase();
  if (!local || !domain || local.includes('@') || !/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/.test(domain) || domain.includes('..')) {
    throw new UserCommandError(`invalid address "${address}"`);
  }
  return `${local}@${domain}`;
}

async function newPassword(fromStdin: boolean | undefined): Promise<string> {
  let pw: string;
  if (fromStdin) pw = await readPasswordFromStdin();
  else if (process.stdin.isTTY) pw = await readNewPassword();
  else throw new UserCommandError('no password: use --password-stdin (standard input is not a terminal)');
  if (pw === '') throw new UserCommandError('empty password');
  if (/[\r\n]/.test(pw)) throw new UserCommandError('the password contains a line break');
  return pw;
}

function schemeFor(config: Config, scheme: string | undefined): string {
  return (scheme ?? config.get('default_pass_scheme')).trim().toUpperCase();
}

async function hashFor(config: Config, password: string, scheme: string | undefined, user: string): Promise<string> {
  try {
    return await generatePassword(password, schemeFor(config, scheme), { user });
  } catch (err) {
    if (err instanceof PasswordSchemeError) throw new UserCommandError(err.message);
    throw err;
  }
}

function run(fn: () => Promise<void> | void): Promise<void> {
  return Promise.resolve()
    .then(() => {
      setCryptWorkers(false); // one-shot command
      return fn();
    })
    .catch((err: unknown) => {
      process.stderr.write(`facteur: ${(err as Error).message}\n`);
      process.exitCode = 1;
    });
}

function sameUser(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

export function userCommand(): Command {
  const cmd = new Command('user').description('manage users (the passwd-file named by user_database)');
  const common = (c: Command) => c.option('-c, --config <file>', 'configuration file').option('--data <dir>', 'data directory (overrides data_directory)');

  common(
    cmd
      .command('add')
      .description('add a user; the password is asked twice on a terminal, or read with --password-stdin')
      .argument('<address>', 'login name, normally the e-mail address (alice@example.org)')
      .option('--password-stdin', 'read the password from standard input (one final newline is removed)')
      .option('--scheme <scheme>', 'password scheme (default: default_pass_scheme)')
      .option('--home <dir>', 'home directory (default: mail_home)'),
  ).action((address: string, opts: CommonOpts & { passwordStdin?: boolean; scheme?: string; home?: string }) =>
    run(async () => {
      const { config, path } = load(opts);
      const user = normalizeAddress(address);
      if (opts.home !== undefined && opts.home.includes(':')) throw new UserCommandError('the home directory must not contain ":"');
      const existing = readPasswdFile(path).records.find((r) => sameUser(r.user, user));
      if (existing) throw new UserCommandError(`user ${existing.user} already exists`);
      const password = await newPassword(opts.passwordStdin);
      const hash = await hashFor(config, password, opts.scheme, user);
      const line = formatPasswdRecord({ user, password: hash, home: opts.home ? resolve(opts.home) : '' });
      editPasswdFile(path, (doc) => {
        const other = doc.records.find((r) => sameUser(r.user, user));
        if (other) throw new UserCommandError(`user ${other.user} already exists`);
        return { lines: [...doc.lines, line], result: undefined };
      });
      process.stdout.write(`added ${user}\n`);
    }),
  );

  common(
    cmd
      .command('passwd')
      .description("change a user's password")
      .argument('<address>', 'login name')
      .option('--password-stdin', 'read the password from standard input (one final newline is removed)')
      .option('--scheme <scheme>', 'password scheme (default: default_pass_scheme)'),
  ).action((address: string, opts: CommonOpts & { passwordStdin?: boolean; scheme?: string }) =>
    run(async () => {
      const { config, path } = load(opts);
      const user = normalizeAddress(address);
      const found = readPasswdFile(path).records.find((r) => sameUser(r.user, user));
      if (!found) throw new UserCommandError(`no such user: ${user}`);
      const password = await newPassword(opts.passwordStdin);
      const hash = await hashFor(config, password, opts.scheme, found.user);
      editPasswdFile(path, (doc) => {
        const r = doc.records.find((x) => sameUser(x.user, user));
        if (!r) throw new UserCommandError(`no such user: ${user}`);
        // keep the other fields exactly as written; only field 2 changes
        const fields = doc.lines[r.line - 1].replace(/\r$/, '').split(':');
        fields[1] = hash;
        const lines = doc.lines.slice();
        lines[r.line - 1] = fields.join(':');
        return { lines, result: undefined };
      });
      process.stdout.write(`password changed for ${found.user}\n`);
    }),
  );

  common(cmd.command('del').alias('delete').description('delete a user (the mail stays on disk)').argument('<address>', 'login name')).action(
    (address: string, opts: CommonOpts) =>
      run(() => {
        const { path } = load(opts);
        const user = normalizeAddress(address);
        const removed = editPasswdFile(path, (doc) => {
          const r = doc.records.find((x) => sameUser(x.user, user));
          if (!r) throw new UserCommandError(`no such user: ${user}`);
          return { lines: doc.lines.filter((_l, i) => i !== r.line - 1), result: r.user };
        });
        process.stdout.write(`deleted ${removed}\n`);
      }),
  );

  common(
    cmd
      .command('list')
      .description('list users, one per line (--long: user, scheme and home separated by tabs)')
      .option('-l, --long', 'also print the password scheme and the home directory'),
  ).action((opts: CommonOpts & { long?: boolean }) =>
    run(() => {
      const { config, path } = load(opts);
      const doc = readPasswdFile(path);
      const view = config.view();
      const out = doc.records.map((r) => {
        if (!opts.long) return r.user;
        const scheme = r.password ? parseStoredPassword(r.password).scheme : '-';
        const home = r.home ? mailHomeFor(r.home, r.user, view.path('data_directory')) : mailHomeFor(view.get('mail_home'), r.user, view.path('data_directory'));
        return `${r.user}\t${scheme}\t${home}`;
      });
      process.stdout.write(out.map((l) => l + '\n').join(''));
    }),
  );
  return cmd;
}
