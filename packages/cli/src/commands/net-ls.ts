import type { NetworkSpec } from '@vxnet/common';
import type { LeaseView } from '@vxnet/common/api';
import { call, resolveController, type ControllerFlags, type ControllerTarget } from '../controller-client.js';
import { shortId, timeAgo } from '../format.js';
import { JsonArrayStream, TableStream, print } from '../output.js';

export interface NetLsFlags {
  json?: boolean;
  quiet?: boolean;
}

/** Networks per request: the first lines show after one page, not after the whole list. */
export const NET_LS_PAGE = 200;

/**
 * `vxnet net ls [-q] [--json]`: the networks, sorted by name, printed page by page as
 * the controller sends them (GET /v1/networks?limit=&after=). HOSTS counts the hosts
 * holding a subnet lease on each network (one extra call for all networks, none with
 * -q or --json). --json prints one JSON array, streamed; a failure half-way leaves it
 * unterminated, says why on stderr and exits non-zero.
 */
export async function netLsCommand(flags: NetLsFlags, conn: ControllerFlags): Promise<number> {
  const target = resolveController(conn);
  if (flags.json) {
    const out = new JsonArrayStream();
    for await (const networks of pages(target)) out.write(networks);
    out.end();
    return 0;
  }
  if (flags.quiet) {
    for await (const networks of pages(target)) {
      if (networks.length > 0) print(networks.map((n) => shortId(n.id)).join('\n'));
    }
    return 0;
  }
  const leases = call<{ leases: LeaseView[] }>(target, 'GET', '/v1/leases');
  leases.catch(() => undefined); // awaited below; not unhandled while the first page loads
  let hosts: Map<string, Set<string>> | undefined;
  const out = new TableStream(['NETWORK ID', 'NAME', 'DRIVER', 'SUBNET', 'VNI', 'MTU', 'HOSTS', 'CREATED']);
  const now = Date.now();
  for await (const networks of pages(target)) {
    if (hosts === undefined) {
      hosts = new Map();
      for (const l of (await leases).leases) hosts.set(l.networkId, (hosts.get(l.networkId) ?? new Set()).add(l.host));
    }
    const counts = hosts;
    out.write(networks.map((n) => [
      shortId(n.id), n.name, n.driver, n.subnet, String(n.vni), n.mtu === null ? 'auto' : String(n.mtu),
      String(counts.get(n.id)?.size ?? 0), timeAgo(n.createdAt, now),
    ]));
  }
  return 0;
}

/**
 * The networks, one page at a time. A controller from before paging ignores limit and
 * sends them all at once without next: one page.
 */
async function* pages(target: ControllerTarget): AsyncGenerator<NetworkSpec[]> {
  let after: string | undefined;
  do {
    const query = `limit=${NET_LS_PAGE}${after === undefined ? '' : `&after=${encodeURIComponent(after)}`}`;
    const page = await call<{ networks: NetworkSpec[]; next?: string }>(target, 'GET', `/v1/networks?${query}`);
    yield page.networks;
    after = page.next;
  } while (after !== undefined);
}
