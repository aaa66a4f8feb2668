// Dovecot 2.3's "secured" connection (login-common: client->secured): TLS, or a client
// on the loopback, or one whose address equals the server's, or one in
// login_trusted_networks. IMAP/POP3 allow plaintext logins on secured connections even
// with disable_plaintext_auth = yes.
import { readFileSync, statSync } from 'node:fs';
import type { ConfigView } from '../config/config.js';
import { cidrContains, ipToBytes, parseCidr, splitList, type Cidr } from '../config/values.js';
import { normalizeIp } from './throttle.js';

export function isLoopbackIp(ip: string): boolean {
  const n = normalizeIp(ip);
  if (/^127\.\d+\.\d+\.\d+$/.test(n)) return true;
  const b = ipToBytes(n);
  return !!b && b.length === 16 && b.slice(0, 15).every((x) => x === 0) && b[15] === 1;
}

function sameIp(a: string, b: string): boolean {
  const x = ipToBytes(normalizeIp(a));
  const y = ipToBytes(normalizeIp(b));
  return !!x && !!y && x.length === y.length && x.every((v, i) => v === y[i]);
}

export function isSecuredConnection(view: ConfigView, conn: { remoteIp: string; localIp?: string; tls: boolean }): boolean {
  if (conn.tls) return true;
  if (isLoopbackIp(conn.remoteIp)) return true;
  if (conn.localIp && sameIp(conn.remoteIp, conn.localIp)) return true;
  for (const item of view.networks('login_trusted_networks')) {
    if (item.kind === 'cidr' && cidrContains(item.cidr, conn.remoteIp)) return true;
    if (item.kind === 'file' && networksInFile(item.path).some((c) => cidrContains(c, conn.remoteIp))) return true;
  }
  return false;
}

/** A /file/name of networks (one or more per line, # comments), re-read when it changes. */
const fileCache = new Map<string, { mtimeMs: number; size: number; cidrs: Cidr[] }>();
function networksInFile(path: string): Cidr[] {
  try {
    const st = statSync(path);
    const hit = fileCache.get(path);
    if (hit && hit.mtimeMs === st.mtimeMs && hit.size === st.size) return hit.cidrs;
    const cidrs: Cidr[] = [];
    for (const line of readFileSync(path, 'utf8').split('\n')) {
      for (const t of splitList(line.replace(/#.*/, ''))) {
        try {
          cidrs.push(parseCidr(t));
        } catch {
          // a bad line is reported by `config check`; it trusts nobody
        }
      }
    }
    fileCache.set(path, { mtimeMs: st.mtimeMs, size: st.size, cidrs });
    return cidrs;
  } catch {
    return [];
  }
}

/** Dovecot's disable_plaintext_auth rule: may this connection use LOGIN / USER+PASS / PLAIN? */
export function plaintextAuthAllowed(view: ConfigView, conn: { remoteIp: string; localIp?: string; tls: boolean }): boolean {
  return !view.bool('disable_plaintext_auth') || isSecuredConnection(view, conn);
}
