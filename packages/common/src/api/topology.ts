/**
 * The topology page's wire format (`GET /api/topology`, the `snapshot` and `change`
 * events of `GET /api/topology/events`) and the one reducer that applies a change to a
 * topology. The controller keeps its copy up to date with it from its store watch, and
 * the page keeps its own with the same function: the compiled file is served to the
 * browser as is, so this module imports nothing and uses nothing Node-only.
 *
 * Why records and not a pre-drawn graph: peerings follow from the leases (every two
 * hosts with a lease on the same network peer over VXLAN, DESIGN.md "Data plane"), and
 * deriving them on both sides from the same records means a change is one record, not
 * a re-render diff of a graph.
 */

/** A host that registered at least once; `alive` while its liveness key exists. */
export interface TopoHost {
  name: string;
  underlayIp: string;
  alive: boolean;
  agentVersion: string;
  lastSeen: string;
}

export interface TopoNetwork {
  id: string;
  name: string;
  vni: number;
  subnet: string;
  internal: boolean;
  encrypted: boolean;
}

/** A host's subnet lease on a network, and until when. */
export interface TopoLease {
  networkId: string;
  subnet: string;
  host: string;
  underlayIp: string;
  vtepMac: string;
  expiresAt: string;
}

/** A container's endpoint on a network. */
export interface TopoEndpoint {
  id: string;
  networkId: string;
  name: string;
  aliases: string[];
  ip: string;
  mac: string;
  host: string;
  container: string;
  createdAt: string;
}

export interface Topology {
  /** Store revision this topology is at. */
  revision: number;
  hosts: TopoHost[];
  networks: TopoNetwork[];
  leases: TopoLease[];
  endpoints: TopoEndpoint[];
}

/**
 * One change; `value` null means the thing is gone. Keys: a host's name, a network's
 * id, `<networkId>/<subnet>` for a lease, `<networkId>/<endpointId>` for an endpoint.
 * `alive` changes carry only the liveness of a host.
 */
export type TopoChange =
  | { kind: 'host'; key: string; value: TopoHost | null }
  | { kind: 'alive'; key: string; value: boolean }
  | { kind: 'network'; key: string; value: TopoNetwork | null }
  | { kind: 'lease'; key: string; value: TopoLease | null }
  | { kind: 'endpoint'; key: string; value: TopoEndpoint | null };

/** The `change` event: what changed to bring a topology at `from` up to `revision`. */
export interface TopoDelta {
  from: number;
  revision: number;
  changes: TopoChange[];
}

/** Two hosts peering over VXLAN on a network: both hold a lease on it. */
export interface TopoPeering {
  networkId: string;
  a: string;
  b: string;
}

export function leaseKey(l: Pick<TopoLease, 'networkId' | 'subnet'>): string {
  return `${l.networkId}/${l.subnet}`;
}

export function endpointKey(e: Pick<TopoEndpoint, 'networkId' | 'id'>): string {
  return `${e.networkId}/${e.id}`;
}

/**
 * Applies changes to a topology in place and sets its revision. Idempotent: a put of
 * what is there, or a delete of what is absent, changes nothing. A host's liveness
 * that arrives before its record is kept (`alive` on a placeholder is not invented:
 * the liveness waits in `pendingAlive` until the record comes).
 */
export function applyChanges(t: Topology, changes: TopoChange[], revision: number, pendingAlive: Set<string> = new Set()): void {
  for (const c of changes) {
    switch (c.kind) {
      case 'host': {
        const i = t.hosts.findIndex((h) => h.name === c.key);
        if (c.value === null) {
          if (i >= 0) t.hosts.splice(i, 1);
        } else {
          const alive = i >= 0 ? t.hosts[i]!.alive : pendingAlive.has(c.key);
          pendingAlive.delete(c.key);
          const h = { ...c.value, alive };
          if (i >= 0) t.hosts[i] = h;
          else t.hosts.push(h);
        }
        break;
      }
      case 'alive': {
        const h = t.hosts.find((x) => x.name === c.key);
        if (h) h.alive = c.value;
        else if (c.value) pendingAlive.add(c.key);
        else pendingAlive.delete(c.key);
        break;
      }
      case 'network':
        upsert(t.networks, (n) => n.id === c.key, c.value);
        break;
      case 'lease':
        upsert(t.leases, (l) => leaseKey(l) === c.key, c.value);
        break;
      case 'endpoint':
        upsert(t.endpoints, (e) => endpointKey(e) === c.key, c.value);
        break;
    }
  }
  t.revision = Math.max(t.revision, revision);
}

function upsert<T>(list: T[], match: (x: T) => boolean, value: T | null): void {
  const i = list.findIndex(match);
  if (value === null) {
    if (i >= 0) list.splice(i, 1);
  } else if (i >= 0) list[i] = value;
  else list.push(value);
}

/**
 * The changes that turn `from` into `to` (compared whole), for a client that must
 * catch up from a topology the server has no history for.
 */
export function diffTopologies(from: Topology, to: Topology): TopoChange[] {
  const out: TopoChange[] = [];
  const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
  const diff = <T>(kind: 'network' | 'lease' | 'endpoint', a: T[], b: T[], key: (x: T) => string) => {
    const before = new Map(a.map((x) => [key(x), x]));
    for (const x of b) {
      const k = key(x);
      if (!same(before.get(k), x)) out.push({ kind, key: k, value: x } as TopoChange);
      before.delete(k);
    }
    for (const k of before.keys()) out.push({ kind, key: k, value: null } as TopoChange);
  };
  const hostsBefore = new Map(from.hosts.map((h) => [h.name, h]));
  for (const h of to.hosts) {
    const prev = hostsBefore.get(h.name);
    const { alive, ...rec } = h;
    if (prev === undefined || !same({ ...prev, alive }, h)) out.push({ kind: 'host', key: h.name, value: { ...rec, alive: false } });
    if (prev === undefined || prev.alive !== alive || !same({ ...prev, alive }, h)) out.push({ kind: 'alive', key: h.name, value: alive });
    hostsBefore.delete(h.name);
  }
  for (const k of hostsBefore.keys()) out.push({ kind: 'host', key: k, value: null });
  diff('network', from.networks, to.networks, (n) => n.id);
  diff('lease', from.leases, to.leases, leaseKey);
  diff('endpoint', from.endpoints, to.endpoints, endpointKey);
  return out;
}

/** Every VXLAN peering: each pair of distinct hosts holding a lease on the same network. */
export function peerings(t: Pick<Topology, 'leases'>): TopoPeering[] {
  const byNet = new Map<string, Set<string>>();
  for (const l of t.leases) {
    let s = byNet.get(l.networkId);
    if (!s) byNet.set(l.networkId, (s = new Set()));
    s.add(l.host);
  }
  const out: TopoPeering[] = [];
  for (const [networkId, set] of byNet) {
    const hosts = [...set].sort();
    for (let i = 0; i < hosts.length; i++) for (let j = i + 1; j < hosts.length; j++) out.push({ networkId, a: hosts[i]!, b: hosts[j]! });
  }
  return out;
}
