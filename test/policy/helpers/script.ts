// Postfix's golden-file technique (smtpd_check.in → .ref) for facteur's engine: a script
// of lines replayed against the engine, one output block per line:
//   # comment                       echoed
//   name = value                    a main.cf line (service.name = value too); the engine is rebuilt
//   service smtp|submission         which service's view of the configuration
//   client [NAME] IP [pregreet]     a new connection (NAME: verified client name; else from DNS;
//                                   pregreet: the client talked before the greeting)
//   helo NAME | ehlo NAME           HELO/EHLO
//   tls | sasl USER                 STARTTLS done / authenticated as USER
//   pipelining                      the client pipelined where it may not
//   mail ADDR | rcpt ADDR | vrfy ADDR | etrn DOMAIN | data | eod | rset
//   show actions                    also print access-table actions of accepted commands
//   directory failing|ok            make the address directory fail (or work again)
// Output: `>>> line` then `OK` or the reply line (`[disconnect]` after 421), with
// ` [slept Ns]` when `sleep` restrictions waited.
import { Config, type ConfigView } from '../../../src/config/config.js';
import type { Resolver } from '../../../src/dns/resolver.js';
import { TableCache } from '../../../src/maps/index.js';
import { Logger, type LogLevel } from '../../../src/log.js';
import { createPolicy } from '../../../src/smtp/policy/engine.js';
import { replyLine } from '../../../src/smtp/policy/reply.js';
import type { AddressDirectory, PolicySession, PolicyVerdict, SmtpClientState } from '../../../src/smtp/policy/types.js';
import type { ServiceName } from '../../../src/config/params/types.js';
import { FixtureDirectory } from './directory.js';

export interface ScriptEnv {
  /** main.cf text every script starts from. */
  baseConfig: string;
  /** Directory relative table names resolve against. */
  baseDir: string;
  resolver: Resolver;
  /** The directory for a configuration view (default: FixtureDirectory). */
  directory?: (view: ConfigView, cache: TableCache) => AddressDirectory;
  /** Where the engine logs (default: a MemoryLogger). */
  log?: Logger;
  /** This host's addresses (default 127.0.0.1, like inet_interfaces in the fixtures). */
  localAddresses?: string[];
  serverAddress?: string;
}

function newState(service: string, ip: string, name: string | undefined, n: number): SmtpClientState {
  return {
    service,
    sessionId: `S${n}`,
    clientAddress: ip,
    clientPort: 40000 + n,
    serverAddress: '127.0.0.1',
    serverPort: 25,
    clientName: name,
    reverseClientName: name,
    tls: false,
    recipientCount: 0,
    pipelining: { talkedBeforeGreeting: false, unauthPipelined: false },
  };
}

/** `<a@b>` / `a@b` → the address as the session passes it (without <>). */
function pathArg(s: string): string {
  const t = s.trim();
  return t.startsWith('<') && t.endsWith('>') ? t.slice(1, -1) : t;
}

/** Keeps the engine's log lines (reject/warn/hold …) instead of printing them. */
export class MemoryLogger extends Logger {
  constructor(
    readonly lines: string[] = [],
    id?: string,
  ) {
    super('smtpd', id);
  }
  override log(level: LogLevel, message: string): void {
    this.lines.push(`${level}: ${this.id ? this.id + ': ' : ''}${message}`);
  }
  /** Lines of a logger with an id (a queue id or NOQUEUE) go to the same list, prefixed as in the maillog. */
  override withId(id: string): Logger {
    return new MemoryLogger(this.lines, id);
  }
}

export async function runScript(script: string, env: ScriptEnv): Promise<string[]> {
  const out: string[] = [];
  const extra: string[] = [];
  let service: ServiceName = 'smtp';
  let policy: ReturnType<typeof createPolicy> | undefined;
  let session: PolicySession | undefined;
  let state: SmtpClientState | undefined;
  let showActions = false;
  let sessions = 0;
  let slept = 0;
  let directoryFailing = false;
  let directory: AddressDirectory | undefined;
  const cache = new TableCache();
  const build = () => {
    const config = Config.fromText([env.baseConfig, ...extra].join('\n'), 'main.cf', { baseDir: env.baseDir });
    const view = config.view(service);
    directory = env.directory ? env.directory(view, cache) : new FixtureDirectory(view, undefined, undefined, cache);
    if (directory instanceof FixtureDirectory) directory.failing = directoryFailing;
    return createPolicy(view, {
      resolver: env.resolver,
      directory,
      sleep: async (ms) => {
        slept += ms;
      },
      localAddresses: () => env.localAddresses ?? ['127.0.0.1'],
      tableCache: cache,
      log: env.log ?? new MemoryLogger(),
    });
  };
  const verdictText = (v: PolicyVerdict): string => {
    let s = v.ok ? 'OK' : replyLine(v.reply) + (v.close ? ' [disconnect]' : '');
    if (showActions && v.actions) s += ' ' + JSON.stringify(v.actions);
    if (slept > 0) s += ` [slept ${Math.round(slept / 1000)}s]`;
    return s;
  };
  const need = (): { s: PolicySession; st: SmtpClientState } => {
    if (!session || !state) throw new Error('script: no client line before this command');
    return { s: session, st: state };
  };

  for (const raw of script.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line) continue;
    out.push(`>>> ${line}`);
    if (line.startsWith('#')) continue;
    slept = 0;
    const param = /^([A-Za-z0-9_.]+)\s*=\s*(.*)$/.exec(line);
    if (param) {
      extra.push(`${param[1]} = ${param[2]}`);
      policy = undefined;
      out.push('OK');
      continue;
    }
    const [cmd, ...args] = line.split(/\s+/);
    const rest = line.slice(cmd.length).trim();
    switch (cmd.toLowerCase()) {
      case 'service':
        service = rest as ServiceName;
        policy = undefined;
        out.push('OK');
        break;
      case 'directory':
        // `directory failing`: the address directory throws (user database unavailable)
        directoryFailing = rest === 'failing';
        if (directory instanceof FixtureDirectory) directory.failing = directoryFailing;
        out.push('OK');
        break;
      case 'show':
        showActions = rest === 'actions';
        out.push('OK');
        break;
      case 'client': {
        policy ??= build();
        const pregreet = args.at(-1) === 'pregreet';
        const a = pregreet ? args.slice(0, -1) : args;
        const [name, ip] = a.length >= 2 ? [a[0], a[1]] : [undefined, a[0]];
        state = newState(service, ip, name, ++sessions);
        state.pipelining.talkedBeforeGreeting = pregreet;
        session = policy.session();
        out.push(verdictText(await session.connect(state)));
        break;
      }
      case 'helo':
      case 'ehlo': {
        const { s, st } = need();
        st.heloName = rest;
        st.protocol = cmd.toLowerCase() === 'ehlo' ? 'ESMTP' : 'SMTP';
        const v = await s.helo(st);
        if (!v.ok) st.heloName = undefined;
        out.push(verdictText(v));
        break;
      }
      case 'tls':
        need().st.tls = true;
        out.push('OK');
        break;
      case 'sasl':
        need().st.saslUsername = args[0];
        need().st.saslMethod = args[1] ?? 'PLAIN';
        out.push('OK');
        break;
      case 'pipelining':
        need().st.pipelining.unauthPipelined = true;
        out.push('OK');
        break;
      case 'mail': {
        const { s, st } = need();
        st.sender = pathArg(rest);
        st.recipientCount = 0;
        const v = await s.mail(st);
        if (!v.ok) st.sender = undefined;
        out.push(verdictText(v));
        break;
      }
      case 'rcpt': {
        const { s, st } = need();
        const v = await s.rcpt(st, pathArg(rest));
        if (v.ok) st.recipientCount++;
        out.push(verdictText(v));
        break;
      }
      case 'vrfy': {
        const { s, st } = need();
        out.push(verdictText(await s.vrfy(st, pathArg(rest))));
        break;
      }
      case 'etrn': {
        const { s, st } = need();
        out.push(verdictText(await s.etrn!(st, rest)));
        break;
      }
      case 'data': {
        const { s, st } = need();
        out.push(verdictText(await s.data(st)));
        break;
      }
      case 'eod': {
        const { s, st } = need();
        const v = await s.endOfData(st);
        st.sender = undefined;
        st.recipientCount = 0;
        s.reset();
        out.push(verdictText(v));
        break;
      }
      case 'rset': {
        const { s, st } = need();
        st.sender = undefined;
        st.recipientCount = 0;
        s.reset();
        out.push('OK');
        break;
      }
      default:
        throw new Error(`script: unknown command "${line}"`);
    }
  }
  return out;
}
