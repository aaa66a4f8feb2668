// The client's names as Postfix smtpd computes them (smtpd_peer.c):
//   reverse_client_name: the PTR name of the address (unverified), or "unknown";
//   client_name: that name only when it resolves back to the client address
//   (forward-confirmed reverse DNS), or "unknown".
// Each comes with a status: ok, temp (a lookup failed temporarily: reject_unknown_* answer
// 450 whatever unknown_client_reject_code says) or perm.
import type { Resolver } from '../../dns/resolver.js';
import { ipToBytes } from '../../config/values.js';
import { validHostname } from './address.js';

export type NameStatus = 'ok' | 'temp' | 'perm';

export interface ClientNames {
  clientName: string;
  reverseClientName: string;
  nameStatus: NameStatus;
  reverseNameStatus: NameStatus;
}

function sameAddress(a: string, b: string): boolean {
  const x = ipToBytes(a);
  const y = ipToBytes(b);
  if (!x || !y) return false;
  const v4 = (z: Uint8Array) => (z.length === 16 && z.slice(0, 10).every((n) => n === 0) && z[10] === 0xff && z[11] === 0xff ? z.slice(12) : z);
  const p = v4(x);
  const q = v4(y);
  return p.length === q.length && p.every((n, i) => n === q[i]);
}

export async function resolveClientNames(resolver: Resolver, ip: string): Promise<ClientNames> {
  const unknown = (s: NameStatus): ClientNames => ({ clientName: 'unknown', reverseClientName: 'unknown', nameStatus: s, reverseNameStatus: s });
  const ptr = await resolver.ptr(ip);
  if (ptr.status === 'tempfail') return unknown('temp');
  if (ptr.status !== 'ok' || ptr.records.length === 0) return unknown('perm');
  const name = ptr.records[0].replace(/\.$/, '');
  if (!validHostname(name)) return unknown('perm');
  const [a, aaaa] = await Promise.all([resolver.a(name), resolver.aaaa(name)]);
  const addrs = [...a.records, ...aaaa.records];
  if (addrs.some((x) => sameAddress(x, ip))) {
    return { clientName: name, reverseClientName: name, nameStatus: 'ok', reverseNameStatus: 'ok' };
  }
  const temp = a.status === 'tempfail' || aaaa.status === 'tempfail';
  return { clientName: 'unknown', reverseClientName: name, nameStatus: temp ? 'temp' : 'perm', reverseNameStatus: 'ok' };
}
