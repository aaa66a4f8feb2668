// Every probe of every Postfix 3.7 restriction recording (test/fixtures/postfix-restrictions,
// /work/shared/fixtures README), replayed against a whole facteur configured with the same
// main.cf (base.cf + the scenario's parameters and tables): real session, real restriction
// engine, real auth service, real local delivery, DNS through the production resolver and a
// DNS server on loopback serving the recording's zone, clients connecting from the same
// 127.0.0.x source addresses. Every reply line must be Postfix's, byte for byte (queue ids
// aside). Only relay_none_configured is checked differently: facteur refuses to start.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Config } from '../../src/config/config.js';
import { checkConfiguration } from '../../src/server/check.js';
import { parseTranscript, type Probe } from '../helpers/postfix-transcript.js';
import { SmtpWire, startFullServer, type FullServer } from './harness.js';

const FIXTURES = fileURLToPath(new URL('../fixtures/postfix-restrictions/', import.meta.url));

/** facteur's main.cf for a scenario: the reference main.cf with the instance plumbing replaced. */
function configFor(name: string): string {
  const dir = '${config_directory}';
  const base = readFileSync(join(FIXTURES, 'base.cf'), 'utf8')
    .split('\n')
    .filter((l) => !/^(queue_directory|data_directory|smtpd_tls_cert_file|smtpd_tls_key_file|alias_maps|alias_database)\s*=/.test(l))
    .join('\n');
  const scenario = name === 'base' ? '' : readFileSync(join(FIXTURES, `${name}.cf`), 'utf8');
  const text = [
    base,
    scenario,
    `alias_maps = texthash:${dir}/aliases`,
    // the reference's banner says Postfix ($mail_name)
    'mail_name = Postfix',
    // Postfix's defaults where facteur's differ on purpose (docs/configuration.md)
    'disable_vrfy_command = no',
    'smtpd_tls_auth_only = no',
    // the reference's Dovecot offered these two
    'auth_mechanisms = plain login',
  ].join('\n');
  // The recording's master.cf submission entry overrides only these (base.cf, end); the
  // other lists are the global ones, unlike facteur's own submission defaults.
  const global = Config.fromText(text, 'facteur.conf');
  const lists = ['smtpd_helo_restrictions', 'smtpd_sender_restrictions', 'smtpd_recipient_restrictions'];
  return [
    text,
    'submission.smtpd_client_restrictions = permit_sasl_authenticated, reject',
    'submission.smtpd_relay_restrictions = permit_sasl_authenticated, reject',
    ...lists.map((l) => `submission.${l} = ${global.rawValue(l)?.value ?? ''}`),
  ].join('\n');
}

const normalize = (l: string | undefined) => l?.replace(/queued as [0-9A-F]+$/, 'queued as QUEUEID');

async function replay(srv: FullServer, p: Probe): Promise<void> {
  const port = srv.port(p.role === 'mx' ? 'smtp' : 'submission');
  const c = await SmtpWire.open(port, { localAddress: p.client });
  try {
    for (const [i, step] of p.steps.entries()) {
      const where = `probe ${p.id}, step ${i}`;
      if (step.kind === 'send') c.write(step.lines.map((l) => l + '\r\n').join(''));
      else if (step.kind === 'expect') assert.equal(normalize(await c.line()), normalize(step.line), where);
      else if (step.kind === 'starttls') await c.starttls();
      else if (step.kind === 'closed') assert.equal(await c.waitClosed(), true, `${where}: the server closes the connection`);
    }
  } finally {
    c.close();
  }
}

const scenarios = readdirSync(FIXTURES)
  .filter((f) => f.endsWith('.transcript'))
  .map((f) => f.replace(/\.transcript$/, ''))
  .filter((n) => n !== 'relay_none_configured')
  .sort();

const zone = readFileSync(join(FIXTURES, 'zone.txt'), 'utf8');

/** Probes that still differ, with the reason (todo: reported, not hidden). None at the moment. */
const PENDING: Record<string, string> = {};
const aliases = 'postmaster: root\nabuse: root\nMAILER-DAEMON: root\nroot: alice\n';

for (const name of scenarios) {
  describe(`Postfix recording ${name}: every probe against the whole server`, () => {
    let srv: FullServer;
    const sleeps: number[] = [];
    const probes = parseTranscript(readFileSync(join(FIXTURES, `${name}.transcript`), 'utf8'));
    before(async () => {
      const files: Record<string, string> = { aliases };
      for (const table of safeList(join(FIXTURES, 'maps', name))) files[`maps/${name}/${table}`] = readFileSync(join(FIXTURES, 'maps', name, table), 'utf8');
      srv = await startFullServer({
        users: { alice: 'alice-secret', bob: 'bob-secret' },
        files,
        zone,
        services: ['smtp', 'submission'],
        runtime: {
          sleep: async (ms) => {
            sleeps.push(ms);
          },
        },
        conf: configFor(name),
      });
    });
    after(() => srv?.close());
    for (const p of probes) {
      it(p.id, { todo: PENDING[`${name}/${p.id}`] }, async () => {
        const early = p.steps.some((s) => s.kind === 'send' && s.early);
        // talking before the greeting is a race in Postfix too (the recording repeated it until detected)
        for (let attempt = 1; ; attempt++) {
          try {
            await replay(srv, p);
            return;
          } catch (err) {
            if (!early || attempt >= 5) throw err;
          }
        }
      });
    }
    if (name === 'base') {
      it('untrusted clients were tarpitted by "sleep 1" (injected, not waited)', () => {
        assert.ok(sleeps.includes(1000), `sleeps: ${sleeps.join(',')}`);
      });
      it('delivered the accepted local mail into the users\' Maildirs', () => {
        const alice = srv.newMail('alice');
        assert.ok(alice.length > 0);
        assert.ok(alice.some((m) => m.startsWith('Return-Path: <') && m.includes('\nDelivered-To: alice@example.test\n')));
      });
    }
  });
}

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

describe('Postfix recording relay_none_configured', () => {
  it('facteur refuses to start without relay control, with Postfix\'s message', async () => {
    const text = readFileSync(join(FIXTURES, 'base.cf'), 'utf8').replace(/^(queue_directory|data_directory|smtpd_tls_cert_file|smtpd_tls_key_file|alias_maps|alias_database)\s*=.*$/gm, '') + '\n' + readFileSync(join(FIXTURES, 'relay_none_configured.cf'), 'utf8');
    const diags = await checkConfiguration(Config.fromText(text, '/tmp/facteur.conf'));
    const errors = diags.filter((d) => d.severity === 'error');
    assert.equal(errors.length, 1, JSON.stringify(errors));
    assert.match(errors[0].message, /specify at least one working instance of: reject_unauth_destination, defer_unauth_destination, reject, defer or defer_if_permit/);
  });
});
