// The loopback DNS server (test/helpers/dns-server.ts) serving the fixtures' zone, read
// through facteur's production resolver (node:dns with setServers): the answers must be
// the ones recorded from dnsmasq ("answers as served" in zone.txt), SERVFAIL and silence
// must be temporary failures, and the engine must reach the same decisions as with the
// static resolver.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Config } from '../../src/config/config.js';
import { SystemResolver } from '../../src/dns/system.js';
import { createPolicy } from '../../src/smtp/policy/engine.js';
import type { SmtpClientState } from '../../src/smtp/policy/types.js';
import { parseZone, startDnsServer, type DnsServer } from '../helpers/dns-server.js';
import { FixtureDirectory } from './helpers/directory.js';
import { MemoryLogger } from './helpers/script.js';

const fixtures = fileURLToPath(new URL('../fixtures/postfix-restrictions/', import.meta.url));
const zoneText = readFileSync(join(fixtures, 'zone.txt'), 'utf8');

describe('loopback DNS server with the fixture zone', () => {
  let server: DnsServer;
  let resolver: SystemResolver;
  before(async () => {
    const records = parseZone(zoneText);
    // a TXT record longer than 255 bytes is split into character-strings and joined again
    records.push({ name: 'long.test', type: 'TXT', data: 'x'.repeat(300) });
    server = await startDnsServer(records, { servfail: ['servfail.test', '9.9.9.9.bl.spamcop.net'], drop: ['silent.test'] });
    resolver = new SystemResolver({ servers: [server.address], timeoutMs: 300, tries: 1, hostsFile: false });
  });
  after(async () => {
    await server.close();
  });

  it('answers as dnsmasq did (zone.txt "answers as served")', async () => {
    const served = [...zoneText.matchAll(/^; (\S+)\s+(A|MX|TXT|PTR)\s+-> (NOERROR|NXDOMAIN)(?:: (.*)| \(no answer\))?$/gm)];
    assert.ok(served.length >= 40, `only ${served.length} recorded answers found`);
    for (const [, name, type, rcode, data] of served) {
      let ans;
      if (type === 'PTR') ans = await resolver.ptr(name.replace('.in-addr.arpa', '').split('.').reverse().join('.'));
      else if (type === 'A') ans = await resolver.a(name);
      else if (type === 'MX') ans = await resolver.mx(name);
      else ans = await resolver.txt(name);
      const what = `${name} ${type}`;
      if (rcode === 'NXDOMAIN') assert.equal(ans.status, 'nxdomain', what);
      else if (data === undefined) assert.equal(ans.status, 'nodata', what);
      else {
        assert.equal(ans.status, 'ok', what);
        const want = data.replace(/^(A|MX|TXT|PTR) /, '').replace(/\.$/, '').replace(/^"|"$/g, '');
        const got = (ans.records as unknown[]).map((r) => (typeof r === 'string' ? r : `${(r as { priority: number }).priority} ${(r as { exchange: string }).exchange}`));
        assert.deepEqual(got, [want], what);
      }
    }
  });

  it('long TXT records, SERVFAIL and timeouts', async () => {
    assert.deepEqual((await resolver.txt('long.test')).records, ['x'.repeat(300)]);
    assert.equal((await resolver.a('servfail.test')).status, 'tempfail');
    assert.equal((await resolver.a('silent.test')).status, 'tempfail');
    assert.ok(server.queries.includes('A silent.test'));
  });

  it('the engine decides the same through real DNS: FCrDNS names, DNSBL with TXT, DNS trouble is 450', async () => {
    const config = Config.fromText(
      [
        'myhostname = mail.example.test',
        'mydomain = example.test',
        'mydestination = $myhostname, $mydomain',
        'mynetworks = 127.0.0.1/32',
        'smtpd_client_restrictions = permit_mynetworks, reject_rbl_client bl.spamcop.net',
        'smtpd_sender_restrictions = reject_unknown_sender_domain',
      ].join('\n'),
    );
    const view = config.view('smtp');
    const policy = createPolicy(view, { resolver, directory: new FixtureDirectory(view), sleep: async () => undefined, log: new MemoryLogger() });
    const state = (ip: string): SmtpClientState => ({
      service: 'smtp',
      sessionId: ip,
      clientAddress: ip,
      clientPort: 1,
      serverAddress: '127.0.0.1',
      serverPort: 25,
      tls: false,
      recipientCount: 0,
      sender: 'sender@remote.test',
      pipelining: { talkedBeforeGreeting: false, unauthPipelined: false },
    });
    const listed = state('127.0.0.2');
    const s1 = policy.session();
    await s1.connect(listed);
    assert.equal(listed.clientName, '2.0.0.127.bl.spamcop.net');
    assert.deepEqual(await s1.rcpt(listed, 'alice@example.test'), {
      ok: false,
      reply: { code: 554, enhanced: '5.7.1', text: 'Service unavailable; Client host [127.0.0.2] blocked using bl.spamcop.net; Blocked - see https://www.spamcop.net/bl.shtml?127.0.0.2' },
    });
    const fcrdns = state('127.0.0.4');
    const s2 = policy.session();
    await s2.connect(fcrdns);
    assert.equal(fcrdns.clientName, 'client.fcrdns.test');
    assert.deepEqual(await s2.rcpt(fcrdns, 'alice@example.test'), { ok: true });
    fcrdns.sender = 'x@servfail.test';
    assert.deepEqual(await s2.rcpt(fcrdns, 'alice@example.test'), {
      ok: false,
      reply: { code: 450, enhanced: '4.1.8', text: '<x@servfail.test>: Sender address rejected: Domain not found' },
    });
    // the DNS list does not answer for 9.9.9.9
    const s3 = policy.session();
    const unlucky = state('9.9.9.9');
    await s3.connect(unlucky);
    const v = await s3.rcpt(unlucky, 'alice@example.test');
    assert.equal(v.ok, false);
    assert.equal(!v.ok && v.reply.code, 450);
  });
});
