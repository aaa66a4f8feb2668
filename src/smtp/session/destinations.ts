// Where the content of a transaction goes: local mailboxes (one copy per mailbox and
// Delivered-To address) and the outbound queue (remote recipients, remote alias targets with
// ORCPT naming the original recipient, and local recipients that asked for NOTIFY=SUCCESS,
// whose delivery notification the queue produces).
import type { BatchRecipient } from '../../delivery/batch.js';
import type { Routing } from '../../delivery/resolve.js';
import type { DsnRecipient } from '../../queue/types.js';
import type { RcptParams } from './envelope.js';

export interface RoutedRecipient {
  /** As the client gave it (internal form). */
  address: string;
  routing: Routing & { status: 'local' | 'remote' };
  params: RcptParams;
}

export function splitDestinations(
  recipients: RoutedRecipient[],
  qualify: (a: string) => string,
  haveQueue: boolean,
): { local: BatchRecipient[]; remote: DsnRecipient[] } {
  const local: BatchRecipient[] = [];
  const remote = new Map<string, DsnRecipient>();
  const seen = new Set<string>();
  for (const r of recipients) {
    const notify = r.params.notify;
    if (r.routing.status === 'remote') {
      if (!remote.has(r.address)) remote.set(r.address, { address: qualify(r.address), orcpt: r.params.orcpt, notify });
      continue;
    }
    if (haveQueue && notify?.includes('SUCCESS')) {
      remote.set(r.address, { address: qualify(r.address), orcpt: r.params.orcpt ?? `rfc822;${r.address}`, notify });
      continue;
    }
    for (const target of r.routing.targets) {
      const key = `${target.kind}:${target.path}:${target.deliveredTo}`;
      if (seen.has(key)) continue;
      seen.add(key);
      local.push({ original: r.address, target });
    }
    for (const f of r.routing.forwards) {
      if (!remote.has(f)) remote.set(f, { address: f, orcpt: r.params.orcpt ?? `rfc822;${qualify(r.address)}`, notify });
    }
  }
  return { local, remote: [...remote.values()] };
}
