// Replays a probe of a Postfix transcript (test/fixtures/smtp/*.transcript, recorded from a
// real Postfix 3.7, format in /work/shared/fixtures/README.md) against our server and compares
// every reply line exactly.
import assert from 'node:assert/strict';
import { parseTranscript, type Probe } from '../helpers/postfix-transcript.js';
import { RawClient } from './harness.js';

export { parseTranscript, type Probe };

/** Run one probe; returns the lines compared (for diagnostics). */
export async function replay(port: number, probe: Probe, localAddress = probe.client): Promise<void> {
  const c = await RawClient.connect(port, { localAddress, greeting: false });
  const got: string[] = [];
  let closedSeen = false;
  try {
    for (const [i, step] of probe.steps.entries()) {
      if (step.kind === 'send') {
        if (c.closedFlag && closedSeen) break;
        c.write(step.lines.map((l) => l + '\r\n').join(''));
      } else if (step.kind === 'expect') {
        if (got.length === 0) got.push(...(await c.reply()));
        const line = got.shift();
        // queue ids differ between runs (README "What varies between runs")
        const norm = (x: string | undefined) => x?.replace(/queued as [0-9A-F]+$/, 'queued as QUEUEID');
        assert.equal(norm(line), norm(step.line), `probe ${probe.id}: step ${i}`);
      } else if (step.kind === 'closed') {
        await c.waitClose();
        closedSeen = true;
      } else if (step.kind === 'starttls') {
        throw new Error(`probe ${probe.id}: STARTTLS probes are replayed by test/e2e/postfix-restrictions.test.ts`);
      }
    }
    assert.deepEqual(got, [], `probe ${probe.id}: unexpected extra lines`);
  } finally {
    c.close();
  }
}
