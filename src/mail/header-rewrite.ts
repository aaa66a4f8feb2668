// What Postfix's cleanup(8) does to the header of mail from clients that match
// local_header_rewrite_clients (postconf(5); ADDRESS_REWRITING_README "To rewrite message
// headers or not"): qualify unqualified addresses in address headers with @$myorigin
// (append_at_myorigin), and add the Message-Id:, Date: and From: headers a message lacks
// (after the existing headers, in that order). Other clients' headers are left alone.

/** Headers whose addresses are qualified (cleanup's address header list). */
const ADDRESS_HEADERS = new Set([
  'from',
  'sender',
  'reply-to',
  'to',
  'cc',
  'bcc',
  'apparently-to',
  'errors-to',
  'return-receipt-to',
  'disposition-notification-to',
  'resent-from',
  'resent-sender',
  'resent-reply-to',
  'resent-to',
  'resent-cc',
  'resent-bcc',
]);

export interface HeaderRewrite {
  /** Domain appended to unqualified addresses ($myorigin). */
  myorigin: string;
  /** For the added Message-Id: (<YYYYMMDDhhmmss.QUEUEID@myhostname>). */
  myhostname: string;
  queueId: string;
  /** Envelope sender: the added From: ('' adds none). */
  sender: string;
  /** The added Date: value (as in Received:). */
  date: string;
  now: Date;
}

/** Where the header block ends in LF-terminated content: the offset after the empty line, or of the first non-header line; undefined while it has not ended. */
export function headerEnd(data: Buffer): { end: number; body: number } | undefined {
  let pos = 0;
  while (pos < data.length) {
    const lf = data.indexOf(0x0a, pos);
    if (lf < 0) return undefined;
    const len = lf - pos - (lf > pos && data[lf - 1] === 0x0d ? 1 : 0);
    if (len === 0) return { end: pos, body: lf + 1 };
    const first = data[pos];
    if (first !== 0x20 && first !== 0x09) {
      // a field name then ':' (RFC 5322 §2.2); anything else starts the body (Postfix cleanup)
      let i = pos;
      while (i < lf && data[i] >= 0x21 && data[i] <= 0x7e && data[i] !== 0x3a) i++;
      if (i === pos || data[i] !== 0x3a) {
        // tolerate WSP between the name and the colon
        let j = i;
        while (j < lf && (data[j] === 0x20 || data[j] === 0x09)) j++;
        if (i === pos || data[j] !== 0x3a) return { end: pos, body: pos };
      }
    }
    pos = lf + 1;
  }
  return undefined;
}

/**
 * Positions in `v` that are outside quoted strings and comments (and, with `angles`, outside
 * <...>), for splitting an address list (RFC 5322 §3.4).
 */
function topLevel(v: string, angles: boolean): boolean[] {
  const top: boolean[] = [];
  let depth = 0;
  let quoted = false;
  let angle = false;
  for (let i = 0; i < v.length; i++) {
    const ch = v[i];
    top[i] = !quoted && depth === 0 && !(angles && angle);
    if (quoted) {
      if (ch === '\\') top[++i] = false;
      else if (ch === '"') quoted = false;
    } else if (depth > 0) {
      if (ch === '\\') top[++i] = false;
      else if (ch === '(') depth++;
      else if (ch === ')') depth--;
    } else if (ch === '"') quoted = true;
    else if (ch === '(') {
      depth = 1;
      top[i] = false;
    } else if (ch === '<') angle = true;
    else if (ch === '>') angle = false;
  }
  return top;
}

/** One mailbox (or group member): `<user>` or a bare `user` gets @origin. */
function qualifyMailbox(item: string, origin: string): string {
  const top = topLevel(item, false);
  const lt = item.split('').findIndex((c, i) => c === '<' && top[i]);
  if (lt >= 0) {
    const gt = item.indexOf('>', lt);
    if (gt < 0) return item;
    const inner = item.slice(lt + 1, gt).trim();
    // an empty <> or a source route (<@a:b>) stays as it is
    if (!inner || inner.includes('@')) return item;
    return `${item.slice(0, lt + 1)}${inner}@${origin}${item.slice(gt)}`;
  }
  // a bare addr-spec: the one word outside comments
  const bare = item
    .split('')
    .map((c, i) => (top[i] ? c : ' '))
    .join('')
    .trim();
  if (!/^[^\s"<>()@,;:\\[\]]+$/.test(bare)) return item;
  const at = item.split('').findIndex((_c, i) => top[i] && item.startsWith(bare, i));
  return at < 0 ? item : `${item.slice(0, at + bare.length)}@${origin}${item.slice(at + bare.length)}`;
}

/** Qualify unqualified addresses in one address header's value (folding and comments kept). */
export function qualifyAddresses(value: string, origin: string): string {
  const top = topLevel(value, true);
  let out = '';
  let start = 0;
  const flush = (end: number) => {
    let item = value.slice(start, end);
    // a group: "name:" before the first member
    const t = topLevel(item, true);
    const colon = item.split('').findIndex((c, i) => c === ':' && t[i]);
    if (colon >= 0) {
      out += item.slice(0, colon + 1);
      item = item.slice(colon + 1);
    }
    out += qualifyMailbox(item, origin);
  };
  for (let i = 0; i < value.length; i++) {
    if (top[i] && (value[i] === ',' || value[i] === ';')) {
      flush(i);
      out += value[i];
      start = i + 1;
    }
  }
  flush(value.length);
  return out;
}

/** `20261128232135` in local time, as in Postfix's generated Message-Id (cleanup uses localtime). */
function stamp(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

/**
 * Rewrite a header block (LF line ends, without the empty line that ends it) for a
 * local_header_rewrite_clients client. Returns the new block, ending in LF when not empty.
 */
export function rewriteHeaderBlock(block: string, r: HeaderRewrite): string {
  const lines = block === '' ? [] : block.replace(/\n$/, '').split('\n');
  // group physical lines into fields
  const fields: string[] = [];
  for (const l of lines) {
    if ((l[0] === ' ' || l[0] === '\t') && fields.length > 0) fields[fields.length - 1] += '\n' + l;
    else fields.push(l);
  }
  const present = new Set<string>();
  const out = fields.map((f) => {
    const colon = f.indexOf(':');
    if (colon <= 0) return f;
    const name = f.slice(0, colon).trim().toLowerCase();
    present.add(name);
    if (!ADDRESS_HEADERS.has(name)) return f;
    return f.slice(0, colon + 1) + qualifyAddresses(f.slice(colon + 1), r.myorigin);
  });
  if (!present.has('message-id')) out.push(`Message-Id: <${stamp(r.now)}.${r.queueId}@${r.myhostname}>`);
  if (!present.has('date')) out.push(`Date: ${r.date}`);
  if (!present.has('from') && r.sender !== '') out.push(`From: ${r.sender.includes('@') ? r.sender : `${r.sender}@${r.myorigin}`}`);
  return out.length ? out.join('\n') + '\n' : '';
}
