// The queue manager (Postfix qmgr(8) + the parts of smtp(8)/bounce(8) it drives):
// takes committed messages from active/, splits their pending recipients into jobs
// per destination (recipient domain, or the relayhost; local recipients go to the
// LocalDeliveryAgent), runs at most default_destination_concurrency_limit jobs per
// destination, records every recipient's result durably in the queue file, sends
// RFC 3464 notices, and moves unfinished messages to deferred/ with the next attempt
// time as the file's mtime (minimal_backoff_time … maximal_backoff_time, doubling
// with the message's age, as Postfix does). The deferred queue is scanned every
// queue_run_delay. Memory is bounded by qmgr_message_active_limit messages; content
// is always streamed from the file.
import { createWriteStream } from 'node:fs';
import { open, unlink, stat, type FileHandle } from 'node:fs/promises';
import type { Server } from 'node:net';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Config } from '../config/config.js';
import { localAddressMatcher } from '../delivery/resolve.js';
import type { LocalDeliveryAgent } from '../delivery/types.js';
import type { Resolver } from '../dns/resolver.js';
import { logger } from '../log.js';
import { splitAddress } from '../mail/smtp-address.js';
import { parseRelayhost } from '../smtp/client/mx.js';
import { SmtpTransport, transportSettings, type DeliveryReport } from '../smtp/client/transport.js';
import type { NextHop, OutboundMessage, RecipientResult } from '../smtp/client/types.js';
import { systemClock, type Clock } from './clock.js';
import { listenControl, type ControlCommand } from './control.js';
import { buildNotice, type NoticeSettings, type NoticeTemplate } from './dsn.js';
import {
  CorruptQueueFile,
  FLAG_8BIT_BODY,
  FLAG_8BIT_HEADERS,
  appendRecords,
  applyRecord,
  contentStream,
  readContentHeaders,
  readQueueFile,
  type JournalRecord,
  type QueueFileState,
} from './file.js';
import { newQueueId } from './id.js';
import { QueueStore, type QueueName } from './store.js';
import type { OutboundQueue, QueueEnvelope, QueueFileWriter } from './types.js';

const qlog = logger('qmgr');

/** The destination of recipients whose domain class could not be found (a table failed). */
const UNRESOLVED = '\0unresolved';
const blog = logger('bounce');

/** What the queue manager needs from the rest of the server. */
export interface QueueManagerDeps {
  config: Config;
  resolver: Resolver;
  /** Delivery for local recipients of queued mail and for notices to local senders. */
  localDelivery?: LocalDeliveryAgent;
  /**
   * Which addresses are local (default: local delivery's domain classes from the configuration
   * alone: mydestination, virtual_mailbox_domains, virtual_alias_domains). Rejects when a table
   * cannot answer: the recipient is deferred.
   */
  isLocal?: (address: string) => Promise<boolean>;
  clock?: Clock;
  /** The SMTP client (default: an SmtpTransport over `resolver`). */
  transport?: Pick<SmtpTransport, 'deliver' | 'close'>;
  /** Listen on $queue_directory/public/qmgr for `facteur queue flush` (default true). */
  controlSocket?: boolean;
}

interface QueueSettings {
  minBackoff: number;
  maxBackoff: number;
  runDelay: number;
  maxLifetime: number;
  bounceLifetime: number;
  delayWarning: number;
  concurrency: number;
  recipientLimit: number;
  activeLimit: number;
  bounceSizeLimit: number;
  relayhost?: NextHop;
  destPort: number;
  notice: NoticeSettings;
}

function readSettings(config: Config): QueueSettings {
  const v = config.view();
  const port = v.int('smtp_destination_port');
  return {
    minBackoff: v.time('minimal_backoff_time'),
    maxBackoff: v.time('maximal_backoff_time'),
    runDelay: v.time('queue_run_delay'),
    maxLifetime: v.time('maximal_queue_lifetime'),
    bounceLifetime: v.time('bounce_queue_lifetime'),
    delayWarning: v.time('delay_warning_time'),
    concurrency: v.int('default_destination_concurrency_limit'),
    recipientLimit: v.int('default_destination_recipient_limit'),
    activeLimit: v.int('qmgr_message_active_limit'),
    bounceSizeLimit: v.size('bounce_size_limit'),
    relayhost: parseRelayhost(v.get('relayhost'), port),
    destPort: port,
    notice: {
      myhostname: v.get('myhostname'),
      myorigin: v.get('myorigin') || v.get('myhostname'),
      mailName: v.get('mail_name') || 'facteur',
      maximalQueueLifetimeSec: v.time('maximal_queue_lifetime'),
      delayWarningTimeSec: v.time('delay_warning_time'),
    },
  };
}

interface ActiveMessage {
  id: string;
  st: QueueFileState;
  path: string;
  /** When this pass began (clock ms). */
  loadedAt: number;
  outstanding: number;
  /** The file left active/ behind our back (held, deleted): stop working on it. */
  dropped: boolean;
  /** Results not yet written to the journal. */
  unsaved: JournalRecord[];
  /** Journal appends, one after the other. */
  io: Promise<unknown>;
  /** A torn journal record to cut off at the first append. */
  truncateTo?: number;
}

/** FIFO of jobs with O(1) take (a destination may have thousands waiting). */
class JobQueue {
  private items: Job[] = [];
  private head = 0;
  get length(): number {
    return this.items.length - this.head;
  }
  push(j: Job): void {
    this.items.push(j);
  }
  shift(): Job | undefined {
    if (this.head >= this.items.length) return undefined;
    const j = this.items[this.head];
    this.items[this.head++] = undefined as unknown as Job;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return j;
  }
  unshift(j: Job): void {
    if (this.head > 0) this.items[--this.head] = j;
    else this.items.unshift(j);
  }
}

interface Destination {
  key: string;
  hop?: NextHop;
  jobs: JobQueue;
  active: number;
  /** A dead site (Postfix: "delivery temporarily suspended"): defer its jobs until then. */
  suspended?: { until: number; result: RecipientResult };
}

interface Job {
  msg: ActiveMessage;
  rcpts: number[];
  dest: Destination;
}

/** Postfix's delay format: `0`, `0.35`, `1.2`, `12`. */
export function formatDelay(sec: number): string {
  if (!(sec >= 0.01)) return '0';
  if (sec < 10) return String(Number(sec.toFixed(2)));
  return String(Math.round(sec));
}

/** Postfix qmgr: the next attempt waits as long as the message is old, within the limits (so the wait doubles). */
export function backoffSeconds(ageSec: number, minSec: number, maxSec: number): number {
  return Math.min(Math.max(ageSec, minSec), Math.max(minSec, maxSec));
}

function wantsNotice(notify: string[] | undefined, kind: 'FAILURE' | 'DELAY' | 'SUCCESS'): boolean {
  if (!notify || notify.length === 0) return kind !== 'SUCCESS'; // RFC 3461 §4.1 default: FAILURE, DELAY
  return notify.map((n) => n.toUpperCase()).includes(kind);
}

export class QueueManager implements OutboundQueue {
  readonly store: QueueStore;
  private settings: QueueSettings;
  private readonly clock: Clock;
  private readonly transport: Pick<SmtpTransport, 'deliver' | 'close'>;
  private isLocal: (address: string) => Promise<boolean>;
  private readonly localDelivery?: LocalDeliveryAgent;
  private readonly useControl: boolean;

  private running = false;
  private loaded = new Map<string, ActiveMessage>();
  private loading = new Set<string>();
  private destinations = new Map<string, Destination>();
  private runningJobs = 0;
  private backlog = false;
  private backlogGen = 0;
  private refilling = false;
  private scanning?: Promise<void>;
  private nextScan?: Promise<void>;
  private forceNext = false;
  private scanTimer?: unknown;
  private control?: Server;
  private idleWaiters: Array<() => void> = [];
  private tmpCounter = 0;

  constructor(private readonly deps: QueueManagerDeps) {
    this.store = new QueueStore(deps.config.path('queue_directory'));
    this.settings = readSettings(deps.config);
    this.clock = deps.clock ?? systemClock;
    this.transport = deps.transport ?? new SmtpTransport(deps.resolver, transportSettings(deps.config.view()), logger('smtp'));
    this.isLocal = deps.isLocal ?? localAddressMatcher(deps.config);
    this.localDelivery = deps.localDelivery;
    this.useControl = deps.controlSocket ?? true;
  }

  // ---- the contract with the SMTP session (src/queue/types.ts) -------------------

  /** Start a queue file; after `commit()` resolves the message is durable in active/ and will be delivered. */
  create(envelope: QueueEnvelope): Promise<QueueFileWriter> {
    return this.store.create(envelope, (id) => this.onCommitted(id));
  }

  // ---- life cycle ------------------------------------------------------------------

  /** Recover what a previous run left, listen for `facteur queue` signals, start delivering. */
  async start(): Promise<void> {
    if (this.running) return;
    await this.store.init();
    await this.recoverIncoming(true);
    this.running = true;
    if (this.useControl) {
      try {
        this.control = await listenControl(this.store.dir, (cmd) => this.onControl(cmd));
      } catch (err) {
        if (/another queue manager/.test((err as Error).message)) {
          this.running = false;
          throw err;
        }
        // e.g. a socket path longer than sun_path allows: deliveries go on, `queue flush` cannot reach us
        qlog.warn(`cannot listen on the queue control socket: ${(err as Error).message}; \`facteur queue flush\` will not reach this server`);
      }
    }
    this.backlog = true;
    void this.refill();
    this.scheduleScan(0);
  }

  /**
   * Stop taking new jobs, wait for running deliveries to finish and record their
   * results (at most `timeoutMs`), close cached connections. Messages stay on disk.
   */
  async stop(timeoutMs = 30_000): Promise<void> {
    if (!this.running) return;
    this.running = false;
    if (this.scanTimer !== undefined) this.clock.clearTimeout(this.scanTimer);
    this.scanTimer = undefined;
    this.control?.close();
    this.control = undefined;
    const deadline = Date.now() + timeoutMs;
    while (this.runningJobs > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    await Promise.all([...this.loaded.values()].map((m) => m.io.catch(() => {})));
    await this.transport.close();
    this.loaded.clear();
    this.destinations.clear();
    this.wakeIdle();
  }

  /** Read the settings again (SIGHUP): backoff times, limits, relayhost, SMTP client options. */
  reload(config: Config): void {
    this.settings = readSettings(config);
    if (!this.deps.isLocal) this.isLocal = localAddressMatcher(config);
    const t = this.transport as Partial<SmtpTransport>;
    if (typeof t.updateSettings === 'function') t.updateSettings(transportSettings(config.view()));
  }

  /** Retry every deferred message now (postqueue -f); also forgets dead destinations. */
  async flush(): Promise<void> {
    for (const d of this.destinations.values()) d.suspended = undefined;
    await this.scanDeferred(true);
  }

  /**
   * Look at the deferred queue now (the periodic queue_run_delay scan). A call during a
   * scan gets a new scan that starts after it (it may have started before the clock moved).
   */
  scanDeferred(force = false): Promise<void> {
    if (this.scanning) {
      if (force) this.forceNext = true;
      if (!this.nextScan) {
        this.nextScan = this.scanning.then(() => {
          this.nextScan = undefined;
          const f = this.forceNext;
          this.forceNext = false;
          return this.scanDeferred(f);
        });
      }
      return this.nextScan;
    }
    this.scanning = this.doScan(force).finally(() => {
      this.scanning = undefined;
    });
    return this.scanning;
  }

  /** Resolves when nothing is loaded, loading or waiting in active/ (tests, benchmarks). */
  idle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((r) => this.idleWaiters.push(r));
  }

  /** Messages in memory and jobs running (for tests and the benchmark). */
  stats(): { loaded: number; runningJobs: number; destinations: number } {
    return { loaded: this.loaded.size, runningJobs: this.runningJobs, destinations: this.destinations.size };
  }

  private isIdle(): boolean {
    return this.loaded.size === 0 && this.loading.size === 0 && !this.backlog && !this.refilling && this.runningJobs === 0;
  }

  private wakeIdle(): void {
    if (!this.isIdle() && this.running) return;
    for (const w of this.idleWaiters.splice(0)) w();
  }

  private async onControl(cmd: ControlCommand): Promise<void> {
    if (!this.running) return;
    if (cmd === 'flush') await this.flush();
    else if (cmd === 'scan') await this.scanDeferred();
    else if (cmd === 'changed') await this.checkLoaded();
  }

  /** After `queue hold/delete`: drop messages whose file left active/. */
  private async checkLoaded(): Promise<void> {
    for (const m of this.loaded.values()) {
      try {
        await stat(m.path);
      } catch {
        m.dropped = true;
      }
    }
    this.backlog = true;
    void this.refill();
  }

  private scheduleScan(delayMs: number): void {
    if (!this.running) return;
    if (this.scanTimer !== undefined) this.clock.clearTimeout(this.scanTimer);
    this.scanTimer = this.clock.setTimeout(() => {
      this.scanTimer = undefined;
      void this.scanDeferred().finally(() => this.scheduleScan(this.settings.runDelay * 1000));
    }, delayMs);
  }

  // ---- recovery and loading ---------------------------------------------------------

  /**
   * Files left in incoming/: complete ones (crash after the fsync, before the rename)
   * go on to active/, partial ones (the client never got its 250) are removed. At start
   * every file is handled; during the periodic scan only files older than an hour, so
   * that a session in the middle of writing or committing is never disturbed.
   */
  private async recoverIncoming(all: boolean, staleMs = 3600_000): Promise<void> {
    for await (const ref of this.store.list(['incoming'])) {
      try {
        if (!all) {
          const s = await stat(ref.path);
          if (this.clock.now() - s.mtimeMs < staleMs && Date.now() - s.mtimeMs < staleMs) continue;
        }
        const st = await readQueueFile(ref.path, { allowIncomplete: true });
        if (st.flags & 1) {
          if (await this.store.move(ref.id, 'incoming', 'active')) qlog.withId(ref.id).info('recovered from incoming queue');
        } else if (await this.store.remove(ref.id, 'incoming')) {
          qlog.withId(ref.id).info('removed incomplete queue file');
        }
      } catch (err) {
        if (err instanceof CorruptQueueFile) await this.toCorrupt(ref.id, 'incoming', err.message);
      }
    }
  }

  private async toCorrupt(id: string, from: QueueName, why: string): Promise<void> {
    qlog.withId(id).warn(`corrupt queue file: ${why}; moved to corrupt/`);
    await this.store.move(id, from, 'corrupt').catch(() => {});
  }

  private onCommitted(id: string): void {
    if (!this.running) return;
    this.enqueueActive(id);
  }

  private enqueueActive(id: string): void {
    if (this.loaded.has(id) || this.loading.has(id)) {
      // back in active/ (a flush) while its last pass is still finishing: look again later
      this.backlog = true;
      this.backlogGen++;
      return;
    }
    if (this.loaded.size + this.loading.size < this.settings.activeLimit) void this.load(id);
    else {
      this.backlog = true;
      this.backlogGen++;
    }
  }

  /** Load messages waiting in active/ while there is room (after a restart or an overflow). */
  private async refill(): Promise<void> {
    if (this.refilling || !this.backlog || !this.running) return;
    this.refilling = true;
    const gen = this.backlogGen;
    let complete = true;
    try {
      for await (const ref of this.store.list(['active'])) {
        if (!this.running) {
          complete = false;
          break;
        }
        if (this.loaded.size + this.loading.size >= this.settings.activeLimit) {
          complete = false;
          break;
        }
        if (!this.loaded.has(ref.id) && !this.loading.has(ref.id)) await this.load(ref.id);
      }
    } finally {
      this.refilling = false;
      if (complete && gen === this.backlogGen) this.backlog = false;
      this.wakeIdle();
    }
  }

  private async load(id: string): Promise<void> {
    this.loading.add(id);
    const path = this.store.path('active', id);
    let st: QueueFileState;
    try {
      st = await readQueueFile(path);
    } catch (err) {
      this.loading.delete(id);
      if (err instanceof CorruptQueueFile) await this.toCorrupt(id, 'active', err.message);
      else if ((err as NodeJS.ErrnoException).code !== 'ENOENT') qlog.withId(id).error(`cannot read queue file: ${(err as Error).message}`);
      this.wakeIdle();
      return;
    }
    // where each pending recipient goes, decided before the message counts as loaded
    const keys = await this.destinationKeys(st);
    this.loading.delete(id);
    if (!this.running) return;
    const msg: ActiveMessage = {
      id,
      st,
      path,
      loadedAt: this.clock.now(),
      outstanding: 0,
      dropped: false,
      unsaved: [],
      io: Promise.resolve(),
      truncateTo: st.fileLength > st.journalEnd ? st.journalEnd : undefined,
    };
    this.loaded.set(id, msg);
    this.startPass(msg, keys);
  }

  private async destinationKey(address: string): Promise<string> {
    try {
      if (await this.isLocal(address)) return 'local';
    } catch (err) {
      qlog.warn(`cannot resolve <${address}>: ${(err as Error).message}`);
      return UNRESOLVED;
    }
    if (this.settings.relayhost) return this.settings.relayhost.name;
    return splitAddress(address).domain;
  }

  /** The destination of each pending recipient (by index). */
  private async destinationKeys(st: QueueFileState): Promise<Map<number, string>> {
    const keys = new Map<number, string>();
    for (let i = 0; i < st.rcpt.length; i++) {
      if (st.rcpt[i].status === 'pending') keys.set(i, await this.destinationKey(st.header.rcpt[i].address));
    }
    return keys;
  }

  private destination(key: string): Destination {
    let d = this.destinations.get(key);
    if (!d) {
      const hop: NextHop | undefined =
        key === 'local' || key === UNRESOLVED ? undefined : (this.settings.relayhost ?? { name: key, host: key, port: this.settings.destPort, mx: true, relay: false });
      d = { key, hop, jobs: new JobQueue(), active: 0 };
      this.destinations.set(key, d);
    }
    return d;
  }

  private startPass(msg: ActiveMessage, keys: Map<number, string>): void {
    const { st } = msg;
    const pending = st.rcpt.map((r, i) => (r.status === 'pending' ? i : -1)).filter((i) => i >= 0);
    qlog.withId(msg.id).info(`from=<${st.header.sender}>, size=${st.size}, nrcpt=${st.rcpt.length} (queue active)`);
    if (pending.length === 0) {
      // everything was decided before a restart: only notices and the removal are left
      this.finishPass(msg).catch((err: Error) => {
        qlog.withId(msg.id).error(`cannot finish delivery pass: ${err.stack ?? err}`);
        this.unload(msg);
      });
      return;
    }
    const groups = new Map<string, number[]>();
    for (const i of pending) {
      const key = keys.get(i) ?? UNRESOLVED;
      const g = groups.get(key) ?? [];
      g.push(i);
      groups.set(key, g);
    }
    const jobs: Job[] = [];
    for (const [key, rcpts] of groups) {
      const dest = this.destination(key);
      for (let k = 0; k < rcpts.length; k += this.settings.recipientLimit) {
        jobs.push({ msg, rcpts: rcpts.slice(k, k + this.settings.recipientLimit), dest });
      }
    }
    msg.outstanding = jobs.length;
    for (const j of jobs) j.dest.jobs.push(j);
    for (const key of groups.keys()) this.pump(this.destination(key));
  }

  private pump(dest: Destination): void {
    while (this.running && dest.active < this.settings.concurrency && dest.jobs.length > 0) {
      dest.active++;
      void this.worker(dest);
    }
  }

  private async worker(dest: Destination): Promise<void> {
    try {
      for (;;) {
        const job = dest.jobs.shift();
        if (!job) break;
        if (!this.running) {
          dest.jobs.unshift(job);
          break;
        }
        this.runningJobs++;
        try {
          await this.runJob(job);
        } catch (err) {
          qlog.withId(job.msg.id).error(`delivery job failed: ${(err as Error).stack ?? err}`);
        } finally {
          this.runningJobs--;
        }
      }
    } finally {
      dest.active--;
      if (dest.active === 0 && dest.jobs.length === 0 && !dest.suspended) this.destinations.delete(dest.key);
      this.wakeIdle();
    }
  }

  // ---- delivery ---------------------------------------------------------------------

  private outbound(job: Job, fh: FileHandle): OutboundMessage {
    const { st, id } = job.msg;
    const h = st.header;
    return {
      queueId: id,
      sender: h.sender,
      recipients: job.rcpts.map((i) => h.rcpt[i]),
      size: st.size,
      eightBitBody: (st.flags & FLAG_8BIT_BODY) !== 0,
      eightBitHeaders: (st.flags & FLAG_8BIT_HEADERS) !== 0,
      declared8bit: h.body === '8BITMIME' || h.body === 'BINARYMIME',
      smtputf8: !!h.smtputf8,
      ret: h.ret,
      envid: h.envid,
      content: () => contentStream(fh, st),
    };
  }

  private async runJob(job: Job): Promise<void> {
    const { msg, dest } = job;
    if (msg.dropped) return this.jobDone(msg);
    const jobStart = this.clock.now();
    let report: DeliveryReport;
    const now = this.clock.now();
    if (dest.key === UNRESOLVED) {
      // Postfix qmgr: a recipient whose address cannot be resolved is deferred
      report = { results: job.rcpts.map(() => ({ outcome: 'deferred', dsn: '4.3.0', reason: 'address resolver failure', relay: 'none' })) };
    } else if (dest.suspended && dest.suspended.until > now) {
      const r = dest.suspended.result;
      const reason = r.reason.startsWith('delivery temporarily suspended: ') ? r.reason : `delivery temporarily suspended: ${r.reason}`;
      report = { results: job.rcpts.map(() => ({ ...r, reason, setupSeconds: 0, xferSeconds: 0 })) };
    } else {
      // the content is read through this descriptor, wherever `queue hold` moves the file meanwhile
      let fh: FileHandle;
      try {
        fh = await open(msg.path, 'r');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        msg.dropped = true;
        return this.jobDone(msg);
      }
      try {
        if (dest.key === 'local') report = { results: await this.deliverLocal(job, fh) };
        else {
          dest.suspended = undefined;
          report = await this.transport.deliver(dest.hop!, this.outbound(job, fh));
          if (report.siteFailure) dest.suspended = { until: this.clock.now() + this.settings.minBackoff * 1000, result: report.results[0] };
        }
      } finally {
        await fh.close().catch(() => {});
      }
    }
    this.record(job, report.results, jobStart, dest.key === 'local' ? 'local' : dest.key === UNRESOLVED ? 'qmgr' : 'smtp');
    await this.jobDone(msg);
  }

  private record(job: Job, results: RecipientResult[], jobStart: number, component: string): void {
    const { msg } = job;
    const now = this.clock.now();
    const arrival = msg.st.header.arrival;
    const log = logger(component).withId(msg.id);
    job.rcpts.forEach((i, k) => {
      const r = results[k];
      const a = Math.max(0, (msg.loadedAt - arrival) / 1000);
      const b = Math.max(0, (jobStart - msg.loadedAt) / 1000);
      const status = r.outcome === 'sent' ? 'sent' : r.outcome === 'bounced' ? 'bounced' : 'deferred';
      log.info(
        `to=<${msg.st.header.rcpt[i].address}>, relay=${r.relay}, delay=${formatDelay((now - arrival) / 1000)}, ` +
          `delays=${formatDelay(a)}/${formatDelay(b)}/${formatDelay(r.setupSeconds ?? 0)}/${formatDelay(r.xferSeconds ?? 0)}, dsn=${r.dsn}, status=${status} (${r.reason})`,
      );
      const rec: JournalRecord = { r: [i], s: r.outcome, dsn: r.dsn, why: r.reason, relay: r.relay, t: now };
      if (r.remoteMta) rec.mta = r.remoteMta;
      if (r.diagnostic) rec.diag = r.diagnostic;
      if (r.action) rec.act = r.action;
      if (r.dsnPassed) rec.dp = true;
      applyRecord(msg.st, rec);
      msg.unsaved.push(rec);
    });
  }

  private async deliverLocal(job: Job, fh: FileHandle): Promise<RecipientResult[]> {
    const { msg } = job;
    const addresses = job.rcpts.map((i) => msg.st.header.rcpt[i].address);
    const fail = (dsn: string, reason: string): RecipientResult[] => addresses.map(() => ({ outcome: 'deferred', dsn, reason, relay: 'local' }));
    if (!this.localDelivery) return fail('4.3.0', 'local delivery is not available');
    const tmp = join(this.store.tmpDir, `${msg.id}.${process.pid}.${++this.tmpCounter}`);
    try {
      await pipeline(contentStream(fh, msg.st), createWriteStream(tmp, { mode: 0o600 }));
      const t = performance.now();
      const res = await this.localDelivery.deliver({ queueId: msg.id, sender: msg.st.header.sender, recipients: addresses, contentPath: tmp });
      const xferSeconds = (performance.now() - t) / 1000;
      const out: RecipientResult[] = [];
      for (let k = 0; k < addresses.length; k++) {
        const r = res.find((x) => x.recipient.toLowerCase() === addresses[k].toLowerCase()) ?? res[k];
        if (!r) {
          out.push({ outcome: 'deferred', dsn: '4.3.0', reason: 'local delivery gave no result', relay: 'local' });
          continue;
        }
        if (r.status === 'delivered' && r.forwarded && r.forwarded.length > 0) {
          try {
            const fid = await this.copyMessage(msg, fh, r.forwarded);
            logger('local').withId(msg.id).info(`forwarded as ${fid}`);
          } catch (err) {
            out.push({ outcome: 'deferred', dsn: '4.3.0', reason: `cannot forward: ${(err as Error).message}`, relay: 'local' });
            continue;
          }
        }
        const outcome = r.status === 'delivered' ? 'sent' : r.status;
        out.push({ outcome, dsn: r.dsnStatus, reason: r.text, relay: 'local', action: 'delivered', xferSeconds });
      }
      return out;
    } catch (err) {
      return fail('4.3.0', `local delivery failed: ${(err as Error).message}`);
    } finally {
      await unlink(tmp).catch(() => {});
    }
  }

  /** Queue a copy of a message for other recipients (aliases that point elsewhere). */
  private async copyMessage(msg: ActiveMessage, fh: FileHandle, recipients: string[]): Promise<string> {
    const h = msg.st.header;
    const id = newQueueId();
    const w = await this.store.create(
      { id, sender: h.sender, recipients: recipients.map((address) => ({ address })), arrival: new Date(this.clock.now()), body: h.body, smtputf8: h.smtputf8, ret: h.ret, envid: h.envid },
      (x) => this.onCommitted(x),
    );
    try {
      for await (const chunk of contentStream(fh, msg.st)) await w.write(chunk);
      await w.commit();
    } catch (err) {
      await w.abort();
      throw err;
    }
    return id;
  }

  // ---- results, notices, the end of a pass -------------------------------------------

  /** Write records to the message's file wherever it is now; false if it left active/. */
  private async journal(msg: ActiveMessage, records: JournalRecord[]): Promise<boolean> {
    if (records.length === 0) return !msg.dropped;
    const run = async (): Promise<boolean> => {
      const trunc = msg.truncateTo;
      msg.truncateTo = undefined;
      if (!msg.dropped && (await appendRecords(msg.path, records, trunc))) return true;
      // moved by `facteur queue hold/release` while we worked: keep its journal right there
      msg.dropped = true;
      const ref = await this.store.find(msg.id, ['hold', 'deferred', 'active', 'corrupt']);
      if (ref) await appendRecords(ref.path, records, trunc);
      return false;
    };
    const p = msg.io.then(run, run);
    msg.io = p.catch(() => {});
    return p;
  }

  private async jobDone(msg: ActiveMessage): Promise<void> {
    msg.outstanding--;
    if (msg.outstanding > 0 || !this.running) {
      // other destinations still running: make these results durable now
      const recs = msg.unsaved.splice(0);
      try {
        await this.journal(msg, recs);
      } catch (err) {
        qlog.withId(msg.id).error(`cannot update queue file: ${(err as Error).message}`);
      }
      if (!this.running && msg.outstanding <= 0) this.unload(msg);
      return;
    }
    try {
      await this.finishPass(msg);
    } catch (err) {
      qlog.withId(msg.id).error(`cannot finish delivery pass: ${(err as Error).stack ?? err}`);
      this.unload(msg);
    }
  }

  private async finishPass(msg: ActiveMessage): Promise<void> {
    const { st } = msg;
    const h = st.header;
    const now = this.clock.now();
    const ageSec = (now - h.arrival) / 1000;
    const rcptRecords = msg.unsaved.splice(0);
    if (msg.dropped) {
      await this.journal(msg, rcptRecords);
      this.unload(msg);
      return;
    }

    // maximal_queue_lifetime / bounce_queue_lifetime: what is still pending bounces now
    const lifetime = h.sender === '' ? this.settings.bounceLifetime : this.settings.maxLifetime;
    let pending = st.rcpt.map((r, i) => (r.status === 'pending' ? i : -1)).filter((i) => i >= 0);
    if (pending.length > 0 && ageSec >= lifetime) {
      for (const i of pending) {
        const r = st.rcpt[i];
        const rec: JournalRecord = { r: [i], s: 'bounced', dsn: r.dsn ?? '4.4.7', why: r.reason ?? 'delivery time expired', relay: r.relay ?? 'none', t: now };
        if (r.remoteMta) rec.mta = r.remoteMta;
        if (r.diagnostic) rec.diag = r.diagnostic;
        applyRecord(st, rec);
        rcptRecords.push(rec);
      }
      qlog.withId(msg.id).info(`from=<${h.sender}>, status=expired, returned to sender`);
      pending = [];
    }

    // which notices are due
    const due: Array<{ kind: NoticeTemplate; send: number[]; mark: number[] }> = [];
    const failed = st.rcpt.map((r, i) => (r.status === 'bounced' && !r.notified.has('failure') ? i : -1)).filter((i) => i >= 0);
    if (failed.length > 0) due.push({ kind: 'failure', send: failed.filter((i) => wantsNotice(h.rcpt[i].notify, 'FAILURE')), mark: failed });
    const succeeded = st.rcpt.map((r, i) => (r.status === 'done' && !r.notified.has('success') && wantsNotice(h.rcpt[i].notify, 'SUCCESS') && !r.dsnPassed ? i : -1)).filter((i) => i >= 0);
    if (succeeded.length > 0) due.push({ kind: 'success', send: succeeded, mark: succeeded });
    if (pending.length > 0 && !st.warned && this.settings.delayWarning > 0 && ageSec >= this.settings.delayWarning) {
      due.push({ kind: 'delay', send: pending.filter((i) => wantsNotice(h.rcpt[i].notify, 'DELAY')), mark: pending });
    }
    const toSend = due.filter((d) => d.send.length > 0 && h.sender !== '' && !h.notice);

    // results first: a notice must never be sent for a result that could be lost
    const noticeRecords: JournalRecord[] = [];
    let noticeFailed = false;
    if (toSend.length > 0) {
      if (!(await this.journal(msg, rcptRecords.splice(0)))) return this.unload(msg);
      for (const d of toSend) {
        try {
          const nid = await this.sendNotice(d.kind, msg, d.send, now);
          noticeRecords.push({ n: d.kind, nr: d.mark, nid });
        } catch (err) {
          noticeFailed = true;
          blog.withId(msg.id).error(`cannot queue ${d.kind} notice: ${(err as Error).message}`);
        }
      }
    }
    for (const d of due) if (!toSend.includes(d)) noticeRecords.push({ n: d.kind, nr: d.mark, nid: '' });
    for (const rec of noticeRecords) applyRecord(st, rec);
    if (h.sender === '' || h.notice) {
      for (const i of failed) blog.withId(msg.id).info(`undeliverable notice to <${h.rcpt[i].address}> discarded`);
    }

    if (pending.length === 0 && !noticeFailed) {
      // done: the file goes away (its journal only matters if notices were queued)
      if (noticeRecords.length > 0 && toSend.length > 0) {
        if (!(await this.journal(msg, noticeRecords))) return this.unload(msg);
      }
      if (await this.store.remove(msg.id, 'active')) {
        qlog.withId(msg.id).info('removed');
        this.store.syncDir('active').catch((err: Error) => qlog.error(`fsync active/: ${err.message}`));
      } else {
        msg.dropped = true;
        await this.journal(msg, [...rcptRecords, ...noticeRecords]);
      }
      return this.unload(msg);
    }

    // deferred: next attempt after the backoff, kept as the file's mtime
    const next = now + backoffSeconds(ageSec, this.settings.minBackoff, this.settings.maxBackoff) * 1000;
    const attempt: JournalRecord = { a: st.attempts + 1, next, t: now };
    applyRecord(st, attempt);
    if (!(await this.journal(msg, [...rcptRecords, ...noticeRecords, attempt]))) return this.unload(msg);
    if (!(await this.store.move(msg.id, 'active', 'deferred', next))) msg.dropped = true;
    this.unload(msg);
  }

  private async sendNotice(kind: NoticeTemplate, msg: ActiveMessage, rcpts: number[], now: number): Promise<string> {
    const { st } = msg;
    const h = st.header;
    const id = newQueueId();
    const text = buildNotice(
      kind,
      this.settings.notice,
      { id: msg.id, sender: h.sender, arrival: h.arrival, envid: h.envid, ret: h.ret },
      rcpts.map((i) => ({ address: h.rcpt[i].address, orcpt: h.rcpt[i].orcpt, state: st.rcpt[i] })),
      { now, noticeId: id, originalSize: st.size, bounceSizeLimit: this.settings.bounceSizeLimit },
    );
    const headers = await readContentHeaders(msg.path, st);
    const crlf = /\r\n/.test(headers.subarray(0, Math.max(0, headers.indexOf(0x0a) + 1)).toString('latin1'));
    const conv = (s: string) => Buffer.from(crlf ? s.replace(/\n/g, '\r\n') : s, 'utf8');
    const eightBit = (st.flags & (FLAG_8BIT_BODY | FLAG_8BIT_HEADERS)) !== 0;
    const w = await this.store.create(
      { id, sender: '', recipients: [{ address: h.sender }], arrival: new Date(now), body: eightBit ? '8BITMIME' : undefined, smtputf8: h.smtputf8 },
      (x) => this.onCommitted(x),
      { kind, of: msg.id },
    );
    try {
      await w.write(conv(text.head));
      if (text.attach === 'full') {
        let last = 0x0a;
        for await (const chunk of contentStream(msg.path, st)) {
          await w.write(chunk);
          last = chunk[chunk.length - 1];
        }
        if (last !== 0x0a) await w.write(conv('\n'));
      } else {
        await w.write(headers);
        if (headers.length > 0 && headers[headers.length - 1] !== 0x0a) await w.write(conv('\n'));
      }
      await w.write(conv(text.tail));
      await w.commit();
    } catch (err) {
      await w.abort();
      throw err;
    }
    const what = kind === 'failure' ? 'sender non-delivery notification' : kind === 'delay' ? 'sender delay notification' : 'sender delivery status notification';
    blog.withId(msg.id).info(`${what}: ${id}`);
    return id;
  }

  private unload(msg: ActiveMessage): void {
    this.loaded.delete(msg.id);
    if (this.backlog && this.running && this.loaded.size + this.loading.size < this.settings.activeLimit * 0.9) void this.refill();
    this.wakeIdle();
  }

  // ---- the deferred queue ------------------------------------------------------------

  private async doScan(force: boolean): Promise<void> {
    if (!this.running) return;
    const now = this.clock.now();
    // forget idle destinations whose suspension is over (bounded memory over many dead sites)
    for (const [key, d] of this.destinations) {
      if (d.active === 0 && d.jobs.length === 0 && (!d.suspended || d.suspended.until <= now)) this.destinations.delete(key);
    }
    for await (const ref of this.store.list(['deferred'])) {
      if (!this.running) break;
      try {
        const s = await stat(ref.path);
        if (!force && s.mtimeMs > now) continue;
        if (await this.store.move(ref.id, 'deferred', 'active')) this.enqueueActive(ref.id);
      } catch {
        // gone meanwhile
      }
    }
    await this.recoverIncoming(false);
    if (this.backlog) void this.refill();
  }
}
