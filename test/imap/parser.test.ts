// Unit tests of the wire layer: modified UTF-7, sequence sets, the command parser
// with literals and bad input.
import { strict as assert } from 'node:assert';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { CommandParser, ConnectionEnd, ParseError, parseDateTime } from '../../src/imap/protocol/parser.js';
import { WireReader } from '../../src/imap/protocol/reader.js';
import { formatNumbers, parseSequenceSet, resolveSet } from '../../src/imap/sequence.js';
import { decodeMailboxName, encodeMailboxName } from '../../src/imap/utf7.js';
import { astring, formatInternalDate, imapString } from '../../src/imap/protocol/encode.js';

function parserFor(input: string | Buffer, opts: Partial<{ maxLine: number; maxStringLiteral: number; maxDiscard: number }> = {}) {
  const stream = new PassThrough();
  const reader = new WireReader(stream);
  const continuations: string[] = [];
  const p = new CommandParser(reader, async (t) => void continuations.push(t), { maxLine: 1000, maxStringLiteral: 100, maxDiscard: 1000, ...opts });
  stream.end(input);
  return { p, continuations, reader };
}

describe('modified UTF-7', () => {
  it('encodes and decodes RFC 3501 examples and Dovecot names', () => {
    const cases: [string, string][] = [
      ['Entwürfe', 'Entw&APw-rfe'],
      ['~peter/mail/台北/日本語', '~peter/mail/&U,BTFw-/&ZeVnLIqe-'],
      ['A&B', 'A&-B'],
      ['Größe', 'Gr&APYA3w-e'],
      ['😀', '&2D3eAA-'],
      ['INBOX', 'INBOX'],
    ];
    for (const [u, m] of cases) {
      assert.equal(encodeMailboxName(u), m, u);
      assert.equal(decodeMailboxName(m), u, m);
    }
  });
  it('refuses invalid modified UTF-7', () => {
    for (const bad of ['&', '&Jjo', '&Jjo!-', 'a\u00e9', '&AGE-', '&2D0-', '&U,BTFw-&ZeVnLIqe-', 'tab\there']) {
      assert.equal(decodeMailboxName(bad), undefined, bad);
    }
  });
});

describe('sequence sets', () => {
  it('parses, resolves * and merges', () => {
    const s = parseSequenceSet('4:2,7,9:*,1')!;
    assert.deepEqual(resolveSet(s, 10), [
      [1, 4],
      [7, 7],
      [9, 10],
    ]);
    assert.deepEqual(resolveSet(parseSequenceSet('*:5')!, 3), [[3, 5]]);
    assert.deepEqual(resolveSet(parseSequenceSet('*')!, 0), []);
    for (const bad of ['', '0', '1:', ':2', '1,,2', 'a', '1:2:3', '99999999999']) assert.equal(parseSequenceSet(bad), undefined, bad);
    assert.equal(formatNumbers([1, 2, 3, 5, 7, 8]), '1:3,5,7:8');
  });
});

describe('command parser', () => {
  it('reads atoms, quoted strings with escapes and a synchronizing literal', async () => {
    const { p, continuations } = parserFor('a1 LOGIN "jo \\"x\\" \\\\" {5}\r\nsecretrest\r\n');
    assert.equal(await p.begin(), true);
    assert.equal(p.tag(), 'a1');
    p.sp();
    assert.equal(p.atom(), 'LOGIN');
    p.sp();
    assert.equal((await p.astring()).toString(), 'jo "x" \\');
    p.sp();
    assert.equal((await p.astring()).toString(), 'secre');
    assert.deepEqual(continuations, ['Ready for literal data']);
    assert.equal(p.rest(), 'trest');
  });

  it('reads a non-synchronizing literal without a continuation', async () => {
    const { p, continuations } = parserFor('a SEARCH TEXT {3+}\r\nabc\r\n');
    await p.begin();
    p.tag();
    p.sp();
    p.atom();
    p.sp();
    p.atom();
    p.sp();
    assert.equal((await p.astring()).toString(), 'abc');
    p.expectEnd();
    assert.deepEqual(continuations, []);
  });

  it('refuses a literal above the bound before reading it', async () => {
    const { p, continuations } = parserFor('a LOGIN {999999999}\r\n');
    await p.begin();
    p.tag();
    p.sp();
    p.atom();
    p.sp();
    await assert.rejects(p.astring(), (e: unknown) => e instanceof ParseError && /too large/.test(e.message));
    assert.deepEqual(continuations, []);
    await p.skipRest(); // synchronizing: nothing to skip
  });

  it('closes on a non-synchronizing literal too large to skip', async () => {
    const { p } = parserFor('a LOGIN {999999999+}\r\n', { maxDiscard: 1000 });
    await p.begin();
    p.tag();
    p.sp();
    p.atom();
    p.sp();
    await assert.rejects(p.astring(), ParseError);
    await assert.rejects(p.skipRest(), ConnectionEnd);
  });

  it('skips the literal of a bad command so that the next command is read', async () => {
    const { p } = parserFor('a BOGUS (x {4+}\r\nabcd y)\r\nb NOOP\r\n');
    await p.begin();
    p.tag();
    p.sp();
    p.atom();
    await p.skipRest();
    assert.equal(await p.begin(), true);
    assert.equal(p.tag(), 'b');
  });

  it('bounds line length and reports bad syntax as ParseError', async () => {
    const { p } = parserFor('a ' + 'x'.repeat(2000) + '\r\nb NOOP\r\n', { maxLine: 100 });
    await assert.rejects(p.begin(), /Too long/);
    assert.equal(await p.begin(), true);
    assert.equal(p.tag(), 'b');
    const q = parserFor('a FETCH 1:x (FLAGS\r\n').p;
    await q.begin();
    q.tag();
    q.sp();
    q.atom();
    q.sp();
    assert.throws(() => q.sequenceSet(), ParseError);
    const r = parserFor('a X "unterminated\r\n').p;
    await r.begin();
    r.tag();
    r.sp();
    r.atom();
    r.sp();
    await assert.rejects(r.astring(), /Missing/);
    const f = parserFor('a X (\\Seen foo \\)\r\n').p;
    await f.begin();
    f.tag();
    f.sp();
    f.atom();
    f.sp();
    assert.throws(() => f.flagList(), ParseError);
  });

  it('parses date-time and formats INTERNALDATE', () => {
    assert.equal(parseDateTime('05-Apr-2024 22:30:00 -0500')?.toISOString(), '2024-04-06T03:30:00.000Z');
    assert.equal(parseDateTime(' 5-Apr-2024 22:30:00 +0000')?.toISOString(), '2024-04-05T22:30:00.000Z');
    assert.equal(parseDateTime('05-Foo-2024 22:30:00 -0500'), undefined);
    assert.equal(formatInternalDate(Date.parse('2024-04-06T03:30:00Z'), 0), '06-Apr-2024 03:30:00 +0000');
    assert.equal(formatInternalDate(Date.parse('2024-04-06T03:30:00Z'), -300), '05-Apr-2024 22:30:00 -0500');
  });

  it('encodes strings as atoms, quoted strings or literals', () => {
    assert.equal(astring('INBOX'), 'INBOX');
    assert.equal(astring('a b'), '"a b"');
    assert.equal(astring('NIL'), '"NIL"');
    assert.equal(imapString('x"y').toString(), '"x\\"y"');
    assert.equal(imapString(Buffer.from('é')).toString('latin1'), '{2}\r\n\xc3\xa9');
  });
});

describe('quick SEARCH TEXT rejection', () => {
  it('rejects only when certain', async () => {
    const { cannotMatchText: c } = await import('../../src/imap/fetch-message.js');
    const b = (s: string) => Buffer.from(s, 'latin1');
    assert.equal(c(b('Subject: x\n\nhello world\n'), 'zeppelin'), true);
    assert.equal(c(b('Subject: x\n\nZeppelin\n'), 'zeppelin'), false);
    assert.equal(c(b('Content-Type: text/plain; charset="UTF-8"\n\nx\n'), 'zz'), true);
    assert.equal(c(b('Content-Type: text/plain; charset=utf-7\n\n+AGE-\n'), 'zz'), false);
    assert.equal(c(b('Subject: =?utf-8?q?zz?=\n\nx\n'), 'zz'), false);
    assert.equal(c(b('Content-Transfer-Encoding: base64\n\neno=\n'), 'zz'), false);
    assert.equal(c(b('\x1b$B#Z#Z\x1b(B\n'), 'zz'), false);
    assert.equal(c(b('caf\xe9\n'), 'zz'), false);
    assert.equal(c(b('x\n'), 'two words'), false);
  });
});
