// MAIL FROM and RCPT TO parameters with Postfix's replies: SIZE (RFC 1870), BODY (RFC 6152),
// SMTPUTF8 (RFC 6531), AUTH= (RFC 4954 §5), RET/ENVID/NOTIFY/ORCPT (RFC 3461).
import { uxtextDecode, xtextDecode } from '../../mail/smtp-address.js';
import { reply, type SmtpReply } from '../protocol/reply.js';

export interface MailParams {
  body?: '7BIT' | '8BITMIME';
  size?: number;
  smtputf8: boolean;
  ret?: 'FULL' | 'HDRS';
  envid?: string;
  /** AUTH=<mailbox> as given (decoded), '' for AUTH=<>. */
  auth?: string;
}

export interface RcptParams {
  notify?: string[];
  /** `type;address` decoded. */
  orcpt?: string;
}

export interface ParamContext {
  smtputf8: boolean;
  dsn: boolean;
}

type Result<T> = { ok: true; value: T } | { ok: false; reply: SmtpReply };

/** SMTPUTF8 decides which address syntax is allowed, so it is looked for first (as Postfix does). */
export function declaresSmtputf8(params: string[], ctx: ParamContext): boolean {
  return ctx.smtputf8 && params.some((p) => p.toUpperCase() === 'SMTPUTF8');
}

const UNSUPPORTED = (p: string) => reply(555, '5.5.4', `Unsupported option: ${p}`);
const DSN_DISABLED = reply(501, '5.7.1', 'DSN support is disabled');

export function parseMailParams(params: string[], ctx: ParamContext): Result<MailParams> {
  const out: MailParams = { smtputf8: false };
  for (const p of params) {
    const eq = p.indexOf('=');
    const key = (eq < 0 ? p : p.slice(0, eq)).toUpperCase();
    const value = eq < 0 ? undefined : p.slice(eq + 1);
    if (key === 'BODY' && value !== undefined && /^(8BITMIME|7BIT)$/i.test(value)) {
      out.body = value.toUpperCase() as MailParams['body'];
    } else if (key === 'SIZE' && value !== undefined) {
      if (!/^\d+$/.test(value)) return { ok: false, reply: reply(501, '5.5.4', 'Bad message size syntax') };
      const n = Number(value);
      if (!Number.isSafeInteger(n)) return { ok: false, reply: reply(552, '5.3.4', 'Message size exceeds file system imposed limit') };
      out.size = n;
    } else if (key === 'SMTPUTF8' && value === undefined && ctx.smtputf8) {
      out.smtputf8 = true;
    } else if (key === 'AUTH' && value !== undefined) {
      if (out.auth !== undefined) return { ok: false, reply: reply(503, '5.5.4', 'Error: multiple AUTH= options') };
      const v = value === '<>' ? '' : xtextDecode(value);
      if (v === undefined) return { ok: false, reply: reply(501, '5.5.4', 'Bad AUTH parameter syntax') };
      out.auth = v;
    } else if (key === 'RET' && value !== undefined) {
      if (!ctx.dsn) return { ok: false, reply: DSN_DISABLED };
      const v = value.toUpperCase();
      if (out.ret || (v !== 'FULL' && v !== 'HDRS')) return { ok: false, reply: reply(501, '5.5.4', 'Bad RET parameter syntax') };
      out.ret = v;
    } else if (key === 'ENVID' && value !== undefined) {
      if (!ctx.dsn) return { ok: false, reply: DSN_DISABLED };
      const v = xtextDecode(value);
      if (out.envid !== undefined || v === undefined || !/^[\x20-\x7e]*$/.test(v)) return { ok: false, reply: reply(501, '5.5.4', 'Bad ENVID parameter syntax') };
      out.envid = v;
    } else return { ok: false, reply: UNSUPPORTED(p) };
  }
  return { ok: true, value: out };
}

export function parseRcptParams(params: string[], ctx: ParamContext): Result<RcptParams> {
  const out: RcptParams = {};
  for (const p of params) {
    const eq = p.indexOf('=');
    const key = (eq < 0 ? p : p.slice(0, eq)).toUpperCase();
    const value = eq < 0 ? undefined : p.slice(eq + 1);
    if (key === 'NOTIFY' && value !== undefined) {
      if (!ctx.dsn) return { ok: false, reply: DSN_DISABLED };
      const items = value.toUpperCase().split(',');
      const valid =
        items.length > 0 &&
        new Set(items).size === items.length &&
        (items.length === 1 && items[0] === 'NEVER' ? true : items.every((i) => i === 'SUCCESS' || i === 'FAILURE' || i === 'DELAY'));
      if (out.notify || !valid) return { ok: false, reply: reply(501, '5.5.4', 'Error: Bad NOTIFY parameter syntax') };
      out.notify = items;
    } else if (key === 'ORCPT' && value !== undefined) {
      if (!ctx.dsn) return { ok: false, reply: DSN_DISABLED };
      const semi = value.indexOf(';');
      const type = semi > 0 ? value.slice(0, semi) : '';
      const addr = semi > 0 ? (type.toLowerCase() === 'utf-8' ? uxtextDecode(value.slice(semi + 1)) : xtextDecode(value.slice(semi + 1))) : undefined;
      if (out.orcpt !== undefined || !type || addr === undefined) return { ok: false, reply: reply(501, '5.5.4', 'Error: Bad ORCPT parameter syntax') };
      out.orcpt = `${type};${addr}`;
    } else return { ok: false, reply: UNSUPPORTED(p) };
  }
  return { ok: true, value: out };
}
