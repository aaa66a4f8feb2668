// Line ends, transfer decoders, encoded words, charsets, dates, addresses, RFC 2231 parameters
// and the SEARCH comparator, each against the behaviour of Dovecot 2.3 they reproduce.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseAddressList, writeAddressList } from '../../src/mail/address.js';
import { casemap, casemapIncludes } from '../../src/mail/casemap.js';
import { decodeCharset, isKnownCharset } from '../../src/mail/charset.js';
import { crlfSize, toCrlf, toLf } from '../../src/mail/line-ends.js';
import { parseMessageDate } from '../../src/mail/date.js';
import { decodeHeaderValue } from '../../src/mail/encoded-words.js';
import { parseParams } from '../../src/mail/rfc2231.js';
import { Rfc822Parser } from '../../src/mail/rfc822.js';
import { decodeBase64, decodeQuotedPrintable, parseCte } from '../../src/mail/transfer-decode.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');

test('toCrlf: bare LF becomes CRLF, CRLF and bare CR stay; crlfSize counts it cheaply', () => {
  const lf = b('a\nb\r\nc\rd\n');
  assert.equal(toCrlf(lf).toString('latin1'), 'a\r\nb\r\nc\rd\r\n');
  assert.equal(crlfSize(lf), 11);
  const crlf = b('x\r\ny\r\n');
  assert.equal(toCrlf(crlf), crlf, 'unchanged input is returned as is');
  assert.equal(toLf(toCrlf(lf)).toString('latin1'), 'a\nb\nc\rd\n');
});

test('base64: whitespace anywhere, padding checked, garbage after the padding refused', () => {
  assert.deepEqual(decodeBase64(b('SGVs\r\nbG8g d29y bGQ=')), { data: b('Hello world'), error: null });
  assert.deepEqual(decodeBase64(b('QQ==')), { data: b('A'), error: null });
  assert.equal(decodeBase64(b('QQ=')).error, 'truncated');
  assert.equal(decodeBase64(b('QUJ')).error, 'truncated');
  assert.equal(decodeBase64(b('QUJD====')).error, 'invalid');
  assert.equal(decodeBase64(b('QQ==QUJD')).error, 'invalid');
  const bad = decodeBase64(b('SGVsbG8*&^V29ybGQ='));
  assert.equal(bad.error, 'invalid');
  assert.equal(bad.data.toString(), 'Hello', 'what decoded before the bad byte is kept');
});

test('quoted-printable: soft breaks, trailing whitespace, CRLF output, strict and lenient ends', () => {
  assert.deepEqual(decodeQuotedPrintable(b('Stra=DFe, Caf=\r\n=E9 au lait  \r\nend\n')), { data: b('Stra\xdfe, Caf\xe9 au lait\r\nend\r\n'), error: null });
  const bad = decodeQuotedPrintable(b('a=ZZb'));
  assert.equal(bad.error, 'invalid');
  assert.equal(bad.data.toString('latin1'), 'a=ZZb', 'an invalid escape is kept as written');
  assert.equal(decodeQuotedPrintable(b('x=4')).error, 'invalid');
  assert.deepEqual(decodeQuotedPrintable(b('x=4'), false), { data: b('x'), error: null });
  assert.deepEqual(decodeQuotedPrintable(b('tail   ')), { data: b('tail'), error: null });
});

test('Content-Transfer-Encoding names', () => {
  assert.equal(parseCte(' BASE64'), 'base64');
  assert.equal(parseCte('(comment) Quoted-Printable'), 'qp');
  assert.equal(parseCte('8bit'), '78bit');
  assert.equal(parseCte('binary'), 'binary');
  assert.equal(parseCte('x-uuencode'), 'unknown');
  assert.equal(parseCte(''), 'unknown');
});

test('encoded words in many charsets, whitespace between words dropped', () => {
  assert.equal(decodeHeaderValue(b('=?ISO-2022-JP?B?GyRCOzNFRBsoQg==?=')), '山田');
  assert.equal(decodeHeaderValue(b('=?KOI8-R?Q?=E9=D7=C1=CE?=')), 'Иван');
  assert.equal(decodeHeaderValue(b('=?windows-1252?Q?Fran=E7ois?=')), 'François');
  assert.equal(decodeHeaderValue(b('=?Shift_JIS?B?k/qWe4zq?=')), '日本語');
  assert.equal(
    decodeHeaderValue(b('=?utf-8*en?Q?Language_tagged?= and =?ISO-8859-15?B?pHVybw==?= =?GB2312?B?1tDOxA==?= =?us-ascii?Q?plain=20ascii?=')),
    'Language tagged and €uro中文plain ascii',
  );
  assert.equal(decodeHeaderValue(b('=?UTF-8?Q?Gr=C3=BC=C3=9Fe?= =?UTF-8?B?IOKAkyBheG9sb3Rs?=')), 'Grüße – axolotl');
});

test('malformed encoded words are decoded the way Dovecot does (message 005)', () => {
  assert.equal(
    decodeHeaderValue(b('=?UTF-8?B?Zm9v=YmFy?= broken=?UTF-8?Q?mid_word?=end =?UTF-8?Q?bad=FF=FEbytes?= =?UTF-8?Q?unterminated_word')),
    // the space before the unterminated word goes: it was only whitespace after an encoded word
    'foo brokenmid wordend bad\ufffd\ufffdbytes=?UTF-8?Q?unterminated_word',
  );
  assert.equal(decodeHeaderValue(b('=?UTF-8?X?unknown-encoding?= <x@example.org>')), '=?UTF-8?X?unknown-encoding?= <x@example.org>');
  assert.equal(decodeHeaderValue(b('=?x-no-such-charset?Q?strange?=')), 'strange');
  assert.equal(decodeHeaderValue(b('"=?UTF-8?Q?Quoted_Encoded?="')), '"Quoted Encoded"');
  assert.equal(decodeHeaderValue(b('raw \xc3\xa9 and \xe9')), 'raw é and \ufffd');
});

test('charsets: iconv tables for ISO-8859-1, unknown names reported', () => {
  assert.equal(decodeCharset(b('\x80\xe9'), 'ISO-8859-1'), '\u0080é');
  assert.equal(decodeCharset(b('\x80'), 'windows-1252'), '€');
  assert.equal(decodeCharset(b('\xc3\xa9'), 'us-ascii'), 'é', 'us-ascii is read as UTF-8');
  assert.equal(isKnownCharset('X-UNKNOWN'), false);
  assert.equal(isKnownCharset('koi8-r'), true);
  assert.equal(decodeCharset(b('a'), 'X-UNKNOWN'), undefined);
});

test('dates: obsolete forms, zones and the header\'s own day', () => {
  assert.deepEqual(parseMessageDate('1 Jan 99 23:59:59 EST'), { time: Date.UTC(1999, 0, 2, 4, 59, 59) / 1000, tzOffset: -300, year: 1999, month: 1, day: 1 });
  assert.equal(parseMessageDate('Sat, 16 Mar 2024 14:20:05 +0000 (UTC)')?.day, 16);
  assert.equal(parseMessageDate('Mon, 4 Mar 2024 09:15 +0100')?.time, Date.UTC(2024, 2, 4, 8, 15) / 1000);
  assert.equal(parseMessageDate('4 Mar 24 09:15:00 Z')?.year, 2024);
  assert.equal(parseMessageDate('4 Mar 2024 09:15:00 A')?.tzOffset, 60);
  assert.equal(parseMessageDate('4 Mar 2024 09.15.00 xyz')?.tzOffset, 0, 'unknown zones are +0000');
  assert.equal(parseMessageDate('sometime last week, probably'), undefined);
  assert.equal(parseMessageDate('31 Feb 2024 10:00 +0000'), undefined);
  assert.equal(parseMessageDate('Mon, 4 Mar 1899 09:15 +0000'), undefined);
});

test('addresses: groups, routes, comments, missing parts, written back for SEARCH', () => {
  const list = parseAddressList('Team Alpha: alpha1@example.com, "Alpha Two" <alpha2@example.com>;, outside@example.org');
  assert.deepEqual(
    list.map((a) => [a.name, a.mailbox, a.domain]),
    [
      [undefined, 'Team Alpha', undefined],
      [undefined, 'alpha1', 'example.com'],
      ['Alpha Two', 'alpha2', 'example.com'],
      [undefined, undefined, undefined],
      [undefined, 'outside', 'example.org'],
    ],
  );
  assert.equal(writeAddressList(list), '"Team Alpha": <alpha1@example.com>, "Alpha Two" <alpha2@example.com>;, <outside@example.org>');
  const comment = parseAddressList('mary@example.net (Mary Smith), Pat (nickname) Smith <pat@example.com>');
  assert.equal(comment[0]!.name, 'Mary Smith');
  assert.equal(comment[1]!.name, 'Pat Smith');
  assert.equal(writeAddressList(parseAddressList('"Doe, John" <john.doe@example.com>')), '"Doe, John" <john.doe@example.com>');
  const missing = parseAddressList('localpartonly, <>, @example.com');
  assert.deepEqual(missing.map((a) => `${a.mailbox}@${a.domain}`), ['localpartonly@MISSING_DOMAIN', 'MISSING_MAILBOX@MISSING_DOMAIN', 'MISSING_MAILBOX@example.com']);
  assert.equal(parseAddressList('<@r1.example,@r2.example:u@example.com>')[0]!.route, '@r1.example,@r2.example');
  assert.deepEqual(parseAddressList(''), []);
});

test('RFC 2231 parameters: continuations in any order, encoded pieces kept encoded', () => {
  const parse = (v: string) => parseParams(new Rfc822Parser(v));
  assert.deepEqual(parse('; filename*1="second.txt"; filename*0="first-"'), [{ name: 'filename', value: 'first-second.txt' }]);
  assert.deepEqual(parse("; filename*0*=ISO-8859-1'de'Gr%FC%DFe; filename*1=\"%.txt\""), [{ name: 'filename*', value: "ISO-8859-1'de'Gr%FC%DFe%25.txt" }]);
  assert.deepEqual(parse('; a*0=x; a*2=z'), [
    { name: 'a*0', value: 'x' },
    { name: 'a*2', value: 'z' },
  ]);
  assert.deepEqual(parse('; name=unquoted.bin; empty=""; dup=1; dup=2; novalue'), [
    { name: 'name', value: 'unquoted.bin' },
    { name: 'empty', value: '' },
    { name: 'dup', value: '1' },
    { name: 'dup', value: '2' },
  ]);
});

test('i;unicode-casemap comparisons', () => {
  assert.ok(casemapIncludes('Grüße aus Köln', 'KÖLN'));
  assert.ok(casemapIncludes('Cafe\u0301', 'CAFÉ'), 'composed and decomposed forms match');
  assert.ok(casemapIncludes('ﬁle', 'FILE'), 'compatibility decomposition');
  assert.ok(!casemapIncludes('Strasse', 'Straße'), 'ß is not SS');
  assert.ok(casemapIncludes('STRAẞE', 'straße') === false);
  assert.equal(casemap('abc'), 'ABC');
});
