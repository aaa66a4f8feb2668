// A minimal FETCH responder over the message engine, enough to replay the recorded commands:
// it renders "* n FETCH (...)" the way Dovecot does for the attributes the engine covers.

import {
  applyPartial,
  binarySize,
  bodyStructure,
  envelope,
  fetchBinary,
  fetchSection,
  parseSection,
  type MessageStructure,
} from '../../../src/imap/message/index.js';

export interface Rendered {
  response: Buffer;
  status: string;
}

/** Splits a FETCH attribute list "(A B[x y] C)" into items, keeping brackets together. */
export function splitAttributes(list: string): string[] {
  const s = list.replace(/^\(/, '').replace(/\)$/, '');
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of s) {
    if (ch === '[' || ch === '(') depth++;
    if (ch === ']' || ch === ')') depth--;
    if (ch === ' ' && depth === 0) {
      if (cur !== '') out.push(cur);
      cur = '';
    } else cur += ch;
  }
  if (cur !== '') out.push(cur);
  return out;
}

function literal(name: string, data: Buffer, literal8 = false): Buffer {
  return Buffer.concat([Buffer.from(`${name} ${literal8 ? '~' : ''}{${data.length}}\r\n`, 'latin1'), data]);
}

export function renderFetch(seq: number, uid: number, raw: Buffer, ms: MessageStructure, attrs: string[]): Rendered {
  const items: Buffer[] = [];
  for (const attr of attrs) {
    const up = attr.toUpperCase();
    if (up === 'UID') {
      items.push(Buffer.from(`UID ${uid}`));
      continue;
    }
    if (up === 'RFC822.SIZE') {
      items.push(Buffer.from(`RFC822.SIZE ${raw.length}`));
      continue;
    }
    if (up === 'ENVELOPE') {
      items.push(Buffer.concat([Buffer.from('ENVELOPE '), envelope(ms, raw)]));
      continue;
    }
    if (up === 'BODYSTRUCTURE' || up === 'BODY') {
      items.push(Buffer.concat([Buffer.from(up + ' '), bodyStructure(ms, raw, up === 'BODYSTRUCTURE')]));
      continue;
    }
    let m = /^BODY(?:\.PEEK)?\[(.*)\](?:<(\d+)\.(\d+)>)?$/is.exec(attr);
    if (m !== null) {
      const spec = parseSection(m[1]!);
      if (spec === undefined) return { response: Buffer.alloc(0), status: 'BAD' };
      let data = fetchSection(raw, ms, spec);
      let name = `BODY[${m[1]}]`;
      if (m[2] !== undefined) {
        data = applyPartial(data, Number(m[2]), Number(m[3]));
        name += `<${m[2]}>`;
      }
      items.push(literal(name, data));
      continue;
    }
    m = /^BINARY\.SIZE\[(.*)\]$/i.exec(attr);
    if (m !== null) {
      const path = m[1] === '' ? [] : m[1]!.split('.').map(Number);
      // the recordings include Dovecot's LF/CRLF offset slip (014 BINARY.SIZE[1]); facteur's default is the real size
      const r = binarySize(raw, ms, path, { dovecotRange: true });
      if ('error' in r) {
        return { response: Buffer.from(`* ${seq} FETCH (UID ${uid})\r\n`), status: `NO [${r.error}] ${r.text}` };
      }
      items.push(Buffer.from(`BINARY.SIZE[${m[1]}] ${r.size}`));
      continue;
    }
    m = /^BINARY(?:\.PEEK)?\[(.*)\]$/i.exec(attr);
    if (m !== null) {
      const path = m[1] === '' ? [] : m[1]!.split('.').map(Number);
      const r = fetchBinary(raw, ms, path);
      if ('error' in r) {
        return { response: Buffer.from(`* ${seq} FETCH (UID ${uid})\r\n`), status: `NO [${r.error}] ${r.text}` };
      }
      items.push(literal(`BINARY[${m[1]}]`, r.data, r.literal8));
      continue;
    }
    throw new Error(`attribute not covered: ${attr}`);
  }
  const parts: Buffer[] = [Buffer.from(`* ${seq} FETCH (`)];
  items.forEach((it, i) => {
    if (i > 0) parts.push(Buffer.from(' '));
    parts.push(it);
  });
  parts.push(Buffer.from(')\r\n'));
  return { response: Buffer.concat(parts), status: 'OK Fetch completed' };
}
