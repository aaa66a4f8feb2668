// Stored messages have LF line ends (mail_save_crlf = no); the protocols send CRLF.

/** LF → CRLF; an existing CRLF is kept as is. */
export function lfToCrlf(data: Buffer): Buffer {
  let extra = 0;
  for (let i = data.indexOf(10); i >= 0; i = data.indexOf(10, i + 1)) if (i === 0 || data[i - 1] !== 13) extra++;
  if (extra === 0) return data;
  const out = Buffer.allocUnsafe(data.length + extra);
  let o = 0;
  let start = 0;
  for (let i = data.indexOf(10); i >= 0; i = data.indexOf(10, i + 1)) {
    if (i > 0 && data[i - 1] === 13) continue;
    o += data.copy(out, o, start, i);
    out[o++] = 13;
    out[o++] = 10;
    start = i + 1;
  }
  data.copy(out, o, start);
  return out;
}
