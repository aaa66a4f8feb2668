// Unit tests of the wire layer and RFC 5321 paths: no sockets.
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { CrlfToLf, LfToCrlf } from '../../src/mail/line-ends.js';
import { externalAddress, parsePath, quoteLocalPart, xtextDecode } from '../../src/mail/smtp-address.js';
import { parseEnvelopeArgument } from '../../src/smtp/protocol/command.js';
import { SmtpReader } from '../../src/smtp/protocol/reader.js';
import { formatReply, parseReply } from '../../src/smtp/protocol/reply.js';
import { parseMailParams, parseRcptParams } from '../../src/smtp/session/envelope.js';

const ok = (t: string, opts = { allowEmpty: false }) => {
  const r = parsePath(t, opts);
  assert.ok(r.ok, `${t}: ${!r.ok && r.reason}`);
  return r.path;
};
const bad = (t: string, opts: Parameters<typeof parsePath>[1] = { allowEmpty: false }) => assert.equal(parsePath(t, opts).ok, false, t);

describe('RFC 5321 paths as Postfix reads them', () => {
  it('internal forms of the open-relay probes and local spellings', () => {
    assert.equal(ok('<"user@remote.test"@example.test>').address, 'user@remote.test@example.test');
    assert.equal(ok('<@example.test:user@remote.test>').address, 'user@remote.test');
    assert.equal(ok('<@a.test,@b.test:user@remote.test>').routed, true);
    assert.equal(ok('<user@remote.test@example.test>').domain, 'example.test');
    assert.equal(ok('<user%remote.test@example.test>').local, 'user%remote.test');
    assert.equal(ok('<remote.test!user@example.test>').local, 'remote.test!user');
    assert.equal(ok('<user@[127.0.0.3]>').domain, '[127.0.0.3]');
    assert.equal(ok('<x@[IPv6:2001:db8::1]>').domain, '[IPv6:2001:db8::1]');
    assert.equal(ok('<"alice"@example.test>').address, 'alice@example.test');
    assert.equal(ok('<alice@example.test.>').address, 'alice@example.test.');
    assert.equal(ok('alice@example.test').address, 'alice@example.test');
    assert.equal(ok('<postmaster>').address, 'postmaster');
    assert.equal(ok('<"john doe"@x.test>').local, 'john doe');
    assert.equal(parsePath('<>', { allowEmpty: true }).ok, true);
  });

  it('syntax errors', () => {
    for (const t of ['<>', '<foo@>', '<@example.test>', '<a b@x.test>', '<a@b@>', '<"unterminated@x>', '<x@[127.0.0.300]>', '<x@-bad.test>', '<x@a..b>', '<a,b@x.test>', '<x@exämple.test>', '<a@b', 'a@b>']) bad(t);
    bad('a@b.test', { allowEmpty: false, strict: true });
    assert.equal(parsePath('<x@exämple.test>', { allowEmpty: false, smtputf8: true }).ok, true);
    assert.equal(parsePath('<jörg@example.test>', { allowEmpty: false }).ok, true, '8-bit local parts are accepted as Postfix does');
  });

  it('quoting and xtext', () => {
    assert.equal(quoteLocalPart('alice'), 'alice');
    assert.equal(quoteLocalPart('john doe'), '"john doe"');
    assert.equal(quoteLocalPart('a"b'), '"a\\"b"');
    assert.equal(externalAddress('user@remote.test@example.test'), '"user@remote.test"@example.test');
    assert.equal(xtextDecode('rfc822+3Bbob'), 'rfc822;bob');
    assert.equal(xtextDecode('a+3'), undefined);
  });

  it('MAIL/RCPT arguments and parameters', () => {
    assert.deepEqual(parseEnvelopeArgument('FROM: <a@b.test> SIZE=10', 'FROM'), { ok: true, path: '<a@b.test>', params: ['SIZE=10'] });
    assert.deepEqual(parseEnvelopeArgument('from:<"a b"@c.test>', 'FROM'), { ok: true, path: '<"a b"@c.test>', params: [] });
    assert.deepEqual(parseEnvelopeArgument('TO:<x@y.test>', 'FROM'), { ok: false, error: 'syntax' });
    assert.deepEqual(parseEnvelopeArgument('FROM:', 'FROM'), { ok: false, error: 'syntax' });
    const ctx = { smtputf8: true, dsn: true };
    assert.deepEqual(parseMailParams(['BODY=8BITMIME', 'SMTPUTF8', 'SIZE=99', 'RET=HDRS', 'ENVID=a+2Bb', 'AUTH=<>'], ctx), {
      ok: true,
      value: { body: '8BITMIME', smtputf8: true, size: 99, ret: 'HDRS', envid: 'a+b', auth: '' },
    });
    const r = parseMailParams(['SIZE=x'], ctx);
    assert.equal(!r.ok && formatReply(r.reply), '501 5.5.4 Bad message size syntax\r\n');
    const b = parseMailParams(['BODY=BINARYMIME'], ctx);
    assert.equal(!b.ok && formatReply(b.reply), '555 5.5.4 Unsupported option: BODY=BINARYMIME\r\n');
    const d = parseMailParams(['RET=FULL'], { smtputf8: true, dsn: false });
    assert.equal(!d.ok && formatReply(d.reply), '501 5.7.1 DSN support is disabled\r\n');
    assert.deepEqual(parseRcptParams(['NOTIFY=SUCCESS,FAILURE', 'ORCPT=rfc822;a+40b'], ctx), { ok: true, value: { notify: ['SUCCESS', 'FAILURE'], orcpt: 'rfc822;a@b' } });
    for (const p of [['NOTIFY=NEVER,SUCCESS'], ['NOTIFY=BOGUS'], ['ORCPT=nosemicolon'], ['NOTIFY=DELAY', 'NOTIFY=DELAY']]) assert.equal(parseRcptParams(p, ctx).ok, false, p.join(' '));
  });

  it('replies: multi-line, enhanced code on each line, footer', () => {
    assert.equal(formatReply({ code: 550, enhanced: '5.1.1', text: 'one\ntwo' }), '550-5.1.1 one\r\n550 5.1.1 two\r\n');
    assert.equal(formatReply({ code: 550, enhanced: '5.1.1', text: 'x' }, 'call 555'), '550-5.1.1 x\r\n550 5.1.1 call 555\r\n');
    assert.equal(formatReply({ code: 250, enhanced: '2.0.0', text: 'Ok' }, 'call 555'), '250 2.0.0 Ok\r\n');
    assert.equal(formatReply({ code: 334, enhanced: '', text: '' }), '334 \r\n');
    assert.deepEqual(parseReply('459 <x.test>: service unavailable'), { code: 459, enhanced: '', text: '<x.test>: service unavailable' });
  });
});

describe('reader', () => {
  async function readAll(chunks: string[], fn: (r: SmtpReader) => Promise<unknown>): Promise<unknown> {
    const s = new PassThrough();
    const r = new SmtpReader();
    r.attach(s);
    const p = fn(r);
    for (const c of chunks) {
      s.write(Buffer.from(c, 'latin1'));
      await new Promise((res) => setImmediate(res));
    }
    s.end();
    return p;
  }

  it('DATA split at every byte boundary gives the same content', async () => {
    const wire = 'a\r\n..b\r\n.c\r\nlast\r\n.\r\nNOOP\r\n';
    for (let cut = 1; cut < wire.length; cut++) {
      const out: Buffer[] = [];
      let rest = '';
      await readAll([wire.slice(0, cut), wire.slice(cut)], async (r) => {
        const res = await r.readData({ write: (b) => void out.push(Buffer.from(b)) });
        assert.equal(res.eof, false);
        rest = (await r.readLine(100))!.text;
      });
      assert.equal(Buffer.concat(out).toString(), 'a\n.b\nc\nlast\n', `cut ${cut}`);
      assert.equal(rest, 'NOOP');
    }
  });

  it('end of input during DATA is reported, not taken as the end of the message', async () => {
    const res = await readAll(['partial\r\n.'], (r) => r.readData({ write: () => undefined }));
    assert.deepEqual(res, { eof: true, wireBytes: 9, bareLf: false });
  });

  it('line ends: CRLF↔LF conversions keep bare CR and split CRLF', () => {
    const c = new CrlfToLf();
    const out = Buffer.concat([c.convert(Buffer.from('a\r')), c.convert(Buffer.from('\nb\rc\r')), c.convert(Buffer.from('x\n')), c.flush()]).toString();
    assert.equal(out, 'a\nb\rc\rx\n');
    assert.equal(c.bareLf, true);
    assert.equal(new LfToCrlf().convert(Buffer.from('a\nb\r\n')).toString(), 'a\r\nb\r\r\n');
  });
});
