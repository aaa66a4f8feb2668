// The notices are compared byte for byte with the ones a real Postfix 3.7 wrote
// (test/fixtures/postfix-dsn/, time zone UTC): same headers, boundary, texts,
// delivery-status fields and wrapping.
process.env.TZ = 'UTC';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { buildNotice, lineWrap, mailDate, type NoticeSettings } from '../../src/queue/dsn.js';
import type { RecipientState } from '../../src/queue/file.js';

const fixtures = fileURLToPath(new URL('../fixtures/postfix-dsn/', import.meta.url));
const fixture = (name: string) => readFileSync(fixtures + name, 'utf8');

/** The notice as bounce(8) queued it: without the three lines local(8) added at delivery. */
function generated(eml: string): string {
  return eml.split('\n').slice(3).join('\n');
}

/** The original message as it was stored: the returned part after its Return-Path line. */
function storedOriginal(eml: string): string {
  const b = /boundary="([^"]+)"/.exec(eml)![1];
  const parts = eml.split(`\n--${b}`);
  const last = parts[parts.length - 2];
  const body = last.slice(last.indexOf('\n\n') + 2);
  return body.replace(/^Return-Path: <[^>]*>\n/, '');
}

const settings: NoticeSettings = {
  myhostname: 'mail.example.test',
  myorigin: 'example.test',
  mailName: 'Postfix',
  maximalQueueLifetimeSec: 5 * 86400,
  delayWarningTimeSec: 20,
};

const state = (s: Partial<RecipientState>): RecipientState => ({ status: 'pending', notified: new Set(), ...s });

/** What the manager writes: head, the original (whole or headers), tail. */
function assemble(n: ReturnType<typeof buildNotice>, original: string): string {
  const headers = original.slice(0, original.indexOf('\n\n') + 1);
  return n.head + (n.attach === 'full' ? original : headers) + n.tail;
}

describe('notices match Postfix 3.7 byte for byte', () => {
  it('non-delivery notice (no RET: the whole message is returned)', () => {
    const eml = fixture('11-bounce-unknown-user.alice.eml');
    const original = storedOriginal(eml);
    const n = buildNotice(
      'failure',
      settings,
      { id: '08785510325', sender: 'alice@example.test', arrival: 1795908117_000 },
      [{ address: 'nosuchuser@example.test', state: state({ status: 'bounced', dsn: '5.1.1', reason: 'unknown user: "nosuchuser"', relay: 'local' }) }],
      { now: 1795908117_000, noticeId: '0B316510328', originalSize: original.length, bounceSizeLimit: 50000 },
    );
    assert.equal(n.attach, 'full');
    assert.equal(assemble(n, original), generated(eml));
  });

  it('success notice (NOTIFY=SUCCESS, RET=HDRS, ENVID, ORCPT)', () => {
    const eml = fixture('12-dsn-success-2.alice.eml');
    const original = storedOriginal(eml) + '\nFixture message body.\n';
    const n = buildNotice(
      'success',
      settings,
      { id: '48C37510329', sender: 'alice@example.test', arrival: 1795908118_000, envid: 'fixture-envid-12', ret: 'HDRS' },
      [{ address: 'bob@example.test', orcpt: 'rfc822;bob@example.test', state: state({ status: 'done', dsn: '2.0.0', reason: 'delivered to maildir', relay: 'local', action: 'delivered' }) }],
      { now: 1795908118_000, noticeId: '4AB7A51032C', originalSize: original.length, bounceSizeLimit: 50000 },
    );
    assert.equal(n.attach, 'headers');
    assert.equal(assemble(n, original), generated(eml));
  });

  it('delay warning (always headers only, Will-Retry-Until)', () => {
    const eml = fixture('13-delay-warning.alice.eml');
    const original = storedOriginal(eml) + '\nFixture message body.\n';
    const n = buildNotice(
      'delay',
      settings,
      { id: '7FB5151032E', sender: 'alice@example.test', arrival: 1795908119_000 },
      [{ address: 'someone@remote.test', state: state({ status: 'pending', dsn: '4.3.2', reason: 'deferred transport' }) }],
      { now: 1795908151_000, noticeId: '8DCE851027B', originalSize: original.length, bounceSizeLimit: 50000 },
    );
    assert.equal(assemble(n, original), generated(eml));
  });

  it('returns only the headers of a message larger than bounce_size_limit, and all of it with RET=FULL', () => {
    const mk = (ret: 'FULL' | 'HDRS' | undefined, size: number) =>
      buildNotice('failure', settings, { id: 'A1', sender: 'a@example.test', arrival: 0, ret }, [{ address: 'b@x.test', state: state({ status: 'bounced', dsn: '5.0.0', reason: 'no' }) }], {
        now: 0,
        noticeId: 'B2',
        originalSize: size,
        bounceSizeLimit: 50000,
      });
    assert.equal(mk(undefined, 60000).attach, 'headers');
    assert.match(mk(undefined, 60000).head, /Content-Description: Undelivered Message Headers\nContent-Type: text\/rfc822-headers\n/);
    assert.equal(mk('HDRS', 100).attach, 'headers');
    assert.equal(mk('FULL', 100).attach, 'full');
    assert.equal(mk(undefined, 100).attach, 'full');
  });
});

describe('Postfix text helpers', () => {
  it('mail_date pads the day of month with a space', () => {
    assert.equal(mailDate(Date.UTC(2026, 11, 3, 23, 21, 59)), 'Thu,  3 Dec 2026 23:21:59 +0000 (UTC)');
  });

  it('line_wrap breaks at blanks within 79 columns, continuation indented by 4, long words kept', () => {
    const text = `<nobody@remote.test>: host mx.remote.test[127.0.0.1] said: 550 5.1.1 <nobody@remote.test>: Recipient address rejected: User unknown (in reply to RCPT TO command)`;
    const lines = lineWrap(text);
    assert.deepEqual(lines, [
      '<nobody@remote.test>: host mx.remote.test[127.0.0.1] said: 550 5.1.1',
      '    <nobody@remote.test>: Recipient address rejected: User unknown (in reply to',
      '    RCPT TO command)',
    ]);
    assert.ok(lines.every((l) => l.length <= 79));
    assert.deepEqual(lineWrap('x'.repeat(100) + ' y'), ['x'.repeat(100), '    y']);
  });
});
