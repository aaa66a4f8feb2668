import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { expandMacros } from '../../src/config/expand.js';
import { Config } from '../../src/config/config.js';
import { formatDiagnostic, parseMainCf } from '../../src/config/parse.js';

const here = fileURLToPath(new URL('.', import.meta.url));

describe('main.cf syntax', () => {
  it('joins continuation lines and strips comments after whitespace', () => {
    const { entries, diagnostics } = parseMainCf('a = one,\n  two # comment\n# full comment\n\tthree\nb=x#notacomment\n', 'f');
    assert.deepEqual(diagnostics, []);
    assert.deepEqual(
      entries.map((e) => [e.name, e.value, e.line]),
      [
        ['a', 'one, two three', 1],
        ['b', 'x#notacomment', 5],
      ],
    );
  });

  it('reports a continuation without a parameter and a malformed line with file:line', () => {
    const { diagnostics } = parseMainCf('  orphan\nno equals sign here\n', 'main.cf');
    assert.equal(diagnostics.length, 2);
    assert.match(formatDiagnostic(diagnostics[0]), /^main\.cf:1: error: continuation line/);
    assert.match(formatDiagnostic(diagnostics[1]), /^main\.cf:2: error: syntax error/);
  });

  it('parses service overrides', () => {
    const { entries } = parseMainCf('submission.smtpd_tls_security_level = encrypt\n', 'f');
    assert.equal(entries[0].service, 'submission');
    assert.equal(entries[0].name, 'smtpd_tls_security_level');
  });
});

describe('the tutorial configuration', () => {
  it('loads with no error and no warning', () => {
    const c = Config.fromFile(join(here, 'tutorial.conf'));
    assert.deepEqual(c.diagnostics.map(formatDiagnostic), []);
    const client = c.restrictions('smtpd_client_restrictions');
    assert.deepEqual(
      client.map((r) => r.text),
      ['permit_mynetworks', 'permit_sasl_authenticated', 'reject_rbl_client bl.spamcop.net', 'sleep 1', 'reject_unauth_pipelining'],
    );
    assert.equal(c.get('smtpd_tls_security_level'), 'may');
    assert.equal(c.get('smtpd_sasl_type'), 'dovecot');
    assert.equal(c.bool('smtpd_sasl_authenticated_header'), true);
    assert.equal(c.restrictions('smtpd_recipient_restrictions').at(-1)?.name, 'reject_unauth_destination');
    // master.cf-style built-in service defaults beat the global value
    assert.equal(c.get('smtpd_tls_security_level', 'submission'), 'encrypt');
    assert.deepEqual(
      c.restrictions('smtpd_client_restrictions', 'submission').map((r) => r.name),
      ['permit_sasl_authenticated', 'reject'],
    );
  });
});

describe('values and expansion', () => {
  it('expands $name, ${name}, $(name) lazily and conditionally', () => {
    const c = Config.fromObject({ myhostname: 'mx.example.org', a: '$b', b: '${myhostname}/$(mydomain)', smtpd_banner: '$myhostname ESMTP${x?{ yes}:{ no}}' });
    assert.equal(c.get('mydomain'), 'example.org');
    assert.equal(c.get('mydestination'), 'mx.example.org, localhost.example.org, localhost');
    assert.equal(c.get('smtpd_banner'), 'mx.example.org ESMTP no');
    assert.equal(c.expand('${myhostname?set}${nothing:empty}$$'), 'setempty$');
  });

  it('expandMacros: one expander with a lookup function; malformed macros reported (main.cf) or kept (reply templates)', () => {
    const vars: Record<string, string> = { a: 'A', empty: '', 'x.y': 'XY' };
    const lookup = (n: string) => vars[n] ?? '';
    assert.equal(expandMacros('$a-${a}-$(a)-${a?{s}:{e}}-${empty?{s}:{e}}-${a:e}-${empty:e}-${a?$a$a}-$$-$-', lookup), 'A-A-A-s-e--e-AA-$-$-');
    const problems: string[] = [];
    const report = { bracedName: /^[A-Za-z0-9_.-]+$/, onProblem: (p: string) => problems.push(p) };
    assert.equal(expandMacros('${x.y}|${b d}|${a', lookup, report), 'XY||${a');
    assert.deepEqual(problems, ['bad parameter expansion "${b d}"', `missing '}' in "\${x.y}|\${b d}|\${a"`]);
    assert.equal(expandMacros('${x.y}|${b d}|${a', lookup, { malformed: 'keep' }), '${x.y}|${b d}|A');
  });

  it('detects an expansion loop as an error', () => {
    const c = Config.fromText('myhostname = $mydomain.x\nmydomain = $myhostname\n', 'loop.cf');
    assert.ok(c.errors.some((d) => /expansion loop/.test(d.message) && d.line >= 1), c.diagnostics.map(formatDiagnostic).join('\n'));
  });

  it('reads Postfix value forms', () => {
    const c = Config.fromObject({ maximal_queue_lifetime: '2', minimal_backoff_time: '5m', delay_warning_time: '4h', message_size_limit: '52428800', smtpd_helo_required: 'yes', auth_socket_mode: '0600' });
    assert.equal(c.time('maximal_queue_lifetime'), 2 * 86400); // bare number: days for this parameter
    assert.equal(c.time('minimal_backoff_time'), 300);
    assert.equal(c.time('delay_warning_time'), 4 * 3600);
    assert.equal(c.size('message_size_limit'), 52428800);
    assert.equal(c.bool('smtpd_helo_required'), true);
    assert.equal(c.mode('auth_socket_mode'), 0o600);
  });

  it('parses listen addresses, IPv6 in brackets, and empty = off', () => {
    const c = Config.fromObject({ smtp_listen: '127.0.0.1:2525, [::1]:2525', imap_listen: '' });
    assert.deepEqual(
      c.listen('smtp_listen').map((l) => [l.host, l.port]),
      [
        ['127.0.0.1', 2525],
        ['::1', 2525],
      ],
    );
    assert.deepEqual(c.listen('imap_listen'), []);
  });

  it('service overrides win over built-in service defaults and the global value', () => {
    const c = Config.fromObject({ smtpd_tls_security_level: 'none', 'submission.smtpd_tls_security_level': 'may' });
    assert.equal(c.get('smtpd_tls_security_level'), 'none');
    assert.equal(c.get('smtpd_tls_security_level', 'smtp'), 'none');
    assert.equal(c.get('smtpd_tls_security_level', 'submission'), 'may');
    assert.equal(c.get('smtpd_tls_security_level', 'submissions'), 'encrypt');
  });
});

describe('validation with file:line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'facteur-config-'));
  const check = (text: string) => Config.fromText(text, join(dir, 'main.cf'));

  it('an unknown parameter is a warning', () => {
    const c = check('myhostname = a.example\nnot_a_parameter = 1\n');
    assert.equal(c.errors.length, 0);
    assert.equal(c.warnings.length, 1);
    assert.match(formatDiagnostic(c.warnings[0]), /main\.cf:2: warning: not_a_parameter: unused parameter/);
  });

  it('an unknown restriction name is an error', () => {
    const c = check('smtpd_client_restrictions =\n  permit_mynetworks,\n  reject_everybody_now\n');
    assert.equal(c.errors.length, 1);
    assert.match(formatDiagnostic(c.errors[0]), /main\.cf:1: error: smtpd_client_restrictions: unknown restriction "reject_everybody_now"/);
  });

  it('a bad CIDR in mynetworks is an error', () => {
    const c = check('\nmynetworks = 127.0.0.0/8 10.0.0.0/33\n');
    assert.match(formatDiagnostic(c.errors[0]), /main\.cf:2: error: mynetworks: bad network mask length in "10\.0\.0\.0\/33"/);
    const c2 = check('mynetworks = 10.1.2.3/8\n');
    assert.match(c2.errors[0].message, /non-null host address bits/);
    const c3 = check('mynetworks = 300.1.1.1/32\n');
    assert.match(c3.errors[0].message, /bad network address/);
  });

  it('an unreadable file is an error', () => {
    const c = check('alias_maps = hash:/nonexistent/aliases\nsmtpd_tls_cert_file = /nonexistent/cert.pem\n');
    assert.equal(c.errors.length, 2);
    assert.match(formatDiagnostic(c.errors[0]), /main\.cf:1: error: alias_maps: cannot read hash table "\/nonexistent\/aliases"/);
    assert.match(formatDiagnostic(c.errors[1]), /main\.cf:2: error: smtpd_tls_cert_file: cannot read file/);
  });

  it('bad numbers, booleans and times are errors', () => {
    const c = check('smtpd_recipient_limit = lots\nsmtpd_helo_required = perhaps\nsmtpd_timeout = 5x\n');
    assert.deepEqual(
      c.errors.map((d) => [d.line, d.param]),
      [
        [1, 'smtpd_recipient_limit'],
        [2, 'smtpd_helo_required'],
        [3, 'smtpd_timeout'],
      ],
    );
  });

  it('restriction arguments and restriction classes are checked', () => {
    writeFileSync(join(dir, 'access'), 'example.com REJECT\n');
    const ok = check(`smtpd_restriction_classes = strict\nstrict = reject_unknown_sender_domain\nsmtpd_sender_restrictions = check_sender_access texthash:${join(dir, 'access')}, strict\n`);
    assert.deepEqual(ok.diagnostics, []);
    const bad = check('smtpd_client_restrictions = sleep\n');
    assert.match(bad.errors[0].message, /needs an argument/);
    const unsupported = check('smtpd_recipient_restrictions = reject_unverified_recipient\n');
    assert.match(unsupported.errors[0].message, /not supported by facteur/);
  });
});

describe('the configuration reference', () => {
  it('docs/configuration.md is generated from the parameter table (run `npm run docs`)', async () => {
    const { readFileSync } = await import('node:fs');
    const { configurationReference } = await import('../../src/config/reference.js');
    const onDisk = readFileSync(join(here, '../../docs/configuration.md'), 'utf8');
    assert.equal(onDisk, configurationReference(), 'docs/configuration.md is out of date: run npm run docs');
  });
});

describe('raw parameters', () => {
  it('default_rbl_reply keeps its $rbl_* template variables unexpanded and without warnings', () => {
    const c = Config.fromText('default_rbl_reply = $rbl_code Go away; $rbl_class [$rbl_what] is listed in $rbl_domain\n', 'f');
    assert.deepEqual(c.diagnostics, []);
    assert.equal(c.get('default_rbl_reply'), '$rbl_code Go away; $rbl_class [$rbl_what] is listed in $rbl_domain');
  });
});

describe('paths', () => {
  it('a relative data_directory is absolute wherever it is expanded', () => {
    const c = Config.embedded({ baseDir: '/srv/mail' });
    assert.equal(c.get('data_directory'), '/srv/mail/facteur-data');
    assert.equal(c.get('mail_home'), '/srv/mail/facteur-data/mail/%d/%n');
    assert.equal(c.path('queue_directory'), '/srv/mail/facteur-data/queue');
  });
});
