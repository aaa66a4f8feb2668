// Line-end conversion between the wire (CRLF) and facteur's stored form (LF), streaming.
const LF = 0x0a;
const CR = 0x0d;
const NL = Buffer.from('\n');

/**
 * BDAT content (raw octets, CRLF line ends) → canonical content (LF line ends), across chunk
 * boundaries. Notes bare LFs for smtpd_forbid_bare_newline.
 */
export class CrlfToLf {
  private pendingCr = false;
  bareLf = false;

  convert(chunk: Buffer): Buffer {
    const parts: Buffer[] = [];
    let start = 0;
    let i = 0;
    if (this.pendingCr) {
      this.pendingCr = false;
      if (chunk.length > 0 && chunk[0] === LF) {
        parts.push(NL);
        start = 1;
        i = 1;
      } else parts.push(Buffer.from([CR]));
    }
    for (;;) {
      const lf = chunk.indexOf(LF, i);
      if (lf < 0) break;
      if (lf > start && chunk[lf - 1] === CR) {
        parts.push(chunk.subarray(start, lf - 1), NL);
      } else {
        this.bareLf = true;
        parts.push(chunk.subarray(start, lf + 1));
      }
      start = lf + 1;
      i = lf + 1;
    }
    let end = chunk.length;
    if (end > start && chunk[end - 1] === CR) {
      this.pendingCr = true;
      end--;
    }
    if (end > start) parts.push(chunk.subarray(start, end));
    return parts.length === 1 ? parts[0] : Buffer.concat(parts);
  }

  /** End of the message: a CR kept back at the end is content. */
  flush(): Buffer {
    if (!this.pendingCr) return Buffer.alloc(0);
    this.pendingCr = false;
    return Buffer.from([CR]);
  }
}

/** LF → CRLF for content going onto the wire or into a queue file (every LF; a CR before it is data). */
export class LfToCrlf {
  convert(chunk: Buffer): Buffer {
    let i = chunk.indexOf(LF);
    if (i < 0) return chunk;
    const parts: Buffer[] = [];
    let start = 0;
    while (i >= 0) {
      parts.push(chunk.subarray(start, i), CRLF);
      start = i + 1;
      i = chunk.indexOf(LF, start);
    }
    parts.push(chunk.subarray(start));
    return Buffer.concat(parts);
  }
}

const CRLF = Buffer.from('\r\n');
