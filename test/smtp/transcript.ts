// Replays a probe of a Postfix transcript (test/fixtures/smtp/*.transcript, recorded from a
// real Postfix 3.7, format in /work/shared/fixtures/README.md) against our server and compares
// every reply line exactly.
import assert from 'node:assert/strict';
import { RawClient } from './harness.js';

type Step = { kind: 'send'; lines: string[]; beforeGreeting?: boolean } | { kind: 'expect'; line: string } | { kind: 'closed' };

export interface Probe {
  id: string;
  client: string;
  steps: Step[];
}

export function parseTranscript(text: string): Probe[] {
  const probes: Probe[] = [];
  let cur: Probe | undefined;
  let group = 0;
  let contentGroup = false;
  let beforeGreeting = false;
  let pending: string[] = [];
  const flush = () => {
    if (pending.length && cur) cur.steps.push({ kind: 'send', lines: pending, beforeGreeting });
    pending = [];
    beforeGreeting = false;
  };
  for (const line of text.split('\n')) {
    const m = /^=== probe \d+: (\S+)/.exec(line);
    if (m) {
      flush();
      cur = { id: m[1], client: '127.0.0.1', steps: [] };
      probes.push(cur);
      continue;
    }
    if (!cur) continue;
    const cm = /^# client (\S+) -> /.exec(line);
    if (cm) cur.client = cm[1];
    const gm = /^# next (\d+) lines sent in one write/.exec(line);
    if (gm) {
      flush();
      group = Number(gm[1]);
      continue;
    }
    if (/^# message content and the final "\." sent in one write/.test(line)) {
      flush();
      contentGroup = true;
      continue;
    }
    if (/^# the next line is sent immediately after connect/.test(line)) {
      flush();
      beforeGreeting = true;
      group = 1;
      continue;
    }
    if (/^# \(connection closed by server\)/.test(line)) {
      flush();
      cur.steps.push({ kind: 'closed' });
      continue;
    }
    if (line.startsWith('C: ') || line === 'C:') {
      const c = line.slice(3);
      if (group > 0) {
        pending.push(c);
        if (--group === 0) flush();
      } else if (contentGroup) {
        pending.push(c);
        if (c === '.') {
          contentGroup = false;
          flush();
        }
      } else {
        pending.push(c);
        flush();
      }
      continue;
    }
    if (line.startsWith('S: ')) {
      flush();
      cur.steps.push({ kind: 'expect', line: line.slice(3) });
    }
  }
  flush();
  return probes;
}

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
      } else {
        await c.waitClose();
        closedSeen = true;
      }
    }
    assert.deepEqual(got, [], `probe ${probe.id}: unexpected extra lines`);
  } finally {
    c.close();
  }
}
