// LIST (RFC 3501 §6.3.8) with LIST-EXTENDED (RFC 5258: selection and return options,
// multiple patterns), CHILDREN (RFC 3348), SPECIAL-USE (RFC 6154), LIST-STATUS
// (RFC 5819); LSUB (RFC 3501 §6.3.9).
import type { MailboxInfo } from '../../store/types.js';
import { ParseError } from '../protocol/parser.js';
import { quote } from '../protocol/encode.js';
import type { Reply, Session } from '../session.js';

/** A LIST pattern (wire form) → matcher on storage names. "*" matches anything, "%" not the separator. */
export function patternMatcher(pattern: string, sep: string): (name: string) => boolean {
  let storage = pattern;
  if (sep === '/') storage = storage.replace(/\//g, '.');
  let re = '';
  for (const ch of storage) {
    if (ch === '*') re += '.*';
    else if (ch === '%') re += '[^.]*';
    else re += ch.replace(/[.+?^${}()|[\]\\]/g, '\\$&');
  }
  const rx = new RegExp(`^${re}$`);
  // INBOX is case-insensitive: match the pattern against "INBOX…" with its first five letters upper-cased too
  const upper = /^inbox/i.test(storage) ? new RegExp(`^${'INBOX' + re.slice(5)}$`) : undefined;
  return (name) => rx.test(name) || (!!upper && (name === 'INBOX' || name.startsWith('INBOX.')) && upper.test(name));
}

/** A parent matched by "%" whose child matches (LSUB %, RFC 3501 §6.3.9 note). */
function parentMatches(name: string, match: (n: string) => boolean): boolean {
  const parts = name.split('.');
  for (let i = parts.length - 1; i >= 1; i--) if (match(parts.slice(0, i).join('.'))) return true;
  return false;
}

export async function listCommand(s: Session, lsub: boolean): Promise<Reply> {
  const p = s.parser;
  p.sp();
  const selection = new Set<string>();
  let extended = false;
  if (!lsub && p.peek() === 0x28) {
    extended = true;
    p.expectChar('(');
    while (!p.maybeChar(')')) {
      if (selection.size) p.sp();
      const opt = p.atom().toUpperCase();
      if (!['SUBSCRIBED', 'REMOTE', 'RECURSIVEMATCH', 'SPECIAL-USE'].includes(opt)) throw new ParseError(`Unknown LIST selection option ${opt}`);
      selection.add(opt);
    }
    p.sp();
  }
  if (selection.has('RECURSIVEMATCH') && selection.size === 1) throw new ParseError('RECURSIVEMATCH must not be the only selection option');
  const reference = (await p.astring()).toString('latin1');
  p.sp();
  const patterns: string[] = [];
  if (!lsub && p.peek() === 0x28) {
    extended = true;
    p.expectChar('(');
    while (!p.maybeChar(')')) {
      if (patterns.length) p.sp();
      patterns.push((await p.listMailbox()).toString('latin1'));
    }
  } else patterns.push((await p.listMailbox()).toString('latin1'));
  const ret = new Set<string>();
  let statusItems: string[] | undefined;
  if (!lsub && p.maybeSp()) {
    if (p.atom().toUpperCase() !== 'RETURN') throw new ParseError('Expected RETURN');
    extended = true;
    p.sp();
    p.expectChar('(');
    while (!p.maybeChar(')')) {
      if (ret.size) p.sp();
      const opt = p.atom().toUpperCase();
      if (opt === 'STATUS') {
        p.sp();
        statusItems = s.parseStatusItems();
      } else if (!['SUBSCRIBED', 'CHILDREN', 'SPECIAL-USE'].includes(opt)) throw new ParseError(`Unknown LIST return option ${opt}`);
      ret.add(opt);
    }
  }
  p.expectEnd();
  const sep = s.settings.separator;
  const cmd = lsub ? 'LSUB' : 'LIST';

  // LIST "" "": the hierarchy delimiter (RFC 3501 §6.3.8)
  if (patterns.length === 1 && patterns[0] === '' && !extended) {
    await s.untagged(`* ${cmd} (\\Noselect) ${quote(sep)} ""`);
    return { status: 'OK', text: `${lsub ? 'Lsub' : 'List'} completed.` };
  }
  const matchers = patterns.filter((x) => x !== '').map((pat) => patternMatcher(reference + pat, sep));
  const matches = (n: string) => matchers.some((m) => m(n));
  const store = s.store!;
  const [all, subsList] = await Promise.all([store.list(), store.subscriptions()]);
  const subs = new Set(subsList);
  const byName = new Map<string, MailboxInfo>(all.map((m) => [m.name, m]));
  const lines: string[] = [];
  const statusFor: string[] = [];

  if (lsub) {
    const shown = new Set<string>();
    for (const name of subsList) {
      if (matches(name)) {
        if (shown.has(name)) continue;
        shown.add(name);
        const info = byName.get(name);
        const attrs: string[] = [];
        if (!info?.exists) attrs.push('\\Noselect');
        if (info?.specialUse) attrs.push(info.specialUse);
        lines.push(`* LSUB (${attrs.join(' ')}) ${quote(sep)} ${s.wireName(name)}`);
      } else if (parentMatches(name, matches)) {
        // a subscribed child under a parent that "%" matches: the parent is listed \Noselect unless subscribed
        const parts = name.split('.');
        for (let i = parts.length - 1; i >= 1; i--) {
          const parent = parts.slice(0, i).join('.');
          if (matches(parent) && !shown.has(parent) && !subs.has(parent)) {
            shown.add(parent);
            lines.push(`* LSUB (\\Noselect) ${quote(sep)} ${s.wireName(parent)}`);
          }
        }
      }
    }
    await s.untagged(lines);
    return { status: 'OK', text: 'Lsub completed.' };
  }

  const onlySubscribed = selection.has('SUBSCRIBED');
  const recursive = selection.has('RECURSIVEMATCH');
  const onlySpecial = selection.has('SPECIAL-USE');
  const names: string[] = [];
  for (const m of all) names.push(m.name);
  if (onlySubscribed) for (const n of subsList) if (!byName.has(n)) names.push(n);
  for (const name of names) {
    const info = byName.get(name);
    const subscribed = subs.has(name);
    let childInfo = false;
    if (!matches(name)) continue;
    if (onlySubscribed && !subscribed) {
      if (!recursive) continue;
      // RFC 5258 §3.5 RECURSIVEMATCH: a parent with a subscribed child is listed with CHILDINFO
      if (![...subs].some((x) => x.startsWith(name + '.'))) continue;
      childInfo = true;
    }
    if (onlySpecial && !info?.specialUse) continue;
    const attrs: string[] = [];
    if (subscribed && (onlySubscribed || ret.has('SUBSCRIBED'))) attrs.push('\\Subscribed');
    if (!info) attrs.push('\\NonExistent');
    else if (!info.exists) attrs.push('\\Noselect');
    if (info) attrs.push(info.hasChildren ? '\\HasChildren' : '\\HasNoChildren');
    if (info?.specialUse) attrs.push(info.specialUse);
    let line = `* LIST (${attrs.join(' ')}) ${quote(sep)} ${s.wireName(name)}`;
    if (childInfo) line += ' ("CHILDINFO" ("SUBSCRIBED"))';
    lines.push(line);
    if (statusItems && info?.exists) statusFor.push(name);
  }
  await s.untagged(lines);
  if (statusItems) {
    for (const name of statusFor) {
      try {
        const text = await s.statusItems(name, statusItems);
        await s.untagged(`* STATUS ${s.wireName(name)} ${text}`);
      } catch {
        // RFC 5819: a mailbox whose status cannot be read is just left out
      }
    }
  }
  return { status: 'OK', text: 'List completed.' };
}
