// One queue file per message (Postfix qmgr(8)'s queue file, in facteur's own format):
//
//   FQ1 <size, 12 digits> <flags, 1 hex digit>\n      fixed width, rewritten in place at commit
//   {"v":1,"id":…,"sender":…,"rcpt":[…],…}\n           the envelope, one JSON line
//   <content: exactly `size` bytes, the message as received>
//   {"r":[0],"s":"done",…}\n                           journal: one JSON record per line,
//   {"a":1,"next":…}\n                                  appended and fdatasync'd
//
// The journal records per-recipient progress (done / bounced / deferred with the reply),
// notices sent and delivery attempts, so that after a crash nothing accepted is lost and
// nothing is sent twice to a recipient already done (like Postfix marking a recipient
// record done in place). A torn last record (crash mid-append) is ignored and cut off.
import { createReadStream } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import type { DsnRecipient, QueueEnvelope } from './types.js';

export const MAGIC = 'FQ1 ';
/** Length of the first line: "FQ1 " + 12 digits + " " + flag digit + "\n". */
export const FIRST_LINE_LENGTH = 4 + 12 + 1 + 1 + 1;
/** Flag bits of the first line. */
export const FLAG_COMPLETE = 1;
export const FLAG_8BIT_BODY = 2;
export const FLAG_8BIT_HEADERS = 4;
/** Largest envelope line accepted when reading (a message with thousands of recipients). */
const MAX_HEADER_LINE = 16 * 1024 * 1024;
/** Largest journal read (a journal grows by a few hundred bytes per attempt). */
const MAX_JOURNAL = 16 * 1024 * 1024;

export class CorruptQueueFile extends Error {}

/** The envelope as stored (the JSON line). Times in ms since the epoch. */
export interface StoredHeader {
  v: 1;
  id: string;
  sender: string;
  rcpt: DsnRecipient[];
  ret?: 'FULL' | 'HDRS';
  envid?: string;
  body?: '7BIT' | '8BITMIME' | 'BINARYMIME';
  smtputf8?: boolean;
  arrival: number;
  client?: string;
  sasl?: string;
  /** For notices facteur generated: which kind and for which message. */
  notice?: { kind: NoticeKind; of: string };
}

export type NoticeKind = 'failure' | 'delay' | 'success';

export type RecipientStatus = 'pending' | 'done' | 'bounced';

/** A journal record. Exactly one of r / n / a is present. */
export interface JournalRecord {
  /** recipient indexes this result is for */
  r?: number[];
  /** sent → done, bounced, deferred (stays pending) */
  s?: 'sent' | 'bounced' | 'deferred';
  dsn?: string;
  why?: string;
  relay?: string;
  mta?: string;
  diag?: string;
  act?: 'delivered' | 'relayed';
  /** the server took NOTIFY/ORCPT (it owns success notices) */
  dp?: boolean;
  /** when (ms) */
  t?: number;
  /** notice sent: kind, recipients it covered, queue id of the notice ('' when none was due) */
  n?: NoticeKind;
  nr?: number[];
  nid?: string;
  /** a delivery attempt ended: count and the next attempt (ms) */
  a?: number;
  next?: number;
}

export interface RecipientState {
  status: RecipientStatus;
  dsn?: string;
  /** Last result text (Postfix's defer/bounce reason, or the 250 reply). */
  reason?: string;
  relay?: string;
  remoteMta?: string;
  diagnostic?: string;
  action?: 'delivered' | 'relayed';
  dsnPassed?: boolean;
  at?: number;
  /** Notices already sent for this recipient. */
  notified: Set<NoticeKind>;
}

export interface QueueFileState {
  header: StoredHeader;
  /** Content bytes. */
  size: number;
  flags: number;
  contentOffset: number;
  /** Where the journal starts and where its last complete record ends. */
  journalOffset: number;
  journalEnd: number;
  /** Length of the file on disk when read (longer than journalEnd: a torn record). */
  fileLength: number;
  rcpt: RecipientState[];
  attempts: number;
  nextAttempt?: number;
  lastAttempt?: number;
  /** A delay notice was sent (only one per message, as Postfix). */
  warned: boolean;
}

export function firstLine(size: number, flags: number): Buffer {
  return Buffer.from(`${MAGIC}${String(size).padStart(12, '0')} ${flags.toString(16)}\n`, 'latin1');
}

export function headerFromEnvelope(e: QueueEnvelope, notice?: StoredHeader['notice']): StoredHeader {
  const h: StoredHeader = { v: 1, id: e.id, sender: e.sender, rcpt: e.recipients.map((r) => ({ ...r })), arrival: e.arrival.getTime() };
  if (e.ret) h.ret = e.ret;
  if (e.envid !== undefined) h.envid = e.envid;
  if (e.body) h.body = e.body;
  if (e.smtputf8) h.smtputf8 = true;
  if (e.client) h.client = e.client;
  if (e.saslUsername) h.sasl = e.saslUsername;
  if (notice) h.notice = notice;
  return h;
}

function validHeader(h: unknown): h is StoredHeader {
  if (!h || typeof h !== 'object') return false;
  const x = h as StoredHeader;
  return (
    x.v === 1 &&
    typeof x.id === 'string' &&
    typeof x.sender === 'string' &&
    Array.isArray(x.rcpt) &&
    x.rcpt.length > 0 &&
    x.rcpt.every((r) => r && typeof r.address === 'string') &&
    typeof x.arrival === 'number'
  );
}

/** Apply journal records to the per-recipient state. */
export function applyRecord(st: Pick<QueueFileState, 'rcpt' | 'attempts' | 'nextAttempt' | 'lastAttempt' | 'warned'>, rec: JournalRecord): void {
  if (rec.r && rec.s) {
    for (const i of rec.r) {
      const r = st.rcpt[i];
      if (!r || r.status !== 'pending') continue; // final states never change back
      r.status = rec.s === 'sent' ? 'done' : rec.s === 'bounced' ? 'bounced' : 'pending';
      r.dsn = rec.dsn;
      r.reason = rec.why;
      r.relay = rec.relay;
      r.remoteMta = rec.mta;
      r.diagnostic = rec.diag;
      r.action = rec.act;
      r.dsnPassed = rec.dp;
      r.at = rec.t;
    }
  }
  if (rec.n) {
    for (const i of rec.nr ?? []) st.rcpt[i]?.notified.add(rec.n);
    if (rec.n === 'delay') st.warned = true;
  }
  if (rec.a !== undefined) {
    st.attempts = rec.a;
    st.nextAttempt = rec.next;
    st.lastAttempt = rec.t;
  }
}

async function readAt(fh: FileHandle, pos: number, len: number): Promise<Buffer> {
  const buf = Buffer.alloc(len);
  let got = 0;
  while (got < len) {
    const { bytesRead } = await fh.read(buf, got, len - got, pos + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return buf.subarray(0, got);
}

/**
 * Read a queue file's envelope and journal (not the content). Throws CorruptQueueFile
 * for a file that is not a complete queue file, and the fs error (ENOENT …) otherwise.
 */
export async function readQueueFile(path: string, opts: { allowIncomplete?: boolean } = {}): Promise<QueueFileState> {
  const fh = await open(path, 'r');
  try {
    const { size: fileLength } = await fh.stat();
    const head = await readAt(fh, 0, Math.min(fileLength, 64 * 1024));
    const first = head.subarray(0, FIRST_LINE_LENGTH).toString('latin1');
    const m = /^FQ1 (\d{12}) ([0-9a-f])\n$/.exec(first);
    if (!m) throw new CorruptQueueFile('bad first line');
    const size = Number(m[1]);
    const flags = parseInt(m[2], 16);
    if (!(flags & FLAG_COMPLETE) && !opts.allowIncomplete) throw new CorruptQueueFile('incomplete queue file');
    let nl = head.indexOf(0x0a, FIRST_LINE_LENGTH);
    let headerBuf: Buffer;
    if (nl >= 0) headerBuf = head.subarray(FIRST_LINE_LENGTH, nl);
    else {
      // a long envelope line: read on
      const more = await readAt(fh, 0, Math.min(fileLength, MAX_HEADER_LINE));
      nl = more.indexOf(0x0a, FIRST_LINE_LENGTH);
      if (nl < 0) throw new CorruptQueueFile('envelope line not terminated');
      headerBuf = more.subarray(FIRST_LINE_LENGTH, nl);
    }
    let header: unknown;
    try {
      header = JSON.parse(headerBuf.toString('utf8'));
    } catch {
      throw new CorruptQueueFile('envelope is not valid JSON');
    }
    if (!validHeader(header)) throw new CorruptQueueFile('envelope lacks required fields');
    const contentOffset = nl + 1;
    const journalOffset = contentOffset + size;
    if ((flags & FLAG_COMPLETE) && fileLength < journalOffset) throw new CorruptQueueFile(`truncated content (${fileLength - contentOffset} of ${size} bytes)`);
    const st: QueueFileState = {
      header,
      size,
      flags,
      contentOffset,
      journalOffset,
      journalEnd: journalOffset,
      fileLength,
      rcpt: header.rcpt.map(() => ({ status: 'pending', notified: new Set<NoticeKind>() })),
      attempts: 0,
      warned: false,
    };
    if (flags & FLAG_COMPLETE && fileLength > journalOffset) {
      const jlen = fileLength - journalOffset;
      if (jlen > MAX_JOURNAL) throw new CorruptQueueFile('journal too long');
      const journal = await readAt(fh, journalOffset, jlen);
      let pos = 0;
      for (;;) {
        const e = journal.indexOf(0x0a, pos);
        if (e < 0) break;
        let rec: JournalRecord;
        try {
          rec = JSON.parse(journal.subarray(pos, e).toString('utf8')) as JournalRecord;
        } catch {
          break; // a torn record: everything after it is not trusted
        }
        applyRecord(st, rec);
        pos = e + 1;
      }
      st.journalEnd = journalOffset + pos;
    }
    return st;
  } finally {
    await fh.close();
  }
}

export function encodeRecords(records: JournalRecord[]): Buffer {
  return Buffer.from(records.map((r) => JSON.stringify(r) + '\n').join(''), 'utf8');
}

/**
 * Append journal records and make them durable. Returns false when the file is gone
 * (moved by an administrator or deleted): the caller looks for it elsewhere.
 */
export async function appendRecords(path: string, records: JournalRecord[], truncateTo?: number): Promise<boolean> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r+');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
  try {
    if (truncateTo !== undefined) await fh.truncate(truncateTo);
    const { size } = await fh.stat();
    const data = encodeRecords(records);
    let off = 0;
    while (off < data.length) {
      const { bytesWritten } = await fh.write(data, off, data.length - off, size + off);
      off += bytesWritten;
    }
    await fh.datasync();
    return true;
  } finally {
    await fh.close();
  }
}

/**
 * The content of a queue file as a stream of chunks (nothing when size is 0). Given an
 * open FileHandle, it reads from that file whatever its name is now (an administrator
 * may move it to hold/ while it is being sent); the handle stays open.
 */
export async function* contentStream(file: string | FileHandle, st: Pick<QueueFileState, 'contentOffset' | 'size'>, highWaterMark = 64 * 1024): AsyncIterable<Buffer> {
  if (st.size === 0) return;
  const range = { start: st.contentOffset, end: st.contentOffset + st.size - 1, highWaterMark };
  const s = typeof file === 'string' ? createReadStream(file, range) : file.createReadStream({ ...range, autoClose: false });
  let got = 0;
  for await (const chunk of s as AsyncIterable<Buffer>) {
    got += chunk.length;
    yield chunk;
  }
  if (got < st.size) throw new CorruptQueueFile(`content ended after ${got} of ${st.size} bytes`);
}

/** Where the header section ends: the index just after the last header line's LF (0: no headers), or -1. */
export function headerSectionEnd(b: Buffer, from = 0): number {
  if (from === 0) {
    if (b[0] === 0x0a) return 0;
    if (b[0] === 0x0d && b[1] === 0x0a) return 0;
  }
  let i = b.indexOf(0x0a, from);
  while (i >= 0) {
    if (b[i + 1] === 0x0a || (b[i + 1] === 0x0d && b[i + 2] === 0x0a)) return i + 1;
    i = b.indexOf(0x0a, i + 1);
  }
  return -1;
}

/** The header section of the content (up to, not including, the empty line). */
export async function readContentHeaders(path: string, st: Pick<QueueFileState, 'contentOffset' | 'size'>, limit = 1024 * 1024): Promise<Buffer> {
  let acc = Buffer.alloc(0);
  for await (const chunk of contentStream(path, st, 16 * 1024)) {
    const from = Math.max(0, acc.length - 3);
    acc = Buffer.concat([acc, chunk]);
    const end = headerSectionEnd(acc, from);
    if (end >= 0) return acc.subarray(0, end);
    if (acc.length >= limit) return acc.subarray(0, limit);
  }
  return acc;
}
