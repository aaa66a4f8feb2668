// Golden files from the recorded Postfix 3.7 transcripts (test/fixtures/postfix-restrictions):
// for each scenario, every reply where the restriction engine decides must equal the
// recorded one, code, enhanced code, text and tarpit delay. The generated scripts and
// expected outputs are committed under golden/ (FACTEUR_UPDATE_GOLDEN=1 rewrites them).
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Config } from '../../src/config/config.js';
import { StaticResolver } from '../../src/dns/static.js';
import { parseZone, zoneToStatic } from '../helpers/dns-server.js';
import { runScript } from './helpers/script.js';
import { goldenFromTranscript } from './helpers/transcript.js';

const dir = fileURLToPath(new URL('../fixtures/postfix-restrictions/', import.meta.url));
const goldenDir = join(dir, 'golden');
const update = process.env.FACTEUR_UPDATE_GOLDEN === '1';

export function fixtureConfigText(scenario: string): string {
  const base = readFileSync(join(dir, 'base.cf'), 'utf8').replaceAll('<REF>', '/nonexistent/ref');
  const extra = scenario === 'base' ? '' : readFileSync(join(dir, `${scenario}.cf`), 'utf8');
  return `config_directory = ${dir.replace(/\/$/, '')}\n${base}\n${extra}\n`;
}

export function fixtureResolver(): StaticResolver {
  return new StaticResolver(zoneToStatic(parseZone(readFileSync(join(dir, 'zone.txt'), 'utf8'))));
}

const scenarios = readdirSync(dir)
  .filter((f) => f.endsWith('.transcript'))
  .map((f) => f.slice(0, -'.transcript'.length))
  .sort();

const totals: Record<string, Record<string, number>> = {};

describe('golden transcripts (Postfix 3.7 recordings)', () => {
  for (const name of scenarios) {
    it(name, async () => {
      const cfText = fixtureConfigText(name);
      const config = Config.fromText(cfText, 'main.cf', { baseDir: dir });
      const lists = ['smtpd_helo_restrictions', 'smtpd_sender_restrictions', 'smtpd_recipient_restrictions'];
      const submissionLines = [
        // the recording's master.cf: -o smtpd_client_restrictions / smtpd_relay_restrictions only
        'submission.smtpd_client_restrictions = permit_sasl_authenticated, reject',
        'submission.smtpd_relay_restrictions = permit_sasl_authenticated, reject',
        ...lists.map((l) => `submission.${l} = ${config.get(l)}`),
      ];
      const g = goldenFromTranscript(name, readFileSync(join(dir, `${name}.transcript`), 'utf8'), {
        delayReject: config.bool('smtpd_delay_reject'),
        submissionLines,
        hostsFile: { '127.0.0.1': 'localhost' },
      });
      const scriptFile = join(goldenDir, `${name}.script`);
      const refFile = join(goldenDir, `${name}.ref`);
      if (update) {
        mkdirSync(goldenDir, { recursive: true });
        writeFileSync(scriptFile, g.script.join('\n') + '\n');
        writeFileSync(refFile, g.expected.join('\n') + '\n');
      }
      assert.ok(existsSync(scriptFile), `${scriptFile} missing: run with FACTEUR_UPDATE_GOLDEN=1`);
      // the committed files are what the transcript says
      assert.equal(readFileSync(scriptFile, 'utf8'), g.script.join('\n') + '\n', `${name}.script is out of date`);
      assert.equal(readFileSync(refFile, 'utf8'), g.expected.join('\n') + '\n', `${name}.ref is out of date`);

      const actual = await runScript(readFileSync(scriptFile, 'utf8'), { baseConfig: cfText, baseDir: dir, resolver: fixtureResolver() });
      const expected = readFileSync(refFile, 'utf8').trimEnd().split('\n').filter((l) => l !== '>>> ');
      const diffs: string[] = [];
      let cmd = '';
      for (let i = 0; i < Math.max(actual.length, expected.length); i++) {
        if (expected[i]?.startsWith('>>> ')) cmd = expected[i];
        if (actual[i] !== expected[i]) diffs.push(`${cmd}\n  expected: ${expected[i]}\n  actual:   ${actual[i]}`);
        if (diffs.length > 0 && actual[i]?.startsWith('>>>') !== expected[i]?.startsWith('>>>')) break;
      }
      totals[name] = g.decisions;
      assert.deepEqual(diffs, [], `${name}: ${diffs.length} decision(s) differ`);
    });
  }
  it('summary: recorded engine decisions reproduced per scenario', (t) => {
    const lines = Object.entries(totals).map(([n, d]) => `${n}: ${Object.values(d).reduce((a, b) => a + b, 0)} (${Object.entries(d).map(([k, v]) => `${k} ${v}`).join(', ')})`);
    for (const l of lines) t.diagnostic(l);
    assert.equal(lines.length, scenarios.length);
  });
});
