// `facteur pw`: make or test a password hash with `doveadm pw`'s meaning.
//   facteur pw [-s SCHEME] [-p PASSWORD] [-r ROUNDS] [-u USER] [-V]   print {SCHEME}hash
//   facteur pw -t HASH [-p PASSWORD]                                   "HASH (verified)", exit 0
//   facteur pw -l                                                      list schemes
// Without -p the password is read from standard input (all of it, less one final newline)
// when that is not a terminal, else asked for without echo (twice when making a hash).
// Unlike doveadm (CRYPT), the default scheme is default_pass_scheme (ARGON2ID).
import { Command, InvalidArgumentError } from 'commander';
import { generatableSchemes, generatePassword, knownSchemes, PasswordSchemeError, setCryptWorkers, verifyPassword } from '../../auth/schemes/index.js';
import { loadConfig } from '../load-config.js';

/** doveadm's exit status when the reverse check fails (EX_TEMPFAIL, as recorded). */
export const PW_MISMATCH_EXIT = 75;

/** Read one line from the terminal without echo. */
export function readPasswordFromTty(prompt: string): Promise<string> {
  const stdin = process.stdin;
  stdin.setRawMode(true); // before the prompt: nothing typed after it may be echoed
  process.stderr.write(prompt);
  stdin.resume();
  stdin.setEncoding('utf8');
  return new Promise<string>((resolve, reject) => {
    let buf = '';
    const cleanup = () => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') {
          cleanup();
          resolve(buf);
          return;
        }
        if (ch === '\u0003' || (ch === '\u0004' && buf === '')) {
          cleanup();
          reject(new Error('no password given'));
          return;
        }
        if (ch === '\u007f' || ch === '\b') buf = [...buf].slice(0, -1).join('');
        else if (ch === '\u0015') buf = '';
        else if (ch >= ' ') buf += ch;
      }
    };
    stdin.on('data', onData);
  });
}

/** All of standard input as UTF-8, less one final LF (or CRLF). */
export async function readPasswordFromStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer));
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

/** A new password: from stdin when it is not a terminal, else asked twice. */
export async function readNewPassword(): Promise<string> {
  if (!process.stdin.isTTY) return readPasswordFromStdin();
  const first = await readPasswordFromTty('Enter new password: ');
  const second = await readPasswordFromTty('Retype new password: ');
  if (first !== second) throw new Error("Passwords don't match!");
  return first;
}

function parseRounds(v: string): number {
  if (!/^\d+$/.test(v)) throw new InvalidArgumentError('rounds must be a number');
  return Number(v);
}

function defaultScheme(configFile: string | undefined): string {
  try {
    const { config } = loadConfig(configFile);
    const spec = config.spec('default_pass_scheme');
    const v = config.get('default_pass_scheme').trim().toUpperCase();
    if (spec?.values?.includes(v)) return v;
  } catch {
    // no usable configuration: the built-in default
  }
  return 'ARGON2ID';
}

export function pwCommand(): Command {
  return new Command('pw')
    .description("make a password hash ({SCHEME}hash) or test one, like doveadm pw")
    .option('-s, --scheme <scheme>', 'password scheme (default: default_pass_scheme, ARGON2ID)')
    .option('-p, --password <password>', 'the password (default: standard input, or asked on a terminal)')
    .option('-t, --test <hash>', 'test the password against HASH: print "HASH (verified)" and exit 0, else exit non-zero')
    .option('-u, --user <user>', 'user name (DIGEST-MD5 hashes include it)')
    .option('-r, --rounds <n>', 'rounds / cost for the scheme', parseRounds)
    .option('-V, --verify', 'verify the new hash and add " (verified)"')
    .option('-l, --list', 'list the known schemes')
    .option('-c, --config <file>', 'configuration file (for default_pass_scheme)')
    .action(async (opts: { scheme?: string; password?: string; test?: string; user?: string; rounds?: number; verify?: boolean; list?: boolean; config?: string }) => {
      setCryptWorkers(false); // one-shot command: no worker threads needed
      if (opts.list) {
        process.stdout.write(knownSchemes().join(' ') + '\n');
        return;
      }
      try {
        if (opts.test !== undefined) {
          const password = opts.password ?? (process.stdin.isTTY ? await readPasswordFromTty('Enter password to verify: ') : await readPasswordFromStdin());
          const ok = await verifyPassword(password, opts.test, { user: opts.user, defaultScheme: opts.scheme ?? 'CRYPT' });
          if (!ok) {
            process.stderr.write('facteur: reverse password verification check failed: Password mismatch\n');
            process.exitCode = PW_MISMATCH_EXIT;
            return;
          }
          process.stdout.write(`${opts.test} (verified)\n`);
          return;
        }
        const scheme = (opts.scheme ?? defaultScheme(opts.config)).toUpperCase();
        const password = opts.password ?? (await readNewPassword());
        const hash = await generatePassword(password, scheme, { rounds: opts.rounds, user: opts.user });
        if (opts.verify) {
          if (!(await verifyPassword(password, hash, { user: opts.user }))) {
            process.stderr.write('facteur: reverse password verification check failed: Password mismatch\n');
            process.exitCode = PW_MISMATCH_EXIT;
            return;
          }
          process.stdout.write(`${hash} (verified)\n`);
          return;
        }
        process.stdout.write(hash + '\n');
      } catch (err) {
        if (err instanceof PasswordSchemeError) {
          const known = err.message.startsWith('Unknown scheme') ? ` (known: ${generatableSchemes().join(' ')})` : '';
          process.stderr.write(`facteur: ${opts.test !== undefined ? 'reverse password verification check failed: ' : ''}${err.message}${known}\n`);
          process.exitCode = opts.test !== undefined ? PW_MISMATCH_EXIT : 1;
          return;
        }
        process.stderr.write(`facteur: ${(err as Error).message}\n`);
        process.exitCode = 1;
      }
    });
}
