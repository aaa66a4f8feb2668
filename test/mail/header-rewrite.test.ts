import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { headerEnd, qualifyAddresses, rewriteHeaderBlock } from '../../src/mail/header-rewrite.js';

describe('cleanup header rewriting for local_header_rewrite_clients', () => {
  it('qualifies unqualified addresses, leaving qualified ones, quotes, comments and groups alone', () => {
    const q = (v: string) => qualifyAddresses(v, 'example.test');
    assert.equal(q(' <alice>'), ' <alice@example.test>');
    assert.equal(q(' alice'), ' alice@example.test');
    assert.equal(q(' alice (Alice A.)'), ' alice@example.test (Alice A.)');
    assert.equal(q(' "Bob, the builder" <bob>, carol@remote.test, dave'), ' "Bob, the builder" <bob@example.test>, carol@remote.test, dave@example.test');
    assert.equal(q(' Friends: ann, <ben>;'), ' Friends: ann@example.test, <ben@example.test>;');
    assert.equal(q(' undisclosed-recipients:;'), ' undisclosed-recipients:;');
    assert.equal(q(' <>'), ' <>');
    assert.equal(q(' "quoted local"@remote.test'), ' "quoted local"@remote.test');
    assert.equal(q(' Alice <alice@example.test>,\n\t<bob>'), ' Alice <alice@example.test>,\n\t<bob@example.test>');
  });

  it('adds Message-Id, Date and From after the existing headers (as in the Postfix fixture 06)', () => {
    const r = { myorigin: 'example.test', myhostname: 'mail.example.test', queueId: '6831D5102E7', sender: 'alice@example.test', date: 'Sat, 28 Nov 2026 23:21:35 +0000 (UTC)', now: new Date('2026-11-28T23:21:35Z') };
    assert.equal(
      rewriteHeaderBlock('Subject: 06 no From, Date, Message-ID or To header\n', r),
      'Subject: 06 no From, Date, Message-ID or To header\nMessage-Id: <20261128232135.6831D5102E7@mail.example.test>\nDate: Sat, 28 Nov 2026 23:21:35 +0000 (UTC)\nFrom: alice@example.test\n',
    );
    // present headers are kept and only qualified (fixture 17)
    assert.equal(rewriteHeaderBlock('From: <alice>\nTo: <bob>\nSubject: x\nDate: d\nMessage-ID: <m@x>\n', r), 'From: <alice@example.test>\nTo: <bob@example.test>\nSubject: x\nDate: d\nMessage-ID: <m@x>\n');
    // an unqualified envelope sender becomes a qualified From:
    assert.equal(rewriteHeaderBlock('Date: d\nMessage-Id: <m@x>\n', { ...r, sender: 'alice' }), 'Date: d\nMessage-Id: <m@x>\nFrom: alice@example.test\n');
    // the null sender adds no From:
    assert.equal(rewriteHeaderBlock('Date: d\nMessage-Id: <m@x>\n', { ...r, sender: '' }), 'Date: d\nMessage-Id: <m@x>\n');
  });

  it('finds where the header block ends', () => {
    assert.deepEqual(headerEnd(Buffer.from('A: 1\n\tb\nB: 2\n\nbody\n')), { end: 13, body: 14 });
    assert.deepEqual(headerEnd(Buffer.from('A: 1\r\n\r\nbody')), { end: 6, body: 8 });
    assert.deepEqual(headerEnd(Buffer.from('A: 1\nnot a header line\n')), { end: 5, body: 5 });
    assert.equal(headerEnd(Buffer.from('A: 1\nB: 2')), undefined);
  });
});
