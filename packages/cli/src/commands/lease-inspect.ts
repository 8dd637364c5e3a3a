import { parseCidr, subnetToKey } from '@vxnet/common';
import type { LeaseDetail } from '@vxnet/common/api';
import { call, resolveController, type ControllerFlags } from '../controller-client.js';
import { remaining, timeWithAgo, utcTime } from '../format.js';
import { fields, print, printJson } from '../output.js';

/**
 * `vxnet lease inspect NET SUBNET [--json]`: one lease in full, with the store key and
 * store lease id, for checking against `etcdctl get` / `etcdctl lease timetolive`.
 * SUBNET may be written 10.1.2.0/24 or 10.1.2.0_24 (as in the store key).
 */
export async function leaseInspectCommand(network: string, subnet: string, flags: { json?: boolean }, conn: ControllerFlags): Promise<number> {
  const cidr = parseCidr(subnet.replace('_', '/'), 'subnet');
  const lease = await call<LeaseDetail>(resolveController(conn), 'GET', `/v1/leases/${encodeURIComponent(network)}/${subnetToKey(cidr.text)}`);
  if (flags.json) printJson(lease);
  else print(formatLease(lease));
  return 0;
}

export function formatLease(l: LeaseDetail, now = Date.now()): string {
  return fields([
    ['Network', l.network],
    ['Network ID', l.networkId],
    ['Subnet', l.subnet],
    ['Host', `${l.host} (${l.hostAlive ? 'alive' : 'dead'})`],
    ['Underlay IP', l.underlayIp],
    ['VTEP MAC', l.vtepMac],
    ['Acquired', timeWithAgo(l.acquiredAt, now)],
    ['Renewed', timeWithAgo(l.renewedAt, now)],
    ['Expires', `${utcTime(l.expiresAt)} (${l.remainingSeconds > 0 ? `in ${remaining(l.remainingSeconds)}` : 'expired'})`],
    ['Store key', l.key],
    ['Store lease id', l.storeLeaseId ?? 'none (not bound to a store lease)'],
    ['Mod revision', String(l.modRevision)],
  ]);
}
