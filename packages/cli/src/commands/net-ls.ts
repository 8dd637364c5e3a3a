import type { NetworkSpec } from '@vxnet/common';
import type { LeaseView } from '@vxnet/common/api';
import { call, resolveController, type ControllerFlags } from '../controller-client.js';
import { shortId, timeAgo } from '../format.js';
import { print, printJson, table } from '../output.js';

export interface NetLsFlags {
  json?: boolean;
  quiet?: boolean;
}

/**
 * `vxnet net ls [-q] [--json]`: the networks, sorted by name. HOSTS counts the hosts
 * holding a subnet lease on each network (one extra call for all networks, none with
 * -q or --json).
 */
export async function netLsCommand(flags: NetLsFlags, conn: ControllerFlags): Promise<number> {
  const target = resolveController(conn);
  if (flags.quiet || flags.json) {
    const { networks } = await call<{ networks: NetworkSpec[] }>(target, 'GET', '/v1/networks');
    if (flags.json) printJson(networks);
    else if (networks.length > 0) print(networks.map((n) => shortId(n.id)).join('\n'));
    return 0;
  }
  const [{ networks }, { leases }] = await Promise.all([
    call<{ networks: NetworkSpec[] }>(target, 'GET', '/v1/networks'),
    call<{ leases: LeaseView[] }>(target, 'GET', '/v1/leases'),
  ]);
  const hosts = new Map<string, Set<string>>();
  for (const l of leases) hosts.set(l.networkId, (hosts.get(l.networkId) ?? new Set()).add(l.host));
  const now = Date.now();
  print(table(
    ['NETWORK ID', 'NAME', 'DRIVER', 'SUBNET', 'VNI', 'MTU', 'HOSTS', 'CREATED'],
    networks.map((n) => [
      shortId(n.id), n.name, n.driver, n.subnet, String(n.vni), n.mtu === null ? 'auto' : String(n.mtu),
      String(hosts.get(n.id)?.size ?? 0), timeAgo(n.createdAt, now),
    ]),
  ));
  return 0;
}
