// bench/imap-folder: a 50,000-message folder (issue #7).
//   cold SELECT (no index, no dovecot-uidlist: built from the Maildir alone),
//   warm SELECT (new session, folder state in memory), warm SELECT (index read from disk),
//   UID FETCH 1:* (FLAGS), FETCH 1:* (ENVELOPE) first (parses every message) and cached,
//   SEARCH TEXT word.
// Run: node --import tsx bench/imap-folder.ts [messages]
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { connect, type Socket } from 'node:net';
import { startServer } from '../test/imap/harness.js';

const N = Number(process.argv[2] ?? 50_000);
const WORDS = 'alpha bravo charlie delta echo foxtrot golf hotel india juliett kilo lima mike november oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee zulu'.split(' ');

function message(i: number): string {
  const w = (k: number) => WORDS[(i * 7 + k * 13) % WORDS.length];
  const body: string[] = [];
  for (let l = 0; l < 20; l++) body.push(`${w(l)} ${w(l + 1)} ${w(l + 2)} line ${l} of message ${i} ${w(l + 3)} ${w(l + 4)}`);
  if (i % 1000 === 0) body.push('the rare word zeppelin appears here');
  return [
    `Return-Path: <sender${i % 97}@example.test>`,
    `Received: from mx.example.test by mail.example.test; Mon, 4 Mar 2024 09:15:02 +0000`,
    `Date: Mon, 4 Mar 2024 09:${String(i % 60).padStart(2, '0')}:00 +0000`,
    `From: Sender ${i % 97} <sender${i % 97}@example.test>`,
    `To: Reader <reader@example.test>`,
    `Subject: Message number ${i} about ${w(0)} and ${w(5)}`,
    `Message-ID: <msg-${i}@example.test>`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=us-ascii',
    '',
    ...body,
    '',
  ].join('\n');
}

async function main(): Promise<void> {
  const srv = await startServer({ users: { bench: 'pw' } });
  const md = join(srv.homeOf('bench'), 'Maildir');
  const dir = join(md, '.Big');
  for (const d of ['cur', 'new', 'tmp']) mkdirSync(join(dir, d), { recursive: true });
  mkdirSync(join(md, 'cur'), { recursive: true });
  mkdirSync(join(md, 'new'), { recursive: true });
  mkdirSync(join(md, 'tmp'), { recursive: true });
  writeFileSync(join(dir, 'maildirfolder'), '');
  const t = performance.now();
  const base = 1700000000;
  for (let i = 1; i <= N; i++) {
    const m = message(i);
    const size = Buffer.byteLength(m);
    const lines = m.split('\n').length - 1;
    const flags = i % 3 === 0 ? 'S' : i % 5 === 0 ? 'FS' : '';
    writeFileSync(join(dir, 'cur', `${base + i}.M${i}P1Q${i}.bench,S=${size},W=${size + lines}:2,${flags}`), m);
  }
  console.log(`created ${N} messages in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  // a real folder's directories were not modified in the last second (see MTIME_TRUST_MS in src/store/folder.ts)
  await new Promise((r) => setTimeout(r, 1500));

  srv.registry.keepMs = 60_000;
  const c = await BenchClient.connect(srv.port);
  await c.cmd('LOGIN bench pw');
  const results: string[] = [];
  const time = async (label: string, cmd: string, client = c): Promise<string> => {
    const t0 = performance.now();
    const r = await client.cmd(cmd);
    const s = ((performance.now() - t0) / 1000).toFixed(3);
    console.log(`${label.padEnd(46)} ${s} s   (${(r.bytes / 2 ** 20).toFixed(1)} MiB of responses)`);
    results.push(`${label}=${s}s`);
    return r.text;
  };
  await time('cold SELECT (no index, no uidlist)', 'SELECT Big');
  await c.cmd('UNSELECT');
  const c2 = await BenchClient.connect(srv.port);
  await c2.cmd('LOGIN bench pw');
  await time('warm SELECT (new session, state in memory)', 'SELECT Big', c2);
  await c2.cmd('UNSELECT');
  // drop the in-memory state: the next SELECT reads facteur.index
  await srv.registry.closeAll();
  await time('warm SELECT (index read from disk)', 'SELECT Big', c2);
  await time('UID FETCH 1:* (FLAGS)', 'UID FETCH 1:* (FLAGS)', c2);
  await time('FETCH 1:* (ENVELOPE) first (parses all)', 'FETCH 1:* (ENVELOPE)', c2);
  await time('FETCH 1:* (ENVELOPE) cached', 'FETCH 1:* (ENVELOPE)', c2);
  const text = await time('SEARCH TEXT zeppelin', 'SEARCH TEXT zeppelin', c2);
  const hits = (/\* SEARCH([ 0-9]*)/.exec(text)?.[1] ?? '').trim().split(' ').filter(Boolean).length;
  if (hits !== Math.floor(N / 1000)) console.log(`  unexpected SEARCH hits: ${hits}`);
  await time('SEARCH TEXT quebec (matches most)', 'SEARCH TEXT quebec', c2);
  await time('SEARCH UNSEEN', 'SEARCH UNSEEN', c2);
  await time('STORE 1:* +FLAGS.SILENT (\\Answered)', 'STORE 1:* +FLAGS.SILENT (\\Answered)', c2);
  await time('NOOP after STORE (own renames, no rescan)', 'NOOP', c2);
  console.log(`RESULT imap-folder messages=${N} ${results.join(' ').replace(/ /g, ' ')}`);
  c.close();
  c2.close();
  await srv.close();
}

/** A lean client: timing must measure the server, not response parsing. */
class BenchClient {
  private n = 0;
  private waiting: { tag: string; resolve: (r: { bytes: number; text: string }) => void } | undefined;
  private bytes = 0;
  private head = '';
  private tail = '';
  constructor(private readonly sock: Socket) {
    sock.on('data', (d: Buffer) => {
      this.bytes += d.length;
      const s = d.toString('latin1');
      if (this.head.length < 4096) this.head += s.slice(0, 4096);
      const hay = this.tail + s;
      const w = this.waiting;
      if (w && (hay.includes('\r\n' + w.tag + ' ') || hay.startsWith(w.tag + ' '))) {
        this.waiting = undefined;
        w.resolve({ bytes: this.bytes, text: this.head });
      }
      this.tail = hay.slice(-64);
    });
  }
  static async connect(port: number): Promise<BenchClient> {
    const sock = connect(port, '127.0.0.1');
    await new Promise((r) => sock.once('connect', r));
    const c = new BenchClient(sock);
    await new Promise((r) => sock.once('data', r));
    return c;
  }
  cmd(text: string): Promise<{ bytes: number; text: string }> {
    const tag = `B${++this.n}`;
    this.bytes = 0;
    this.head = '';
    this.tail = '\r\n';
    return new Promise((resolve) => {
      this.waiting = { tag, resolve };
      this.sock.write(`${tag} ${text}\r\n`);
    });
  }
  close(): void {
    this.sock.destroy();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
