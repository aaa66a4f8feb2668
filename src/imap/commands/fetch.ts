// FETCH / UID FETCH (RFC 3501 §6.4.5, §7.4.2) with BINARY (RFC 3516), MODSEQ and
// CHANGEDSINCE (RFC 7162 §3.1.4-3.1.5). Flags, dates, sizes and MODSEQ come from the
// shared index; ENVELOPE/BODYSTRUCTURE/BODY from the folder cache (computed once per
// message); sections read the message file.
import type { Folder } from '../../store/folder.js';
import { FLAG_SEEN } from '../../store/maildir/names.js';
import type { CachedParts, MessageRecord } from '../../store/types.js';
import {
  binaryOf,
  binarySizeOf,
  bodyStructureOf,
  envelopeOf,
  openMessage,
  sectionOf,
  sentDateOf,
  type MessageView,
  type SectionSpec,
} from '../fetch-message.js';
import { formatInternalDate } from '../protocol/encode.js';
import { ParseError, type CommandParser } from '../protocol/parser.js';
import type { SelectedMailbox, ViewEntry } from '../selected.js';
import type { Reply, Session } from '../session.js';

export type FetchItem =
  | { kind: 'UID' | 'FLAGS' | 'INTERNALDATE' | 'RFC822.SIZE' | 'ENVELOPE' | 'BODYSTRUCTURE' | 'BODY' | 'MODSEQ' }
  | { kind: 'section'; peek: boolean; section: SectionSpec; partial?: [number, number]; label: string }
  | { kind: 'binary'; peek: boolean; part: number[]; partial?: [number, number]; label: string }
  | { kind: 'binarysize'; part: number[]; label: string };

const MACROS: Record<string, FetchItem['kind'][]> = {
  ALL: ['FLAGS', 'INTERNALDATE', 'RFC822.SIZE', 'ENVELOPE'],
  FAST: ['FLAGS', 'INTERNALDATE', 'RFC822.SIZE'],
  FULL: ['FLAGS', 'INTERNALDATE', 'RFC822.SIZE', 'ENVELOPE', 'BODY'],
};

/** Parse "[section]" after BODY / BODY.PEEK. */
async function parseSection(p: CommandParser): Promise<{ section: SectionSpec; text: string }> {
  p.expectChar('[');
  const part: number[] = [];
  let text = '';
  const section: SectionSpec = { part };
  while (p.peek() >= 0x30 && p.peek() <= 0x39) {
    const n = p.number('section part');
    if (n === 0) throw new ParseError('Invalid section');
    part.push(n);
    if (!p.maybeChar('.')) break;
  }
  const spec = p.word((c) => c === 0x5d || c === 0x20).toUpperCase();
  if (part.length && spec === '' && text === '' && p.line[p.pos - 1] === 0x2e) throw new ParseError('Invalid section');
  if (spec) {
    if (!['HEADER', 'HEADER.FIELDS', 'HEADER.FIELDS.NOT', 'TEXT', 'MIME'].includes(spec)) throw new ParseError('Invalid BODY[..] parameter: Unknown section');
    if (spec === 'MIME' && part.length === 0) throw new ParseError('Invalid BODY[..] parameter: MIME needs a part number');
    section.text = spec as SectionSpec['text'];
    if (spec.startsWith('HEADER.FIELDS')) {
      p.sp();
      p.expectChar('(');
      const fields: string[] = [];
      while (!p.maybeChar(')')) {
        if (fields.length) p.sp();
        fields.push((await p.astring()).toString('latin1'));
      }
      if (fields.length === 0) throw new ParseError('Invalid BODY[..] parameter: Empty header list');
      section.fields = fields;
    }
  }
  p.expectChar(']');
  let label = part.join('.');
  if (section.text) label += (label ? '.' : '') + section.text;
  if (section.fields) label += ` (${section.fields.join(' ')})`;
  text = label;
  return { section, text };
}

function parsePartial(p: CommandParser): [number, number] | undefined {
  if (!p.maybeChar('<')) return undefined;
  const start = p.number('partial');
  p.expectChar('.');
  const len = p.number('partial');
  if (len === 0) throw new ParseError('Invalid partial');
  p.expectChar('>');
  return [start, len];
}

async function parseBinaryPart(p: CommandParser): Promise<number[]> {
  p.expectChar('[');
  const part: number[] = [];
  while (p.peek() >= 0x30 && p.peek() <= 0x39) {
    const n = p.number('section part');
    if (n === 0) throw new ParseError('Invalid section');
    part.push(n);
    if (!p.maybeChar('.')) break;
  }
  p.expectChar(']');
  return part;
}

export async function parseFetchItem(p: CommandParser): Promise<FetchItem[]> {
  const start = p.pos;
  const name = p.word((c) => c === 0x20 || c === 0x29 || c === 0x5b || c === 0x3c).toUpperCase();
  if (MACROS[name]) return MACROS[name].map((kind) => ({ kind }) as FetchItem);
  switch (name) {
    case 'UID':
    case 'FLAGS':
    case 'INTERNALDATE':
    case 'RFC822.SIZE':
    case 'ENVELOPE':
    case 'BODYSTRUCTURE':
    case 'MODSEQ':
      return [{ kind: name }];
    case 'RFC822':
      return [{ kind: 'section', peek: false, section: { part: [] }, label: 'RFC822' }];
    case 'RFC822.HEADER':
      return [{ kind: 'section', peek: true, section: { part: [], text: 'HEADER' }, label: 'RFC822.HEADER' }];
    case 'RFC822.TEXT':
      return [{ kind: 'section', peek: false, section: { part: [], text: 'TEXT' }, label: 'RFC822.TEXT' }];
    case 'BODY':
    case 'BODY.PEEK': {
      if (p.peek() !== 0x5b) {
        if (name === 'BODY.PEEK') throw new ParseError('Invalid BODY.PEEK');
        return [{ kind: 'BODY' }];
      }
      const { section, text } = await parseSection(p);
      const partial = parsePartial(p);
      return [{ kind: 'section', peek: name === 'BODY.PEEK', section, partial, label: `BODY[${text}]` }];
    }
    case 'BINARY':
    case 'BINARY.PEEK': {
      const part = await parseBinaryPart(p);
      const partial = parsePartial(p);
      return [{ kind: 'binary', peek: name === 'BINARY.PEEK', part, partial, label: `BINARY[${part.join('.')}]` }];
    }
    case 'BINARY.SIZE': {
      const part = await parseBinaryPart(p);
      return [{ kind: 'binarysize', part, label: `BINARY.SIZE[${part.join('.')}]` }];
    }
  }
  p.pos = start;
  throw new ParseError(`Unknown parameter ${name || p.rest().split(' ')[0]}`);
}

interface FetchRequest {
  items: FetchItem[];
  changedSince?: number;
}

async function parseFetch(p: CommandParser): Promise<FetchRequest> {
  const items: FetchItem[] = [];
  if (p.maybeChar('(')) {
    while (!p.maybeChar(')')) {
      if (items.length) p.sp();
      items.push(...(await parseFetchItem(p)));
    }
    if (items.length === 0) throw new ParseError('Missing fetch items');
  } else items.push(...(await parseFetchItem(p)));
  let changedSince: number | undefined;
  if (p.maybeSp()) {
    // RFC 4466 fetch-modifiers: (CHANGEDSINCE n)
    p.expectChar('(');
    while (!p.maybeChar(')')) {
      const mod = p.atom().toUpperCase();
      if (mod === 'CHANGEDSINCE') {
        p.sp();
        changedSince = p.number64('modseq');
        if (changedSince === 0) throw new ParseError('Invalid CHANGEDSINCE modseq');
      } else throw new ParseError(`Unknown FETCH modifier ${mod}`);
      p.maybeSp();
    }
  }
  p.expectEnd();
  return { items, changedSince };
}

function slicePartial(data: Buffer, partial: [number, number] | undefined): Buffer {
  if (!partial) return data;
  const [start, len] = partial;
  if (start >= data.length) return Buffer.alloc(0);
  return data.subarray(start, Math.min(data.length, start + len));
}

/** Compute and cache ENVELOPE / BODYSTRUCTURE / BODY / Date: of a message. */
export function computeParts(folder: Folder, rec: MessageRecord, m: MessageView): CachedParts {
  const sent = sentDateOf(m);
  const parts: CachedParts = {
    envelope: envelopeOf(m),
    bodystructure: bodyStructureOf(m, true),
    body: bodyStructureOf(m, false),
    sentDate: sent ? Date.UTC(sent.day[0], sent.day[1], sent.day[2]) : NaN,
  };
  folder.addToCache(rec, parts);
  return parts;
}

/** The server's UTC offset at a given time, in minutes (INTERNALDATE is shown in the server zone, as Dovecot does). */
export function localOffset(ms: number): number {
  return -new Date(ms).getTimezoneOffset();
}

export async function fetchCommand(s: Session, sel: SelectedMailbox, byUid: boolean): Promise<Reply> {
  const p = s.parser;
  p.sp();
  const set = p.sequenceSet();
  p.sp();
  const req = await parseFetch(p);
  if (set.saved) throw new ParseError('Invalid messageset');
  if (!byUid && sel.outOfRange(set)) throw new ParseError('Invalid messageset');
  const folder = sel.folder;
  let entries = sel.select(set, byUid);
  const items = req.items;
  const wantsModseq = items.some((i) => i.kind === 'MODSEQ') || req.changedSince !== undefined;
  if (wantsModseq) s.condstore = true;
  if (req.changedSince !== undefined) entries = entries.filter((e) => e.rec.modseq > req.changedSince!);
  // UID first (implied by UID FETCH), MODSEQ implied by CHANGEDSINCE (RFC 7162 §3.1.4)
  const ordered: FetchItem[] = [];
  if (byUid || items.some((i) => i.kind === 'UID')) ordered.push({ kind: 'UID' });
  for (const it of items) if (it.kind !== 'UID' && !ordered.some((o) => o.kind === it.kind && o.kind !== 'section' && o.kind !== 'binary' && o.kind !== 'binarysize')) ordered.push(it);
  if (req.changedSince !== undefined && !ordered.some((i) => i.kind === 'MODSEQ')) ordered.push({ kind: 'MODSEQ' });

  const needCache = ordered.some((i) => i.kind === 'ENVELOPE' || i.kind === 'BODYSTRUCTURE' || i.kind === 'BODY');
  const needRaw = ordered.some((i) => i.kind === 'section' || i.kind === 'binary' || i.kind === 'binarysize');
  const setsSeen = sel.readWrite && ordered.some((i) => (i.kind === 'section' || i.kind === 'binary') && !i.peek);

  // \Seen is set by non-PEEK body fetches (RFC 3501 §6.4.5); the FETCH then also carries FLAGS
  const seenChanged = new Set<number>();
  if (setsSeen) {
    const todo = entries.filter((e) => !(e.rec.flags & FLAG_SEEN) && !e.rec.expunged).map((e) => e.rec.uid);
    if (todo.length) {
      const r = await folder.storeFlags(todo, 'add', FLAG_SEEN, sel);
      for (const c of r.changed) seenChanged.add(c.uid);
    }
  }

  if (!needCache && !needRaw && seenChanged.size === 0) {
    // fast path: everything comes from the shared index (UID FETCH 1:* (FLAGS) on big folders)
    await fetchFromIndex(s, sel, entries, ordered);
    return { status: 'OK', text: 'Fetch completed.' };
  }

  let expungeIssued = false;
  let failure: Reply | undefined;
  const BATCH = 500;
  for (let b = 0; b < entries.length && !failure; b += BATCH) {
    const batch = entries.slice(b, b + BATCH);
    const cached = needCache ? await folder.cached(batch.map((e) => e.rec)) : undefined;
    if (ordered.some((i) => i.kind === 'RFC822.SIZE')) {
      for (const e of batch) if (e.rec.vsize < 0 && !e.rec.expunged) await folder.ensureSizes(e.rec).catch(() => undefined);
    }
    // message files this batch needs, read in one go
    const wantFiles = batch.filter((e) => needRaw || (needCache && !hasAllParts(cached?.get(e.rec.uid))));
    const files = wantFiles.length ? await folder.readRawMany(wantFiles.map((e) => e.rec)) : undefined;
    const chunks: Buffer[] = [];
    let size = 0;
    for (const e of batch) {
      const r = await fetchOne(s, sel, e, ordered, cached?.get(e.rec.uid), needRaw, seenChanged.has(e.rec.uid), files?.get(e.rec.uid));
      if ('failure' in r) {
        chunks.push(r.data);
        failure = r.failure;
        break;
      }
      if (r.expunged) expungeIssued = true;
      if (r.data.length) {
        chunks.push(r.data);
        size += r.data.length;
      }
      if (size > 256 * 1024) {
        await s.sendNow(Buffer.concat(chunks));
        chunks.length = 0;
        size = 0;
      }
    }
    if (chunks.length) await s.sendNow(Buffer.concat(chunks));
  }
  if (failure) return failure;
  if (expungeIssued) return { status: 'NO', code: 'EXPUNGEISSUED', text: 'Some of the requested messages no longer exist.' };
  return { status: 'OK', text: 'Fetch completed.' };
}

async function fetchFromIndex(s: Session, sel: SelectedMailbox, entries: ViewEntry[], items: FetchItem[]): Promise<void> {
  const tz = s.settings.timezoneOffset ?? localOffset;
  let out = '';
  for (let i = 0; i < entries.length; i++) {
    const { seq, rec } = entries[i];
    let line = '* ' + seq + ' FETCH (';
    for (let k = 0; k < items.length; k++) {
      if (k > 0) line += ' ';
      switch (items[k].kind) {
        case 'UID':
          line += 'UID ' + rec.uid;
          break;
        case 'FLAGS':
          line += 'FLAGS ' + sel.flagsText(rec);
          sel.flagsReported(rec.uid);
          break;
        case 'INTERNALDATE':
          line += 'INTERNALDATE "' + formatInternalDate(rec.mtime, tz(rec.mtime)) + '"';
          break;
        case 'RFC822.SIZE':
          line += 'RFC822.SIZE ' + (rec.vsize >= 0 ? rec.vsize : 0);
          break;
        case 'MODSEQ':
          line += 'MODSEQ (' + rec.modseq + ')';
          break;
      }
    }
    out += line + ')\r\n';
    if (out.length > 256 * 1024) {
      await s.sendNow(out);
      out = '';
    }
  }
  if (out) await s.sendNow(out);
}

function hasAllParts(p: CachedParts | undefined): boolean {
  return !!(p && p.envelope && p.bodystructure && p.body);
}

type OneResult = { data: Buffer; expunged: boolean } | { data: Buffer; failure: Reply };

async function fetchOne(
  s: Session,
  sel: SelectedMailbox,
  e: ViewEntry,
  items: FetchItem[],
  cached: CachedParts | undefined,
  needRaw: boolean,
  seenChanged: boolean,
  file: Buffer | undefined,
): Promise<OneResult> {
  const folder = sel.folder;
  const rec = e.rec;
  let msg: MessageView | undefined;
  let gone = rec.expunged === true;
  const load = async (): Promise<MessageView | undefined> => {
    if (msg || gone) return msg;
    const raw = file ?? (await folder.readRaw(rec));
    if (!raw) {
      gone = true;
      return undefined;
    }
    msg = openMessage(raw);
    return msg;
  };
  const wantsParts = items.some((i) => i.kind === 'ENVELOPE' || i.kind === 'BODYSTRUCTURE' || i.kind === 'BODY');
  if (wantsParts && !hasAllParts(cached)) {
    const m = await load();
    if (m) cached = computeParts(folder, rec, m);
  }
  const parts: Buffer[] = [];
  const text = (t: string) => parts.push(Buffer.from(t, 'latin1'));
  let first = true;
  const sep = () => {
    if (!first) text(' ');
    first = false;
  };
  let flagsSent = false;
  for (const it of items) {
    switch (it.kind) {
      case 'UID':
        sep();
        text(`UID ${rec.uid}`);
        break;
      case 'FLAGS':
        sep();
        text(`FLAGS ${sel.flagsText(rec)}`);
        flagsSent = true;
        break;
      case 'INTERNALDATE':
        sep();
        text(`INTERNALDATE "${formatInternalDate(rec.mtime, (s.settings.timezoneOffset ?? localOffset)(rec.mtime))}"`);
        break;
      case 'RFC822.SIZE':
        sep();
        text(`RFC822.SIZE ${rec.vsize >= 0 ? rec.vsize : msg?.raw.length ?? 0}`);
        break;
      case 'MODSEQ':
        sep();
        text(`MODSEQ (${rec.modseq})`);
        break;
      case 'ENVELOPE':
        if (!cached?.envelope) break;
        sep();
        text('ENVELOPE ');
        parts.push(cached.envelope);
        break;
      case 'BODYSTRUCTURE':
        if (!cached?.bodystructure) break;
        sep();
        text('BODYSTRUCTURE ');
        parts.push(cached.bodystructure);
        break;
      case 'BODY':
        if (!cached?.body) break;
        sep();
        text('BODY ');
        parts.push(cached.body);
        break;
      case 'section': {
        const m = await load();
        if (!m) break;
        const data = sectionOf(m, it.section);
        sep();
        const label = it.partial ? `${it.label}<${it.partial[0]}>` : it.label;
        const d = slicePartial(data, it.partial);
        text(`${label} {${d.length}}\r\n`);
        parts.push(d);
        break;
      }
      case 'binary':
      case 'binarysize': {
        const m = await load();
        if (!m) break;
        if (it.kind === 'binarysize') {
          const r = binarySizeOf(m, it.part);
          if (!r.ok) return binaryFailure(e, r.code, r.text);
          sep();
          text(`${it.label} ${r.size}`);
        } else {
          const r = binaryOf(m, it.part);
          if (!r.ok) return binaryFailure(e, r.code, r.text);
          const d = slicePartial(r.data, it.partial);
          sep();
          const label = it.partial ? `${it.label}<${it.partial[0]}>` : it.label;
          text(`${label} ${r.decoded ? '~' : ''}{${d.length}}\r\n`);
          parts.push(d);
        }
        break;
      }
    }
  }
  if (seenChanged && !flagsSent) {
    sep();
    text(`FLAGS ${sel.flagsText(rec)}`);
    flagsSent = true;
  }
  if (flagsSent) sel.flagsReported(rec.uid);
  if (first) return { data: Buffer.alloc(0), expunged: gone };
  const head = Buffer.from(`* ${e.seq} FETCH (`, 'latin1');
  return { data: Buffer.concat([head, ...parts, Buffer.from(')\r\n')]), expunged: gone };
}

function binaryFailure(e: ViewEntry, code: string, text: string): OneResult {
  // Dovecot sends the message's UID before the tagged NO
  return { data: Buffer.from(`* ${e.seq} FETCH (UID ${e.rec.uid})\r\n`), failure: { status: 'NO', code, text } };
}
