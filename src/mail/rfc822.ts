// RFC 5322 §3.2 lexical tokens (CFWS, atom, dot-atom, quoted-string, phrase, domain) and
// RFC 2045 §5.1 MIME tokens, with the error recovery of Dovecot's rfc822-parser.
// Works on latin1 strings (one char per byte). Return values follow Dovecot:
// 1 = token read and more data follows, 0 = token read and the data ended, -1 = error.

// atext = 1, ALPHA/DIGIT and 8-bit = 2, atext that is a MIME tspecial ('/', '=', '?') = 4
const ATEXT = new Uint8Array(256);
(() => {
  for (let c = 0; c < 256; c++) {
    if (c >= 0x80 || (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a)) ATEXT[c] = 2;
  }
  for (const ch of "!#$%&'*+-^_`{|}~") ATEXT[ch.charCodeAt(0)] = 1;
  for (const ch of '/=?') ATEXT[ch.charCodeAt(0)] = 4;
})();

export function isAtext(c: number): boolean {
  return c >= 0 && c < 256 && ATEXT[c] !== 0;
}
export function isAtextNonTspecial(c: number): boolean {
  return c >= 0 && c < 256 && (ATEXT[c]! & 3) !== 0;
}

export class Rfc822Parser {
  pos = 0;
  readonly end: number;
  /** Text of the last comment skipped, when collecting (Dovecot's last_comment). */
  lastComment: string | null;
  /** Replacement for NUL inside quoted strings, comments and domain literals (RFC822_NUL_REPLACEMENT_STR). */
  nulReplacement: string | null = null;

  constructor(readonly data: string, collectComments = false) {
    this.end = data.length;
    this.lastComment = collectComments ? '' : null;
  }

  private c(i = this.pos): number {
    return this.data.charCodeAt(i);
  }
  get atEnd(): boolean {
    return this.pos >= this.end;
  }
  /** Char code at the current position, -1 at the end. */
  peek(): number {
    return this.pos < this.end ? this.c() : -1;
  }

  skipComment(): number {
    let level = 1;
    let start = ++this.pos;
    const collect = this.lastComment !== null;
    if (collect) this.lastComment = '';
    for (; this.pos < this.end; this.pos++) {
      const ch = this.c();
      if (ch === 0x00) {
        if (collect && this.nulReplacement !== null) {
          this.lastComment += this.data.slice(start, this.pos) + this.nulReplacement;
          start = this.pos + 1;
        }
      } else if (ch === 0x28) {
        level++;
      } else if (ch === 0x29) {
        if (--level === 0) {
          if (collect) this.lastComment += this.data.slice(start, this.pos);
          this.pos++;
          return this.pos < this.end ? 1 : 0;
        }
      } else if (ch === 0x0a) {
        if (collect) {
          let len = this.pos - start;
          if (len > 0 && this.c(start + len - 1) === 0x0d) len--;
          this.lastComment += this.data.slice(start, start + len);
          start = this.pos + 1;
        }
      } else if (ch === 0x5c) {
        this.pos++;
        if (this.pos >= this.end) return -1;
        const n = this.c();
        if (n === 0x0d || n === 0x0a || n === 0x00) {
          this.pos--;
          continue;
        }
        if (collect) this.lastComment += this.data.slice(start, this.pos - 1);
        start = this.pos;
      }
    }
    return -1;
  }

  skipLwsp(): number {
    while (this.pos < this.end) {
      const ch = this.c();
      if (ch === 0x20 || ch === 0x09 || ch === 0x0d || ch === 0x0a) {
        this.pos++;
        continue;
      }
      if (ch !== 0x28) break;
      if (this.skipComment() < 0) return -1;
    }
    return this.pos < this.end ? 1 : 0;
  }

  parseAtom(out: { s: string }): number {
    if (this.pos >= this.end || !isAtext(this.c())) return -1;
    const start = this.pos++;
    for (; this.pos < this.end; this.pos++) {
      if (isAtext(this.c())) continue;
      out.s += this.data.slice(start, this.pos);
      return this.skipLwsp();
    }
    out.s += this.data.slice(start, this.pos);
    return 0;
  }

  parseDotAtom(out: { s: string }): number {
    if (this.pos >= this.end || !isAtext(this.c())) return -1;
    let start = this.pos++;
    while (this.pos < this.end) {
      if (isAtext(this.c())) {
        this.pos++;
        continue;
      }
      if (start === this.pos) return -1;
      out.s += this.data.slice(start, this.pos);
      const ret = this.skipLwsp();
      if (ret <= 0) return ret;
      if (this.c() !== 0x2e) return 1;
      this.pos++;
      out.s += '.';
      if (this.skipLwsp() <= 0) return -1;
      start = this.pos;
    }
    out.s += this.data.slice(start, this.pos);
    return 0;
  }

  parseMimeToken(out: { s: string }): number {
    const start = this.pos;
    for (; this.pos < this.end; this.pos++) {
      const ch = this.c();
      if (isAtextNonTspecial(ch) || ch === 0x2e) continue;
      out.s += this.data.slice(start, this.pos);
      return this.skipLwsp();
    }
    out.s += this.data.slice(start, this.pos);
    return 0;
  }

  parseQuotedString(out: { s: string }): number {
    this.pos++;
    let start = this.pos;
    for (; this.pos < this.end; this.pos++) {
      const ch = this.c();
      if (ch === 0x00) {
        if (this.nulReplacement !== null) {
          out.s += this.data.slice(start, this.pos) + this.nulReplacement;
          start = this.pos + 1;
        }
      } else if (ch === 0x22) {
        out.s += this.data.slice(start, this.pos);
        this.pos++;
        return this.skipLwsp();
      } else if (ch === 0x0a) {
        let len = this.pos - start;
        if (len > 0 && this.c(start + len - 1) === 0x0d) len--;
        out.s += this.data.slice(start, start + len);
        start = this.pos + 1;
      } else if (ch === 0x5c) {
        this.pos++;
        if (this.pos >= this.end) return -1;
        const n = this.c();
        if (n === 0x0d || n === 0x0a || n === 0x00) {
          this.pos--;
          continue;
        }
        out.s += this.data.slice(start, this.pos - 1);
        start = this.pos;
      }
    }
    return -1;
  }

  private parseAtomOrDot(out: { s: string }): number {
    const start = this.pos;
    for (; this.pos < this.end; this.pos++) {
      const ch = this.c();
      if (isAtext(ch) || ch === 0x2e) continue;
      out.s += this.data.slice(start, this.pos);
      return this.skipLwsp();
    }
    out.s += this.data.slice(start, this.pos);
    return 0;
  }

  /** phrase = 1*word / obs-phrase; words are joined with one space. */
  parsePhrase(out: { s: string }): number {
    if (this.pos >= this.end) return 0;
    if (this.c() === 0x2e) return -1;
    for (;;) {
      const ret = this.c() === 0x22 ? this.parseQuotedString(out) : this.parseAtomOrDot(out);
      if (ret <= 0) return ret;
      const ch = this.c();
      if (!isAtext(ch) && ch !== 0x22 && ch !== 0x2e) break;
      out.s += ' ';
    }
    return this.skipLwsp();
  }

  private parseDomainLiteral(out: { s: string }): number {
    let start = this.pos++;
    for (; this.pos < this.end; this.pos++) {
      const ch = this.c();
      if (ch === 0x00) {
        if (this.nulReplacement !== null) {
          out.s += this.data.slice(start, this.pos) + this.nulReplacement;
          start = this.pos + 1;
        }
      } else if (ch === 0x5b) {
        return -1;
      } else if (ch === 0x5d) {
        out.s += this.data.slice(start, this.pos + 1);
        this.pos++;
        return this.skipLwsp();
      } else if (ch === 0x0a) {
        let len = this.pos - start;
        if (len > 0 && this.c(start + len - 1) === 0x0d) len--;
        out.s += this.data.slice(start, start + len);
        start = this.pos + 1;
      } else if (ch === 0x5c) {
        this.pos++;
        if (this.pos >= this.end) return -1;
        const n = this.c();
        if (n === 0x0d || n === 0x0a || n === 0x00) {
          out.s += this.data.slice(start, this.pos);
          start = this.pos;
          this.pos--;
        }
      }
    }
    return -1;
  }

  /** At '@': domain = dot-atom / domain-literal. */
  parseDomain(out: { s: string }): number {
    this.pos++;
    if (this.skipLwsp() <= 0) return -1;
    if (this.c() === 0x5b) return this.parseDomainLiteral(out);
    return this.parseDotAtom(out);
  }

  /** type "/" subtype; on error out is left with what Dovecot keeps ("text" for a bare type, "" otherwise). */
  parseContentType(out: { s: string }): number {
    const orig = out.s;
    if (this.skipLwsp() <= 0) return -1;
    if (this.parseMimeToken(out) <= 0 || out.s.length === orig.length) return -1;
    if (this.c() !== 0x2f) {
      out.s = orig;
      return -1;
    }
    this.pos++;
    if (this.skipLwsp() <= 0) {
      out.s = orig;
      return -1;
    }
    out.s += '/';
    const subStart = out.s.length;
    const ret = this.parseMimeToken(out);
    if (ret < 0 || out.s.length === subStart || (this.pos < this.end && this.c() !== 0x3b)) {
      out.s = orig;
      return -1;
    }
    return ret;
  }

  /** ";" attribute "=" value. Returns 1 with key/value, 0 at the end, -1 on bad input. */
  parseContentParam(res: { key: string; value: string }): number {
    res.key = '';
    res.value = '';
    if (this.pos >= this.end) return 0;
    if (this.c() !== 0x3b) return -1;
    this.pos++;
    if (this.skipLwsp() <= 0) return -1;
    const key = { s: '' };
    if (this.parseMimeToken(key) <= 0) return -1;
    if (this.c() !== 0x3d) return -1;
    this.pos++;
    const value = { s: '' };
    let ret = this.skipLwsp();
    if (ret <= 0) {
      // broken / no value
    } else if (this.c() === 0x22) {
      ret = this.parseQuotedString(value);
    } else if (this.c() === 0x3d) {
      // workaround for broken input: name==?utf-8?b?...?=
      while (this.pos < this.end) {
        const ch = this.c();
        if (ch === 0x3b || ch === 0x20 || ch === 0x09 || ch === 0x0d || ch === 0x0a) break;
        value.s += this.data[this.pos];
        this.pos++;
      }
    } else {
      ret = this.parseMimeToken(value);
    }
    res.key = key.s;
    res.value = value.s;
    return ret < 0 ? -1 : 1;
  }
}
