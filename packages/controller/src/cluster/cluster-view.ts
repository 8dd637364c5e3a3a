/**
 * Read-only views of what agents write: hosts (with liveness) and subnet leases.
 */
import { parseIpv4, type HostRecord, type Keys, type NetworkSpec, type Store, type SubnetLease } from '@vxnet/common';
import type { HostView, LeaseDetail, LeaseView } from '@vxnet/common/api';
import { LeaseNotFound } from '../errors.js';
import type { NetworkService } from '../network/network-service.js';

export class ClusterView {
  constructor(private readonly store: Store, private readonly k: Keys, private readonly networks: NetworkService) {}

  async hosts(): Promise<HostView[]> {
    const [hosts, alive, nets] = await Promise.all([this.store.list(this.k.hosts), this.store.list(this.k.alive), this.networks.list()]);
    const aliveSet = new Set(alive.items.map((kv) => kv.key.slice(this.k.alive.length)));
    const names = new Map(nets.map((n) => [n.id, n.name]));
    return hosts.items
      .map((kv) => JSON.parse(kv.value) as HostRecord)
      .map((h) => ({
        name: h.name,
        underlayIp: h.underlayIp,
        state: aliveSet.has(h.name) ? ('alive' as const) : ('dead' as const),
        agentVersion: h.agentVersion,
        networks: h.networks.map((id) => names.get(id)).filter((n): n is string => n !== undefined).sort(),
        routes: Array.isArray(h.routes) ? h.routes : [],
        registeredAt: h.registeredAt,
        lastSeen: h.lastSeen,
      }))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Subnet leases, optionally of one network (name or id) and/or one host, sorted by network, subnet. */
  async leases(filter: { network?: string; host?: string } = {}): Promise<LeaseView[]> {
    const net = filter.network === undefined ? undefined : await this.networks.resolve(filter.network);
    const [leases, alive, nets] = await Promise.all([
      this.store.list(net ? this.k.networkLeases(net.id) : this.k.leases),
      this.store.list(this.k.alive),
      net ? Promise.resolve([net]) : this.networks.list(),
    ]);
    const aliveSet = new Set(alive.items.map((kv) => kv.key.slice(this.k.alive.length)));
    const byId = new Map(nets.map((n) => [n.id, n]));
    const now = Date.now();
    return leases.items
      .map((kv) => toView(JSON.parse(kv.value) as SubnetLease, byId, aliveSet, now))
      .filter((l) => filter.host === undefined || l.host === filter.host)
      .sort((a, b) => a.network.localeCompare(b.network) || compareSubnets(a.subnet, b.subnet));
  }

  /** One lease in full. Throws NetworkNotFound or LeaseNotFound. */
  async lease(network: string, subnet: string): Promise<LeaseDetail> {
    const net = await this.networks.resolve(network);
    const key = this.k.lease(net.id, subnet);
    const [kv, alive] = await Promise.all([this.store.get(key), this.store.list(this.k.alive)]);
    if (!kv) throw new LeaseNotFound(subnet, net.name);
    const aliveSet = new Set(alive.items.map((a) => a.key.slice(this.k.alive.length)));
    return {
      ...toView(JSON.parse(kv.value) as SubnetLease, new Map([[net.id, net]]), aliveSet, Date.now()),
      key,
      storeLeaseId: kv.lease ?? null,
      modRevision: kv.modRevision,
    };
  }
}

function toView(l: SubnetLease, nets: Map<string, NetworkSpec>, alive: Set<string>, now: number): LeaseView {
  return {
    network: nets.get(l.networkId)?.name ?? l.networkId.slice(0, 12),
    networkId: l.networkId,
    subnet: l.subnet,
    host: l.host,
    underlayIp: l.underlayIp,
    vtepMac: l.vtepMac,
    acquiredAt: l.acquiredAt,
    renewedAt: l.renewedAt,
    expiresAt: l.expiresAt,
    remainingSeconds: Math.round((Date.parse(l.expiresAt) - now) / 1000),
    hostAlive: alive.has(l.host),
  };
}

function compareSubnets(a: string, b: string): number {
  return (parseIpv4(a.split('/')[0] ?? '') ?? 0) - (parseIpv4(b.split('/')[0] ?? '') ?? 0);
}
