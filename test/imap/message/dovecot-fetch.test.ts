// Replays every FETCH recorded against Dovecot 2.3.19 for the 46 fixture messages and compares
// the untagged response bytes and the tagged status with the engine's output.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseStructure } from '../../../src/imap/message/index.js';
import { FIXTURES, loadMessages } from './fixtures.js';
import { renderFetch, splitAttributes } from './fetch-render.js';
import { parseRecording } from './recording.js';

function show(b: Buffer): string {
  return b.toString('latin1').replace(/\r/g, '\\r').replace(/\n/g, '\\n\n');
}

test('every recorded FETCH response matches Dovecot byte for byte', () => {
  let total = 0;
  const failures: string[] = [];
  for (const msg of loadMessages()) {
    const ms = parseStructure(msg.raw);
    const rec = parseRecording(readFileSync(join(FIXTURES, 'expected', `${String(msg.n).padStart(3, '0')}.txt`)));
    for (const ex of rec) {
      const m = /^FETCH (\d+) (\(.*\))$/.exec(ex.command);
      assert.ok(m, `unexpected command ${ex.command}`);
      total++;
      const got = renderFetch(msg.n, msg.n, msg.raw, ms, splitAttributes(m[2]!));
      const statusOk = ex.status.startsWith('OK') ? got.status.startsWith('OK') : got.status === ex.status;
      if (!got.response.equals(ex.response) || !statusOk) {
        failures.push(`${msg.name}: ${ex.command}\n--- expected (${ex.status})\n${show(ex.response)}\n--- got (${got.status})\n${show(got.response)}`);
      }
    }
  }
  const summary = `${total - failures.length}/${total} recorded FETCH responses match`;
  console.log(summary);
  assert.deepEqual(failures.slice(0, 5), [], `${summary}\n${failures.slice(0, 5).join('\n\n')}`);
});
