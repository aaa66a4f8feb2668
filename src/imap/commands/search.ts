// SEARCH / UID SEARCH (RFC 3501 §6.4.4) with ESEARCH result options (RFC 4731) and
// the MODSEQ key (RFC 7162 §3.1.5). Keys on flags, sequence numbers, UIDs, sizes,
// INTERNALDATE and MODSEQ use the shared index only; SENT* use the folder cache;
// header and text keys read the message (through the MIME engine's predicates).
import iconv from 'iconv-lite';
import { FLAG_ANSWERED, FLAG_DELETED, FLAG_DRAFT, FLAG_FLAGGED, FLAG_SEEN } from '../../store/maildir/names.js';
import type { MessageRecord } from '../../store/types.js';
import { bodyMatches, cannotMatchText, headerMatches, openMessage, textMatches, type MessageView } from '../fetch-message.js';
import { ParseError, type CommandParser } from '../protocol/parser.js';
import { quote } from '../protocol/encode.js';
import { formatNumbers, inRanges, resolveSet, type SequenceSet } from '../sequence.js';
import type { SelectedMailbox, ViewEntry } from '../selected.js';
import type { Reply, Session } from '../session.js';
import { computeParts, localOffset } from './fetch.js';

export type SearchKey =
  | { k: 'all' }
  | { k: 'flag'; bit: number; set: boolean }
  | { k: 'keyword'; name: string; set: boolean }
  | { k: 'recent'; set: boolean }
  | { k: 'new' }
  | { k: 'seq'; set: SequenceSet }
  | { k: 'uid'; set: SequenceSet }
  | { k: 'size'; larger: boolean; n: number }
  | { k: 'date'; op: 'before' | 'on' | 'since'; day: number; sent: boolean }
  | { k: 'header'; field: string; value: string }
  | { k: 'body'; value: string }
  | { k: 'text'; value: string }
  | { k: 'modseq'; n: number }
  | { k: 'not'; key: SearchKey }
  | { k: 'or'; a: SearchKey; b: SearchKey }
  | { k: 'and'; keys: SearchKey[] };

const DAY = 86_400_000;

function dayNumber([y, m, d]: [number, number, number]): number {
  return Date.UTC(y, m, d) / DAY;
}

class Parser {
  usedModseq = false;
  constructor(
    private readonly p: CommandParser,
    private readonly charset: string,
  ) {}

  async string(): Promise<string> {
    const b = await this.p.astring();
    if (this.charset === 'UTF-8' || this.charset === 'US-ASCII') return b.toString('utf8');
    return iconv.decode(b, this.charset);
  }

  /** One search-key. */
  async key(depth = 0): Promise<SearchKey> {
    const p = this.p;
    if (depth > 100) throw new ParseError('Too deep search nesting');
    if (p.atEnd()) throw new ParseError('Missing argument');
    if (p.maybeChar('(')) {
      const keys: SearchKey[] = [];
      while (!p.maybeChar(')')) {
        if (keys.length) p.sp();
        keys.push(await this.key(depth + 1));
      }
      if (keys.length === 0) throw new ParseError('Missing argument');
      return keys.length === 1 ? keys[0] : { k: 'and', keys };
    }
    if (p.looksLikeSequenceSet()) return { k: 'seq', set: p.sequenceSet() };
    const name = p.atom('search key').toUpperCase();
    const arg = async (): Promise<string> => {
      if (p.atEnd()) throw new ParseError('Missing argument');
      p.sp();
      return this.string();
    };
    const date = (op: 'before' | 'on' | 'since', sent: boolean): SearchKey => {
      if (p.atEnd()) throw new ParseError('Missing argument');
      p.sp();
      return { k: 'date', op, sent, day: dayNumber(p.date()) };
    };
    const size = (larger: boolean): SearchKey => {
      if (p.atEnd()) throw new ParseError('Missing argument');
      p.sp();
      const w = p.word();
      if (!/^\d{1,15}$/.test(w)) throw new ParseError('Invalid search size parameter');
      return { k: 'size', larger, n: Number(w) };
    };
    const sub = async (): Promise<SearchKey> => {
      if (p.atEnd()) throw new ParseError('Missing argument');
      p.sp();
      return this.key(depth + 1);
    };
    switch (name) {
      case 'ALL':
        return { k: 'all' };
      case 'ANSWERED':
      case 'UNANSWERED':
        return { k: 'flag', bit: FLAG_ANSWERED, set: name === 'ANSWERED' };
      case 'DELETED':
      case 'UNDELETED':
        return { k: 'flag', bit: FLAG_DELETED, set: name === 'DELETED' };
      case 'DRAFT':
      case 'UNDRAFT':
        return { k: 'flag', bit: FLAG_DRAFT, set: name === 'DRAFT' };
      case 'FLAGGED':
      case 'UNFLAGGED':
        return { k: 'flag', bit: FLAG_FLAGGED, set: name === 'FLAGGED' };
      case 'SEEN':
      case 'UNSEEN':
        return { k: 'flag', bit: FLAG_SEEN, set: name === 'SEEN' };
      case 'RECENT':
      case 'OLD':
        return { k: 'recent', set: name === 'RECENT' };
      case 'NEW':
        return { k: 'new' };
      case 'KEYWORD':
      case 'UNKEYWORD': {
        if (p.atEnd()) throw new ParseError('Missing argument');
        p.sp();
        return { k: 'keyword', name: p.flag(), set: name === 'KEYWORD' };
      }
      case 'BEFORE':
        return date('before', false);
      case 'ON':
        return date('on', false);
      case 'SINCE':
        return date('since', false);
      case 'SENTBEFORE':
        return date('before', true);
      case 'SENTON':
        return date('on', true);
      case 'SENTSINCE':
        return date('since', true);
      case 'LARGER':
        return size(true);
      case 'SMALLER':
        return size(false);
      case 'BCC':
      case 'CC':
      case 'FROM':
      case 'TO':
      case 'SUBJECT':
        return { k: 'header', field: name, value: await arg() };
      case 'HEADER': {
        if (p.atEnd()) throw new ParseError('Missing argument');
        p.sp();
        const field = (await p.astring()).toString('latin1');
        return { k: 'header', field, value: await arg() };
      }
      case 'BODY':
        return { k: 'body', value: await arg() };
      case 'TEXT':
        return { k: 'text', value: await arg() };
      case 'UID': {
        if (p.atEnd()) throw new ParseError('Missing argument');
        p.sp();
        const set = p.sequenceSet();
        return { k: 'uid', set };
      }
      case 'NOT':
        return { k: 'not', key: await sub() };
      case 'OR': {
        const a = await sub();
        const b = await sub();
        return { k: 'or', a, b };
      }
      case 'MODSEQ': {
        // RFC 7162: MODSEQ [entry-name entry-type-req] mod-sequence-valzer
        if (p.atEnd()) throw new ParseError('Missing argument');
        p.sp();
        if (p.peek() === 0x22) {
          p.quoted();
          p.sp();
          const t = p.atom().toLowerCase();
          if (!['priv', 'shared', 'all'].includes(t)) throw new ParseError('Invalid MODSEQ entry type');
          p.sp();
        }
        this.usedModseq = true;
        return { k: 'modseq', n: p.number64('modseq') };
      }
    }
    throw new ParseError(`Unknown argument ${name}`);
  }
}

/** Costs: 0 index, 1 folder cache (SENT*), 2 message file. */
function cost(key: SearchKey): number {
  switch (key.k) {
    case 'date':
      return key.sent ? 1 : 0;
    case 'header':
    case 'body':
    case 'text':
      return 2;
    case 'not':
      return cost(key.key);
    case 'or':
      return Math.max(cost(key.a), cost(key.b));
    case 'and':
      return Math.max(0, ...key.keys.map(cost));
    default:
      return 0;
  }
}

function orderCheapFirst(key: SearchKey): SearchKey {
  switch (key.k) {
    case 'and':
      return { k: 'and', keys: key.keys.map(orderCheapFirst).sort((a, b) => cost(a) - cost(b)) };
    case 'or':
      return { k: 'or', a: orderCheapFirst(key.a), b: orderCheapFirst(key.b) };
    case 'not':
      return { k: 'not', key: orderCheapFirst(key.key) };
    default:
      return key;
  }
}

interface Ctx {
  e: ViewEntry;
  count: number;
  maxUid: number;
  sel: SelectedMailbox;
  /** Date: header day (UTC midnight of its own calendar day), NaN when none; undefined when not loaded. */
  sentDay?: number;
  msg?: MessageView | null;
  /** The stored file, for the quick BODY/TEXT rejection before parsing. */
  file?: Buffer;
}

/** Three-valued evaluation: undefined when a key needs data not loaded yet. */
function evaluate(key: SearchKey, c: Ctx): boolean | undefined {
  const r: MessageRecord = c.e.rec;
  switch (key.k) {
    case 'all':
      return true;
    case 'flag':
      return !!(r.flags & key.bit) === key.set;
    case 'keyword': {
      const bit = c.sel.folder.keywordBit(key.name);
      return (bit !== 0 && !!(r.flags & bit)) === key.set;
    }
    case 'recent':
      return c.sel.isRecent(r.uid) === key.set;
    case 'new':
      return c.sel.isRecent(r.uid) && !(r.flags & FLAG_SEEN);
    case 'seq':
      return inRanges(resolveSet(key.set, c.count), c.e.seq);
    case 'uid':
      return inRanges(resolveSet(key.set, c.maxUid), r.uid);
    case 'size':
      return key.larger ? r.vsize > key.n : r.vsize < key.n;
    case 'modseq':
      return r.modseq >= key.n;
    case 'date': {
      let day: number;
      if (key.sent) {
        if (c.sentDay === undefined) return undefined;
        // no or unparseable Date: behaves as the epoch (Dovecot: matches SENTBEFORE, not SENTSINCE)
        day = Number.isNaN(c.sentDay) ? 0 : c.sentDay / DAY;
      } else {
        day = Math.floor((r.mtime + localOffset(r.mtime) * 60_000) / DAY);
      }
      return key.op === 'before' ? day < key.day : key.op === 'on' ? day === key.day : day >= key.day;
    }
    case 'header':
    case 'body':
    case 'text': {
      if (key.k !== 'header' && c.file && cannotMatchText(c.file, key.value)) return false;
      if (c.msg === undefined) return undefined;
      if (c.msg === null) return false;
      if (key.k === 'header') return headerMatches(c.msg, key.field, key.value);
      if (key.k === 'body') return bodyMatches(c.msg, key.value);
      return textMatches(c.msg, key.value);
    }
    case 'not': {
      const v = evaluate(key.key, c);
      return v === undefined ? undefined : !v;
    }
    case 'or': {
      const a = evaluate(key.a, c);
      if (a === true) return true;
      const b = evaluate(key.b, c);
      if (b === true) return true;
      return a === undefined || b === undefined ? undefined : false;
    }
    case 'and': {
      let unknown = false;
      for (const k of key.keys) {
        const v = evaluate(k, c);
        if (v === false) return false;
        if (v === undefined) unknown = true;
      }
      return unknown ? undefined : true;
    }
  }
}

/** Does the key tree contain a key of this kind? */
function uses(key: SearchKey, kind: SearchKey['k'], pred: (k: SearchKey) => boolean = () => true): boolean {
  if (key.k === kind && pred(key)) return true;
  switch (key.k) {
    case 'not':
      return uses(key.key, kind, pred);
    case 'or':
      return uses(key.a, kind, pred) || uses(key.b, kind, pred);
    case 'and':
      return key.keys.some((k) => uses(k, kind, pred));
    default:
      return false;
  }
}

function forEachKey(key: SearchKey, fn: (k: SearchKey) => void): void {
  fn(key);
  if (key.k === 'not') forEachKey(key.key, fn);
  else if (key.k === 'or') {
    forEachKey(key.a, fn);
    forEachKey(key.b, fn);
  } else if (key.k === 'and') for (const k of key.keys) forEachKey(k, fn);
}

function needsSent(key: SearchKey): boolean {
  return uses(key, 'date', (k) => k.k === 'date' && k.sent);
}

const CHARSETS_OK = new Set(['UTF-8', 'US-ASCII']);

export async function searchCommand(s: Session, sel: SelectedMailbox, byUid: boolean, tag: string): Promise<Reply> {
  const p = s.parser;
  p.sp();
  // RFC 4731 ESEARCH: SEARCH RETURN (MIN MAX ALL COUNT)
  let ret: Set<string> | undefined;
  if (p.peekAtomUpper() === 'RETURN') {
    p.atom();
    p.sp();
    p.expectChar('(');
    ret = new Set();
    while (!p.maybeChar(')')) {
      if (ret.size) p.sp();
      const opt = p.atom().toUpperCase();
      if (!['MIN', 'MAX', 'ALL', 'COUNT', 'SAVE'].includes(opt)) throw new ParseError(`Unknown SEARCH RETURN option ${opt}`);
      if (opt === 'SAVE') throw new ParseError('SEARCHRES is not supported');
      ret.add(opt);
    }
    if (ret.size === 0) ret.add('ALL');
    p.sp();
  }
  let charset = 'UTF-8';
  let badCharset = false;
  if (p.peekAtomUpper() === 'CHARSET') {
    p.atom();
    p.sp();
    charset = (await p.astring()).toString('latin1').toUpperCase();
    if (!CHARSETS_OK.has(charset) && !iconv.encodingExists(charset)) badCharset = true;
    p.sp();
  }
  const parser = new Parser(p, badCharset ? 'UTF-8' : charset);
  const keys: SearchKey[] = [];
  do {
    if (keys.length) p.sp();
    keys.push(await parser.key());
  } while (!p.atEnd());
  if (badCharset) return { status: 'NO', code: 'BADCHARSET', text: 'Unknown charset' };
  for (const k of keys) forEachKey(k, (x) => x.k === 'keyword' && sel.noteSearchedKeyword(x.name));
  if (parser.usedModseq) s.condstore = true;
  const root = orderCheapFirst(keys.length === 1 ? keys[0] : { k: 'and', keys });
  const folder = sel.folder;
  const entries = sel.all();
  const count = entries.length;
  const maxUid = sel.maxViewUid();
  const wantSent = needsSent(root);
  if (uses(root, 'size')) {
    for (const e of entries) if (e.rec.vsize < 0 && !e.rec.expunged) await folder.ensureSizes(e.rec).catch(() => undefined);
  }
  const hits: ViewEntry[] = [];
  const BATCH = 500;
  for (let b = 0; b < entries.length; b += BATCH) {
    const batch = entries.slice(b, b + BATCH);
    const cached = wantSent ? await folder.cached(batch.map((e) => e.rec)) : undefined;
    const undecided: Ctx[] = [];
    for (const e of batch) {
      const c: Ctx = { e, count, maxUid, sel };
      if (wantSent) {
        const sd = cached!.get(e.rec.uid)?.sentDate;
        if (sd !== undefined) c.sentDay = sd;
      }
      const v = evaluate(root, c);
      if (v === undefined) undecided.push(c);
      else if (v) hits.push(e);
    }
    if (undecided.length === 0) continue;
    const files = await folder.readRawMany(undecided.map((c) => c.e.rec));
    for (const c of undecided) {
      c.file = files.get(c.e.rec.uid);
      let v = c.file ? evaluate(root, c) : undefined;
      if (v === undefined) {
        c.msg = c.file ? openMessage(c.file) : null;
        if (c.msg && wantSent && c.sentDay === undefined) c.sentDay = computeParts(folder, c.e.rec, c.msg).sentDate ?? NaN;
        if (c.sentDay === undefined) c.sentDay = NaN;
        v = evaluate(root, c);
      }
      if (v) hits.push(c.e);
    }
  }
  hits.sort((a, b) => a.seq - b.seq);
  const nums = hits.map((h) => (byUid ? h.rec.uid : h.seq));
  let highest = 0;
  if (parser.usedModseq) for (const h of hits) if (h.rec.modseq > highest) highest = h.rec.modseq;
  if (ret) {
    let line = `* ESEARCH (TAG ${quote(tag)})${byUid ? ' UID' : ''}`;
    if (nums.length) {
      if (ret.has('MIN')) line += ` MIN ${nums[0]}`;
      if (ret.has('MAX')) line += ` MAX ${nums[nums.length - 1]}`;
      if (ret.has('ALL')) line += ` ALL ${formatNumbers(nums)}`;
    }
    if (ret.has('COUNT')) line += ` COUNT ${nums.length}`;
    if (highest) line += ` MODSEQ ${highest}`;
    await s.untagged(line);
  } else {
    let line = '* SEARCH';
    // long results are sent in pieces to keep memory flat
    const CHUNK = 5000;
    for (let i = 0; i < nums.length; i += CHUNK) {
      line += ' ' + nums.slice(i, i + CHUNK).join(' ');
      if (i + CHUNK < nums.length) {
        await s.sendNow(line);
        line = '';
      }
    }
    if (highest) line += ` (MODSEQ ${highest})`;
    await s.untagged(line);
  }
  return { status: 'OK', text: 'Search completed.' };
}
