// Line-end conversion between the wire forms (CRLF: SMTP RFC 5321 §2.3.8, IMAP RFC 3501 §2.2,
// POP3) and the stored form (LF, as Postfix local(8) and Dovecot with mail_save_crlf=no write it).
// The subtle differences are on purpose:
//  - toCrlf / crlfSize (stored file → IMAP/POP3): a bare LF becomes CRLF, an existing CRLF stays,
//    a bare CR stays;
//  - LfToCrlf (canonical content → SMTP/queue file, streaming): every LF becomes CRLF, a CR before
//    it is data;
//  - toLf (whole buffer) and CrlfToLf (streaming, notes bare LFs): CRLF → LF, bare CRs and bare
//    LFs are kept.
const LF = 0x0a;
const CR = 0x0d;
const NL = Buffer.from('\n');
const CRLF = Buffer.from('\r\n');

/** Number of bare LFs (LF not preceded by CR) in buf; `prevCr`: the byte before buf was a CR (streaming). */
export function bareLfCount(buf: Buffer, prevCr = false): number {
  let count = 0;
  let i = buf.indexOf(LF);
  while (i !== -1) {
    if (i === 0 ? !prevCr : buf[i - 1] !== CR) count++;
    i = buf.indexOf(LF, i + 1);
  }
  return count;
}

/** Size of buf once every bare LF became CRLF (Maildir `,W=`, IMAP RFC822.SIZE). */
export function crlfSize(buf: Buffer): number {
  return buf.length + bareLfCount(buf);
}

/** Bare LF → CRLF; an existing CRLF is kept; a bare CR is left alone. Returns buf itself when nothing changes. */
export function toCrlf(buf: Buffer): Buffer {
  const missing = bareLfCount(buf);
  if (missing === 0) return buf;
  const out = Buffer.allocUnsafe(buf.length + missing);
  let o = 0;
  let start = 0;
  let i = buf.indexOf(LF);
  while (i !== -1) {
    if (i === 0 || buf[i - 1] !== CR) {
      o += buf.copy(out, o, start, i);
      out[o++] = CR;
      start = i;
    }
    i = buf.indexOf(LF, i + 1);
  }
  buf.copy(out, o, start);
  return out;
}

/** CRLF → LF (the form Dovecot and local(8) store); bare CRs and bare LFs are kept. Returns buf itself when nothing changes. */
export function toLf(buf: Buffer): Buffer {
  let i = buf.indexOf('\r\n');
  if (i === -1) return buf;
  const parts: Buffer[] = [];
  let start = 0;
  while (i !== -1) {
    parts.push(buf.subarray(start, i));
    start = i + 1;
    i = buf.indexOf('\r\n', start);
  }
  parts.push(buf.subarray(start));
  return Buffer.concat(parts);
}

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

