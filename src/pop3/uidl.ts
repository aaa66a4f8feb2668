// pop3_uidl_format (Dovecot): %u = UID, %v = UIDVALIDITY, with var_expand's modifiers
// `0`/width padding and `X`/`x` for hexadecimal: the default `%08Xu%08Xv` gives
// `000000016b0b620e` for UID 1, UIDVALIDITY 0x6b0b620e.

export function formatUidl(format: string, uid: number, uidValidity: number): string {
  return format.replace(/%(0?)(\d*)([Xx]?)([uv%])/g, (_m, zero: string, width: string, hex: string, v: string) => {
    if (v === '%') return '%';
    const n = v === 'u' ? uid : uidValidity;
    // Dovecot's X modifier prints lower-case hex (the recorded UIDLs are lower case).
    const s = hex ? n.toString(16) : String(n);
    const w = width ? Number(width) : 0;
    return s.padStart(w, zero ? '0' : ' ');
  });
}

/** Whether a format uses only the variables facteur can provide. */
export function checkUidlFormat(format: string): string | undefined {
  const bad = format.match(/%(?:0?\d*[Xx]?)([^uv%0-9Xx])/);
  return bad ? `unsupported variable %${bad[1]} in pop3_uidl_format (supported: %u, %v)` : undefined;
}
