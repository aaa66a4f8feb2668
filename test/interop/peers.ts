// Private instances of the real Postfix 3.7 and Dovecot 2.3 from Debian, for interop tests:
// each in its own temporary directory, listening on 127.0.0.1 high ports only, stopped by
// the test (and, as a last resort, when the test process exits). A missing binary or a
// non-root user turns into a skip reason instead of a failure.
import { execFile, execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, closeSync, existsSync, openSync, lstatSync, mkdirSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { tmpDir } from '../helpers/tmp.js';

const execFileP = promisify(execFile);

export const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;

/** Where the peers' programs are looked for; FACTEUR_PEER_PATH (a:b:c) replaces the list (e.g. to check the skips). */
const SEARCH = process.env.FACTEUR_PEER_PATH !== undefined ? process.env.FACTEUR_PEER_PATH.split(':') : ['/usr/sbin', '/usr/bin', '/usr/lib/dovecot', '/sbin', '/bin', ...(process.env.PATH ?? '').split(':')];

function findBinary(name: string): string | undefined {
  for (const dir of SEARCH) {
    if (dir && existsSync(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

export const POSTFIX = findBinary('postfix');
export const DOVECOT = findBinary('dovecot');
export const DOVEADM = findBinary('doveadm');
export const DOVECOT_LDA = findBinary('dovecot-lda');
export const PYTHON = findBinary('python3');

/** Why a private Postfix cannot run here (false: it can). Postfix's master must start as root. */
export const postfixSkip: string | false = !POSTFIX ? 'postfix not installed' : !isRoot ? 'a private postfix instance needs root' : !PYTHON ? 'python3 not installed' : false;
/** Why a private Dovecot cannot run here. Its master starts as root and drops to dovecot/dovenull. */
export const dovecotSkip: string | false = !DOVECOT || !DOVEADM ? 'dovecot not installed' : !isRoot ? 'a private dovecot instance needs root' : false;

/** An unused TCP port on 127.0.0.1 (for peers that need a fixed port in their configuration). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** Poll `fn` until it returns a value (not undefined/false) or the time is up. */
export async function waitFor<T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 20_000, detail?: () => string): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${detail ? `\n${detail()}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** chown -R (no symlinks followed). */
export function chownTree(path: string, uid: number, gid: number): void {
  const st = lstatSync(path);
  if (st.isSymbolicLink()) return;
  chownSync(path, uid, gid);
  if (st.isDirectory()) for (const n of readdirSync(path)) chownTree(join(path, n), uid, gid);
}

/** A temporary directory other users (postfix, dovecot, nobody) may traverse. */
export function sharedTmpDir(prefix: string): string {
  const d = tmpDir(prefix);
  chmodSync(d, 0o755);
  return d;
}

/** Run a Python 3 script (stdin: input); resolves with stdout, rejects with stderr on a non-zero exit. */
export function python(script: string, args: string[] = [], input: Buffer | string = ''): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON ?? 'python3', ['-c', script, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`python exited ${code}: ${err}`));
    });
    child.stdin.end(input);
  });
}

/** Regular files in a Maildir folder's new/ and cur/, sorted by name. */
export function maildirFiles(folder: string): { name: string; path: string; data: Buffer }[] {
  const out: { name: string; path: string; data: Buffer }[] = [];
  for (const sub of ['new', 'cur']) {
    const dir = join(folder, sub);
    if (!existsSync(dir)) continue;
    for (const name of readdirSync(dir).sort()) out.push({ name, path: join(dir, name), data: readFileSync(join(dir, name)) });
  }
  return out;
}

// Last resort: stop every peer still running when the test process ends (a failed
// before(), a cancelled run). By pid, read at start: the temporary directories (and so the
// pid files) may already be gone when these handlers run.
const running = new Set<number>();
function killAll(): void {
  for (const pid of running) {
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      // gone
    }
  }
  running.clear();
}
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => {
    killAll();
    process.kill(process.pid, sig);
  });
}

function readPid(pidFile: string): number {
  try {
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    return pid > 0 ? pid : 0;
  } catch {
    return 0;
  }
}

/** Stop `pid` (a peer or a `facteur serve` child) when the test process ends, if nobody did before. */
export function stopOnExit(pid: number | undefined): void {
  if (pid) running.add(pid);
}

/** SIGTERM, then wait until the process is gone (SIGKILL after the timeout). */
export async function stopPid(pid: number, timeoutMs = 10_000): Promise<void> {
  running.delete(pid);
  if (!pid) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  const end = Date.now() + timeoutMs;
  for (;;) {
    try {
      process.kill(pid, 0);
    } catch {
      return;
    }
    if (Date.now() > end) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
      return;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

// ---------------------------------------------------------------------------------------------
// Postfix

export interface PostfixOptions {
  /** main.cf settings added to (or replacing) the private instance's defaults. */
  main?: Record<string, string>;
  /** Extra master.cf lines. */
  master?: string[];
  /** Files written into the config_directory before the start (lookup tables: texthash:$config_directory/NAME). */
  files?: Record<string, string>;
}

// Debian's master.cf without chroot (the private instance has no chroot tree) and with
// smtpd on a loopback high port.
const MASTER_CF = `pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
`;

/** The virtual(8) mailboxes of a private Postfix: NAME@postfix.test → $dir/vmail/NAME/. */
export const VIRTUAL_USERS = ['bob', 'carol', 'dave', 'sender'];

/**
 * Postfix waits until a configuration file or table is older than a second or two (it may
 * still be being edited: dict_load_file): date the files back instead of sleeping.
 */
function backdate(path: string): void {
  const past = new Date(Date.now() - 60_000);
  utimesSync(path, past, past);
}

/** uid/gid that Postfix's virtual(8) delivers as (nobody). */
export const VMAIL_UID = 65534;
export const VMAIL_GID = 65534;

export class Postfix {
  readonly configDir: string;
  readonly queueDir: string;
  readonly vmail: string;
  readonly logFile: string;
  private pid = 0;

  private constructor(
    readonly dir: string,
    /** smtpd's port on 127.0.0.1. */
    readonly port: number,
  ) {
    this.configDir = join(dir, 'etc');
    this.queueDir = join(dir, 'queue');
    this.vmail = join(dir, 'vmail');
    this.logFile = join(dir, 'maillog');
  }

  /**
   * Start a private Postfix: its own config_directory, queue_directory and data_directory,
   * smtpd on 127.0.0.1:port, log in $dir/maillog, the domain postfix.test delivered by
   * virtual(8) into $dir/vmail/<local part>/ (Maildir), nothing else local.
   */
  static async start(opts: PostfixOptions = {}): Promise<Postfix> {
    const dir = sharedTmpDir('facteur-postfix-');
    const port = await freePort();
    const pf = new Postfix(dir, port);
    for (const d of [pf.configDir, pf.queueDir, pf.vmail, join(dir, 'data')]) mkdirSync(d, { recursive: true, mode: 0o755 });
    chownSync(join(dir, 'data'), postfixUid(), -1);
    chownSync(pf.vmail, VMAIL_UID, VMAIL_GID);
    const main: Record<string, string> = {
      compatibility_level: '3.7',
      queue_directory: pf.queueDir,
      data_directory: join(dir, 'data'),
      inet_interfaces: '127.0.0.1',
      inet_protocols: 'ipv4',
      myhostname: 'postfix.test',
      mydomain: 'postfix.test',
      myorigin: '$myhostname',
      mydestination: '',
      mynetworks: '127.0.0.0/8',
      alias_maps: '',
      alias_database: '',
      local_recipient_maps: '',
      maillog_file: pf.logFile,
      maillog_file_prefixes: dir,
      virtual_mailbox_domains: 'postfix.test',
      virtual_mailbox_base: pf.vmail,
      virtual_mailbox_maps: `texthash:${join(pf.configDir, 'vmailbox')}`,
      virtual_uid_maps: `static:${VMAIL_UID}`,
      virtual_gid_maps: `static:${VMAIL_GID}`,
      // no retry back-off worth waiting for in a test
      minimal_backoff_time: '1s',
      maximal_backoff_time: '2s',
      queue_run_delay: '1s',
      smtp_tls_loglevel: '1',
      smtpd_tls_loglevel: '1',
      smtputf8_enable: 'yes',
      biff: 'no',
      ...opts.main,
    };
    writeFileSync(join(pf.configDir, 'main.cf'), Object.entries(main).map(([k, v]) => `${k} = ${v}`).join('\n') + '\n');
    writeFileSync(join(pf.configDir, 'master.cf'), `127.0.0.1:${port} inet n - n - - smtpd\n${MASTER_CF}${(opts.master ?? []).join('\n')}\n`);
    // the virtual mailboxes at postfix.test
    pf.writeConfigFile('vmailbox', VIRTUAL_USERS.map((u) => `${u}@postfix.test ${u}/\n`).join(''));
    for (const [name, text] of Object.entries(opts.files ?? {})) pf.writeConfigFile(name, text);
    for (const f of ['main.cf', 'master.cf']) backdate(join(pf.configDir, f));
    // `postfix start` runs postfix-script's check-fatal (creates the queue directories) and check-warn
    const start = spawnSync(POSTFIX!, ['-c', pf.configDir, 'start'], { encoding: 'utf8' });
    if (start.status !== 0) {
      // postfix(1) writes its fatal errors to syslog/maillog, not to a non-tty stderr
      throw new Error(`postfix would not start (exit ${start.status}): ${start.stderr}\n${pf.log()}`);
    }
    pf.pid = readPid(join(pf.queueDir, 'pid', 'master.pid'));
    if (pf.pid) running.add(pf.pid);
    // master -w returned: its listeners are open. No test connection: it would start an
    // smtpd before the test's SASL socket exists, and a failing smtpd makes master
    // throttle the service for a minute.
    return pf;
  }

  /** Write a file into config_directory (dated back: see backdate). */
  writeConfigFile(name: string, text: string): void {
    writeFileSync(join(this.configDir, name), text);
    backdate(join(this.configDir, name));
  }

  /** `postfix reload`: new daemon processes read main.cf and the tables again. */
  reload(): void {
    const r = spawnSync(POSTFIX!, ['-c', this.configDir, 'reload'], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`postfix reload failed: ${r.stderr}\n${this.log()}`);
  }

  log(): string {
    try {
      return readFileSync(this.logFile, 'utf8');
    } catch {
      return '';
    }
  }

  /** Wait until the maillog matches `re` (global matches counted: the n-th one). */
  waitLog(re: RegExp, timeoutMs = 20_000, n = 1): Promise<RegExpMatchArray> {
    const g = new RegExp(re.source, re.flags.includes('g') ? re.flags : re.flags + 'g');
    return waitFor(`postfix log ${re}`, () => [...this.log().matchAll(g)][n - 1], timeoutMs, () => this.log());
  }

  /** Messages delivered to a virtual mailbox (bob, sender). */
  mailbox(name: string): { name: string; path: string; data: Buffer }[] {
    return maildirFiles(join(this.vmail, name));
  }

  /** Run a postfix command-line tool with -c (postqueue, postconf …). */
  async tool(name: string, args: string[]): Promise<string> {
    const { stdout } = await execFileP(findBinary(name) ?? name, ['-c', this.configDir, ...args], { encoding: 'utf8' });
    return stdout;
  }

  /** SIGTERM to master (what `postfix abort` and `postfix stop` send) and wait until it is gone. */
  async stop(): Promise<void> {
    await stopPid(this.pid);
  }
}

let pfUid: number | undefined;
function postfixUid(): number {
  pfUid ??= Number(execFileSync('id', ['-u', 'postfix'], { encoding: 'utf8' }).trim());
  return pfUid;
}

/** Whether something accepts TCP connections on 127.0.0.1:port. */
export function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.on('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

// ---------------------------------------------------------------------------------------------
// Dovecot

export interface DovecotOptions {
  /** passwd-file for passdb and userdb (e.g. facteur's own user database). */
  usersFile: string;
  /** Home of a user whose passwd-file line has none (Dovecot %-variables), e.g. facteur's mail_home. */
  home: string;
  /** Start the IMAP and POP3 listeners (default: none, only auth and doveadm). */
  imap?: boolean;
  pop3?: boolean;
  /** Extra dovecot.conf text. */
  extra?: string;
}

/**
 * Mail processes never run as root in Dovecot ("userdb returned 0 as uid"), so mail is
 * accessed as nobody (65534): `doveadm()` hands the user's home over to that uid first
 * (facteur, running as root in the tests, keeps full access).
 */
export const MAIL_UID = 65534;
export const MAIL_GID = 65534;

export class Dovecot {
  readonly conf: string;
  readonly baseDir: string;
  /** The auth-client socket (Dovecot SASL for Postfix/facteur). */
  readonly authClient: string;
  readonly logFile: string;
  imapPort = 0;
  pop3Port = 0;
  private pid = 0;

  private constructor(
    readonly dir: string,
    private readonly opts: DovecotOptions,
  ) {
    this.conf = join(dir, 'dovecot.conf');
    this.baseDir = join(dir, 'run');
    this.authClient = join(this.baseDir, 'auth-client');
    this.logFile = join(dir, 'dovecot.log');
  }

  static async start(opts: DovecotOptions): Promise<Dovecot> {
    const dir = sharedTmpDir('facteur-dovecot-');
    const dv = new Dovecot(dir, opts);
    mkdirSync(join(dir, 'state'), { recursive: true });
    if (opts.imap) dv.imapPort = await freePort();
    if (opts.pop3) dv.pop3Port = await freePort();
    const protocols = [opts.imap ? 'imap' : '', opts.pop3 ? 'pop3' : ''].filter(Boolean).join(' ');
    const conf = `# private test instance
base_dir = ${dv.baseDir}
state_dir = ${join(dir, 'state')}
instance_name = ${dir.replace(/[^A-Za-z0-9]/g, '')}
log_path = ${dv.logFile}
protocols = ${protocols}
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = dovecot
default_login_user = dovenull
mail_location = maildir:~/Maildir
first_valid_uid = ${MAIL_UID}
mail_uid = ${MAIL_UID}
mail_gid = ${MAIL_GID}
passdb {
  driver = passwd-file
  args = ${opts.usersFile}
}
userdb {
  driver = passwd-file
  args = ${opts.usersFile}
  default_fields = home=${opts.home}
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = ${dv.imapPort}
  }
  inet_listener imaps {
    port = 0
  }
}
service pop3-login {
  inet_listener pop3 {
    address = 127.0.0.1
    port = ${dv.pop3Port}
  }
  inet_listener pop3s {
    port = 0
  }
}
service submission-login {
  inet_listener submission {
    port = 0
  }
}
service lmtp {
  unix_listener lmtp {
    mode = 0600
  }
}
service auth {
  unix_listener auth-client {
    mode = 0666
  }
}
${opts.extra ?? ''}
`;
    writeFileSync(dv.conf, conf);
    // the daemon keeps its inherited descriptors: give it a file, not a pipe spawnSync would wait on
    const errFile = join(dir, 'start.err');
    const errFd = openSync(errFile, 'w');
    const r = spawnSync(DOVECOT!, ['-c', dv.conf], { stdio: ['ignore', errFd, errFd] });
    closeSync(errFd);
    if (r.status !== 0) throw new Error(`dovecot would not start: ${readFileSync(errFile, 'utf8')}${dv.log()}`);
    dv.pid = await waitFor('dovecot master.pid', () => readPid(join(dv.baseDir, 'master.pid')) || undefined, 10_000, () => dv.log());
    running.add(dv.pid);
    await waitFor('dovecot auth socket', () => existsSync(dv.authClient), 10_000, () => dv.log());
    if (opts.imap) await waitFor('dovecot imap listener', () => canConnect(dv.imapPort), 10_000, () => dv.log());
    if (opts.pop3) await waitFor('dovecot pop3 listener', () => canConnect(dv.pop3Port), 10_000, () => dv.log());
    return dv;
  }

  log(): string {
    try {
      return readFileSync(this.logFile, 'utf8');
    } catch {
      return '';
    }
  }

  /** Give a user's home to the mail uid Dovecot runs as (see MAIL_UID). */
  handOver(home: string): void {
    if (!isRoot) return;
    mkdirSync(home, { recursive: true });
    chownTree(home, MAIL_UID, MAIL_GID);
    // and let that uid reach it (facteur's data_directory is 0750)
    for (let d = dirname(home); d !== dirname(d); d = dirname(d)) {
      const mode = statSync(d).mode & 0o7777;
      if ((mode & 0o001) === 0) chmodSync(d, mode | 0o001);
    }
  }

  /** `doveadm -c CONF ARGS` (stdin: input); rejects with stderr and the exit code on failure. */
  doveadm(args: string[], input?: Buffer | string): Promise<string> {
    return new Promise((resolve, reject) => {
      const child = spawn(DOVEADM!, ['-c', this.conf, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, TZ: 'UTC' } });
      const out: Buffer[] = [];
      let err = '';
      child.stdout.on('data', (d: Buffer) => out.push(d));
      child.stderr.on('data', (d) => (err += d));
      child.on('error', reject);
      child.on('close', (code) => {
        // doveadm may print an error and still exit 0 (a mailbox it could not open)
        if (code === 0 && !/\bError: /.test(err)) resolve(Buffer.concat(out).toString('utf8'));
        else reject(Object.assign(new Error(`doveadm ${args.join(' ')} exited ${code}: ${err}`), { code, stderr: err }));
      });
      child.stdin.end(input ?? '');
    });
  }

  /** `doveadm -f json ARGS` parsed. */
  async doveadmJson<T = Record<string, string>>(args: string[]): Promise<T[]> {
    const out = await this.doveadm(['-f', 'json', ...args]);
    return out.trim() === '' ? [] : (JSON.parse(out) as T[]);
  }

  async stop(): Promise<void> {
    await stopPid(this.pid);
  }

  get options(): DovecotOptions {
    return this.opts;
  }
}

/**
 * Python lines for smtplib clients: EHLO, then AUTH `mech` (PLAIN with an initial response,
 * or LOGIN) as `user`/`pw` on the connection `s`. Leaves `out` = {features, auth} and `code`.
 */
export const PY_SMTP_AUTH = `
s.ehlo()
out = {'features': s.esmtp_features.get('auth', '')}
s.user, s.password = user, pw
try:
    if mech == 'PLAIN':
        code, text = s.auth('PLAIN', s.auth_plain, initial_response_ok=True)
    else:
        code, text = s.auth('LOGIN', s.auth_login, initial_response_ok=False)
except smtplib.SMTPAuthenticationError as e:
    code, text = e.smtp_code, e.smtp_error
out['auth'] = [code, text.decode()]
`;
