// Reader for the Dovecot recordings in test/fixtures/dovecot-imap/expected/*.txt:
// ">>> COMMAND" CRLF, the raw untagged responses (IMAP literals {n} / ~{n} included), "<<< STATUS".

export interface RecordedExchange {
  command: string;
  /** Literal sent with the command (SEARCH CHARSET ... {n}), if any. */
  commandLiteral?: Buffer;
  response: Buffer;
  /** The tagged status line without tag and without Dovecot's timing, e.g. "NO [UNKNOWN-CTE] Unknown ...". */
  status: string;
}

function lineEnd(buf: Buffer, pos: number): number {
  const i = buf.indexOf('\r\n', pos);
  return i === -1 ? buf.length : i;
}

/** Reads one IMAP line with its literals, starting at pos; returns the end offset (after CRLF). */
function readImapLine(buf: Buffer, pos: number): number {
  for (;;) {
    const e = lineEnd(buf, pos);
    const line = buf.toString('latin1', pos, e);
    const m = /~?\{(\d+)\+?\}$/.exec(line);
    if (m === null) return Math.min(buf.length, e + 2);
    pos = e + 2 + Number(m[1]);
  }
}

export function parseRecording(buf: Buffer): RecordedExchange[] {
  const out: RecordedExchange[] = [];
  let pos = 0;
  while (pos < buf.length) {
    if (buf.toString('latin1', pos, pos + 4) !== '>>> ') throw new Error(`expected ">>> " at ${pos}`);
    const cmdEnd = lineEnd(buf, pos);
    let command = buf.toString('latin1', pos + 4, cmdEnd);
    let commandLiteral: Buffer | undefined;
    let p = cmdEnd + 2;
    const lit = /\{(\d+)\+?\}$/.exec(command);
    if (lit !== null) {
      const n = Number(lit[1]);
      commandLiteral = buf.subarray(p, p + n);
      command = command.slice(0, lit.index).trimEnd();
      p = lineEnd(buf, p + n) + 2;
    }
    const respStart = p;
    while (p < buf.length && buf.toString('latin1', p, p + 4) !== '<<< ' && buf.toString('latin1', p, p + 4) !== '>>> ') {
      p = readImapLine(buf, p);
    }
    const response = buf.subarray(respStart, p);
    let status = '';
    if (buf.toString('latin1', p, p + 4) === '<<< ') {
      const e = lineEnd(buf, p);
      status = buf.toString('latin1', p + 4, e).replace(/ \([0-9.+ ]+ secs\)\.$/, '');
      p = e + 2;
    }
    out.push({ command, commandLiteral, response, status });
    pos = p;
  }
  return out;
}
