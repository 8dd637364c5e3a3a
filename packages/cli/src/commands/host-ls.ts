import type { HostView } from '@vxnet/common/api';
import { call, resolveController, type ControllerFlags } from '../controller-client.js';
import { timeAgo } from '../format.js';
import { print, printJson, table } from '../output.js';

/** `vxnet host ls [--json]`: every host that ever registered, alive or dead. */
export async function hostLsCommand(flags: { json?: boolean }, conn: ControllerFlags): Promise<number> {
  const { hosts } = await call<{ hosts: HostView[] }>(resolveController(conn), 'GET', '/v1/hosts');
  if (flags.json) {
    printJson(hosts);
    return 0;
  }
  const now = Date.now();
  print(table(
    ['NAME', 'UNDERLAY IP', 'STATE', 'AGENT', 'NETWORKS', 'LAST SEEN'],
    hosts.map((h) => [h.name, h.underlayIp, h.state, h.agentVersion, h.networks.length ? h.networks.join(',') : '-', timeAgo(h.lastSeen, now)]),
  ));
  return 0;
}
