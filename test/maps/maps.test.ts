import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseCidr } from '../../src/config/values.js';
import {
  AliasTable,
  DomainList,
  mailAddrFind,
  NetworkList,
  openTable,
  openTables,
  parseAliases,
  parseAliasTargets,
  splitAliasValue,
  splitExtension,
  stripExtension,
  TableCache,
  TableError,
  translatePcre,
  translatePosix,
  RegexTranslateError,
} from '../../src/maps/index.js';

const fixtures = fileURLToPath(new URL('../fixtures/postfix-restrictions/maps/', import.meta.url));

function tmp(name: string, text: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'facteur-maps-'));
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

const fresh = () => ({ cache: new TableCache() });

describe('texthash / hash (postmap source)', () => {
  it('reads key/value lines with comments, continuations and case-insensitive keys', async () => {
    const p = tmp('access', '# comment\nExample.COM   REJECT  no\n  thanks\n\nuser@   OK\n   # indented comment\nlast\tDUNNO\n');
    const t = openTable(`texthash:${p}`, fresh());
    assert.equal(t.fixed, true);
    assert.equal(await t.lookup('example.com'), 'REJECT  no  thanks');
    assert.equal(await t.lookup('EXAMPLE.com'), 'REJECT  no  thanks');
    assert.equal(await t.lookup('user@'), 'OK');
    assert.equal(await t.lookup('last'), 'DUNNO');
    assert.equal(await t.lookup('other'), undefined);
    assert.deepEqual(await t.check(), []);
  });

  it('hash: reads the source file (users paste hash:/etc/postfix/access)', async () => {
    const p = tmp('access', 'a OK\n');
    assert.equal(await openTable(`hash:${p}`, fresh()).lookup('a'), 'OK');
    assert.equal(await openTable(`lmdb:${p}`, fresh()).lookup('A'), 'OK');
  });

  it('keeps the first of duplicate keys and reports lines without a value', async () => {
    const p = tmp('access', 'a first\na second\nlonely\n');
    const t = openTable(`texthash:${p}`, fresh());
    assert.equal(await t.lookup('a'), 'first');
    const diags = await t.check();
    assert.deepEqual(
      diags.map((d) => [d.line, d.severity]),
      [
        [2, 'warning'],
        [3, 'warning'],
      ],
    );
    assert.match(diags[1].message, /expected format: key whitespace value/);
  });

  it('re-reads the file when it changes', async () => {
    const p = tmp('access', 'a OK\n');
    const t = openTable(`texthash:${p}`, fresh());
    assert.equal(await t.lookup('a'), 'OK');
    writeFileSync(p, 'a REJECT changed\nb OK\n');
    const future = new Date(Date.now() + 5000);
    utimesSync(p, future, future);
    assert.equal(await t.lookup('a'), 'REJECT changed');
    assert.equal(await t.lookup('b'), 'OK');
  });

  it('a missing file is a lookup failure, not "not found"', async () => {
    const t = openTable('texthash:/nonexistent/facteur/table', fresh());
    await assert.rejects(t.lookup('x'), TableError);
  });

  it('shares one table per reference through the cache', () => {
    const cache = new TableCache();
    const a = openTable('texthash:/x/y', { cache });
    const b = openTable('texthash:/x/y', { cache });
    assert.equal(a, b);
  });
});

describe('inline:, static:, fail:', () => {
  it('inline: key=value and braced { key = value with spaces }', async () => {
    const t = openTable('inline:{ a=1, B=two, { c = three words } }', fresh());
    assert.equal(await t.lookup('a'), '1');
    assert.equal(await t.lookup('b'), 'two');
    assert.equal(await t.lookup('C'), 'three words');
    assert.equal(await t.lookup('d'), undefined);
  });
  it('inline: reports a malformed element', async () => {
    const t = openTable('inline:{ a=1, oops }', fresh());
    assert.equal(await t.lookup('a'), '1');
    assert.match((await t.check())[0].message, /bad inline table element "oops"/);
  });
  it('static: answers every key', async () => {
    const t = openTable('static:{ REJECT go away }', fresh());
    assert.equal(await t.lookup('anything'), 'REJECT go away');
  });
  it('fail: fails every lookup', async () => {
    await assert.rejects(openTable('fail:x', fresh()).lookup('k'), TableError);
  });
  it('an unknown type is a table that fails with a clear message', async () => {
    const t = openTable('mysql:/etc/x.cf', fresh());
    await assert.rejects(t.lookup('k'), /unsupported lookup table type "mysql"/);
  });
});

describe('cidr:', () => {
  it('first matching network wins (fixture client.cidr)', async () => {
    const t = openTable(`cidr:${join(fixtures, 'access_cidr_regexp_pcre/client.cidr')}`, fresh());
    assert.equal(t.fixed, false);
    assert.equal(await t.lookup('127.0.0.1'), 'OK');
    assert.equal(await t.lookup('127.0.0.5'), 'PREPEND X-Fixture-Client-Net: 127.0.0.4/31');
    assert.equal(await t.lookup('127.0.0.6'), 'REJECT 127.0.0.6 refused by cidr table');
    assert.equal(await t.lookup('127.0.0.7'), 'DUNNO');
    assert.equal(await t.lookup('127.0.0.9'), '450 4.7.1 Loopback client outside 127.0.0.0/29 deferred');
    assert.equal(await t.lookup('::1'), 'OK');
    assert.equal(await t.lookup('10.0.0.1'), undefined);
    assert.equal(await t.lookup('not-an-address'), undefined);
    assert.deepEqual(await t.check(), []);
  });
  it('negation, if/endif, IPv6 and host-bit errors', async () => {
    const p = tmp('c.cidr', '!10.0.0.0/8 outside\nif 192.168.0.0/16\n192.168.1.0/24 inner\nendif\n2001:db8::/32 v6\n[2001:db9::]/32 v6b\n10.1.2.3/8 bad\n');
    const t = openTable(`cidr:${p}`, fresh());
    assert.equal(await t.lookup('8.8.8.8'), 'outside');
    assert.equal(await t.lookup('10.0.0.1'), undefined);
    // 192.168.1.x is outside 10/8: the negated rule answers first
    assert.equal(await t.lookup('192.168.1.7'), 'outside');
    assert.equal(await t.lookup('2001:db8::1'), 'outside');
    const diags = await t.check();
    assert.equal(diags.length, 1);
    assert.match(diags[0].message, /non-null host address bits/);
    assert.equal(diags[0].line, 7);
  });
  it('if blocks apply only when the network matches', async () => {
    const p = tmp('c.cidr', 'if 192.168.0.0/16\n192.168.1.0/24 inner\nendif\n2001:db8::/32 v6\n[2001:db9::]/32 v6b\n');
    const t = openTable(`cidr:${p}`, fresh());
    assert.equal(await t.lookup('192.168.1.7'), 'inner');
    assert.equal(await t.lookup('192.168.2.7'), undefined);
    assert.equal(await t.lookup('2001:db8::1'), 'v6');
    assert.equal(await t.lookup('2001:db9::1'), 'v6b');
  });
});

describe('regexp:', () => {
  const helo = () => openTable(`regexp:${join(fixtures, 'access_cidr_regexp_pcre/helo.regexp')}`, fresh());
  it('is case-insensitive unless the i flag toggles it', async () => {
    const t = helo();
    assert.equal(await t.lookup('client.remote.test'), 'OK');
    assert.equal(await t.lookup('CaseSensitive.test'), 'REJECT exact-case match only');
    assert.equal(await t.lookup('casesensitive.test'), undefined);
  });
  it('substitutes $1 and skips a rule that uses $0', async () => {
    const t = helo();
    assert.equal(await t.lookup('foo.bar.spam.test'), '550 5.7.1 HELO foo.bar from spam.test refused');
    // the bare-IP rule uses $0 and is skipped; the next rules do not match
    assert.equal(await t.lookup('127.0.0.3'), undefined);
    const diags = await t.check();
    assert.equal(diags.length, 1);
    assert.match(diags[0].message, /\$0/);
    assert.equal(diags[0].line, 4);
  });
  it('negated patterns', async () => {
    assert.equal(await helo().lookup('laptop'), 'REJECT HELO must contain a dot (regexp negation)');
    assert.equal(await helo().lookup('[127.0.0.3]'), 'REJECT Address literal HELO refused (regexp)');
  });
  it('if/endif blocks (fixture sender.regexp)', async () => {
    const t = openTable(`regexp:${join(fixtures, 'access_cidr_regexp_pcre/sender.regexp')}`, fresh());
    assert.equal(await t.lookup('badguy@remote.test'), 'REJECT bad* senders in remote.test refused (if/endif)');
    assert.equal(await t.lookup('badguy@aonly.test'), undefined);
    assert.equal(await t.lookup('joe+list@remote.test'), 'REJECT extension list not allowed for joe');
    assert.equal(await t.lookup('<>'), 'WARN null sender seen by regexp table');
  });
  it('POSIX syntax: bracket classes, literal backslash in brackets, word boundaries, basic syntax with x', async () => {
    const p = tmp(
      'r.regexp',
      [
        '/^[[:digit:]]+$/ digits',
        '/^a[]x]b$/ bracket',
        '/\\<word\\>/ word',
        '/^(ab){2}$/ interval',
        '/^x\\(y\\)\\{2\\}$/x bre $1',
        '/^lit+$/x bre-plus-literal',
        '/^d\\d$/ glibc-no-digit-escape',
        '',
      ].join('\n'),
    );
    const t = openTable(`regexp:${p}`, fresh());
    assert.equal(await t.lookup('12345'), 'digits');
    assert.equal(await t.lookup('a]b'), 'bracket');
    assert.equal(await t.lookup('a word here'), 'word');
    assert.equal(await t.lookup('swordfish'), undefined);
    assert.equal(await t.lookup('abab'), 'interval');
    assert.equal(await t.lookup('xyy'), 'bre y');
    assert.equal(await t.lookup('lit+'), 'bre-plus-literal');
    assert.equal(await t.lookup('dd'), 'glibc-no-digit-escape');
    assert.deepEqual(await t.check(), []);
  });
  it('reports patterns that are not POSIX', async () => {
    const p = tmp('r.regexp', '/^(?:a)$/ x\n/[[:nope:]]/ y\n/ok/ fine\n');
    const t = openTable(`regexp:${p}`, fresh());
    const diags = await t.check();
    assert.equal(diags.length, 2);
    assert.match(diags[0].message, /not valid in a POSIX regular expression/);
    assert.match(diags[1].message, /unknown character class/);
    assert.equal(await t.lookup('ok'), 'fine');
  });
});

describe('pcre:', () => {
  const rcpt = () => openTable(`pcre:${join(fixtures, 'access_cidr_regexp_pcre/recipient.pcre')}`, fresh());
  it('fixture recipient.pcre: \\d, \\w, i flag, lookahead', async () => {
    const t = rcpt();
    assert.equal(await t.lookup('alice+123@example.test'), 'REJECT Numeric tag 123 refused (pcre \\d)');
    assert.equal(await t.lookup('alice+abc@example.test'), 'PREPEND X-Fixture-Tag: abc');
    assert.equal(await t.lookup('bob@example.test'), 'REJECT case-sensitive match (flag i toggles case folding)');
    assert.equal(await t.lookup('BOB@example.test'), undefined);
    assert.equal(await t.lookup('someone@nomx.test'), 'DEFER_IF_PERMIT nomx.test recipients deferred (lookahead)');
    assert.equal(await t.lookup('bob@nomx.test'), undefined);
    assert.equal(await t.lookup('someone@remote.test'), '550 5.7.1 someone at remote.test refused by pcre');
    assert.deepEqual(await t.check(), []);
  });
  it('translates PCRE-only syntax and refuses what JavaScript cannot do', () => {
    assert.equal(translatePcre('(?P<u>x)(?P=u)', { extended: false }).source, '(?<u>x)\\k<u>');
    assert.equal(translatePcre('\\Qa.b\\E', { extended: false }).source, 'a\\.b');
    assert.equal(translatePcre('a # comment\n b', { extended: true }).source, 'ab');
    assert.deepEqual(translatePcre('(?i)abc', { extended: false }).leading, { i: true });
    assert.equal(translatePcre('\\Aa\\z', { extended: false }).source, '(?<![\\s\\S])a(?![\\s\\S])');
    assert.equal(translatePcre('[[:alpha:]\\d]', { extended: false }).source, '[A-Za-z\\d]');
    for (const bad of ['a*+', '(?>a)', 'a(?i)b', '(?R)', '\\p{L}', '(?(1)a|b)', '(a)\\2']) {
      assert.throws(() => translatePcre(bad, { extended: false }), RegexTranslateError, bad);
    }
  });
  it('a pattern that cannot be translated is a table error with file:line', async () => {
    const p = tmp('r.pcre', '/a++/ x\n/ok/ fine\n');
    const t = openTable(`pcre:${p}`, fresh());
    const diags = await t.check();
    assert.equal(diags.length, 1);
    assert.equal(diags[0].severity, 'error');
    assert.equal(diags[0].line, 1);
    assert.match(diags[0].message, /possessive quantifiers/);
    assert.equal(await t.lookup('ok'), 'fine');
  });
  it('translatePosix refuses what is not POSIX', () => {
    assert.throws(() => translatePosix('(?i)a'), RegexTranslateError);
    assert.throws(() => translatePosix('a\\'), RegexTranslateError);
  });
});

describe('aliases(5)', () => {
  it('parses names, continuation lines, quoted names and target kinds', async () => {
    const p = tmp('aliases', '# aliases\npostmaster: root\nroot: alice,\n  bob@example.org, "|/usr/bin/filter -x", /var/mail/archive, :include:/etc/list\n"first last": alice\n');
    const table = new AliasTable(openTable(`hash:${p}`, { ...fresh(), format: 'aliases' }));
    assert.deepEqual(await table.expand('postmaster'), [{ kind: 'address', address: 'root' }]);
    assert.deepEqual(await table.expand('ROOT'), [
      { kind: 'address', address: 'alice' },
      { kind: 'address', address: 'bob@example.org' },
      { kind: 'pipe', command: '/usr/bin/filter -x', unsupported: 'delivery to a command is not supported by facteur' },
      { kind: 'file', path: '/var/mail/archive', unsupported: 'delivery to a file named in an alias is not supported by facteur' },
      { kind: 'include', path: '/etc/list' },
    ]);
    assert.deepEqual(await table.expand('first last'), [{ kind: 'address', address: 'alice' }]);
    assert.equal(await table.expand('nobody'), undefined);
    const diags = await table.check();
    assert.deepEqual(
      diags.map((d) => d.message),
      ['alias "root": delivery to a command is not supported by facteur: |/usr/bin/filter -x', 'alias "root": delivery to a file named in an alias is not supported by facteur: /var/mail/archive'],
    );
  });
  it('keeps quoted commas inside a pipe target', () => {
    assert.deepEqual(parseAliasTargets('"|cmd a,b", x'), [
      { kind: 'pipe', command: 'cmd a,b', unsupported: 'delivery to a command is not supported by facteur' },
      { kind: 'address', address: 'x' },
    ]);
  });
  it('aliases(5) syntax: values split at commas outside quotes, continuation lines', () => {
    const m = parseAliases('a: b, "c, d"@x.test\n# c\n\nb:\tc\n  ,d\n', 'aliases').value;
    assert.deepEqual(
      [...m.entries()].map(([k, v]) => [k, splitAliasValue(v)]),
      [
        ['a', ['b', '"c, d"@x.test']],
        ['b', ['c', 'd']],
      ],
    );
  });
});

describe('address lookups', () => {
  it('splitExtension / stripExtension with recipient_delimiter', () => {
    assert.deepEqual(splitExtension('alice+tag', '+'), { base: 'alice', extension: 'tag', delimiter: '+' });
    assert.deepEqual(splitExtension('alice+tag+x', '+'), { base: 'alice', extension: 'tag+x', delimiter: '+' });
    assert.deepEqual(splitExtension('alice-x+y', '+-'), { base: 'alice', extension: 'x+y', delimiter: '-' });
    assert.deepEqual(splitExtension('owner-list', '-'), { base: 'owner-list' });
    assert.deepEqual(splitExtension('list-request', '-'), { base: 'list-request' });
    assert.deepEqual(splitExtension('+x', '+'), { base: '+x' });
    assert.equal(stripExtension('alice+tag@example.test', '+'), 'alice@example.test');
    assert.equal(stripExtension('alice@example.test', '+'), undefined);
  });
  it('mailAddrFind: full, without extension, local part when local, @domain', async () => {
    const maps = openTables(['inline:{ alice@example.test=a, bob=b, @aonly.test=c, carol+x@example.test=d }'], fresh());
    const opts = { delimiters: '+', isLocalDomain: (d: string) => d === 'example.test' };
    assert.deepEqual(await mailAddrFind(maps, 'ALICE+tag@Example.TEST', opts), { key: 'alice@example.test', value: 'a' });
    assert.deepEqual(await mailAddrFind(maps, 'bob+z@example.test', opts), { key: 'bob', value: 'b' });
    assert.equal(await mailAddrFind(maps, 'bob@other.test', opts), undefined);
    assert.deepEqual(await mailAddrFind(maps, 'x@aonly.test', opts), { key: '@aonly.test', value: 'c' });
    assert.deepEqual(await mailAddrFind(maps, 'carol+x@example.test', opts), { key: 'carol+x@example.test', value: 'd' });
  });
  it('mailAddrFind asks pattern tables for the full address only', async () => {
    const p = tmp('r.regexp', '/^alice@/ full\n/^@/ never\n');
    const maps = openTables([`regexp:${p}`], fresh());
    assert.deepEqual(await mailAddrFind(maps, 'alice@x.test'), { key: 'alice@x.test', value: 'full' });
    assert.equal(await mailAddrFind(maps, 'bob@x.test'), undefined);
  });
});

describe('domain and network lists', () => {
  it('parent_domain_matches_subdomains style and .domain patterns', async () => {
    const parent = new DomainList([{ kind: 'domain', domain: 'relay.test' }], true);
    assert.equal(await parent.match('relay.test'), true);
    assert.equal(await parent.match('sub.RELAY.test.'), true);
    assert.equal(await parent.match('notrelay.test'), false);
    const exact = new DomainList([{ kind: 'domain', domain: 'example.test' }, { kind: 'domain', domain: '.sub.test' }], false);
    assert.equal(await exact.match('example.test'), true);
    assert.equal(await exact.match('a.example.test'), false);
    assert.equal(await exact.match('a.sub.test'), true);
  });
  it('tables in a domain list, with parent lookups in fixed tables', async () => {
    const cache = new TableCache();
    const table = { kind: 'table' as const, table: { type: 'inline', name: '{ relay.test=x }', text: 'inline:{ relay.test=x }' } };
    assert.equal(await new DomainList([table], true, { cache }).match('a.b.relay.test'), true);
    assert.equal(await new DomainList([table], false, { cache }).match('a.relay.test'), false);
  });
  it('networks: CIDR, tables and files', async () => {
    const file = tmp('nets', '# trusted\n192.0.2.0/24, 2001:db8::/32\n');
    const list = new NetworkList(
      [
        { kind: 'cidr', cidr: parseCidr('127.0.0.1/32') },
        { kind: 'file', path: file },
        { kind: 'table', table: { type: 'inline', name: '{ 198.51.100.7=ok, host.example=ok }', text: 'inline:{...}' } },
      ],
      fresh(),
    );
    assert.equal(await list.match('127.0.0.1'), true);
    assert.equal(await list.match('127.0.0.2'), false);
    assert.equal(await list.match('192.0.2.200'), true);
    assert.equal(await list.match('2001:db8::5'), true);
    assert.equal(await list.match('198.51.100.7'), true);
    assert.equal(await list.match('198.51.100.8', 'host.example'), true);
    assert.equal(await list.match('::ffff:127.0.0.1'), true);
  });
});

describe('unix: tables', () => {
  it('passwd.byname reads the passwd file', async () => {
    const p = tmp('passwd', 'root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/sh\n');
    const t = openTable('unix:passwd.byname', { ...fresh(), unixFiles: { passwd: p } });
    assert.match((await t.lookup('alice'))!, /^alice:x:1000/);
    assert.equal(await t.lookup('bob'), undefined);
    await assert.rejects(openTable('unix:hosts.byname', fresh()).lookup('x'), /unsupported unix table/);
  });
});

describe('access-table search', () => {
  it('findFirst stops at the first found key (DUNNO included) and skips partial keys in pattern tables', async () => {
    const { findFirst, isDunno } = await import('../../src/maps/index.js');
    const t = openTable('inline:{ {a.example = DUNNO}, {example = REJECT} }', fresh());
    const r = await findFirst(t, [{ key: 'a.example' }, { key: 'example', partial: true }]);
    assert.deepEqual(r, { key: 'a.example', value: 'DUNNO' });
    assert.equal(isDunno(r!.value), true);
    assert.deepEqual(await findFirst(t, [{ key: 'b.example' }, { key: 'example', partial: true }]), { key: 'example', value: 'REJECT' });
    const p = tmp('r.regexp', '/^example$/ REJECT\n');
    assert.equal(await findFirst(openTable(`regexp:${p}`, fresh()), [{ key: 'x' }, { key: 'example', partial: true }]), undefined);
  });
});
