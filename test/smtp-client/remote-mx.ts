// A remote MX on loopback for tests: smtp-server@3.21.6 with a self-signed certificate,
// recording every accepted message with its envelope parameters, with scripted
// replies (reject a recipient, defer once, stall) and switchable extensions.
import { mkdtempSync } from 'node:fs';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SMTPServer, type SMTPServerAddress, type SMTPServerSession } from 'smtp-server';
import { ensureSelfSigned } from '../../src/server/tls.js';

export interface RecordedMessage {
  from: string;
  mailArgs: Record<string, unknown>;
  rcpts: Array<{ address: string; args: Record<string, unknown> }>;
  data: Buffer;
  secure: boolean;
  user?: string;
}

export type Reply = { code: number; message: string } | undefined;

export interface RemoteMxOptions {
  /** Reply for a recipient (undefined: accept). */
  rcpt?: (address: string, n: number) => Reply;
  /** Reply at the end of data (undefined: accept). */
  data?: (m: RecordedMessage, n: number) => Reply;
  /** Wait this long (ms) before answering RCPT for an address (stall a delivery). */
  stallRcpt?: (address: string) => number;
  hide?: Array<'STARTTLS' | 'PIPELINING' | '8BITMIME' | 'SMTPUTF8' | 'DSN'>;
  size?: number;
  /** Require AUTH with these credentials. */
  auth?: { user: string; pass: string };
}

let certs: { key: Buffer; cert: Buffer } | undefined;
function tlsFiles(): { key: Buffer; cert: Buffer } {
  if (!certs) {
    const dir = mkdtempSync(join(tmpdir(), 'facteur-mx-cert-'));
    const f = ensureSelfSigned(dir, 'mx.remote.test');
    certs = { key: readFileSync(f.key), cert: readFileSync(f.cert) };
  }
  return certs;
}

export interface RemoteMx {
  port: number;
  messages: RecordedMessage[];
  /** connections accepted */
  connections: number;
  /** most simultaneous connections seen */
  maxConcurrent: number;
  close(): Promise<void>;
}

function err(r: NonNullable<Reply>): Error {
  const e = new Error(r.message) as Error & { responseCode: number };
  e.responseCode = r.code;
  return e;
}

export async function startRemoteMx(opts: RemoteMxOptions = {}): Promise<RemoteMx> {
  const { key, cert } = tlsFiles();
  const messages: RecordedMessage[] = [];
  let rcptCount = 0;
  let dataCount = 0;
  let open = 0;
  const state: RemoteMx = {
    port: 0,
    messages,
    connections: 0,
    maxConcurrent: 0,
    close: async () => {},
  };
  const hide = new Set(opts.hide ?? []);
  const server = new SMTPServer({
    key,
    cert,
    name: 'mx.remote.test',
    banner: 'mx.remote.test ESMTP test',
    authOptional: !opts.auth,
    authMethods: ['PLAIN', 'LOGIN'],
    allowInsecureAuth: false,
    hideSTARTTLS: hide.has('STARTTLS'),
    hidePIPELINING: hide.has('PIPELINING'),
    hide8BITMIME: hide.has('8BITMIME'),
    hideSMTPUTF8: hide.has('SMTPUTF8'),
    hideDSN: hide.has('DSN'),
    hideENHANCEDSTATUSCODES: true,
    size: opts.size ?? 0,
    logger: false,
    onConnect(_s, cb) {
      state.connections++;
      open++;
      state.maxConcurrent = Math.max(state.maxConcurrent, open);
      cb();
    },
    onClose() {
      open--;
    },
    onAuth(auth, _session, cb) {
      if (opts.auth && auth.username === opts.auth.user && auth.password === opts.auth.pass) return cb(null, { user: auth.username });
      cb(err({ code: 535, message: '5.7.8 Error: authentication failed' }));
    },
    onRcptTo(address: SMTPServerAddress, _session: SMTPServerSession, cb: (e?: Error | null) => void) {
      const n = rcptCount++;
      const answer = () => {
        const r = opts.rcpt?.(address.address, n);
        cb(r ? err(r) : null);
      };
      const stall = opts.stallRcpt?.(address.address) ?? 0;
      if (stall > 0) setTimeout(answer, stall);
      else answer();
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const env = session.envelope;
        const m: RecordedMessage = {
          from: env.mailFrom ? env.mailFrom.address : '',
          mailArgs: (env.mailFrom && (env.mailFrom.args as Record<string, unknown>)) || {},
          rcpts: env.rcptTo.map((r) => ({ address: r.address, args: (r.args as Record<string, unknown>) || {} })),
          data: Buffer.concat(chunks),
          secure: session.secure,
          user: session.user as string | undefined,
        };
        const r = opts.data?.(m, dataCount++);
        if (r) return cb(err(r));
        messages.push(m);
        cb(null, '2.0.0 Ok: queued as REMOTE' + messages.length);
      });
    },
  });
  server.on('error', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  state.port = (server.server.address() as AddressInfo).port;
  state.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return state;
}
