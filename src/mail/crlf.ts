// Line-end conversion between the stored form (LF, as Postfix local(8) and Dovecot with
// mail_save_crlf=no write it) and the IMAP wire form (CRLF, RFC 3501 §2.2).

const LF = 0x0a;
const CR = 0x0d;

/** Number of bare LFs (LF not preceded by CR) in buf. */
function bareLfCount(buf: Buffer): number {
  let count = 0;
  let i = buf.indexOf(LF);
  while (i !== -1) {
    if (i === 0 || buf[i - 1] !== CR) count++;
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

/** CRLF → LF (the form Dovecot and local(8) store); bare CRs and bare LFs are kept. */
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
