// MIME structure: offsets and line counts, Dovecot's boundary rules, and hostile input
// (unterminated headers, deep nesting, garbage, huge lines, too many parts) without exceptions.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_NESTED_MIME_PARTS, MAX_TOTAL_MIME_PARTS, parseStructure, type MimePart } from '../../src/mail/mime.js';
import {
  binarySize,
  bodyMatches,
  bodyStructure,
  envelope,
  fetchBinary,
  fetchSection,
  headerMatches,
  partCount,
  sentDate,
  textMatches,
} from '../../src/imap/message/index.js';
import { loadMessages } from '../imap/message/fixtures.js';

function lfCount(b: Buffer): number {
  let n = 0;
  for (let i = b.indexOf(0x0a); i !== -1; i = b.indexOf(0x0a, i + 1)) n++;
  return n;
}

/** Every part lies inside its parent's body and its line counts are the LFs of its ranges. */
function checkInvariants(raw: Buffer, p: MimePart, lo = 0, hi = raw.length): void {
  assert.ok(p.pos >= lo && p.pos + p.headerSize + p.bodySize <= hi, `part at ${p.pos} outside [${lo}, ${hi})`);
  const hdr = raw.subarray(p.pos, p.pos + p.headerSize);
  const body = raw.subarray(p.pos + p.headerSize, p.pos + p.headerSize + p.bodySize);
  assert.equal(p.headerLines, lfCount(hdr), `header lines of part at ${p.pos}`);
  assert.equal(p.bodyLines, lfCount(body), `body lines of part at ${p.pos}`);
  let prevEnd = p.pos + p.headerSize;
  for (const c of p.children) {
    assert.ok(c.pos >= prevEnd, 'children in order');
    checkInvariants(raw, c, p.pos + p.headerSize, p.pos + p.headerSize + p.bodySize);
    prevEnd = c.pos + c.headerSize + c.bodySize;
  }
}

function depth(p: MimePart): number {
  let d = 1;
  let cur = p;
  // the deepest chain: follow the last child
  while (cur.children.length > 0) {
    cur = cur.children[cur.children.length - 1]!;
    d++;
  }
  return d;
}

/** Runs every engine entry point on raw; none may throw. */
function exercise(raw: Buffer): void {
  const ms = parseStructure(raw);
  checkInvariants(raw, ms.root);
  envelope(ms, raw);
  bodyStructure(ms, raw, true);
  bodyStructure(ms, raw, false);
  for (const spec of [{ part: [] }, { part: [], text: 'HEADER' as const }, { part: [], text: 'TEXT' as const }, { part: [1] }, { part: [1], text: 'MIME' as const }, { part: [1, 1], text: 'HEADER.FIELDS' as const, fields: ['From'] }, { part: [2, 3, 4] }]) {
    fetchSection(raw, ms, spec);
  }
  fetchBinary(raw, ms, []);
  fetchBinary(raw, ms, [1]);
  binarySize(raw, ms, [1]);
  headerMatches(raw, ms, 'From', 'x');
  headerMatches(raw, ms, 'Subject', 'x');
  bodyMatches(raw, ms, 'needle');
  textMatches(raw, ms, 'needle');
  sentDate(ms, raw);
}

/** Deterministic bytes (xorshift32). */
function pseudoRandom(n: number, seed: number, alphabet?: Buffer): Buffer {
  const out = Buffer.allocUnsafe(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = alphabet === undefined ? x & 0xff : alphabet[x % alphabet.length]!;
  }
  return out;
}

test('fixture structures keep offsets and line counts consistent', () => {
  for (const m of loadMessages()) checkInvariants(m.raw, parseStructure(m.raw).root);
});

test('the CRLF before a delimiter belongs to the delimiter; a one-line part has 0 lines', () => {
  const raw = Buffer.from('Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\none line\r\n--b\r\n\r\ntwo\r\nlines\r\n\r\n--b--\r\n');
  const ms = parseStructure(raw);
  const [a, b] = ms.root.children;
  assert.equal(raw.toString('latin1', a!.pos + a!.headerSize, a!.pos + a!.headerSize + a!.bodySize), 'one line');
  assert.equal(a!.bodyLines, 0);
  assert.equal(raw.toString('latin1', b!.pos + b!.headerSize, b!.pos + b!.headerSize + b!.bodySize), 'two\r\nlines\r\n');
  assert.equal(b!.bodyLines, 2);
});

test('a multipart without MIME-Version or boundary, and a non-MIME message forget Content-*', () => {
  const noMime = parseStructure(Buffer.from('Content-Transfer-Encoding: base64\r\n\r\naGk=\r\n'));
  assert.equal(noMime.root.data.contentTransferEncoding, undefined);
  assert.equal(noMime.root.text, true);
  const noBoundary = parseStructure(Buffer.from('Content-Type: multipart/mixed\r\n\r\n--x\r\n\r\nbody\r\n'));
  assert.equal(noBoundary.root.multipart, true);
  assert.equal(noBoundary.root.children.length, 0);
});

test('unterminated and empty headers', () => {
  for (const s of ['', '\r\n', 'Subject: hi', 'Subject: hi\r\n', 'Subject: hi\r\n continued', 'no colon at all', ':', '\r', '\n\n\n', 'From: a@b\r\n\r']) {
    const raw = Buffer.from(s, 'latin1');
    exercise(raw);
    const ms = parseStructure(raw);
    assert.equal(ms.root.headerSize + ms.root.bodySize, raw.length, JSON.stringify(s));
  }
  const raw = Buffer.from('Subject: hi');
  const ms = parseStructure(raw);
  assert.deepEqual(fetchSection(raw, ms, { part: [], text: 'HEADER' }), raw);
  assert.equal(fetchSection(raw, ms, { part: [], text: 'TEXT' }).length, 0);
  assert.equal(envelope(ms, raw).toString(), '(NIL "hi" NIL NIL NIL NIL NIL NIL NIL NIL)');
});

test('1000 nested multiparts stop at the nesting limit', () => {
  let s = 'MIME-Version: 1.0\r\n';
  // boundary names that are not prefixes of each other (a prefix would match, RFC 2046 §5.1.1)
  for (let i = 0; i < 1000; i++) s += `Content-Type: multipart/mixed; boundary="=_${i}_="\r\n\r\n--=_${i}_=\r\n`;
  s += 'Content-Type: text/plain\r\n\r\ninnermost kiwi\r\n';
  for (let i = 999; i >= 0; i--) s += `--=_${i}_=--\r\n`;
  const raw = Buffer.from(s);
  const ms = parseStructure(raw);
  assert.equal(depth(ms.root), MAX_NESTED_MIME_PARTS);
  exercise(raw);
  assert.equal(bodyMatches(raw, ms, 'kiwi'), false, 'the text below the limit is not a text part any more');
});

test('1000 nested message/rfc822 parts stop at the nesting limit', () => {
  const raw = Buffer.from('Content-Type: message/rfc822\r\n\r\n'.repeat(1000) + 'Subject: deep\r\n\r\nbottom\r\n');
  const ms = parseStructure(raw);
  assert.equal(depth(ms.root), MAX_NESTED_MIME_PARTS);
  exercise(raw);
  let deepest = ms.root;
  while (deepest.children.length > 0) deepest = deepest.children[0]!;
  // the part at the limit keeps its type but is not parsed as a message
  assert.equal(deepest.messageRfc822, false);
  assert.equal(deepest.data.contentType, 'message');
  const bs = bodyStructure(ms, raw, true).toString('latin1');
  assert.equal(bs.split('(NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL)').length - 1, MAX_NESTED_MIME_PARTS - 1, 'one envelope per parsed message/rfc822');
});

test('the number of parts is bounded', () => {
  let s = 'Content-Type: multipart/mixed; boundary=x\r\n\r\n';
  for (let i = 0; i < MAX_TOTAL_MIME_PARTS + 5000; i++) s += '--x\r\n\r\np\r\n';
  s += '--x--\r\n';
  const raw = Buffer.from(s);
  const ms = parseStructure(raw);
  assert.equal(partCount(ms), MAX_TOTAL_MIME_PARTS);
  checkInvariants(raw, ms.root);
});

test('binary garbage, boundary-like garbage and a huge header line', () => {
  exercise(pseudoRandom(1 << 20, 7));
  const alphabet = Buffer.from('--\r\n\r\n=?:; abxB\x00"()<>@,=?Q?_=', 'latin1');
  for (let seed = 1; seed <= 20; seed++) {
    const head = Buffer.from('MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="-"\r\n\r\n');
    exercise(Buffer.concat([head, pseudoRandom(20000, seed, alphabet)]));
  }
  const huge = Buffer.from('Subject: ' + 'a'.repeat(2_000_000) + '\r\nTo: ' + 'b@c, '.repeat(50_000) + '\r\n\r\nbody\r\n');
  exercise(huge);
  const ms = parseStructure(huge);
  assert.equal(ms.root.headerLines, 3);
  assert.ok(headerMatches(huge, ms, 'Subject', 'aaaa'));
  const manyLines = Buffer.from('x\r\n'.repeat(100_000) + '\r\nbody');
  exercise(manyLines);
});

test('a 10 MB message with base64 attachments is parsed and converted', () => {
  const line = 'QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0\r\n';
  let s = 'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="=_b"\r\n\r\n--=_b\r\nContent-Type: text/plain\r\n\r\nsee the attachments\r\n';
  for (let i = 0; i < 4; i++) s += `--=_b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n${line.repeat(33_000)}`;
  s += '--=_b--\r\n';
  const raw = Buffer.from(s);
  assert.ok(raw.length > 10_000_000);
  const ms = parseStructure(raw);
  assert.equal(ms.root.children.length, 5);
  const bin = fetchBinary(raw, ms, [2]);
  assert.ok('data' in bin && bin.literal8 && bin.data.length === 33_000 * 57);
  assert.deepEqual(binarySize(raw, ms, [2], { dovecotRange: false }), { size: 33_000 * 57 });
  assert.equal(bodyMatches(raw, ms, 'attachments'), true);
  assert.equal(bodyMatches(raw, ms, 'ABCDEFG'), false, 'base64 of non-text parts is not searched');
});
