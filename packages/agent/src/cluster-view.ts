/**
 * What the store says about the cluster, as the agent follows it (list, then watch):
 * networks, subnet leases of every host on the networks this host has joined, which
 * hosts are alive, endpoint records of every host. Pure bookkeeping, no I/O: the
 * agent feeds it watch events and asks it which peers a network should have.
 *
 * Memory (issue 15, bench/agent-rss.ts): a lease is kept as the four fields a peer
 * needs, not the whole record, and the strings that repeat across networks (host
 * names, underlay addresses, VTEP addresses) are shared, one copy each.
 */
import { addressAt, parseCidr, type EndpointRecord, type HostAlive, type HostWireGuard, type Keys, type KeyValue, type NetworkSpec, type SubnetLease, type WatchEvent } from '@vxnet/common';

import type { Peer } from './dataplane/index.js';

export class ClusterView {
  /** network id -> spec */
  readonly networks = new Map<string, NetworkSpec>();
  /** network id -> subnet -> what a peer needs of the lease of any host (followed networks only) */
  readonly leases = new Map<string, Map<string, PeerLease>>();
  /** One copy of each string that repeats across leases (see intern). */
  private readonly strings = new Map<string, string>();
  /** hosts whose liveness record exists */
  readonly alive = new Set<string>();
  /** WireGuard identity of alive hosts that have one (from their alive records) */
  readonly wireguard = new Map<string, HostWireGuard & { underlayIp: string }>();
  /** store key -> endpoint record, every host */
  readonly endpoints = new Map<string, EndpointRecord>();

  constructor(private readonly keys: Keys) {}

  applyNetworks(events: WatchEvent[]): void {
    for (const e of events) {
      const id = (e.type === 'put' ? e.kv.key : e.key).slice(this.keys.networks.length);
      if (e.type === 'put') this.networks.set(id, JSON.parse(e.kv.value) as NetworkSpec);
      else this.networks.delete(id);
    }
  }

  applyLeases(events: WatchEvent[]): void {
    for (const e of events) {
      const kv: KeyValue | undefined = e.type === 'put' ? e.kv : e.prev;
      const key = e.type === 'put' ? e.kv.key : e.key;
      const [netId, subnetKey] = key.slice(this.keys.leases.length).split('/');
      if (!netId || !subnetKey) continue;
      const subnet = subnetKey.replace('_', '/');
      let m = this.leases.get(netId);
      if (e.type === 'put' && kv) {
        if (!m) this.leases.set(netId, (m = new Map()));
        const l = JSON.parse(kv.value) as SubnetLease;
        m.set(subnet, {
          subnet: l.subnet, host: this.intern(l.host), underlayIp: this.intern(l.underlayIp),
          vtepMac: l.vtepMac || undefined, vtepIp: addressAt(parseCidr(l.subnet), 0),
        });
      } else if (m?.delete(subnet)) {
        this.trimStrings();
      }
    }
  }

  /** Forget the leases of a network this host no longer follows. */
  forgetLeases(netId: string): void {
    this.leases.delete(netId);
    this.trimStrings();
  }

  /**
   * The one copy of `s` (a host name or underlay address: the fields that repeat
   * across networks). JSON.parse makes a new string for every field of every record;
   * 1,000 hosts on 10 networks would otherwise hold each name and address ten times.
   */
  private intern(s: string): string {
    const have = this.strings.get(s);
    if (have !== undefined) return have;
    this.strings.set(s, s);
    return s;
  }

  /** Rebuild the pool from the leases held once it holds mostly strings of hosts that are gone. */
  private trimStrings(): void {
    let held = 0;
    for (const m of this.leases.values()) held += m.size;
    if (this.strings.size <= 2 * held + 256) return;
    this.strings.clear();
    for (const m of this.leases.values()) {
      for (const l of m.values()) {
        this.strings.set(l.host, l.host);
        this.strings.set(l.underlayIp, l.underlayIp);
      }
    }
  }

  applyAlive(events: WatchEvent[]): void {
    for (const e of events) {
      const host = (e.type === 'put' ? e.kv.key : e.key).slice(this.keys.alive.length);
      if (e.type === 'put') {
        this.alive.add(host);
        const rec = parseAlive(e.kv.value);
        if (rec?.wireguard && rec.underlayIp) this.wireguard.set(host, { ...rec.wireguard, underlayIp: rec.underlayIp });
        else this.wireguard.delete(host);
      } else {
        this.alive.delete(host);
        this.wireguard.delete(host);
      }
    }
  }

  applyEndpoints(events: WatchEvent[]): void {
    for (const e of events) {
      if (e.type === 'put') this.endpoints.set(e.kv.key, JSON.parse(e.kv.value) as EndpointRecord);
      else this.endpoints.delete(e.key);
    }
  }

  /**
   * Peers `self` should have on a network: every other alive host with a lease and a
   * VTEP MAC. On an encrypted network a peer's VXLAN packets go to its tunnel address
   * (inside WireGuard), and a host without WireGuard is no peer at all: it could only
   * be reached in plaintext.
   */
  desiredPeers(netId: string, self: string): Map<string, Peer> {
    const out = new Map<string, Peer>();
    const encrypted = this.networks.get(netId)?.encrypted === true;
    for (const l of this.leases.get(netId)?.values() ?? []) {
      if (l.host === self || !this.alive.has(l.host) || !l.vtepMac) continue;
      const dst = encrypted ? this.wireguard.get(l.host)?.tunnelIp : l.underlayIp;
      if (dst === undefined) continue;
      out.set(l.subnet, { subnet: l.subnet, vtepIp: l.vtepIp, vtepMac: l.vtepMac, underlayIp: dst });
    }
    return out;
  }

  /** WireGuard peers of `self`: every other alive host that published a WireGuard identity. */
  wireguardPeers(self: string): Array<{ host: string; publicKey: string; tunnelIp: string; endpoint: { ip: string; port: number } }> {
    return [...this.wireguard].filter(([host]) => host !== self).sort(([a], [b]) => a.localeCompare(b))
      .map(([host, w]) => ({ host, publicKey: w.publicKey, tunnelIp: w.tunnelIp, endpoint: { ip: w.underlayIp, port: w.port } }));
  }

  /** The network called `ref`, or with that id or unique id prefix. */
  findNetwork(ref: string): NetworkSpec | undefined {
    for (const n of this.networks.values()) if (n.name === ref || n.id === ref) return n;
    const byPrefix = [...this.networks.values()].filter((n) => n.id.startsWith(ref));
    return byPrefix.length === 1 ? byPrefix[0] : undefined;
  }
}

/** What a peer needs of a subnet lease (SubnetLease has more). */
export interface PeerLease {
  subnet: string;
  host: string;
  underlayIp: string;
  /** Absent until the holder has made its VXLAN device: no peer yet. */
  vtepMac: string | undefined;
  /** The subnet's network address, the holder's VTEP address. */
  vtepIp: string;
}

/** An alive record; undefined when it is not JSON (an alive key still counts as alive). */
function parseAlive(value: string): Partial<HostAlive> | undefined {
  try {
    return JSON.parse(value) as Partial<HostAlive>;
  } catch {
    return undefined;
  }
}
