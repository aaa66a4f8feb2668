// Shared pieces for the queue tests: a configuration on a temporary data directory,
// a fake LocalDeliveryAgent that records what it was given, log capture, submitting a
// message through the OutboundQueue contract exactly as the SMTP session does.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Config } from '../../src/config/config.js';
import type { LocalDeliveryAgent, LocalDeliveryResult, LocalMessage } from '../../src/delivery/types.js';
import { StaticResolver } from '../../src/dns/static.js';
import { addLogSink, setLogSinks } from '../../src/log.js';
import { newQueueId } from '../../src/queue/id.js';
import type { DsnRecipient, OutboundQueue, QueueEnvelope } from '../../src/queue/types.js';

// keep test output readable: log lines are captured, not printed
setLogSinks([]);

export function tempDir(prefix = 'facteur-queue-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function queueConfig(dir: string, port: number, extra: Record<string, string> = {}): Config {
  return Config.fromObject({
    data_directory: dir,
    myhostname: 'mail.example.test',
    myorigin: 'example.test',
    mydestination: 'example.test, localhost',
    smtp_destination_port: String(port),
    ...extra,
  }).assertValid();
}

export function remoteResolver(domains: string[] = ['remote.test']): StaticResolver {
  const zone: ConstructorParameters<typeof StaticResolver>[0] = { mx: {}, a: { 'mx.remote.test': ['127.0.0.1'] } };
  for (const d of domains) zone.mx![d] = [{ exchange: 'mx.remote.test', priority: 10 }];
  return new StaticResolver(zone);
}

export interface LocalCopy {
  queueId: string;
  sender: string;
  recipient: string;
  content: string;
}

/** A LocalDeliveryAgent that keeps every copy; `answer` may defer or bounce a recipient. */
export class FakeLocalDelivery implements LocalDeliveryAgent {
  delivered: LocalCopy[] = [];
  calls = 0;
  answer?: (recipient: string, n: number) => Omit<LocalDeliveryResult, 'recipient'> | undefined;

  async deliver(m: LocalMessage): Promise<LocalDeliveryResult[]> {
    const n = this.calls++;
    const content = readFileSync(m.contentPath, 'utf8');
    return m.recipients.map((recipient) => {
      const a = this.answer?.(recipient, n);
      if (a) return { recipient, ...a };
      this.delivered.push({ queueId: m.queueId, sender: m.sender, recipient, content });
      return { recipient, status: 'delivered', dsnStatus: '2.0.0', text: 'delivered to maildir' };
    });
  }
}

export function captureLogs(): { lines: string[]; stop: () => void; grep: (re: RegExp) => string[] } {
  const lines: string[] = [];
  const stop = addLogSink((_r, line) => lines.push(line));
  return { lines, stop, grep: (re) => lines.filter((l) => re.test(l)) };
}

export interface Submit {
  sender?: string;
  recipients: Array<string | DsnRecipient>;
  content?: string | Buffer;
  ret?: 'FULL' | 'HDRS';
  envid?: string;
  arrival?: Date;
  id?: string;
}

export const SAMPLE = 'From: <alice@example.test>\nTo: <bob@remote.test>\nSubject: test message\nMessage-ID: <m1@example.test>\n\nHello.\nSecond line.\n';

/** What the SMTP session does: create → write chunks → commit. */
export async function submit(q: OutboundQueue, s: Submit): Promise<string> {
  const id = s.id ?? newQueueId();
  const env: QueueEnvelope = {
    id,
    sender: s.sender ?? 'alice@example.test',
    recipients: s.recipients.map((r) => (typeof r === 'string' ? { address: r } : r)),
    arrival: s.arrival ?? new Date(),
    ret: s.ret,
    envid: s.envid,
  };
  const w = await q.create(env);
  const content = Buffer.isBuffer(s.content) ? s.content : Buffer.from(s.content ?? SAMPLE);
  for (let i = 0; i < content.length; i += 10) await w.write(content.subarray(i, i + 10));
  await w.commit();
  return id;
}

export async function waitFor(pred: () => boolean | Promise<boolean>, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await pred()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** The parts of a multipart/report notice, split on its boundary. */
export function noticeParts(text: string): { headers: string; parts: string[] } {
  const m = /boundary="([^"]+)"/.exec(text);
  if (!m) throw new Error('no boundary in notice');
  const b = m[1];
  const [headers, ...rest] = text.split(`\n--${b}`);
  const parts = rest.filter((p) => !p.startsWith('--')).map((p) => p.replace(/^\n/, ''));
  return { headers, parts };
}
