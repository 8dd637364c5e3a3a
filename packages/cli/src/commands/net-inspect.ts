import type { NetworkDetail } from '@vxnet/common/api';
import { call, resolveController, type ControllerFlags } from '../controller-client.js';
import { formatKeyValues, remaining, secondsUntil, timeWithAgo } from '../format.js';
import { fields, print, printJson, table } from '../output.js';

/** `vxnet net inspect NAME|ID [--json]`: the spec, the hosts holding a subnet of it, the endpoints. */
export async function netInspectCommand(ref: string, flags: { json?: boolean }, conn: ControllerFlags): Promise<number> {
  const detail = await call<NetworkDetail>(resolveController(conn), 'GET', `/v1/networks/${encodeURIComponent(ref)}`);
  if (flags.json) printJson(detail);
  else print(formatNetworkDetail(detail));
  return 0;
}

/** The WireGuard implementations of the hosts holding a subnet, e.g. "wireguard-go on h1, h2". */
function encryptionBackends(hosts: NetworkDetail['hosts']): string {
  const by = new Map<string, string[]>();
  for (const h of hosts) {
    if (!h.alive) continue;
    const b = h.encryption ?? 'no WireGuard';
    by.set(b, [...(by.get(b) ?? []), h.host]);
  }
  if (by.size === 0) return 'no live host has joined yet';
  return [...by].map(([b, hs]) => `${b} on ${hs.join(', ')}`).join('; ');
}

export function formatNetworkDetail({ network: n, hosts }: NetworkDetail, now = Date.now()): string {
  const out: string[] = [];
  out.push(fields([
    ['ID', n.id],
    ['Name', n.name],
    ['Driver', n.driver],
    ['Subnet', n.subnet],
    ['Host subnets', `/${n.hostSubnetLength}`],
    ['VNI', String(n.vni)],
    ['MTU', n.mtu === null ? (n.encrypted ? 'auto (underlay MTU - 80 WireGuard - 50)' : 'auto (underlay MTU - 50)') : String(n.mtu)],
    ['Encrypted', n.encrypted ? `yes: VXLAN between hosts inside WireGuard (${encryptionBackends(hosts)})` : 'no'],
    ['Internal', n.internal ? 'yes: no way out of the overlay (no egress, no published ports)' : 'no: containers reach beyond the overlay through their host (masqueraded)'],
    ['Labels', formatKeyValues(n.labels)],
    ['Options', formatKeyValues(n.options)],
    ['Created', timeWithAgo(n.createdAt, now)],
  ]));
  out.push('');
  if (hosts.length === 0) {
    out.push('no host holds a subnet of this network yet');
  } else {
    out.push(table(
      ['HOST', 'SUBNET', 'GATEWAY', 'UNDERLAY IP', 'VTEP MAC', 'STATE', 'EXPIRES IN'],
      hosts.map((h) => [h.host, h.subnet, h.gateway, h.underlayIp, h.vtepMac, h.alive ? 'alive' : 'dead', remaining(secondsUntil(h.expiresAt, now))]),
    ));
  }
  out.push('');
  const endpoints = hosts.flatMap((h) => h.endpoints);
  if (endpoints.length === 0) out.push('no endpoints');
  else out.push(table(['NAME', 'IP', 'MAC', 'HOST'], endpoints.map((e) => [e.name, e.ip, e.mac, e.host])));
  return out.join('\n');
}
