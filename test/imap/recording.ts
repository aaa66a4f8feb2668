// Reader for the Dovecot recordings (test/fixtures/dovecot-*/expected/*.txt):
//   >>> COMMAND [{N}\r\n<N bytes>]\r\n   <raw untagged responses>   <<< TAGGED\r\n
import { readFileSync } from 'node:fs';

export interface RecordedCommand {
  /** The command as sent, without tag, literals included (latin1 text). */
  command: string;
  /** Raw untagged responses (latin1 text, CRLF line ends, literals verbatim). */
  untagged: string;
  /** Tagged completion without the tag, e.g. "OK [READ-ONLY] Examine completed (0.001 + 0.000 secs)." */
  tagged: string;
}

export function readRecording(path: string): RecordedCommand[] {
  const text = readFileSync(path).toString('latin1');
  const out: RecordedCommand[] = [];
  let pos = 0;
  while (pos < text.length) {
    if (!text.startsWith('>>> ', pos)) throw new Error(`${path}: expected ">>> " at ${pos}`);
    let eol = text.indexOf('\r\n', pos);
    let command = text.slice(pos + 4, eol);
    pos = eol + 2;
    const lit = /\{(\d+)\}$/.exec(command);
    if (lit) {
      const n = Number(lit[1]);
      command += '\r\n' + text.slice(pos, pos + n);
      pos += n;
      eol = text.indexOf('\r\n', pos);
      command += text.slice(pos, eol);
      pos = eol + 2;
    }
    let end = text.startsWith('<<< ', pos) ? pos : text.indexOf('\r\n<<< ', pos - 2) + 2;
    if (end < 2) throw new Error(`${path}: no "<<< " after ${command}`);
    const untagged = text.slice(pos, end);
    eol = text.indexOf('\r\n', end);
    const tagged = text.slice(end + 4, eol);
    pos = eol + 2;
    out.push({ command, untagged, tagged });
  }
  return out;
}

/** "OK [READ-ONLY] Examine completed (0.001 + 0.000 secs)." → "OK [READ-ONLY]" (status and response code only). */
export function statusOf(tagged: string): string {
  const m = /^(OK|NO|BAD)( \[[^\]]*\])?/.exec(tagged);
  return m ? m[1] + (m[2] ?? '') : tagged;
}
