// Queue administration as postqueue(1)/postsuper(1)/postcat(1) do it, on the files
// themselves so that it works whether or not the server runs: listing in mailq's
// layout and postqueue -j's JSON, showing one message, hold/release/delete by atomic
// renames. A running queue manager copes with files moving under it (it follows a
// held message to hold/ to record what it was doing) and is told through its control
// socket (src/queue/control.ts).
import { stat } from 'node:fs/promises';
import { CorruptQueueFile, contentStream, readQueueFile, type QueueFileState } from './file.js';
import { isQueueId } from './id.js';
import { QueueStore, type QueueName } from './store.js';

export interface QueueEntry {
  queue: QueueName;
  id: string;
  /** ms since the epoch */
  arrival: number;
  size: number;
  sender: string;
  /** Recipients not yet done, with the reason of their last failed attempt. */
  recipients: Array<{ address: string; reason?: string }>;
  /** Next delivery attempt (deferred queue: the file's mtime), ms. */
  nextAttempt?: number;
}

/** The queues mailq lists, in Postfix showq's order. */
const LISTED: readonly QueueName[] = ['incoming', 'active', 'deferred', 'hold'];

/** Every message in the queue, one file at a time (bounded memory). */
export async function* queueEntries(store: QueueStore): AsyncIterable<QueueEntry> {
  for await (const ref of store.list(LISTED)) {
    let st: QueueFileState;
    let mtimeMs: number;
    try {
      st = await readQueueFile(ref.path);
      mtimeMs = (await stat(ref.path)).mtimeMs;
    } catch {
      continue; // moved or removed while we looked, incomplete, or corrupt
    }
    yield {
      queue: ref.queue,
      id: ref.id,
      arrival: st.header.arrival,
      size: st.size,
      sender: st.header.sender,
      recipients: st.rcpt
        .map((r, i) => ({ r, address: st.header.rcpt[i].address }))
        .filter(({ r }) => r.status === 'pending')
        .map(({ r, address }) => (r.reason ? { address, reason: r.reason } : { address })),
      nextAttempt: ref.queue === 'deferred' ? mtimeMs : undefined,
    };
  }
}

const DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const p2 = (n: number) => String(n).padStart(2, '0');

/** ctime(3) without the year: `Sat Nov 28 22:45:14` (the day of month space-padded). */
export function ctimeShort(ms: number): string {
  const d = new Date(ms);
  return `${DAYS[d.getDay()]} ${MONTHS[d.getMonth()]} ${String(d.getDate()).padStart(2, ' ')} ${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())}`;
}

export const MAILQ_HEADER = '-Queue ID-  --Size-- ----Arrival Time---- -Sender/Recipient-------';

/** One message in mailq's layout (Postfix showq): id with * (active) or ! (hold), size, arrival, sender, then recipients under their reasons. */
export function formatMailqEntry(e: QueueEntry): string {
  const mark = e.queue === 'active' ? '*' : e.queue === 'hold' ? '!' : '';
  const lines = [`${(e.id + mark).padEnd(11)} ${String(e.size).padStart(7)} ${ctimeShort(e.arrival)}  ${e.sender || 'MAILER-DAEMON'}`];
  let lastReason: string | undefined;
  for (const r of e.recipients) {
    if (r.reason && r.reason !== lastReason) {
      lines.push(`${' '.repeat(Math.max(0, 76 - r.reason.length))}(${r.reason})`);
      lastReason = r.reason;
    }
    lines.push(`${' '.repeat(41)}${r.address}`);
  }
  return lines.join('\n') + '\n';
}

export function mailqFooter(totalBytes: number, count: number): string {
  if (count === 0) return 'Mail queue is empty\n';
  return `-- ${Math.floor(totalBytes / 1024)} Kbytes in ${count} Request${count === 1 ? '' : 's'}.\n`;
}

/** JSON as postqueue -j writes it: `{"key": value, …}` with a space after `:` and `,`. */
function pjson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(pjson).join(', ')}]`;
  if (v && typeof v === 'object') {
    return `{${Object.entries(v as Record<string, unknown>)
      .filter(([, x]) => x !== undefined)
      .map(([k, x]) => `${JSON.stringify(k)}: ${pjson(x)}`)
      .join(', ')}}`;
  }
  return JSON.stringify(v);
}

/** One line of postqueue -j. */
export function formatJsonEntry(e: QueueEntry): string {
  return (
    pjson({
      queue_name: e.queue,
      queue_id: e.id,
      arrival_time: Math.floor(e.arrival / 1000),
      message_size: e.size,
      forced_expire: false,
      sender: e.sender,
      recipients: e.recipients.map((r) => ({ address: r.address, delay_reason: r.reason })),
    }) + '\n'
  );
}

/** postcat -q ID: the envelope, the delivery status of each recipient, the content. */
export async function* showMessage(store: QueueStore, id: string): AsyncIterable<string | Buffer> {
  const ref = await store.find(id);
  if (!ref) throw new Error(`${id}: no such message in the queue`);
  let st: QueueFileState;
  try {
    st = await readQueueFile(ref.path, { allowIncomplete: ref.queue === 'incoming' });
  } catch (err) {
    if (err instanceof CorruptQueueFile) throw new Error(`${ref.queue}/${id}: corrupt queue file: ${err.message}`);
    throw err;
  }
  const where = `${ref.queue}/${id}`;
  const h = st.header;
  const lines = [`*** ENVELOPE RECORDS ${where} ***`, `message_size: ${String(st.size).padStart(16)}`, `message_arrival_time: ${new Date(h.arrival).toString()}`];
  if (h.client) lines.push(`named_attribute: client=${h.client}`);
  if (h.sasl) lines.push(`named_attribute: sasl_username=${h.sasl}`);
  if (h.envid !== undefined) lines.push(`named_attribute: envelope_id=${h.envid}`);
  if (h.ret) lines.push(`named_attribute: dsn_ret=${h.ret}`);
  if (h.body) lines.push(`named_attribute: encoding=${h.body}`);
  if (h.smtputf8) lines.push('named_attribute: smtputf8=yes');
  if (h.notice) lines.push(`named_attribute: notice=${h.notice.kind} for ${h.notice.of}`);
  lines.push(`sender: ${h.sender}`);
  h.rcpt.forEach((r, i) => {
    const s = st.rcpt[i];
    if (r.orcpt) lines.push(`original_recipient: ${r.orcpt}`);
    if (r.notify) lines.push(`dsn_notify: ${r.notify.join(',')}`);
    lines.push(`${s.status === 'done' ? 'done_recipient' : s.status === 'bounced' ? 'bounced_recipient' : 'recipient'}: ${r.address}`);
    if (s.reason) lines.push(`delivery_status: dsn=${s.dsn ?? ''}, relay=${s.relay ?? 'none'} (${s.reason})`);
  });
  lines.push(`delivery_attempts: ${st.attempts}`);
  if (st.nextAttempt && ref.queue === 'deferred') lines.push(`next_attempt: ${new Date(st.nextAttempt).toString()}`);
  lines.push(`*** MESSAGE CONTENTS ${where} ***`);
  yield lines.join('\n') + '\n';
  let last = 0x0a;
  for await (const chunk of contentStream(ref.path, st)) {
    last = chunk[chunk.length - 1];
    yield chunk;
  }
  yield `${last === 0x0a ? '' : '\n'}*** MESSAGE FILE END ${where} ***\n`;
}

export type AdminTarget = string;

async function targets(store: QueueStore, target: AdminTarget, queues: readonly QueueName[]): Promise<Array<{ id: string; queue: QueueName }>> {
  if (target === 'ALL') {
    const out: Array<{ id: string; queue: QueueName }> = [];
    for await (const ref of store.list(queues)) out.push({ id: ref.id, queue: ref.queue });
    return out;
  }
  if (!isQueueId(target)) throw new Error(`bad queue id "${target}"`);
  const ref = await store.find(target, queues);
  return ref ? [{ id: ref.id, queue: ref.queue }] : [];
}

/** Move with a retry when the queue manager moved the file at the same moment. */
async function moveFollowing(store: QueueStore, id: string, from: QueueName, sources: readonly QueueName[], to: QueueName, mtimeMs?: number): Promise<boolean> {
  let q: QueueName | undefined = from;
  for (let tries = 0; tries < 5 && q; tries++) {
    if (q === to) return false;
    if (await store.move(id, q, to, mtimeMs)) return true;
    q = (await store.find(id, sources))?.queue;
  }
  return false;
}

/** postsuper -h: put messages on hold (from active, deferred). */
export async function holdMessages(store: QueueStore, target: AdminTarget): Promise<string[]> {
  const sources: QueueName[] = ['active', 'deferred'];
  const done: string[] = [];
  for (const t of await targets(store, target, sources)) if (await moveFollowing(store, t.id, t.queue, sources, 'hold')) done.push(t.id);
  return done;
}

/**
 * postsuper -H: release held messages to the deferred queue, due at once (the next
 * attempt time, the file's mtime, is set to the epoch: earlier than any clock).
 */
export async function releaseMessages(store: QueueStore, target: AdminTarget, dueMs = 0): Promise<string[]> {
  const done: string[] = [];
  for (const t of await targets(store, target, ['hold'])) if (await store.move(t.id, 'hold', 'deferred', dueMs)) done.push(t.id);
  return done;
}

/** postsuper -d: delete messages (ID, ALL, or every message of one queue: `deferred`, `hold`, `active`). */
export async function deleteMessages(store: QueueStore, target: AdminTarget): Promise<string[]> {
  const queueTargets: Record<string, QueueName> = { deferred: 'deferred', hold: 'hold', active: 'active', corrupt: 'corrupt' };
  const done: string[] = [];
  if (queueTargets[target]) {
    for await (const ref of store.list([queueTargets[target]])) if (await store.remove(ref.id, ref.queue)) done.push(ref.id);
    return done;
  }
  const sources: QueueName[] = ['active', 'deferred', 'hold', 'corrupt'];
  for (const t of await targets(store, target, sources)) {
    let q: QueueName | undefined = t.queue;
    for (let tries = 0; tries < 5 && q; tries++) {
      if (await store.remove(t.id, q)) {
        done.push(t.id);
        break;
      }
      q = (await store.find(t.id, sources))?.queue;
    }
  }
  return done;
}
