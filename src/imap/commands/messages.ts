// STORE (RFC 3501 §6.4.6, RFC 7162 UNCHANGEDSINCE), COPY (§6.4.7, RFC 4315 COPYUID),
// MOVE (RFC 6851), EXPUNGE / UID EXPUNGE (§6.4.3, RFC 4315).
import type { FlagOperation } from '../../store/types.js';
import { ParseError } from '../protocol/parser.js';
import { formatNumbers } from '../sequence.js';
import type { SelectedMailbox } from '../selected.js';
import { parseFlags, type Reply, type Session } from '../session.js';

export async function storeCommand(s: Session, sel: SelectedMailbox, byUid: boolean): Promise<Reply> {
  const p = s.parser;
  p.sp();
  const set = p.sequenceSet();
  p.sp();
  let unchangedSince: number | undefined;
  if (p.maybeChar('(')) {
    // RFC 7162 §3.1.3 store-modifier
    const mod = p.atom().toUpperCase();
    if (mod !== 'UNCHANGEDSINCE') throw new ParseError(`Unknown STORE modifier ${mod}`);
    p.sp();
    unchangedSince = p.number64('modseq');
    p.expectChar(')');
    p.sp();
  }
  const what = p.atom('STORE data item').toUpperCase();
  const m = /^([+-]?)FLAGS(\.SILENT)?$/.exec(what);
  if (!m) throw new ParseError(`Invalid STORE data item ${what}`);
  p.sp();
  const flags = p.flagList(true);
  p.expectEnd();
  if (set.saved) throw new ParseError('Invalid messageset');
  if (!byUid && sel.outOfRange(set)) throw new ParseError('Invalid messageset');
  const parsed = parseFlags(flags, true);
  if ('error' in parsed) throw new ParseError(parsed.error);
  if (!sel.readWrite) return { status: 'NO', text: 'Mailbox is read-only.' };
  if (unchangedSince !== undefined) s.condstore = true;
  const op: FlagOperation = m[1] === '+' ? 'add' : m[1] === '-' ? 'remove' : 'set';
  const silent = !!m[2];
  const entries = sel.select(set, byUid);
  const folder = sel.folder;
  let bits = parsed.bits;
  if (parsed.keywords.length) {
    // removing an unknown keyword defines nothing
    if (op === 'remove') for (const k of parsed.keywords) bits |= folder.keywordBit(k);
    else bits |= await folder.keywordBits(parsed.keywords);
  }
  const live = entries.filter((e) => !e.rec.expunged);
  const result = await folder.storeFlags(
    live.map((e) => e.rec.uid),
    op,
    bits >>> 0,
    sel,
    unchangedSince,
  );
  const modified = new Set(result.modified);
  const lines = sel.keywordLines();
  const changed = new Set(result.changed.map((r) => r.uid));
  for (const e of live) {
    if (modified.has(e.rec.uid)) continue;
    // RFC 7162 §3.1.3: with UNCHANGEDSINCE a changed message is reported even with .SILENT
    if (silent && !(unchangedSince !== undefined && changed.has(e.rec.uid))) continue;
    const items: string[] = [];
    if (byUid) items.push(`UID ${e.rec.uid}`);
    if (!silent) items.push(`FLAGS ${sel.flagsText(e.rec)}`);
    if (s.condstore) items.push(`MODSEQ (${e.rec.modseq})`);
    lines.push(`* ${e.seq} FETCH (${items.join(' ')})`);
    sel.flagsReported(e.rec.uid);
  }
  await s.untagged(lines);
  const expunged = entries.length !== live.length;
  if (modified.size) {
    const nums = entries.filter((e) => modified.has(e.rec.uid)).map((e) => (byUid ? e.rec.uid : e.seq));
    return { status: 'OK', code: `MODIFIED ${formatNumbers(nums)}`, text: 'Conditional STORE failed' };
  }
  if (expunged) return { status: 'NO', code: 'EXPUNGEISSUED', text: 'Some of the messages no longer exist.' };
  return { status: 'OK', text: 'Store completed.' };
}

export async function copyCommand(s: Session, sel: SelectedMailbox, byUid: boolean, move: boolean): Promise<Reply> {
  const p = s.parser;
  p.sp();
  const set = p.sequenceSet();
  p.sp();
  const raw = await p.astring();
  p.expectEnd();
  if (set.saved) throw new ParseError('Invalid messageset');
  if (!byUid && sel.outOfRange(set)) throw new ParseError('Invalid messageset');
  const dest = s.storageName(raw);
  if ('error' in dest) return dest.error;
  if (move && !sel.readWrite) return { status: 'NO', text: 'Mailbox is read-only.' };
  const store = s.store!;
  if (!(await store.exists(dest.name))) return { status: 'NO', code: 'TRYCREATE', text: `Mailbox doesn't exist: ${dest.name}` };
  const entries = sel.select(set, byUid);
  const live = entries.filter((e) => !e.rec.expunged);
  const verb = move ? 'Move' : 'Copy';
  if (entries.length === 0) return { status: 'OK', text: `No messages found.` };
  const target = await store.open(dest.name);
  try {
    const pairs = await sel.folder.copyTo(
      target,
      live.map((e) => e.rec.uid),
    );
    const copyuid = pairs.length ? `COPYUID ${target.uidvalidity} ${formatNumbers(pairs.map((x) => x[0]))} ${formatNumbers(pairs.map((x) => x[1]))}` : undefined;
    if (move) {
      if (copyuid) await s.untagged(`* OK [${copyuid}] Moved UIDs.`);
      await sel.folder.remove(pairs.map((x) => x[0]));
      if (pairs.length < entries.length) return { status: 'NO', code: 'EXPUNGEISSUED', text: 'Some of the requested messages no longer exist.' };
      return { status: 'OK', text: `${verb} completed.` };
    }
    if (pairs.length < entries.length) return { status: 'NO', code: 'EXPUNGEISSUED', text: 'Some of the requested messages no longer exist.' };
    return { status: 'OK', code: copyuid, text: `${verb} completed.` };
  } finally {
    store.release(target);
  }
}

export async function expungeCommand(s: Session, sel: SelectedMailbox, byUid: boolean): Promise<Reply> {
  const p = s.parser;
  let uids: number[] | undefined;
  if (byUid) {
    // RFC 4315 UID EXPUNGE sequence-set
    p.sp();
    const set = p.sequenceSet();
    uids = sel.select(set, true).map((e) => e.rec.uid);
  }
  p.expectEnd();
  if (!sel.readWrite) return { status: 'NO', text: 'Mailbox is read-only.' };
  await sel.folder.expunge(uids);
  return { status: 'OK', text: 'Expunge completed.' };
}
