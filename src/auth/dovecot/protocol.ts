// Shared pieces of Dovecot's auth-client protocol (version 1.x): TAB-separated lines
// ending in LF; values escaped with \001 (Dovecot 2.3 str_tabescape: \001 → \0011,
// TAB → \001t, CR → \001r, LF → \001n).
import type { Socket } from 'node:net';

export const AUTH_PROTOCOL_MAJOR = 1;
export const AUTH_PROTOCOL_MINOR = 2;
/** Longest line either side accepts (Dovecot: AUTH_CLIENT_MAX_LINE_LENGTH 8192; initial responses can be long). */
export const MAX_LINE_LENGTH = 16384;

export function tabEscape(s: string): string {
  return s.replace(/[\x01\t\r\n]/g, (c) => (c === '\x01' ? '\x011' : c === '\t' ? '\x01t' : c === '\r' ? '\x01r' : '\x01n'));
}

export function tabUnescape(s: string): string {
  return s.replace(/\x01(.)/g, (_m, c: string) => (c === '1' ? '\x01' : c === 't' ? '\t' : c === 'r' ? '\r' : c === 'n' ? '\n' : c));
}

/** `key=value` and bare-flag arguments of AUTH/OK/FAIL lines. */
export function parseArgs(fields: string[]): { values: Map<string, string>; flags: Set<string> } {
  const values = new Map<string, string>();
  const flags = new Set<string>();
  for (const f of fields) {
    const eq = f.indexOf('=');
    if (eq < 0) flags.add(f);
    else values.set(f.slice(0, eq), tabUnescape(f.slice(eq + 1)));
  }
  return { values, flags };
}

/**
 * Split a socket's input into lines (LF, optional CR before it). Calls `onOverflow` and
 * stops when a line exceeds `maxLength`.
 */
export function readLines(socket: Socket, onLine: (line: string) => void, onOverflow: () => void, maxLength = MAX_LINE_LENGTH): void {
  let buf = '';
  let stopped = false;
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    if (stopped) return;
    buf += chunk;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      let line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (line.length > maxLength) {
        stopped = true;
        onOverflow();
        return;
      }
      if (line.endsWith('\r')) line = line.slice(0, -1);
      onLine(line);
      if (stopped || socket.destroyed) return;
    }
    if (buf.length > maxLength) {
      stopped = true;
      onOverflow();
    }
  });
}
