// Hand-written golden files (test/policy/ref/*.ref, smtpd_check .ref style): the `>>> `
// lines are the script, the lines after each are the expected result. Each directive's
// accept and reject path with its exact reply, the open-relay probes, DNS trouble.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { StaticResolver } from '../../src/dns/static.js';
import { parseZone, zoneToStatic } from '../helpers/dns-server.js';
import { runScript } from './helpers/script.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const refDir = join(here, 'ref');
const fixtures = fileURLToPath(new URL('../fixtures/postfix-restrictions/', import.meta.url));

/** The configuration every .ref file starts from (its own `name = value` lines come on top). */
export const BASE_CONFIG = `
myhostname = mx.example.test
mydomain = example.test
myorigin = $mydomain
mydestination = $myhostname, $mydomain, localhost
mynetworks = 127.0.0.0/8, [::1]/128, 192.0.2.0/24
relay_domains = relay.test
relay_recipient_maps = inline:{ user1@relay.test=ok }
virtual_mailbox_domains = virt.test
virtual_alias_domains = alias.test
virtual_alias_maps = inline:{ info@alias.test=alice@example.test, box@virt.test=alice@example.test }
recipient_delimiter = +
smtpd_sasl_auth_enable = yes
smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated, reject_unauth_destination
maps_dir = ${join(here, 'ref', 'maps')}
`;

/** Fixture zone plus records for these tests. */
export const EXTRA_ZONE = `
nullmx.test.              MX   0 .
backup.test.              MX   10 primary.other.test.
backup.test.              MX   20 mx.example.test.
primary.other.test.       A    203.0.113.10
mx.example.test.          A    192.0.2.25
primaryonly.test.         MX   10 mx.example.test.
mxchecked.test.           MX   10 mx.bad.test.
mx.bad.test.              A    198.51.100.99
aaddr.test.               A    198.51.100.98
1.100.51.198.bl.example.  A    127.0.0.2
1.100.51.198.bl.example.  TXT  "listed for testing"
2.100.51.198.bl.example.  A    127.0.0.10
1.100.51.198.wl.example.  A    127.0.0.5
1.100.51.198.in-addr.arpa. PTR host1.client.test.
host1.client.test.        A    198.51.100.1
host1.client.test.dbl.example. A 127.0.1.2
spammer.test.dbl.example. A    127.0.1.2
host1.client.test.wl.example. A 127.0.0.5
2.100.51.198.in-addr.arpa. PTR host2.client.test.
host2.client.test.        A    198.51.100.222
`;

export function testResolver(tempfail: string[] = []): StaticResolver {
  const records = [...parseZone(readFileSync(join(fixtures, 'zone.txt'), 'utf8')), ...parseZone(EXTRA_ZONE)];
  const zone = zoneToStatic(records, { tempfail });
  // `MX 0 .` is a null MX (RFC 7505): an empty exchange
  zone.mx!['nullmx.test'] = [{ priority: 0, exchange: '' }];
  return new StaticResolver(zone);
}

/** Names whose lookups fail temporarily in these tests (SERVFAIL). */
export const TEMPFAIL = ['tempfail.test', '3.100.51.198.bl.example', '3.100.51.198.wl.example', '198.51.100.4', 'slowhost.client.test', 'host5.client.test.dbl.example'];

const files = readdirSync(refDir).filter((f) => f.endsWith('.ref')).sort();

describe('hand-written golden scripts (test/policy/ref)', () => {
  for (const f of files) {
    it(f, async () => {
      const text = readFileSync(join(refDir, f), 'utf8');
      const lines = text.split('\n').filter((l) => l.trim() !== '' && l.trim() !== '>>>');
      const script = lines.filter((l) => l.startsWith('>>> ')).map((l) => l.slice(4)).join('\n');
      const resolver = testResolver(TEMPFAIL);
      // PTR tempfail for 198.51.100.4, PTR whose forward lookup fails for 198.51.100.5
      resolver.add('ptr', '198.51.100.5', ['slowhost.client.test']);
      const actual = await runScript(script, { baseConfig: BASE_CONFIG, baseDir: refDir, resolver, localAddresses: ['127.0.0.1', '192.0.2.25'] });
      const diffs: string[] = [];
      let cmd = '';
      for (let i = 0; i < Math.max(actual.length, lines.length); i++) {
        if (lines[i]?.startsWith('>>> ')) cmd = lines[i];
        if (actual[i] !== lines[i]) diffs.push(`${cmd}\n  expected: ${lines[i]}\n  actual:   ${actual[i]}`);
        if (actual[i]?.startsWith('>>>') !== lines[i]?.startsWith('>>>')) break;
      }
      assert.deepEqual(diffs, []);
    });
  }
});

describe('directive coverage', () => {
  it('every implemented directive of names.ts is exercised by a golden script', async () => {
    const { DIRECTIVES } = await import('../../src/smtp/policy/names.js');
    const texts = [
      ...files.map((f) => readFileSync(join(refDir, f), 'utf8')),
      ...readdirSync(fixtures)
        .filter((f) => f.endsWith('.cf'))
        .map((f) => readFileSync(join(fixtures, f), 'utf8')),
    ].join('\n');
    const missing = Object.entries(DIRECTIVES)
      .filter(([, info]) => !info.unsupported && !info.aliasOf)
      .map(([name]) => name)
      .filter((name) => !new RegExp(`\\b${name}\\b`).test(texts));
    assert.deepEqual(missing, []);
  });
});
