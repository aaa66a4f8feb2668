import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SystemResolver } from '../../src/dns/system.js';
import { startDnsServer, type DnsServer } from '../helpers/dns-server.js';
import { tmpDir } from '../helpers/tmp.js';

describe('SystemResolver', () => {
  let dns: DnsServer;
  const hosts = join(tmpDir(), 'hosts');
  before(async () => {
    dns = await startDnsServer([
      { name: 'mail.example.test', type: 'A', data: '127.0.0.1' },
      { name: '1.0.0.127.in-addr.arpa', type: 'PTR', data: 'mail.example.test' },
      { name: '3.0.0.127.in-addr.arpa', type: 'PTR', data: 'client.example.test' },
      { name: 'example.test', type: 'MX', data: { preference: 10, exchange: 'mail.example.test' } },
    ]);
    writeFileSync(hosts, '# comment\n127.0.0.1 localhost vm\n::1 localhost ip6-localhost\n192.0.2.9 files-only.example\n');
  });
  after(() => dns.close());

  it('looks in the hosts file before DNS for addresses and reverse names ("hosts: files dns")', async () => {
    const r = new SystemResolver({ servers: [dns.address], hostsFile: hosts, timeoutMs: 1000, tries: 1 });
    assert.deepEqual(await r.ptr('127.0.0.1'), { status: 'ok', records: ['localhost'] });
    assert.deepEqual(await r.ptr('127.0.0.3'), { status: 'ok', records: ['client.example.test'] });
    assert.deepEqual(await r.a('localhost'), { status: 'ok', records: ['127.0.0.1'] });
    assert.deepEqual(await r.aaaa('localhost'), { status: 'ok', records: ['::1'] });
    assert.deepEqual(await r.a('files-only.example'), { status: 'ok', records: ['192.0.2.9'] });
    assert.deepEqual(await r.a('mail.example.test'), { status: 'ok', records: ['127.0.0.1'] });
    assert.deepEqual(await r.mx('example.test'), { status: 'ok', records: [{ exchange: 'mail.example.test', priority: 10 }] });
    assert.equal((await r.a('nowhere.example.test')).status, 'nxdomain');
    assert.equal((await r.aaaa('mail.example.test')).status, 'nodata');
  });

  it('asks only DNS without a hosts file', async () => {
    const r = new SystemResolver({ servers: [dns.address], hostsFile: false, timeoutMs: 1000, tries: 1 });
    assert.deepEqual(await r.ptr('127.0.0.1'), { status: 'ok', records: ['mail.example.test'] });
  });
});
