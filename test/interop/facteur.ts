// A whole facteur (startFacteur, as `facteur serve` runs it) in a temporary directory,
// every service on 127.0.0.1 port 0, users written to its passwd-file, log lines captured.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { generatePassword } from '../../src/auth/schemes/index.js';
import { Config } from '../../src/config/config.js';
import { setLogSinks } from '../../src/log.js';
import { startFacteur, type Facteur } from '../../src/server/facteur.js';
import type { RuntimeOptions } from '../../src/server/runtime.js';
import { FolderRegistry } from '../../src/store/registry.js';
import { sharedTmpDir, waitFor } from './peers.js';

const logLines: string[] = [];
setLogSinks([(_r, line) => logLines.push(line)]);

export interface TestUser {
  user: string;
  password: string;
  /** Password scheme (default PLAIN: the tests are about the wire and the files, not hashing). */
  scheme?: string;
}

export interface TestFacteur {
  facteur: Facteur;
  dir: string;
  dataDir: string;
  usersFile: string;
  /** Home of user@domain under facteur's default mail_home. */
  home(user: string): string;
  /** INBOX of user@domain. */
  maildir(user: string): string;
  /** facteur's log lines since it started. */
  log(): string;
  waitLog(re: RegExp, timeoutMs?: number): Promise<string>;
  stop(): Promise<void>;
}

export async function startTestFacteur(params: Record<string, string>, users: TestUser[], opts: RuntimeOptions = {}): Promise<TestFacteur> {
  const dir = sharedTmpDir('facteur-interop-');
  const dataDir = join(dir, 'data');
  const usersFile = join(dir, 'users');
  const lines: string[] = [];
  for (const u of users) lines.push(`${u.user}:${await generatePassword(u.password, u.scheme ?? 'PLAIN')}::::::`);
  writeFileSync(usersFile, lines.join('\n') + '\n', { mode: 0o644 });
  const config = Config.fromObject(
    {
      data_directory: dataDir,
      user_database: `passwd-file:${usersFile}`,
      myhostname: 'mx.facteur.test',
      smtp_listen: '127.0.0.1:0',
      submission_listen: '127.0.0.1:0',
      submissions_listen: '',
      imap_listen: '127.0.0.1:0',
      imaps_listen: '',
      pop3_listen: '127.0.0.1:0',
      pop3s_listen: '',
      // no retry back-off worth waiting for in a test
      minimal_backoff_time: '1s',
      maximal_backoff_time: '2s',
      queue_run_delay: '1s',
      ...params,
    },
    { baseDir: dir },
  );
  const start = logLines.length;
  const facteur = await startFacteur(config, { authFailureDelayMs: 0, registry: opts.registry ?? new FolderRegistry(), queueControlSocket: false, ...opts });
  const home = (user: string) => {
    const [local, domain] = user.split('@');
    return join(dataDir, 'mail', domain, local);
  };
  const log = () => logLines.slice(start).join('\n');
  return {
    facteur,
    dir,
    dataDir,
    usersFile,
    home,
    maildir: (user) => join(home(user), 'Maildir'),
    log,
    waitLog: (re, timeoutMs = 20_000) => waitFor(`facteur log ${re}`, () => re.exec(log())?.[0], timeoutMs, log),
    stop: () => facteur.stop(0),
  };
}
