// Local delivery (issue #3): the LocalDeliveryAgent contract for the queue (deliver a spooled
// message file), and what the SMTP session uses to deliver while the client waits (route a
// recipient at RCPT time, stream the message into a DeliveryBatch, commit before 250).
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import type { UserDatabase } from '../auth/types.js';
import type { Config, ConfigView } from '../config/config.js';
import type { ServiceName } from '../config/params/types.js';
import { logger } from '../log.js';
import { CrlfToLf } from '../mail/line-ends.js';
import type { TableCache } from '../maps/index.js';
import type { AddressDirectory } from '../smtp/policy/types.js';
import { DeliveryBatch, DeliveryError, type BatchRecipient, type BatchResult } from './batch.js';
import { RecipientResolver, type MailboxTarget, type Routing } from './resolve.js';
import type { LocalDeliveryAgent, LocalDeliveryResult, LocalMessage } from './types.js';

const log = logger('local');

export interface LocalDeliveryOptions {
  config: Config;
  /** Read parameters as this service sees them (per-service overrides). */
  service?: ServiceName;
  users: UserDatabase;
  /** Our own IP addresses, for `user@[ip]` (default: every interface). */
  localAddresses?: string[];
  /** The server's shared table cache (default: src/maps' process-wide one). */
  tables?: TableCache;
}

export interface OpenBatchInput {
  queueId: string;
  /** Envelope sender, qualified. */
  sender: string;
  recipients: BatchRecipient[];
  arrival: Date;
}

/** The SMTP reply for a failed delivery, by errno (RFC 3463 codes). */
export function deliveryFailureReply(code: string): { code: number; enhanced: string; text: string } {
  if (code === 'ENOSPC') return { code: 452, enhanced: '4.3.1', text: 'Insufficient system storage' };
  if (code === 'EDQUOT') return { code: 452, enhanced: '4.2.2', text: 'Mailbox full' };
  return { code: 451, enhanced: '4.3.0', text: 'Error: queue file write error' };
}

export class LocalDelivery implements LocalDeliveryAgent {
  readonly resolver: RecipientResolver;
  private readonly view: ConfigView;

  constructor(opts: LocalDeliveryOptions) {
    this.view = opts.config.view(opts.service);
    this.resolver = new RecipientResolver({ view: this.view, users: opts.users, localAddresses: opts.localAddresses, tables: opts.tables });
  }

  /** For the restriction engine's unlisted-recipient checks. */
  get directory(): AddressDirectory {
    return this.resolver;
  }

  route(address: string): Promise<Routing> {
    return this.resolver.route(address);
  }

  qualify(address: string): string {
    return this.resolver.qualify(address);
  }

  private batchSettings: { spoolDirectory: string; memoryLimit: number; fsync: boolean; staleLockSeconds: number; mailboxSizeLimit: number; dotlock: boolean } | undefined;

  openBatch(input: OpenBatchInput): DeliveryBatch {
    const v = this.view;
    this.batchSettings ??= {
      spoolDirectory: join(v.path('data_directory'), 'tmp'),
      memoryLimit: v.size('smtpd_spool_memory_limit'),
      fsync: v.bool('maildir_fsync'),
      staleLockSeconds: v.time('mbox_stale_lock_time'),
      mailboxSizeLimit: v.size('mailbox_size_limit'),
      dotlock: v.list('mailbox_delivery_lock').map((x) => x.toLowerCase()).includes('dotlock'),
    };
    return new DeliveryBatch({ ...input, ...this.batchSettings });
  }

  /**
   * LocalDeliveryAgent (src/delivery/types.ts): deliver a spooled message to each recipient
   * separately (one recipient's trouble never affects another's), each copy durable before
   * this resolves. Aliases to remote addresses come back in `forwarded`.
   */
  async deliver(message: LocalMessage): Promise<LocalDeliveryResult[]> {
    const results: LocalDeliveryResult[] = [];
    const sender = this.resolver.qualify(message.sender);
    const arrival = new Date();
    for (const rcpt of message.recipients) {
      const routing = await this.route(rcpt);
      if (routing.status === 'tempfail') {
        results.push({ recipient: rcpt, status: 'deferred', dsnStatus: '4.3.0', text: `temporary lookup failure: ${routing.reason}` });
        continue;
      }
      if (routing.status === 'unknown') {
        results.push({ recipient: rcpt, status: 'bounced', dsnStatus: '5.1.1', text: 'unknown user' });
        continue;
      }
      if (routing.status === 'remote') {
        results.push({ recipient: rcpt, status: 'delivered', dsnStatus: '2.0.0', text: `forwarded as ${rcpt}`, forwarded: [rcpt] });
        continue;
      }
      const recipients = routing.targets.map((target) => ({ original: rcpt, target }));
      if (recipients.length === 0) {
        results.push({ recipient: rcpt, status: 'delivered', dsnStatus: '2.0.0', text: `forwarded as ${routing.forwards.join(', ')}`, forwarded: routing.forwards });
        continue;
      }
      const batch = this.openBatch({ queueId: message.queueId, sender, recipients, arrival });
      try {
        const conv = new CrlfToLf();
        for await (const chunk of createReadStream(message.contentPath, { highWaterMark: 1 << 16 })) {
          await batch.write(conv.convert(chunk as Buffer));
        }
        await batch.write(conv.flush());
        await batch.prepare();
        const done = await batch.publish();
        logDeliveries(message.queueId, done, arrival);
        results.push({
          recipient: rcpt,
          status: 'delivered',
          dsnStatus: '2.0.0',
          text: statusText(routing.targets),
          forwarded: routing.forwards.length > 0 ? routing.forwards : undefined,
        });
      } catch (err) {
        await batch.rollback().catch(() => undefined);
        const code = err instanceof DeliveryError ? err.code : ((err as NodeJS.ErrnoException).code ?? 'EIO');
        const r = deliveryFailureReply(code);
        log.withId(message.queueId).warn(`to=<${rcpt}>, relay=local, status=deferred (${(err as Error).message})`);
        results.push({ recipient: rcpt, status: 'deferred', dsnStatus: r.enhanced, text: `mailbox unavailable: ${code}` });
      }
    }
    return results;
  }
}

function statusText(targets: MailboxTarget[]): string {
  return targets.every((t) => t.kind === 'mbox') ? 'delivered to mailbox' : 'delivered to maildir';
}

/** Postfix-style delivery log lines, one per copy. */
export function logDeliveries(queueId: string, done: BatchResult[], arrival: Date): void {
  const l = log.withId(queueId);
  const delay = ((Date.now() - arrival.getTime()) / 1000).toFixed(2).replace(/\.?0+$/, '') || '0';
  for (const d of done) {
    const to = d.recipient.target.deliveredTo;
    const orig = d.recipient.original.toLowerCase() !== to.toLowerCase() ? `, orig_to=<${d.recipient.original}>` : '';
    const what = d.recipient.target.kind === 'mbox' ? 'delivered to mailbox' : 'delivered to maildir';
    l.info(`to=<${to}>${orig}, relay=local, delay=${delay}, dsn=2.0.0, status=sent (${what})`);
  }
}
