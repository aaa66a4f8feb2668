// `facteur migrate mbox SRC DEST`: bytes, dates and flags kept, refusal to overwrite,
// bounded memory, round trip with facteur's own mbox delivery.
import assert from 'node:assert/strict';
import { createWriteStream, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { main } from '../../src/cli/main.js';
import { migrateMbox } from '../../src/cli/commands/migrate.js';
import { Config } from '../../src/config/config.js';
import { LocalDelivery } from '../../src/delivery/agent.js';
import { MemoryUsers, tmpDir } from '../smtp/harness.js';

const MBOX = [
  'From alice@example.test Sat Nov 28 23:21:26 2026',
  'Status: RO',
  'X-Status: AF',
  'Subject: read and answered',
  '',
  'first body',
  '>From quoted line',
  '>>From double quoted',
  '',
  'From bob@example.test  Sun Nov  1 08:00:00 2026',
  'Subject: unread',
  '',
  'body',
  'From here on a line that is not a separator',
  '',
  '',
  'From MAILER-DAEMON Mon Nov  2 10:00:00 2026',
  'Status: O',
  'Subject: old, not seen',
  '',
  'last',
  '',
].join('\n');

describe('facteur migrate mbox', () => {
  it('keeps bytes, dates and Status/X-Status flags', async () => {
    const dir = tmpDir();
    const src = join(dir, 'alice');
    writeFileSync(src, MBOX);
    const dest = join(dir, 'Maildir');
    const r = await migrateMbox(src, dest);
    assert.equal(r.messages, 3);
    const cur = readdirSync(join(dest, 'cur')).sort();
    const nw = readdirSync(join(dest, 'new'));
    assert.equal(nw.length, 1);
    assert.equal(cur.length, 2);
    const byFlags = Object.fromEntries(cur.map((n) => [n.split(':2,')[1], readFileSync(join(dest, 'cur', n), 'latin1')]));
    assert.deepEqual(Object.keys(byFlags).sort(), ['', 'FRS']);
    assert.equal(byFlags.FRS, 'Status: RO\nX-Status: AF\nSubject: read and answered\n\nfirst body\nFrom quoted line\n>From double quoted\n');
    assert.equal(byFlags[''], 'Status: O\nSubject: old, not seen\n\nlast\n');
    const unread = readFileSync(join(dest, 'new', nw[0]), 'latin1');
    assert.equal(unread, 'Subject: unread\n\nbody\nFrom here on a line that is not a separator\n\n');
    assert.match(nw[0], new RegExp(`,S=${Buffer.byteLength(unread)},W=${Buffer.byteLength(unread) + 5}$`));
    const mtime = statSync(join(dest, 'new', nw[0])).mtime;
    assert.equal(mtime.getTime(), new Date(2026, 10, 1, 8, 0, 0).getTime());
  });

  it('refuses to overwrite a Maildir that holds mail; the CLI exits non-zero', async () => {
    const dir = tmpDir();
    const src = join(dir, 'box');
    writeFileSync(src, MBOX);
    const dest = join(dir, 'Maildir');
    assert.equal(await main(['migrate', 'mbox', src, dest]), 0);
    process.exitCode = undefined;
    const errs: string[] = [];
    const orig = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((s: string) => {
      errs.push(String(s));
      return true;
    }) as typeof process.stderr.write;
    try {
      assert.equal(await main(['migrate', 'mbox', src, dest]), 1);
    } finally {
      process.stderr.write = orig;
      process.exitCode = undefined;
    }
    assert.match(errs.join(''), /already contains mail: refusing to overwrite/);
    assert.equal(readdirSync(join(dest, 'cur')).length + readdirSync(join(dest, 'new')).length, 3);
    await assert.rejects(migrateMbox(join(dir, 'Maildir', 'cur'), join(dir, 'other')), /not a file/);
    writeFileSync(join(dir, 'notmbox'), 'Subject: x\n\nbody\n');
    await assert.rejects(migrateMbox(join(dir, 'notmbox'), join(dir, 'other2')), /not an mbox/);
  });

  it('round trip: what facteur delivered to an mbox comes back byte for byte', async () => {
    const dir = tmpDir();
    const config = Config.fromObject({ data_directory: dir, myhostname: 'mail.example.test', myorigin: 'example.test', mydestination: 'example.test', home_mailbox: 'Mailbox' });
    const users = new MemoryUsers(dir, ['alice@example.test']);
    const d = new LocalDelivery({ config, users });
    const bodies = ['Subject: 1\n\nFrom the top\n>From one\n>>>From three\n', 'Subject: 2\n\n\n\nblank lines\n\n', 'Subject: 3\n\nno final newline'];
    for (const [i, b] of bodies.entries()) {
      const f = join(dir, `m${i}`);
      writeFileSync(f, b);
      await d.deliver({ queueId: `Q${i}`, sender: 's@remote.test', recipients: ['alice@example.test'], contentPath: f });
    }
    const dest = join(dir, 'Maildir');
    await migrateMbox(join(dir, 'mail', 'example.test', 'alice', 'Mailbox'), dest);
    const got = readdirSync(join(dest, 'new'))
      .map((n) => readFileSync(join(dest, 'new', n), 'utf8'))
      .map((t) => t.replace(/^Return-Path: .*\nX-Original-To: .*\nDelivered-To: .*\n/, ''))
      .sort();
    assert.deepEqual(got, [bodies[0], bodies[1], bodies[2] + '\n'].sort());
  });

  it('a large mbox is converted in bounded memory', async () => {
    const dir = tmpDir();
    const src = join(dir, 'big');
    const out = createWriteStream(src);
    const line = 'x'.repeat(99) + '\n';
    out.write('From a@b.test Sat Nov 28 23:21:26 2026\nSubject: big\n\n');
    for (let i = 0; i < 600_000; i++) out.write(line); // 60 MB message
    out.write('\nFrom a@b.test Sat Nov 28 23:21:27 2026\nSubject: small\n\nx\n');
    await new Promise((r) => out.end(r));
    // measured in a child with --expose-gc: retained memory, not garbage waiting for the collector
    const script = `
      import { migrateMbox } from ${JSON.stringify(new URL('../../src/cli/commands/migrate.ts', import.meta.url).href)};
      const base = (globalThis.gc(), process.memoryUsage());
      let peak = 0;
      const t = setInterval(() => {
        globalThis.gc();
        const m = process.memoryUsage();
        peak = Math.max(peak, m.heapUsed + m.arrayBuffers - base.heapUsed - base.arrayBuffers);
      }, 20);
      const r = await migrateMbox(process.argv[1], process.argv[2], { fsync: false });
      clearInterval(t);
      console.log(JSON.stringify({ messages: r.messages, peak }));
    `;
    const { execFileSync } = await import('node:child_process');
    const res = execFileSync(process.execPath, ['--expose-gc', '--import', 'tsx', '--input-type=module', '-e', script, src, join(dir, 'Maildir')], { encoding: 'utf8' });
    const { messages, peak } = JSON.parse(res.trim().split('\n').pop()!);
    assert.equal(messages, 2);
    assert.ok(peak < 16_000_000, `peak retained memory ${peak} for a 60 MB message`);
    const big = readdirSync(join(dir, 'Maildir', 'new')).map((n) => statSync(join(dir, 'Maildir', 'new', n)).size);
    assert.ok(big.includes(60_000_000 + 'Subject: big\n\n'.length));
  });
});
