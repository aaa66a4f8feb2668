// The Postfix transcripts of the recorded fixtures (format: /work/shared/fixtures/README.md,
// "Transcript format"): probes with the client's address and role (mx / submission), what
// was sent (pipelined groups, talking before the greeting), every reply line, the STARTTLS
// handshake, and where the server closed the connection.

type Step =
  | { kind: 'send'; lines: string[]; early?: boolean }
  | { kind: 'expect'; line: string }
  | { kind: 'starttls' }
  | { kind: 'closed' }
  | { kind: 'silence' };

export type { Step };

export interface Probe {
  id: string;
  client: string;
  role: 'mx' | 'submission';
  steps: Step[];
}

export function parseTranscript(text: string): Probe[] {
  const probes: Probe[] = [];
  let cur: Probe | undefined;
  let pending: string[] = [];
  let group = 0;
  let content = false;
  let early = false;
  const flush = () => {
    if (cur && pending.length) cur.steps.push({ kind: 'send', lines: pending, early: early || undefined });
    pending = [];
    early = false;
  };
  for (const line of text.split('\n')) {
    const m = /^=== probe \d+: (\S+)/.exec(line);
    if (m) {
      flush();
      cur = { id: m[1], client: '127.0.0.1', role: 'mx', steps: [] };
      probes.push(cur);
      continue;
    }
    if (!cur) continue;
    const cm = /^# client (\S+) -> server \S+ \((mx|submission)\)/.exec(line);
    if (cm) {
      cur.client = cm[1];
      cur.role = cm[2] as Probe['role'];
      continue;
    }
    if (/^# next \d+ lines sent in one write/.test(line)) {
      flush();
      group = Number(/\d+/.exec(line)![0]);
      continue;
    }
    if (/^# message content and the final "\." sent in one write/.test(line)) {
      flush();
      content = true;
      continue;
    }
    if (/^# the next line is sent immediately after connect/.test(line)) {
      flush();
      early = true;
      group = 1;
      continue;
    }
    if (/^# TLS handshake done/.test(line)) {
      flush();
      cur.steps.push({ kind: 'starttls' });
      continue;
    }
    if (/^# \(connection closed by server\)/.test(line)) {
      flush();
      cur.steps.push({ kind: 'closed' });
      continue;
    }
    if (/^# \(no reply within/.test(line)) {
      flush();
      cur.steps.push({ kind: 'silence' });
      continue;
    }
    if (line.startsWith('C: ') || line === 'C:') {
      const c = line.slice(3);
      const count = /^(.*) \(x(\d+)\)$/.exec(c); // "a run of identical C: lines is shown once with a count"
      const items = count ? Array(Number(count[2])).fill(count[1]) : [c];
      for (const item of items) {
        pending.push(item);
        if (group > 0) {
          if (--group === 0) flush();
        } else if (content) {
          if (item === '.') {
            content = false;
            flush();
          }
        } else flush();
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

