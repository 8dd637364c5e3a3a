import type { LeaseView } from '@vxnet/common/api';
import { call, resolveController, type ControllerFlags } from '../controller-client.js';
import { remaining, timeAgo, utcTime } from '../format.js';
import { print, printJson, table } from '../output.js';

/** `vxnet lease ls [--net NET] [--host H] [--json]`: which host holds which subnet, until when. */
export async function leaseLsCommand(flags: { net?: string; host?: string; json?: boolean }, conn: ControllerFlags): Promise<number> {
  const query = new URLSearchParams();
  if (flags.net !== undefined) query.set('network', flags.net);
  if (flags.host !== undefined) query.set('host', flags.host);
  const qs = query.toString();
  const { leases } = await call<{ leases: LeaseView[] }>(resolveController(conn), 'GET', `/v1/leases${qs ? `?${qs}` : ''}`);
  if (flags.json) {
    printJson(leases);
    return 0;
  }
  const now = Date.now();
  print(table(
    ['NETWORK', 'SUBNET', 'HOST', 'UNDERLAY IP', 'VTEP MAC', 'EXPIRES', 'REMAINING', 'RENEWED'],
    leases.map((l) => [l.network, l.subnet, l.host, l.underlayIp, l.vtepMac, utcTime(l.expiresAt), remaining(l.remainingSeconds), timeAgo(l.renewedAt, now)]),
  ));
  return 0;
}
