// facteur.cache: per-message data computed once from the message file (ENVELOPE,
// BODYSTRUCTURE, BODY, the Date: header) so that FETCH/SEARCH of many messages does not
// reparse them. Append-only; entries of expunged messages are dropped when the file is
// compacted. A cache: deleting it only costs reparsing.
//
//   header  "FCTRCCH1" uidvalidity u32
//   entry   uid u32  len u32  then len bytes:
//           envLen u32 env  bsLen u32 bs  bodyLen u32 body  sentDate f64
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type { CachedParts, MessageRecord } from './types.js';

export const CACHE_FILE = 'facteur.cache';
const MAGIC = 'FCTRCCH1';
const HEADER = 12;
/** Above this many entries, read the whole file once instead of one read per entry. */
const BULK = 64;

function encodeEntry(uid: number, p: CachedParts): Buffer {
  const env = p.envelope ?? Buffer.alloc(0);
  const bs = p.bodystructure ?? Buffer.alloc(0);
  const body = p.body ?? Buffer.alloc(0);
  const len = 12 + env.length + bs.length + body.length + 8;
  const b = Buffer.allocUnsafe(8 + len);
  let o = 0;
  b.writeUInt32LE(uid, o);
  b.writeUInt32LE(len, o + 4);
  o += 8;
  for (const part of [env, bs, body]) {
    b.writeUInt32LE(part.length, o);
    o += 4;
    part.copy(b, o);
    o += part.length;
  }
  b.writeDoubleLE(p.sentDate ?? NaN, o);
  return b;
}

function decodeEntry(buf: Buffer, o: number): CachedParts | undefined {
  if (o + 8 > buf.length) return undefined;
  const len = buf.readUInt32LE(o + 4);
  if (o + 8 + len > buf.length) return undefined;
  let p = o + 8;
  const parts: Buffer[] = [];
  for (let i = 0; i < 3; i++) {
    const l = buf.readUInt32LE(p);
    p += 4;
    parts.push(Buffer.from(buf.subarray(p, p + l)));
    p += l;
  }
  const sentDate = buf.readDoubleLE(p);
  return {
    envelope: parts[0].length ? parts[0] : undefined,
    bodystructure: parts[1].length ? parts[1] : undefined,
    body: parts[2].length ? parts[2] : undefined,
    sentDate,
  };
}

export class CacheFile {
  private size = 0;
  private loaded = false;
  private writing: Promise<void> = Promise.resolve();
  /** Bytes belonging to entries of messages that no longer exist. */
  garbage = 0;
  /** The whole file, kept for a few seconds while a big FETCH walks through it. */
  private snapshot: Buffer | undefined;
  private snapshotTimer: NodeJS.Timeout | undefined;

  constructor(
    private dir: string,
    private uidvalidity: number,
  ) {}

  /** The folder directory was renamed. */
  moveTo(dir: string): void {
    this.dir = dir;
  }

  get path(): string {
    return join(this.dir, CACHE_FILE);
  }

  /** Scan the file once and point records at their entries. */
  async load(byUid: (uid: number) => MessageRecord | undefined): Promise<void> {
    if (this.loaded) return;
    this.loaded = true;
    let buf: Buffer;
    try {
      buf = await fsp.readFile(this.path);
    } catch {
      buf = Buffer.alloc(0);
    }
    if (buf.length < HEADER || buf.toString('latin1', 0, 8) !== MAGIC || buf.readUInt32LE(8) !== this.uidvalidity) {
      await this.reset();
      return;
    }
    let o = HEADER;
    while (o + 8 <= buf.length) {
      const uid = buf.readUInt32LE(o);
      const len = buf.readUInt32LE(o + 4);
      if (o + 8 + len > buf.length) break;
      const r = byUid(uid);
      if (r) {
        if (r.cacheOffset >= 0) this.garbage += 8 + len;
        r.cacheOffset = o;
      } else this.garbage += 8 + len;
      o += 8 + len;
    }
    if (o !== buf.length) {
      // torn tail (crash while appending): cut it off
      await fsp.truncate(this.path, o).catch(() => undefined);
    }
    this.size = o;
  }

  private async reset(): Promise<void> {
    const h = Buffer.alloc(HEADER);
    h.write(MAGIC, 0, 'latin1');
    h.writeUInt32LE(this.uidvalidity >>> 0, 8);
    await fsp.writeFile(this.path, h, { mode: 0o600 }).catch(() => undefined);
    this.size = HEADER;
    this.garbage = 0;
  }

  private pending: { rec: MessageRecord; entry: Buffer }[] = [];

  /** Append an entry (written in batches); the record's cacheOffset is set once it is on disk. */
  add(rec: MessageRecord, parts: CachedParts): void {
    if (!this.loaded) return;
    this.pending.push({ rec, entry: encodeEntry(rec.uid, parts) });
    this.dropSnapshot();
    if (this.pending.length > 1) return;
    this.writing = this.writing.then(
      () =>
        new Promise<void>((resolve) => {
          // let the current FETCH batch add its entries, then write them with one call
          setImmediate(() => {
            const batch = this.pending;
            this.pending = [];
            const data = Buffer.concat(batch.map((b) => b.entry));
            fsp.appendFile(this.path, data).then(
              () => {
                let offset = this.size;
                for (const b of batch) {
                  if (b.rec.cacheOffset >= 0) this.garbage += b.entry.length;
                  b.rec.cacheOffset = offset;
                  offset += b.entry.length;
                }
                this.size = offset;
                resolve();
              },
              () => resolve(), // a cache that cannot be written is only slower
            );
          });
        }),
    );
  }

  async flush(): Promise<void> {
    await this.writing;
  }

  /** Read the entries of these records (records without one are left out). */
  async readMany(recs: readonly MessageRecord[]): Promise<Map<number, CachedParts>> {
    await this.writing;
    const out = new Map<number, CachedParts>();
    const want = recs.filter((r) => r.cacheOffset >= 0);
    if (want.length === 0) return out;
    if (want.length >= BULK) {
      const buf = await this.wholeFile();
      if (!buf) return out;
      for (const r of want) {
        const p = decodeEntry(buf, r.cacheOffset);
        if (p && buf.readUInt32LE(r.cacheOffset) === r.uid) out.set(r.uid, p);
      }
      return out;
    }
    const fh = await fsp.open(this.path, 'r').catch(() => undefined);
    if (!fh) return out;
    try {
      for (const r of want) {
        const head = Buffer.alloc(8);
        await fh.read(head, 0, 8, r.cacheOffset);
        if (head.readUInt32LE(0) !== r.uid) continue;
        const len = head.readUInt32LE(4);
        const body = Buffer.alloc(8 + len);
        const { bytesRead } = await fh.read(body, 0, 8 + len, r.cacheOffset);
        if (bytesRead !== 8 + len) continue;
        const p = decodeEntry(body, 0);
        if (p) out.set(r.uid, p);
      }
    } finally {
      await fh.close();
    }
    return out;
  }

  private async wholeFile(): Promise<Buffer | undefined> {
    if (!this.snapshot) {
      this.snapshot = await fsp.readFile(this.path).catch(() => undefined);
      if (!this.snapshot) return undefined;
    }
    if (this.snapshotTimer) clearTimeout(this.snapshotTimer);
    this.snapshotTimer = setTimeout(() => this.dropSnapshot(), 5000);
    this.snapshotTimer.unref?.();
    return this.snapshot;
  }

  private dropSnapshot(): void {
    this.snapshot = undefined;
    if (this.snapshotTimer) clearTimeout(this.snapshotTimer);
    this.snapshotTimer = undefined;
  }

  /** Rewrite the file with only the entries of `live` records, when much of it is garbage. */
  async compactIfNeeded(live: readonly MessageRecord[]): Promise<void> {
    await this.writing;
    if (!this.loaded || this.garbage < 1 << 20 || this.garbage < this.size / 2) return;
    const buf = await fsp.readFile(this.path).catch(() => undefined);
    if (!buf) return;
    const chunks: Buffer[] = [buf.subarray(0, HEADER)];
    let o = HEADER;
    const moves: [MessageRecord, number][] = [];
    for (const r of live) {
      if (r.cacheOffset < 0 || r.cacheOffset + 8 > buf.length) continue;
      const len = buf.readUInt32LE(r.cacheOffset + 4);
      chunks.push(buf.subarray(r.cacheOffset, r.cacheOffset + 8 + len));
      moves.push([r, o]);
      o += 8 + len;
    }
    this.dropSnapshot();
    const tmp = this.path + `.${process.pid}.tmp`;
    await fsp.writeFile(tmp, Buffer.concat(chunks), { mode: 0o600 });
    await fsp.rename(tmp, this.path);
    for (const [r, off] of moves) r.cacheOffset = off;
    this.size = o;
    this.garbage = 0;
  }
}
