// FETCH ENVELOPE (RFC 3501 §7.4.2) exactly as Dovecot 2.3 writes it: encoded words passed through,
// the last of repeated fields wins, Sender and Reply-To default to From, Subject and display
// names cleaned "for humans", Date/In-Reply-To/Message-ID raw with line ends removed.

import { parseAddressList, type MessageAddress } from '../../mail/address.js';
import { fieldValue, parseHeaderBlock } from '../../mail/headers.js';
import type { MimePart } from '../../mail/mime.js';
import { headerStrdup } from '../../mail/part-data.js';
import { nstring, nstringNolf, stringForHumans } from './quote.js';

export interface EnvelopeData {
  date?: string;
  subject?: string;
  from?: MessageAddress[];
  sender?: MessageAddress[];
  replyTo?: MessageAddress[];
  to?: MessageAddress[];
  cc?: MessageAddress[];
  bcc?: MessageAddress[];
  inReplyTo?: string;
  messageId?: string;
}

const ADDRESS_FIELDS: Record<string, keyof EnvelopeData> = {
  from: 'from',
  sender: 'sender',
  'reply-to': 'replyTo',
  to: 'to',
  cc: 'cc',
  bcc: 'bcc',
};
const STRING_FIELDS: Record<string, keyof EnvelopeData> = {
  date: 'date',
  subject: 'subject',
  'in-reply-to': 'inReplyTo',
  'message-id': 'messageId',
};

/** Envelope fields from the header of a message part (the root, or the child of a message/rfc822). */
export function envelopeData(raw: Buffer, part: MimePart): EnvelopeData {
  const block = parseHeaderBlock(raw, part.pos, part.pos + part.headerSize);
  const env: EnvelopeData = {};
  for (const f of block.fields) {
    const lname = f.name.toLowerCase();
    const a = ADDRESS_FIELDS[lname];
    const s = STRING_FIELDS[lname];
    if (a === undefined && s === undefined) continue;
    const value = fieldValue(raw, f, { skipInitialLwsp: true, fold: 'lf' });
    if (a !== undefined) {
      const list = parseAddressList(value, true);
      // an empty list is NIL, so that Sender/Reply-To fall back to From
      (env as Record<string, MessageAddress[] | undefined>)[a] = list.length > 0 ? list : undefined;
    }
    else (env as Record<string, string>)[s!] = headerStrdup(value);
  }
  return env;
}

function writeAddresses(list: MessageAddress[] | undefined): string {
  if (list === undefined || list.length === 0) return 'NIL';
  let out = '(';
  for (const a of list) {
    out += '(' + (a.name === undefined ? 'NIL' : stringForHumans(a.name));
    out += ' ' + nstring(a.route) + ' ' + nstring(a.mailbox) + ' ' + nstring(a.domain) + ')';
  }
  return out + ')';
}

/** The parenthesized ENVELOPE contents (without the outer parentheses), latin1. */
export function writeEnvelope(env: EnvelopeData | undefined): string {
  if (env === undefined) return 'NIL NIL NIL NIL NIL NIL NIL NIL NIL NIL';
  const from = env.from;
  return [
    nstringNolf(env.date),
    env.subject === undefined ? 'NIL' : stringForHumans(env.subject),
    writeAddresses(from),
    writeAddresses(env.sender ?? from),
    writeAddresses(env.replyTo ?? from),
    writeAddresses(env.to),
    writeAddresses(env.cc),
    writeAddresses(env.bcc),
    nstringNolf(env.inReplyTo),
    nstringNolf(env.messageId),
  ].join(' ');
}

/** ENVELOPE as wire bytes: "(" ... ")". */
export function envelope(raw: Buffer, part: MimePart): Buffer {
  return Buffer.from('(' + writeEnvelope(envelopeData(raw, part)) + ')', 'latin1');
}
