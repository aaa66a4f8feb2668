// `facteur serve` as a user runs it: a child process that prints its listeners, serves
// mail, reloads on SIGHUP without dropping a connection, and stops cleanly on SIGTERM.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { runCli } from '../helpers/cli.js';
import { tmpDir } from '../helpers/tmp.js';
import { SmtpWire } from './harness.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

function serve(args: string[], cwd: string): { child: ChildProcess; out: () => string; err: () => string; listening: Promise<Record<string, number>> } {
  const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), join(root, 'src/cli/main.ts'), 'serve', ...args], { cwd, env: { ...process.env, FACTEUR_CONFIG: '' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  const listening = new Promise<Record<string, number>>((resolve, reject) => {
    child.stdout!.on('data', (d) => {
      out += d;
      if (out.includes('Next steps:')) {
        const ports: Record<string, number> = {};
        for (const m of out.matchAll(/^\s+(\w+)\s+127\.0\.0\.1:(\d+)$/gm)) ports[m[1]] = Number(m[2]);
        resolve(ports);
      }
    });
    child.once('exit', (code) => reject(new Error(`serve exited early (${code}): ${err}`)));
  });
  return { child, out: () => out, err: () => err, listening };
}

const exited = (child: ChildProcess) => new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));

describe('facteur serve', () => {
  it('starts from a configuration file, prints its listeners, delivers, reloads on SIGHUP, stops on SIGTERM', async () => {
    const dir = tmpDir();
    const conf = join(dir, 'facteur.conf');
    const listen = (on: string[]) => ['smtp', 'submission', 'submissions', 'imap', 'imaps', 'pop3', 'pop3s'].map((s) => `${s}_listen = ${on.includes(s) ? '127.0.0.1:0' : ''}`).join('\n');
    writeFileSync(conf, `data_directory = ${dir}/data\nmyhostname = mx.example.test\n${listen(['smtp', 'imap'])}\n`);
    const add = await runCli(['user', 'add', 'ann@example.test', '--password-stdin', '-c', conf], { input: 'ann-secret\n' });
    assert.equal(add.code, 0, add.stderr);

    const s = serve(['-c', conf], dir);
    const ports = await s.listening;
    assert.deepEqual(Object.keys(ports).sort(), ['imap', 'smtp']);
    assert.match(s.out(), new RegExp(`facteur is running: configuration ${conf.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`));

    // a session open across the reload keeps working
    const c = await SmtpWire.open(ports.smtp);
    assert.equal((await c.reply())[0], '220 mx.example.test ESMTP facteur');
    writeFileSync(conf, `data_directory = ${dir}/data\nmyhostname = mx.example.test\nsmtpd_banner = $myhostname ESMTP reloaded\n${listen(['smtp', 'imap'])}\n`);
    s.child.kill('SIGHUP');
    for (let i = 0; i < 100 && !s.err().includes('configuration reloaded'); i++) await new Promise((r) => setTimeout(r, 50));
    assert.match(s.err(), /configuration reloaded/);
    await c.cmd('EHLO client.example.test');
    await c.cmd('MAIL FROM:<someone@example.org>');
    assert.deepEqual(await c.cmd('RCPT TO:<ann@example.test>'), ['250 2.1.5 Ok']);
    assert.deepEqual(await c.cmd('DATA'), ['354 End data with <CR><LF>.<CR><LF>']);
    assert.match((await c.cmd('Subject: across a reload\r\n\r\nhello\r\n.'))[0], /^250 2\.0\.0 Ok: queued as/);
    await c.cmd('QUIT');
    c.close();
    const maildir = join(dir, 'data/mail/example.test/ann/Maildir/new');
    assert.equal(readdirSync(maildir).length, 1);

    // new connections get the reloaded configuration (the listener was kept: same port)
    const d = await SmtpWire.open(ports.smtp);
    assert.equal((await d.reply())[0], '220 mx.example.test ESMTP reloaded');
    d.close();

    s.child.kill('SIGTERM');
    assert.equal(await exited(s.child), 0);
    assert.match(s.err(), /SIGTERM: stopping/);
    assert.match(s.err(), /stopped/);
  });

  it('refuses to start when a port is taken, with a clear message and status 1', async () => {
    const dir = tmpDir();
    const net = await import('node:net');
    const server = net.createServer();
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    const conf = join(dir, 'facteur.conf');
    writeFileSync(conf, `data_directory = ${dir}/data\nsmtp_listen = 127.0.0.1:${port}\nsubmission_listen =\nsubmissions_listen =\nimap_listen =\nimaps_listen =\npop3_listen =\npop3s_listen =\n`);
    const r = await runCli(['serve', '-c', conf]);
    server.close();
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`fatal: smtp: cannot listen on 127\\.0\\.0\\.1:${port}: EADDRINUSE`));
  });
});
