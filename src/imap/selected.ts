// One session's view of its selected mailbox (RFC 3501 §2.3.1.2 message sequence
// numbers). The message list is the folder's shared one: the view is "live messages
// with UID ≤ limitUid" plus the expunged records this session has not been told about
// yet (RFC 3501 §7.4.1: no EXPUNGE during FETCH/STORE/SEARCH). Nothing per message is
// copied per session except those few pending records and \Recent ranges.
import type { Folder } from '../store/folder.js';
import { FLAG_SEEN, SYSTEM_FLAGS } from '../store/maildir/names.js';
import type { FolderListener, MessageRecord } from '../store/types.js';
import { resolveSet, type SeqRange, type SequenceSet } from './sequence.js';

export interface ViewEntry {
  seq: number;
  rec: MessageRecord;
}

function lowerBoundRecs(list: readonly MessageRecord[], uid: number): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (list[mid].uid < uid) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export class SelectedMailbox implements FolderListener {
  /** Highest UID this session has been told exists (EXISTS). */
  limitUid = 0;
  /** Expunged records not yet announced, sorted by UID. */
  private pending: MessageRecord[] = [];
  private pendingFlags = new Set<number>();
  private keywordsPending = false;
  /** \Recent UIDs of this session, as sorted [lo, hi] ranges. */
  private recent: SeqRange[] = [];
  /** Count reported in the last EXISTS. */
  private announcedExists = 0;
  private announcedRecent = 0;
  /** Keywords this session searched for that the folder does not define (Dovecot lists them in FLAGS). */
  private sessionKeywords: string[] = [];
  /** Called when something changed (IDLE pushes it at once). */
  onChange: (() => void) | undefined;

  constructor(
    readonly folder: Folder,
    /** Storage name of the mailbox. */
    readonly name: string,
    readonly readWrite: boolean,
  ) {}

  /** Take the initial view after SELECT's sync; `recentUids` as claimed (rw) or seen (EXAMINE). */
  start(recentUids: readonly number[]): void {
    this.limitUid = this.folder.maxUid;
    this.pending = [];
    this.pendingFlags.clear();
    this.keywordsPending = false;
    this.addRecent(recentUids);
    this.announcedExists = this.count;
    this.announcedRecent = this.recentCount();
  }

  private addRecent(uids: readonly number[]): void {
    for (const u of uids) {
      const last = this.recent[this.recent.length - 1];
      if (last && u === last[1] + 1) last[1] = u;
      else if (!last || u > last[1]) this.recent.push([u, u]);
      else if (!this.isRecent(u)) {
        this.recent.push([u, u]);
        this.recent.sort((a, b) => a[0] - b[0]);
      }
    }
  }

  isRecent(uid: number): boolean {
    let lo = 0;
    let hi = this.recent.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const r = this.recent[mid];
      if (uid < r[0]) hi = mid - 1;
      else if (uid > r[1]) lo = mid + 1;
      else return true;
    }
    return false;
  }

  recentCount(): number {
    let n = 0;
    const lim = this.folder.lowerBound(this.limitUid + 1);
    for (const [a, b] of this.recent) {
      const hi = Math.min(b, this.limitUid);
      if (hi < a) continue;
      n += Math.min(this.folder.lowerBound(hi + 1), lim) - this.folder.lowerBound(a);
      n += lowerBoundRecs(this.pending, hi + 1) - lowerBoundRecs(this.pending, a);
    }
    return n;
  }

  // ---------------------------------------------------------------- the view

  /** Number of messages in this session's view. */
  get count(): number {
    return this.folder.lowerBound(this.limitUid + 1) + this.pending.length;
  }

  private liveCount(): number {
    return this.folder.lowerBound(this.limitUid + 1);
  }

  /** The merged view (only built when there are pending expunges). */
  private merged(): MessageRecord[] {
    const live = this.folder.messages;
    const n = this.liveCount();
    const out: MessageRecord[] = new Array(n + this.pending.length);
    let i = 0;
    let j = 0;
    let k = 0;
    while (i < n || j < this.pending.length) {
      if (j >= this.pending.length || (i < n && live[i].uid < this.pending[j].uid)) out[k++] = live[i++];
      else out[k++] = this.pending[j++];
    }
    return out;
  }

  at(seq: number): MessageRecord | undefined {
    if (seq < 1 || seq > this.count) return undefined;
    if (this.pending.length === 0) return this.folder.messages[seq - 1];
    return this.merged()[seq - 1];
  }

  /** Sequence number of a UID in the view, 0 if not there. */
  seqOfUid(uid: number): number {
    if (uid > this.limitUid || uid < 1) return 0;
    const i = this.folder.lowerBound(uid);
    const j = lowerBoundRecs(this.pending, uid);
    const live = this.folder.messages[i];
    if ((live && live.uid === uid) || (this.pending[j] && this.pending[j].uid === uid)) return i + j + 1;
    return 0;
  }

  /** Highest UID in the view (for "*" in UID sets). */
  maxViewUid(): number {
    const n = this.liveCount();
    const a = n > 0 ? this.folder.messages[n - 1].uid : 0;
    const b = this.pending.length ? this.pending[this.pending.length - 1].uid : 0;
    return Math.max(a, b);
  }

  /** The messages a sequence set (or UID set) names, in sequence order. */
  select(set: SequenceSet, byUid: boolean): ViewEntry[] {
    const out: ViewEntry[] = [];
    if (byUid) {
      const ranges = resolveSet(set, this.maxViewUid());
      if (this.pending.length === 0) {
        const live = this.folder.messages;
        const n = this.liveCount();
        for (const [a, b] of ranges) {
          for (let i = this.folder.lowerBound(a); i < n && live[i].uid <= b; i++) out.push({ seq: i + 1, rec: live[i] });
        }
        return out;
      }
      const view = this.merged();
      for (const [a, b] of ranges) {
        for (let i = lowerBoundRecs(view, a); i < view.length && view[i].uid <= b; i++) out.push({ seq: i + 1, rec: view[i] });
      }
      return out;
    }
    const count = this.count;
    const ranges = resolveSet(set, count);
    const view = this.pending.length === 0 ? this.folder.messages : this.merged();
    for (const [a, b] of ranges) {
      for (let s = a; s <= Math.min(b, count); s++) out.push({ seq: s, rec: view[s - 1] });
    }
    return out;
  }

  /** Every message of the view with its sequence number (SEARCH). */
  all(): ViewEntry[] {
    const view = this.pending.length === 0 ? this.folder.messages.slice(0, this.liveCount()) : this.merged();
    return view.map((rec, i) => ({ seq: i + 1, rec }));
  }

  /** A sequence set names messages beyond the view? (RFC 3501: BAD "Invalid messageset") */
  outOfRange(set: SequenceSet): boolean {
    const count = this.count;
    for (const [a, b] of set.ranges) if ((a > count && a !== -1) || (b > count && b !== -1)) return true;
    return false;
  }

  firstUnseenSeq(): number {
    const view = this.pending.length === 0 ? this.folder.messages : this.merged();
    const n = this.count;
    for (let i = 0; i < n; i++) if (!(view[i].flags & FLAG_SEEN)) return i + 1;
    return 0;
  }

  // ---------------------------------------------------------------- flags text

  /** "(\Seen \Recent ProjectX)" in Dovecot's order. */
  flagsText(rec: MessageRecord): string {
    let out = '';
    const f = rec.flags;
    for (let i = 0; i < SYSTEM_FLAGS.length; i++) {
      if (f & SYSTEM_FLAGS[i][1]) out += (out ? ' ' : '') + SYSTEM_FLAGS[i][0];
    }
    if (this.recent.length && this.isRecent(rec.uid)) out += (out ? ' ' : '') + '\\Recent';
    if (f >>> 5) for (const k of this.folder.keywordNames(f)) out += (out ? ' ' : '') + k;
    return '(' + out + ')';
  }

  /** FLAGS response list: system flags then the folder's keywords. */
  flagsList(): string {
    return ['\\Answered', '\\Flagged', '\\Deleted', '\\Seen', '\\Draft', ...this.keywordList()].join(' ');
  }

  private keywordList(): string[] {
    const kws = this.folder.definedKeywords();
    for (const k of this.sessionKeywords) if (!this.folder.keywordBit(k)) kws.push(k);
    return kws;
  }

  /**
   * SEARCH KEYWORD of a keyword the folder does not have: Dovecot adds it to this session's
   * keyword list and announces FLAGS/PERMANENTFLAGS again (not written to dovecot-keywords).
   */
  noteSearchedKeyword(name: string): void {
    if (this.folder.keywordBit(name) || this.folder.keywordsFull) return;
    if (this.sessionKeywords.some((k) => k.toLowerCase() === name.toLowerCase())) return;
    this.sessionKeywords.push(name);
    this.keywordsPending = true;
  }

  permanentFlags(): string {
    if (!this.readWrite) return '()';
    const kws = this.keywordList();
    return '(' + ['\\Answered', '\\Flagged', '\\Deleted', '\\Seen', '\\Draft', ...kws, ...(this.folder.keywordsFull ? [] : ['\\*'])].join(' ') + ')';
  }

  // ---------------------------------------------------------------- FolderListener

  onNew(maxUid: number, recent: readonly number[]): void {
    this.addRecent(recent);
    if (maxUid > this.limitUid) this.onChange?.();
  }

  onExpunge(records: readonly MessageRecord[]): void {
    let any = false;
    for (const r of records) {
      if (r.uid > this.limitUid) continue;
      const j = lowerBoundRecs(this.pending, r.uid);
      if (this.pending[j]?.uid === r.uid) continue;
      this.pending.splice(j, 0, r);
      any = true;
    }
    if (any) this.onChange?.();
  }

  onFlags(records: readonly MessageRecord[], origin: FolderListener | undefined): void {
    if (origin === this) return;
    for (const r of records) if (r.uid <= this.limitUid) this.pendingFlags.add(r.uid);
    this.onChange?.();
  }

  onKeywords(): void {
    this.keywordsPending = true;
    this.onChange?.();
  }

  /** This session already reported these messages' flags (STORE/FETCH output). */
  flagsReported(uid: number): void {
    this.pendingFlags.delete(uid);
  }

  hasPending(): boolean {
    return this.pending.length > 0 || this.pendingFlags.size > 0 || this.keywordsPending || this.folder.maxUid > this.limitUid;
  }

  /** Announce the keyword list now (STORE defining a keyword sends it before its FETCHes). */
  keywordLines(): string[] {
    if (!this.keywordsPending) return [];
    this.keywordsPending = false;
    return [`* FLAGS (${this.flagsList()})`, `* OK [PERMANENTFLAGS ${this.permanentFlags()}] Flags permitted.`];
  }

  /**
   * Untagged updates owed to the client, in RFC 3501 order: EXPUNGE (only when
   * allowed), EXISTS/RECENT, FETCH FLAGS of messages others changed.
   */
  flush(allowExpunge: boolean, withModseq: boolean): string[] {
    const out = this.keywordLines();
    let recentChanged = false;
    if (allowExpunge && this.pending.length > 0) {
      while (this.pending.length > 0) {
        const r = this.pending[0];
        const seq = this.folder.lowerBound(r.uid) + 1;
        this.pending.shift();
        this.pendingFlags.delete(r.uid);
        out.push(`* ${seq} EXPUNGE`);
      }
      this.announcedExists = this.count;
      recentChanged = true;
    }
    const max = this.folder.maxUid;
    if (max > this.limitUid) {
      this.limitUid = max;
      this.announcedExists = this.count;
      out.push(`* ${this.announcedExists} EXISTS`);
      recentChanged = true;
    }
    if (recentChanged) {
      const rc = this.recentCount();
      if (rc !== this.announcedRecent || out.some((l) => l.endsWith('EXISTS'))) out.push(`* ${rc} RECENT`);
      this.announcedRecent = rc;
    }
    if (this.pendingFlags.size > 0) {
      const uids = [...this.pendingFlags].sort((a, b) => a - b);
      this.pendingFlags.clear();
      for (const uid of uids) {
        const seq = this.seqOfUid(uid);
        if (!seq) continue;
        const rec = this.folder.byUid(uid);
        if (!rec || rec.expunged) continue;
        out.push(`* ${seq} FETCH (UID ${uid} FLAGS ${this.flagsText(rec)}${withModseq ? ` MODSEQ (${rec.modseq})` : ''})`);
      }
    }
    return out;
  }
}
