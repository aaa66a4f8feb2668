// Evaluates the recorded SEARCH commands whose keys look at message content (SUBJECT, FROM, TO,
// CC, BCC, HEADER, BODY, TEXT, SENT*) with the engine's predicates over the 46 fixture messages,
// combined with NOT/OR/AND, and compares with Dovecot's result sets. Commands with flag,
// sequence, size or INTERNALDATE keys belong to the IMAP session and are skipped.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  bodyMatches,
  decodeCharset,
  headerMatches,
  isKnownCharset,
  parseStructure,
  sentDate,
  textMatches,
  type MessageStructure,
} from '../../../src/imap/message/index.js';
import { loadMessages } from './fixtures.js';
import { parseRecording } from './recording.js';

const SEARCH_TXT = fileURLToPath(new URL('../../fixtures/dovecot-imap/expected/search.txt', import.meta.url));

type Token = string | { quoted: string } | '(' | ')';

function tokenize(s: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < s.length) {
    const c = s[i]!;
    if (c === ' ') i++;
    else if (c === '(' || c === ')') {
      out.push(c);
      i++;
    } else if (c === '"') {
      let v = '';
      i++;
      while (s[i] !== '"') {
        if (s[i] === '\\') i++;
        v += s[i];
        i++;
      }
      i++;
      out.push({ quoted: v });
    } else {
      let j = i;
      while (j < s.length && !' ()'.includes(s[j]!)) j++;
      out.push(s.slice(i, j));
      i = j;
    }
  }
  return out;
}

interface Msg {
  n: number;
  raw: Buffer;
  ms: MessageStructure;
}
type Pred = (m: Msg) => boolean;

class Unsupported extends Error {}

const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];

function dayNumber(y: number, m: number, d: number): number {
  return Date.UTC(y, m - 1, d) / 86400000;
}

function parseDay(s: string): number {
  const m = /^(\d{1,2})-([A-Za-z]{3})-(\d{4})$/.exec(s);
  if (m === null) throw new Unsupported(s);
  return dayNumber(Number(m[3]), MONTHS.indexOf(m[2]!.toLowerCase()) + 1, Number(m[1]));
}

function sentDay(m: Msg): number {
  const d = sentDate(m.ms, m.raw);
  return d === undefined ? 0 : dayNumber(d.y, d.m, d.d); // Dovecot: no/bad Date: is 1 Jan 1970
}

class KeyParser {
  private i = 0;
  constructor(
    private readonly toks: Token[],
    private readonly str: (t: Token) => string,
  ) {}

  private next(): Token {
    if (this.i >= this.toks.length) throw new Unsupported('missing argument');
    return this.toks[this.i++]!;
  }

  all(): Pred {
    const preds: Pred[] = [];
    while (this.i < this.toks.length) preds.push(this.key());
    return (m) => preds.every((p) => p(m));
  }

  key(): Pred {
    const t = this.next();
    if (t === '(') {
      const preds: Pred[] = [];
      while (this.toks[this.i] !== ')') preds.push(this.key());
      this.i++;
      return (m) => preds.every((p) => p(m));
    }
    if (typeof t !== 'string') throw new Unsupported('string where a key was expected');
    const k = t.toUpperCase();
    switch (k) {
      case 'NOT': {
        const p = this.key();
        return (m) => !p(m);
      }
      case 'OR': {
        const a = this.key();
        const b = this.key();
        return (m) => a(m) || b(m);
      }
      case 'SUBJECT':
      case 'FROM':
      case 'TO':
      case 'CC':
      case 'BCC': {
        const v = this.str(this.next());
        return (m) => headerMatches(m.raw, m.ms, k, v);
      }
      case 'HEADER': {
        const name = this.str(this.next());
        const v = this.str(this.next());
        return (m) => headerMatches(m.raw, m.ms, name, v, 'plain');
      }
      case 'BODY': {
        const v = this.str(this.next());
        return (m) => bodyMatches(m.raw, m.ms, v);
      }
      case 'TEXT': {
        const v = this.str(this.next());
        return (m) => textMatches(m.raw, m.ms, v);
      }
      case 'SENTBEFORE': {
        const d = parseDay(this.str(this.next()));
        return (m) => sentDay(m) < d;
      }
      case 'SENTON': {
        const d = parseDay(this.str(this.next()));
        return (m) => sentDay(m) === d;
      }
      case 'SENTSINCE': {
        const d = parseDay(this.str(this.next()));
        return (m) => sentDay(m) >= d;
      }
      default:
        throw new Unsupported(k);
    }
  }
}

test('content SEARCH keys give Dovecot\'s result sets', () => {
  const msgs: Msg[] = loadMessages().map((m) => ({ n: m.n, raw: m.raw, ms: parseStructure(m.raw) }));
  let evaluated = 0;
  let skipped = 0;
  const failures: string[] = [];
  for (const ex of parseRecording(readFileSync(SEARCH_TXT))) {
    const m = /^SEARCH (.*)$/.exec(ex.command);
    if (m === null) {
      skipped++;
      continue;
    }
    const toks = tokenize(m[1]!);
    let charset = 'UTF-8';
    if (typeof toks[0] === 'string' && toks[0].toUpperCase() === 'CHARSET') {
      charset = toks[1] as string;
      toks.splice(0, 2);
    }
    if (!isKnownCharset(charset)) {
      evaluated++;
      if (!ex.status.startsWith('NO [BADCHARSET]')) failures.push(`${ex.command}: charset ${charset} should be known`);
      continue;
    }
    const literal = ex.commandLiteral === undefined ? undefined : decodeCharset(ex.commandLiteral, charset)!;
    if (literal !== undefined) toks.push({ quoted: literal });
    let pred: Pred;
    try {
      pred = new KeyParser(toks, (t) => (typeof t === 'string' ? t : typeof t === 'object' ? t.quoted : '')).all();
    } catch (e) {
      if (!(e instanceof Unsupported)) throw e;
      skipped++;
      continue;
    }
    evaluated++;
    const got = msgs.filter(pred).map((x) => x.n).join(' ');
    const want = /^\* SEARCH ?(.*)\r\n/.exec(ex.response.toString('latin1'))?.[1] ?? '';
    if (got !== want) failures.push(`${ex.command}${literal !== undefined ? ` {${literal}}` : ''}\n  Dovecot: ${want}\n  engine:  ${got}`);
  }
  const summary = `${evaluated - failures.length}/${evaluated} content SEARCH commands match (${skipped} skipped: session keys)`;
  console.log(summary);
  assert.ok(evaluated >= 40, summary);
  assert.deepEqual(failures, [], summary);
});
