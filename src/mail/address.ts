// RFC 5322 §3.4 address lists (with RFC 822 routes and obsolete forms), parsed with the error
// recovery of Dovecot's message-address.c, and written back like message_address_write().
// Groups are flattened as in IMAP: a start entry {mailbox: group name, domain: undefined}
// and an end entry with every field undefined. Strings are latin1 byte strings.

import { Rfc822Parser, isAtext } from './rfc822.js';

export interface MessageAddress {
  name?: string;
  route?: string;
  mailbox?: string;
  domain?: string;
  invalidSyntax?: boolean;
}

/** RFC822_NUL_REPLACEMENT_STR: U+FFFD as UTF-8 bytes. */
const NUL_REPLACEMENT = '\xef\xbf\xbd';

class AddressParser {
  readonly p: Rfc822Parser;
  readonly list: MessageAddress[] = [];
  addr: MessageAddress = {};
  /** Dovecot's ctx->str after the last local-part parse (kept even when it failed half-way). */
  private localStr = '';

  constructor(
    value: string,
    private readonly fillMissing: boolean,
  ) {
    this.p = new Rfc822Parser(value, true);
    this.p.nulReplacement = NUL_REPLACEMENT;
  }

  private add(): void {
    this.list.push(this.addr);
    this.addr = {};
  }

  private parseLocalPart(): number {
    const out = { s: '' };
    const ret = this.p.peek() === 0x22 ? this.p.parseQuotedString(out) : this.p.parseDotAtom(out);
    this.localStr = out.s;
    if (ret < 0) return -1;
    this.addr.mailbox = out.s;
    return ret;
  }

  private parseDomain(): number {
    const out = { s: '' };
    const ret = this.p.parseDomain(out);
    if (ret < 0) return -1;
    this.addr.domain = out.s;
    return ret;
  }

  private parseDomainList(): number {
    // obs-domain-list = "@" domain *(*(CFWS / ",") [CFWS] "@" domain)
    const out = { s: '' };
    for (;;) {
      if (this.p.atEnd) return 0;
      if (this.p.peek() !== 0x40) break;
      if (out.s.length > 0) out.s += ',';
      out.s += '@';
      const ret = this.p.parseDomain(out);
      if (ret <= 0) return ret;
      while (this.p.skipLwsp() > 0 && this.p.peek() === 0x2c) this.p.pos++;
    }
    this.addr.route = out.s;
    return 1;
  }

  private parseAngleAddr(): number {
    // "<" [ "@" route ":" ] local-part "@" domain ">"
    this.p.pos++;
    if (this.p.skipLwsp() <= 0) return -1;
    if (this.p.peek() === 0x40) {
      if (this.parseDomainList() > 0 && this.p.peek() === 0x3a) {
        this.p.pos++;
      } else {
        if (this.fillMissing) this.addr.route = 'INVALID_ROUTE';
        if (this.p.atEnd) return -1;
      }
      if (this.p.skipLwsp() <= 0) return -1;
    }
    if (this.p.peek() !== 0x3e) {
      if (this.parseLocalPart() <= 0) return -1;
      if (this.p.peek() === 0x40) {
        if (this.parseDomain() <= 0) return -1;
      }
    }
    if (this.p.peek() !== 0x3e) return -1;
    this.p.pos++;
    return this.p.skipLwsp();
  }

  private parseNameAddr(): number {
    const out = { s: '' };
    if (this.p.parsePhrase(out) <= 0 || this.p.peek() !== 0x3c) return -1;
    this.addr.name = out.s === '' ? undefined : out.s;
    if (this.parseAngleAddr() < 0) {
      if (this.fillMissing) this.addr.domain = 'SYNTAX_ERROR';
      this.addr.invalidSyntax = true;
    }
    return this.p.atEnd ? 0 : 1;
  }

  private parseAddrSpec(): number {
    let ret2 = -2;
    this.p.lastComment = '';
    this.localStr = '';
    const quoted = this.p.peek() === 0x22;
    let ret = this.parseLocalPart();
    if (ret <= 0) this.addr.invalidSyntax = true;
    if (ret !== 0 && !this.p.atEnd && this.p.peek() === 0x40) {
      ret2 = this.parseDomain();
      if (ret2 <= 0) ret = ret2;
    }
    if (this.p.lastComment !== null && this.p.lastComment.length > 0) {
      this.addr.name = this.p.lastComment;
    } else if (ret2 === -2) {
      // "user" alone is a mailbox; "user more words" is a display name
      const out = { s: this.localStr + ' ' };
      const origLen = out.s.length;
      this.p.parsePhrase(out);
      if (out.s.length !== origLen) {
        this.addr.mailbox = undefined;
        this.addr.name = out.s;
      } else if (!quoted) {
        this.addr.domain = '';
      }
      this.addr.invalidSyntax = true;
      ret = -1;
    }
    return ret;
  }

  addFixed(): void {
    if (this.addr.mailbox === undefined) {
      this.addr.mailbox = this.fillMissing ? 'MISSING_MAILBOX' : '';
      this.addr.invalidSyntax = true;
    }
    if (this.addr.domain === undefined || this.addr.domain === '') {
      this.addr.domain = this.fillMissing ? 'MISSING_DOMAIN' : '';
      this.addr.invalidSyntax = true;
    }
    this.add();
  }

  private parseMailbox(): number {
    const start = this.p.pos;
    let ret = this.parseNameAddr();
    if (ret < 0) {
      this.p.pos = start;
      this.addr = {};
      ret = this.parseAddrSpec();
      if (this.addr.invalidSyntax && this.addr.name === undefined && this.addr.mailbox !== undefined && this.addr.domain === undefined) {
        this.addr.name = this.addr.mailbox;
        this.addr.mailbox = undefined;
      }
    }
    if (ret < 0) this.addr.invalidSyntax = true;
    this.addFixed();
    return ret;
  }

  private parseGroup(): number {
    const out = { s: '' };
    if (this.p.parsePhrase(out) <= 0 || this.p.peek() !== 0x3a) return -1;
    this.p.pos++;
    let ret = this.p.skipLwsp();
    if (ret <= 0) this.addr.invalidSyntax = true;
    this.addr.mailbox = out.s;
    this.add();
    if (ret > 0 && this.p.peek() !== 0x3b) {
      for (;;) {
        this.parseMailbox();
        if (this.p.atEnd || this.p.peek() !== 0x2c) break;
        this.p.pos++;
        if (this.p.skipLwsp() <= 0) {
          ret = -1;
          break;
        }
      }
    }
    if (ret >= 0) {
      if (this.p.atEnd || this.p.peek() !== 0x3b) ret = -1;
      else {
        this.p.pos++;
        ret = this.p.skipLwsp();
      }
    }
    if (ret < 0) this.addr.invalidSyntax = true;
    this.add();
    return ret === 0 ? 0 : 1;
  }

  private parseAddress(): number {
    const start = this.p.pos;
    const ret = this.parseGroup();
    if (ret >= 0) return ret;
    this.p.pos = start;
    this.addr = {};
    return this.parseMailbox();
  }

  parseList(max: number): void {
    while (max-- > 0) {
      if (this.parseAddress() === 0) break;
      if (this.p.atEnd || this.p.peek() !== 0x2c) break;
      this.p.pos++;
      const ret = this.p.skipLwsp();
      if (ret <= 0) {
        if (ret < 0) this.addFixed();
        break;
      }
    }
  }
}

/**
 * Parses an address-list field value. fillMissing gives Dovecot's MESSAGE_ADDRESS_PARSE_FLAG_FILL_MISSING
 * placeholders (MISSING_MAILBOX, MISSING_DOMAIN, INVALID_ROUTE, SYNTAX_ERROR) used by ENVELOPE and SEARCH.
 */
export function parseAddressList(value: string, fillMissing = true, max = Number.MAX_SAFE_INTEGER): MessageAddress[] {
  const ap = new AddressParser(value, fillMissing);
  if (ap.p.skipLwsp() > 0) ap.parseList(max);
  return ap.list;
}

const ESCAPED = (c: number): boolean => c === 0x22 || c === 0x5c || c === 0x27;

/** Quotes with "" (escaping '"', '\' and "'") when the string is not all atext. */
function appendMaybeEscape(s: string, escapeDot: boolean): string {
  let needQuote = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (!isAtext(c) && (escapeDot || c !== 0x2e)) {
      needQuote = true;
      break;
    }
  }
  if (!needQuote) return s;
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    if (ESCAPED(s.charCodeAt(i))) out += '\\';
    out += s[i];
  }
  return out + '"';
}

/** message_address_write(): the list back as header text (used to normalize SEARCH FROM/TO/CC/BCC). */
export function writeAddressList(list: MessageAddress[]): string {
  let str = '';
  if (list.length === 0) return str;
  const a0 = list[0]!;
  if (a0.mailbox === undefined && a0.domain === undefined) return '<>';
  let first = true;
  let inGroup = false;
  for (const addr of list) {
    if (first) first = false;
    else str += ', ';
    if (addr.domain === undefined) {
      if (!inGroup) {
        if (addr.mailbox !== undefined && addr.mailbox !== '') {
          str += addr.mailbox.includes('=?') ? addr.mailbox : appendMaybeEscape(addr.mailbox, true);
        } else {
          str += '""';
        }
        str += ': ';
        first = true;
      } else {
        if (str.endsWith(', ')) str = str.slice(0, -2);
        else if (str.endsWith(': ')) str = str.slice(0, -1);
        str += ';';
      }
      inGroup = !inGroup;
    } else {
      const mailbox = addr.mailbox ?? '';
      if (addr.name !== undefined) {
        str += addr.name.includes('=?') ? addr.name : appendMaybeEscape(addr.name, true);
      }
      if (addr.route !== undefined || mailbox !== '' || addr.domain !== '') {
        if (addr.name !== undefined && addr.name !== '') str += ' ';
        str += '<';
        if (addr.route !== undefined) str += addr.route + ':';
        str += mailbox === '' ? '""' : appendMaybeEscape(mailbox, false);
        if (addr.domain !== '') str += '@' + addr.domain;
        str += '>';
      }
    }
  }
  return str;
}
