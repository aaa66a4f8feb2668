// Turns a recorded Postfix transcript (test/fixtures/postfix-restrictions/NAME.transcript)
// into a golden script for the engine (helpers/script.ts) and its expected output: every
// reply in which the restriction engine decides (connect, HELO/EHLO, MAIL, RCPT, VRFY,
// ETRN, DATA, end of data) becomes a script line whose expected result is OK (2xx/3xx) or
// the recorded reply, with the recorded `sleep` tarpit delay. Replies the SMTP session
// gives by itself (syntax, sequence, limits, AUTH, access denied after a rejected
// connect) are kept as comments only.
import { Buffer } from 'node:buffer';

interface Cmd {
  /** The client line, or a pseudo command: CONNECT, EOD, TLS, AUTHDATA. */
  line: string;
  kind: 'connect' | 'command' | 'eod' | 'tls' | 'authdata';
  reply: string[];
  /** Seconds shown before the reply ("(X s passed before this reply)"). */
  delay?: number;
  /** Pipelined group number and position. */
  group?: number;
  lastInGroup?: boolean;
  done: boolean;
}

export interface Probe {
  id: string;
  comments: string[];
  client: string;
  service: 'smtp' | 'submission';
  pregreet: boolean;
  cmds: Cmd[];
}

export function parseTranscript(text: string): Probe[] {
  const probes: Probe[] = [];
  let p: Probe | undefined;
  let queue: Cmd[] = [];
  let pendingDelay: number | undefined;
  let groupLeft = 0;
  let groupId = 0;
  let inData = false;
  let nextIsPregreet = false;
  for (const line of text.split(/\r?\n/)) {
    const head = /^=== probe (\d+): (\S+)/.exec(line);
    if (head) {
      p = { id: `${head[1]} ${head[2]}`, comments: [], client: '', service: 'smtp', pregreet: false, cmds: [] };
      probes.push(p);
      const connect: Cmd = { line: 'CONNECT', kind: 'connect', reply: [], done: false };
      p.cmds.push(connect);
      queue = [connect];
      pendingDelay = undefined;
      groupLeft = 0;
      inData = false;
      nextIsPregreet = false;
      continue;
    }
    if (!p) continue;
    const client = /^# client (\S+) -> server \S+ \((mx|submission)\)/.exec(line);
    if (client) {
      p.client = client[1];
      p.service = client[2] === 'submission' ? 'submission' : 'smtp';
      continue;
    }
    const delay = /^# \(([\d.]+) s passed before this reply\)/.exec(line);
    if (delay) {
      pendingDelay = Number(delay[1]);
      continue;
    }
    const group = /^# next (\d+) lines sent in one write \(pipelined\)/.exec(line);
    if (group) {
      groupLeft = Number(group[1]);
      groupId++;
      continue;
    }
    if (/^# the next line is sent immediately after connect/.test(line)) {
      nextIsPregreet = true;
      continue;
    }
    if (/^# TLS handshake done/.test(line)) {
      p.cmds.push({ line: 'TLS', kind: 'tls', reply: [], done: true });
      continue;
    }
    if (line.startsWith('# ') && p.cmds.length === 1 && !p.client) {
      p.comments.push(line.slice(2));
      continue;
    }
    if (line.startsWith('C: ')) {
      const c = line.slice(3);
      if (nextIsPregreet) {
        p.pregreet = true;
        nextIsPregreet = false;
      }
      if (inData) {
        if (c === '.') {
          inData = false;
          const eod: Cmd = { line: 'EOD', kind: 'eod', reply: [], done: false };
          p.cmds.push(eod);
          queue.push(eod);
        }
        continue;
      }
      // a line after a 334 challenge to AUTH is SASL data, not a command
      const prev = [...p.cmds].reverse().find((x) => x.kind === 'command' || x.kind === 'authdata');
      const isAuthData = prev !== undefined && prev.done && /^334( |$)/.test(prev.reply.at(-1) ?? '') && (prev.kind === 'authdata' || /^AUTH\b/i.test(prev.line));
      const kind = isAuthData ? 'authdata' : 'command';
      const cmd: Cmd = { line: c, kind, reply: [], done: false };
      if (groupLeft > 0) {
        cmd.group = groupId;
        groupLeft--;
        cmd.lastInGroup = groupLeft === 0;
      }
      p.cmds.push(cmd);
      queue.push(cmd);
      continue;
    }
    if (line.startsWith('S: ')) {
      const s = line.slice(3);
      const cmd = queue[0];
      if (!cmd) continue;
      if (cmd.reply.length === 0 && pendingDelay !== undefined) {
        cmd.delay = pendingDelay;
        pendingDelay = undefined;
      }
      cmd.reply.push(s);
      if (!/^\d{3}-/.test(s)) {
        cmd.done = true;
        queue.shift();
        if (/^354 /.test(s)) inData = true;
      }
    }
  }
  return probes;
}

const POLICY_REPLY = /rejected: |Relay access denied|blocked using|cannot find your (reverse )?hostname|not checked: temporary DNS failure/;

function isPolicyReply(r: string | undefined): boolean {
  return !!r && /^[45]\d\d /.test(r) && POLICY_REPLY.test(r);
}

function mailArg(line: string, verb: 'MAIL FROM:' | 'RCPT TO:'): string | undefined {
  if (!line.toUpperCase().startsWith(verb)) return undefined;
  const rest = line.slice(verb.length).trim();
  if (rest.startsWith('<')) {
    // an address may contain ">" only inside quotes
    let q = false;
    for (let i = 1; i < rest.length; i++) {
      if (rest[i] === '"') q = !q;
      if (rest[i] === '>' && !q) return rest.slice(0, i + 1);
    }
    return undefined;
  }
  return rest.split(/\s+/)[0];
}

function saslUser(authLine: string, data: string[]): string | undefined {
  const [, mech, initial] = /^AUTH\s+(\S+)(?:\s+(\S+))?/i.exec(authLine) ?? [];
  if (!mech) return undefined;
  const dec = (b: string | undefined) => (b === undefined ? undefined : Buffer.from(b, 'base64').toString('utf8'));
  if (/^plain$/i.test(mech)) {
    const resp = dec(initial ?? data[0]);
    return resp?.split('\0')[1];
  }
  if (/^login$/i.test(mech)) return dec(initial ?? data[0]);
  return undefined;
}

export interface Golden {
  script: string[];
  expected: string[];
  /** Engine decisions taken from the recording, per kind (connect, helo, mail, rcpt, vrfy, etrn, data, eod). */
  decisions: Record<string, number>;
  /** Probes that could not be replayed, with the reason. */
  skipped: string[];
}

export interface GoldenOptions {
  delayReject: boolean;
  /** main.cf lines that make the submission service look like the recording's master.cf. */
  submissionLines: string[];
  /** Verified client names that the recording got from /etc/hosts rather than DNS. */
  hostsFile?: Record<string, string>;
}

/** Build the script and the expected output (the same `>>> line` / result format as runScript). */
export function goldenFromTranscript(name: string, text: string, opts: GoldenOptions): Golden {
  const script: string[] = [`# ${name}: generated from ${name}.transcript by test/policy/helpers/transcript.ts; do not edit`];
  const expected: string[] = [`>>> ${script[0]}`];
  const decisions: Record<string, number> = {};
  const skipped: string[] = [];
  const probes = parseTranscript(text);
  let service: 'smtp' | 'submission' = 'smtp';
  const emit = (line: string, result?: string) => {
    script.push(line);
    expected.push(`>>> ${line}`);
    if (result !== undefined) expected.push(result);
  };
  const note = (s: string) => emit(`# ${s}`);
  const decide = (kind: string, line: string, reply: string, okRe: RegExp, sleep: number | undefined) => {
    let result = okRe.test(reply) ? 'OK' : reply;
    if (result !== 'OK' && /^421 /.test(reply)) result += ' [disconnect]';
    if (sleep) result += ` [slept ${sleep}s]`;
    emit(line, result);
    decisions[kind] = (decisions[kind] ?? 0) + 1;
  };
  const roundDelay = (d: number | undefined) => (d !== undefined && d >= 0.9 && d <= 3 ? Math.round(d) : undefined);

  for (const p of probes) {
    emit('');
    note(`probe ${p.id}: ${p.comments.join(' ')}`);
    const connect = p.cmds[0];
    if (!connect.reply.length) {
      note(`skipped: no greeting was recorded (the server did not start)`);
      skipped.push(`${name} probe ${p.id}: no greeting recorded (Postfix refused to start: no relay control)`);
      continue;
    }
    if (p.service !== service) {
      service = p.service;
      emit(`service ${service}`, 'OK');
      if (service === 'submission') for (const l of opts.submissionLines) emit(l, 'OK');
    }
    // delays: a pipelined group's delay belongs to its first RCPT/VRFY/ETRN (client restrictions run there)
    const sleeps = new Map<Cmd, number | undefined>();
    for (const c of p.cmds) if (c.group === undefined) sleeps.set(c, roundDelay(c.delay));
    const groups = new Set(p.cmds.map((c) => c.group).filter((g): g is number => g !== undefined));
    for (const g of groups) {
      const members = p.cmds.filter((c) => c.group === g);
      const d = roundDelay(members.find((c) => c.delay !== undefined)?.delay);
      const target = opts.delayReject ? members.find((c) => /^(RCPT|VRFY|ETRN)\b/i.test(c.line)) : undefined;
      for (const m of members) sleeps.set(m, m === target ? d : undefined);
    }

    const named = opts.hostsFile?.[p.client];
    const greet = connect.reply[0];
    decide('connect', `client ${named ? named + ' ' : ''}${p.client}${p.pregreet ? ' pregreet' : ''}`, greet, /^220 /, opts.delayReject ? undefined : roundDelay(connect.delay));
    if (!/^220 /.test(greet)) {
      note('the connection was refused: every later reply comes from the session (503 5.7.0 access denied)');
      continue;
    }
    let mode: 'none' | 'SMTP' | 'ESMTP' = 'none';
    let flagged = p.pregreet;
    let auth: { line: string; data: string[] } | undefined;
    for (const c of p.cmds.slice(1)) {
      if (c.kind === 'tls') {
        emit('tls', 'OK');
        continue;
      }
      const reply = c.reply.at(-1) ?? '';
      if (c.kind === 'authdata') {
        auth?.data.push(c.line);
        if (auth && /^235 /.test(reply)) {
          const u = saslUser(auth.line, auth.data);
          if (u) emit(`sasl ${u}`, 'OK');
        }
        continue;
      }
      // improper pipelining (reject_unauth_pipelining): input pending without EHLO/PIPELINING, or EHLO not last
      if (c.group !== undefined && !flagged) {
        const first = p.cmds.find((x) => x.group === c.group) === c;
        if ((first && mode !== 'ESMTP') || (/^EHLO\b/i.test(c.line) && !c.lastInGroup)) {
          emit('pipelining', 'OK');
          flagged = true;
        }
      }
      const sleep = sleeps.get(c);
      const upper = c.line.toUpperCase();
      if (c.kind === 'eod') {
        if (/^250 /.test(reply)) decide('eod', 'eod', reply, /^250 /, sleep);
        else note(`session: end of data -> ${reply}`);
        continue;
      }
      const helo = /^(HELO|EHLO)\s+(\S.*)$/i.exec(c.line);
      if (helo) {
        if (/^250[ -]/.test(c.reply[0] ?? '') || isPolicyReply(reply)) {
          decide('helo', `${helo[1].toLowerCase()} ${helo[2].trim()}`, reply, /^250[ -]/, sleep);
          if (/^250/.test(c.reply[0] ?? '')) mode = helo[1].toUpperCase() === 'EHLO' ? 'ESMTP' : 'SMTP';
        } else note(`session: C: ${c.line} -> ${reply}`);
        continue;
      }
      if (/^AUTH\b/i.test(upper)) {
        auth = { line: c.line, data: [] };
        if (/^235 /.test(reply)) {
          const u = saslUser(c.line, []);
          if (u) emit(`sasl ${u}`, 'OK');
        }
        continue;
      }
      const mail = mailArg(c.line, 'MAIL FROM:');
      if (mail !== undefined) {
        if (/^250 /.test(reply) || isPolicyReply(reply)) decide('mail', `mail ${mail}`, reply, /^250 /, sleep);
        else note(`session: C: ${c.line} -> ${reply}`);
        continue;
      }
      const rcpt = mailArg(c.line, 'RCPT TO:');
      if (rcpt !== undefined) {
        if (/^250 /.test(reply) || isPolicyReply(reply)) decide('rcpt', `rcpt ${rcpt}`, reply, /^250 /, sleep);
        else note(`session: C: ${c.line} -> ${reply}`);
        continue;
      }
      if (upper === 'DATA') {
        if (/^354 /.test(reply) || isPolicyReply(reply)) decide('data', 'data', reply, /^354 /, sleep);
        else note(`session: C: ${c.line} -> ${reply}`);
        continue;
      }
      if (upper === 'RSET') {
        emit('rset', 'OK');
        continue;
      }
      const vrfy = /^VRFY\s+(\S.*)$/i.exec(c.line);
      if (vrfy) {
        if (/^25[02] /.test(reply) || isPolicyReply(reply)) decide('vrfy', `vrfy ${vrfy[1]}`, reply, /^25[02] /, sleep);
        else note(`session: C: ${c.line} -> ${reply}`);
        continue;
      }
      const etrn = /^ETRN\s+(\S+)$/i.exec(c.line);
      if (etrn) {
        // 459 <domain>: service unavailable is the fast flush service's answer after the checks passed
        if (/^459 <[^>]*>: service unavailable$/.test(reply) || /^25\d /.test(reply) || isPolicyReply(reply)) {
          decide('etrn', `etrn ${etrn[1]}`, reply, /^(459 <[^>]*>: service unavailable|25\d )/, sleep);
        } else note(`session: C: ${c.line} -> ${reply}`);
        continue;
      }
    }
  }
  return { script, expected, decisions, skipped };
}
