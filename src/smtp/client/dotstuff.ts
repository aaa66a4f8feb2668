// Content on the wire (RFC 5321 §4.5.2 transparency, §2.3.8 line ends): every line
// ends in CRLF (a bare LF from an LF-stored message becomes CRLF) and a line that
// starts with "." gets one more "." in front. Works on chunks of any size, keeping
// the state of a line that spans two chunks.

const CR = 0x0d;
const LF = 0x0a;
const DOT = 0x2e;

export class DotStuffer {
  private atLineStart = true;
  private lastWasCr = false;
  /** Bytes seen, for the size check after the fact. */
  bytesIn = 0;

  /** Convert one chunk; the result may be larger than the input. */
  push(chunk: Buffer): Buffer {
    this.bytesIn += chunk.length;
    const parts: Buffer[] = [];
    let start = 0;
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      if (this.atLineStart) {
        this.atLineStart = false;
        if (chunk[i] === DOT) {
          parts.push(chunk.subarray(start, i), DOT_BUF);
          start = i;
        }
      }
      const nl = chunk.indexOf(LF, i);
      if (nl < 0) {
        this.lastWasCr = chunk[n - 1] === CR;
        i = n;
        break;
      }
      const crBefore = nl > 0 ? chunk[nl - 1] === CR : this.lastWasCr;
      if (!crBefore) {
        parts.push(chunk.subarray(start, nl), CR_BUF);
        start = nl;
      }
      this.lastWasCr = false;
      this.atLineStart = true;
      i = nl + 1;
    }
    if (parts.length === 0) return chunk;
    parts.push(chunk.subarray(start, n));
    return Buffer.concat(parts);
  }

  /** What ends the data: a CRLF if the content did not end with one, then ".CRLF". */
  end(): Buffer {
    if (this.atLineStart) return END_BUF;
    // a trailing bare CR is completed to CRLF
    return this.lastWasCr ? LF_END_BUF : CRLF_END_BUF;
  }
}

const DOT_BUF = Buffer.from('.');
const CR_BUF = Buffer.from('\r');
const END_BUF = Buffer.from('.\r\n');
const LF_END_BUF = Buffer.from('\n.\r\n');
const CRLF_END_BUF = Buffer.from('\r\n.\r\n');

/** Convert a whole buffer (tests and small messages). */
export function dotStuff(content: Buffer): Buffer {
  const d = new DotStuffer();
  return Buffer.concat([d.push(content), d.end()]);
}
