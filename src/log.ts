// Structured, greppable logging in the spirit of Postfix's maillog:
//   2026-11-28T23:59:59.123Z facteur/smtpd[1234]: 3F2A1B: client=unknown[127.0.0.2]
// One line per event. `fields` are appended as key=value (values quoted when needed),
// so a person can read a line and a script can split it.

export type LogLevel = 'debug' | 'info' | 'warning' | 'error' | 'fatal';

const LEVEL_ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warning: 30, error: 40, fatal: 50 };

export interface LogRecord {
  time: Date;
  level: LogLevel;
  component: string;
  /** Session or queue id this line belongs to, written before the message as Postfix does. */
  id?: string;
  message: string;
  fields?: Record<string, unknown>;
}

export type LogSink = (record: LogRecord, line: string) => void;

let minLevel: LogLevel = (process.env.FACTEUR_LOG_LEVEL as LogLevel | undefined) ?? 'info';

// Standard error is written synchronously by Node (files and pipes): one system call per line
// would cost a busy MX several calls per message. Lines of one event-loop turn go out in one
// write; the 'exit' handler writes what is left.
let pendingLines: string[] = [];
let flushScheduled = false;
function flushStderr(): void {
  flushScheduled = false;
  if (pendingLines.length === 0) return;
  const text = pendingLines.join('');
  pendingLines = [];
  process.stderr.write(text);
}
process.once('exit', flushStderr);
const stderrSink: LogSink = (_r, line) => {
  pendingLines.push(line + '\n');
  if (pendingLines.length >= 256) flushStderr();
  else if (!flushScheduled) {
    flushScheduled = true;
    setImmediate(flushStderr);
  }
};
let sinks: LogSink[] = [stderrSink];

/** Replace where log lines go (tests capture them; `serve` may add a file). */
export function setLogSinks(next: LogSink[]): void {
  sinks = next;
}
export function addLogSink(sink: LogSink): () => void {
  sinks.push(sink);
  return () => {
    sinks = sinks.filter((s) => s !== sink);
  };
}
export function setLogLevel(level: LogLevel): void {
  minLevel = level;
}

function formatValue(v: unknown): string {
  const s = v instanceof Error ? v.message : typeof v === 'string' ? v : JSON.stringify(v);
  if (s === undefined) return '';
  return /^[^\s"=]*$/.test(s) && s.length > 0 ? s : JSON.stringify(s);
}

export function formatRecord(r: LogRecord): string {
  const prefix = r.level === 'info' || r.level === 'debug' ? '' : `${r.level}: `;
  let line = `${r.time.toISOString()} facteur/${r.component}[${process.pid}]: ${r.id ? r.id + ': ' : ''}${prefix}${r.message}`;
  if (r.fields) {
    for (const [k, v] of Object.entries(r.fields)) {
      if (v === undefined) continue;
      line += ` ${k}=${formatValue(v)}`;
    }
  }
  return line;
}

export class Logger {
  constructor(
    readonly component: string,
    readonly id?: string,
  ) {}

  /** A logger whose lines carry `id` (a session id or a queue id). */
  withId(id: string): Logger {
    return new Logger(this.component, id);
  }

  log(level: LogLevel, message: string, fields?: Record<string, unknown>): void {
    if (LEVEL_ORDER[level] < LEVEL_ORDER[minLevel]) return;
    const record: LogRecord = { time: new Date(), level, component: this.component, id: this.id, message, fields };
    const line = formatRecord(record);
    for (const sink of sinks) {
      try {
        sink(record, line);
      } catch {
        // a broken sink must never break the server
      }
    }
  }
  debug(message: string, fields?: Record<string, unknown>): void {
    this.log('debug', message, fields);
  }
  info(message: string, fields?: Record<string, unknown>): void {
    this.log('info', message, fields);
  }
  warn(message: string, fields?: Record<string, unknown>): void {
    this.log('warning', message, fields);
  }
  error(message: string, fields?: Record<string, unknown>): void {
    this.log('error', message, fields);
  }
  fatal(message: string, fields?: Record<string, unknown>): void {
    this.log('fatal', message, fields);
  }
}

export function logger(component: string): Logger {
  return new Logger(component);
}

let sessionCounter = 0;
/** Short unique session id for connection-level log lines (before a queue id exists). */
export function newSessionId(): string {
  sessionCounter = (sessionCounter + 1) % 0x100000;
  return (Date.now() % 0x1000000).toString(16).toUpperCase().padStart(6, '0') + sessionCounter.toString(16).toUpperCase().padStart(5, '0');
}
