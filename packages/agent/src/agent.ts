/**
 * The agent: turns what the store says into kernel state on this host, and keeps it so.
 *
 * Inputs (list + watch, resumed or re-listed after gaps, kept in a ClusterView):
 * networks/, leases/, alive/, endpoints/. Local truth that must survive restarts and
 * store outages, in the state dir: the endpoints of this host (LocalEndpoints), the
 * namespaces the agent made (OwnedNamespaces), the subnets it remembers (lease
 * manager). All three are read before anything else at start; one that cannot be
 * read stops the agent before it changes anything.
 *
 * Per joined network the data plane holds a namespace with br0 + vxlan, and one
 * route/neighbour/FDB triple per *alive* peer holding a lease (flannel's static model:
 * no learning, no multicast; see DESIGN.md). Peer changes are applied incrementally
 * against what was programmed; a full reconcile against the kernel runs at start and
 * after every watch gap. It removes only what the agent recorded making: namespaces
 * in OwnedNamespaces, veths in those namespaces without an endpoint record. Names
 * decide nothing: a foreign namespace called like ours, or an engine's sandbox, is
 * never touched.
 */
import { randomBytes } from 'node:crypto';
import { addressAt, parseCidr, type EndpointRecord, type Keys, type Logger, type NetworkSpec, type Store, type SubnetLease, type Watch, type WatchEvent } from '@vxnet/common';
import type { CreateEndpointRequest, LocalEndpoint } from '@vxnet/common/api';

import { ClusterView } from './cluster-view.js';
import type { DataPlane, Peer } from './dataplane/index.js';
import type { AgentDns } from './dns/dns-service.js';
import { AddressUnavailable, EndpointNameTaken, EndpointNotFound, NetworkUnknown } from './errors.js';
import { addressProblem, macForIp, nextFree } from './ipam/ipam.js';
import type { LeaseManager } from './lease/lease-manager.js';
import type { HostRegistration } from './registration/host-registration.js';
import { LocalEndpoints } from './state/local-endpoints.js';
import { OwnedNamespaces } from './state/owned-namespaces.js';

export interface AgentOptions {
  store: Store;
  keys: Keys;
  host: string;
  underlayIp: string;
  underlayDevice: string;
  underlayMtu: number;
  /**
   * Namespaces of this agent's networks are named `${netnsPrefix}${netId[0:12]}`
   * (default `vxnet-`). Naming only: what the agent may delete is what it recorded
   * in namespacesFile, whatever the name.
   */
  netnsPrefix?: string;
  /** Local endpoints, kept across restarts (JSON array of LocalEndpoint). */
  endpointsFile: string;
  /** Namespaces this agent made, kept across restarts (JSON array of { name, networkId, recordedAt }). */
  namespacesFile: string;
  dataplane: DataPlane;
  leases: LeaseManager;
  /** Liveness: the agent uses start/stop, leaseId, onNewLease and setNetworks. */
  registration: Pick<HostRegistration, 'start' | 'stop' | 'leaseId' | 'onNewLease' | 'setNetworks'>;
  log: Logger;
  /** Embedded DNS (one server per joined network); none: no DNS. */
  dns?: AgentDns;
}

type Undo = Array<() => Promise<unknown> | void>;

export class Agent {
  private readonly view: ClusterView;
  /** netId -> subnet -> peer as programmed in the kernel */
  private readonly programmed = new Map<string, Map<string, Peer>>();
  private readonly joined = new Set<string>();
  private readonly local: LocalEndpoints;
  private readonly owned: OwnedNamespaces;
  private readonly watches: Watch[] = [];
  private chain: Promise<unknown> = Promise.resolve();
  private stopped = false;

  constructor(private readonly o: AgentOptions) {
    this.view = new ClusterView(o.keys);
    this.local = new LocalEndpoints(o.endpointsFile);
    this.owned = new OwnedNamespaces(o.namespacesFile);
  }

  /** Networks as the store has them, by id. */
  get networks(): ReadonlyMap<string, NetworkSpec> {
    return this.view.networks;
  }

  /** Hosts that are alive. */
  get alive(): ReadonlySet<string> {
    return this.view.alive;
  }

  netnsName(netId: string): string {
    return `${this.o.netnsPrefix ?? 'vxnet-'}${netId.slice(0, 12)}`;
  }

  /**
   * Start: read local state (throws VXNET_STATE_UNREADABLE, having changed nothing,
   * when a file cannot be read), register, adopt leases, load the cluster view,
   * reconcile the kernel (endpoints whose sandbox is gone dropped first), publish the
   * surviving endpoints, then follow changes.
   */
  async start(): Promise<void> {
    this.local.load();
    this.owned.load();
    this.o.leases.load();
    await this.o.registration.start();
    for (const l of await this.o.leases.adopt()) this.joined.add(l.networkId);
    for (const e of this.local.all()) this.joined.add(e.networkId);

    const prefixes: Array<[string, (events: WatchEvent[]) => void]> = [
      [this.o.keys.networks, (ev) => {
        this.view.applyNetworks(ev);
        this.o.dns?.update(this.view.networks, this.view.endpoints);
      }],
      [this.o.keys.leases, (ev) => this.view.applyLeases(ev)],
      [this.o.keys.alive, (ev) => this.view.applyAlive(ev)],
      [this.o.keys.endpoints, (ev) => {
        this.view.applyEndpoints(ev);
        this.o.dns?.update(this.view.networks, this.view.endpoints);
      }],
    ];
    for (const [prefix, apply] of prefixes) {
      const snapshot = await this.o.store.list(prefix);
      apply(snapshot.items.map((kv) => ({ type: 'put' as const, kv })));
      this.watches.push(await this.o.store.watch(prefix, snapshot, {
        onEvents: (events) => {
          apply(events);
          return this.serial(() => this.syncAll());
        },
        onResync: (reason) => {
          this.o.log.warn({ prefix, reason }, 'watch gap; reconciling with the kernel');
          void this.serial(() => this.reconcile());
        },
        onError: (err) => this.o.log.warn({ err, prefix }, 'watch interrupted; retrying'),
      }));
    }
    this.o.registration.onNewLease(() => this.serial(() => this.publishEndpoints()));
    this.o.leases.onLost((netIds) => void this.serial(async () => {
      for (const id of netIds) {
        const net = this.view.networks.get(id);
        if (net) {
          await this.join(net);
          await this.syncPeers(net.id);
        }
      }
    }));
    await this.serial(() => this.reconcile());
    await this.serial(() => this.publishEndpoints());
    this.o.log.info({ joined: this.joined.size, endpoints: this.local.all().length }, 'agent started');
  }

  /** Stop following the store. Kernel state stays (traffic keeps flowing); the liveness lease is revoked. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const w of this.watches) await w.close();
    await this.chain.catch(() => undefined);
    await this.o.dns?.close();
    this.o.leases.stop();
    await this.o.registration.stop();
    this.o.dataplane.close();
  }

  /** Run kernel work one piece at a time, in order. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.chain.then(fn, fn);
    this.chain = next.catch((err: unknown) => this.o.log.error({ err }, 'agent task failed'));
    return next;
  }

  // ---- networks ------------------------------------------------------------

  /** Apply peer changes on every joined network; leave networks that were removed. */
  private async syncAll(): Promise<void> {
    if (this.stopped) return;
    for (const netId of [...this.joined]) {
      if (!this.view.networks.has(netId)) {
        await this.leave(netId);
        continue;
      }
      await this.syncPeers(netId);
    }
  }

  private async syncPeers(netId: string): Promise<void> {
    const netns = this.netnsName(netId);
    const want = this.view.desiredPeers(netId, this.o.host);
    let have = this.programmed.get(netId);
    if (!have) this.programmed.set(netId, (have = new Map()));
    // one batch each way: 1,000 peers take tens of ms instead of a second (bench/results/agent-programming.md)
    const gone = [...have.values()].filter((p) => {
      const w = want.get(p.subnet);
      return !w || w.vtepMac !== p.vtepMac || w.underlayIp !== p.underlayIp;
    });
    if (gone.length > 0) {
      await this.o.dataplane.deletePeers(netns, gone);
      for (const p of gone) have.delete(p.subnet);
      this.o.log.info({ network: { id: netId }, count: gone.length, peers: gone.slice(0, 8) }, 'peers removed');
    }
    const added = [...want.values()].filter((p) => !have.has(p.subnet));
    if (added.length > 0) {
      await this.o.dataplane.ensurePeers(netns, added);
      for (const p of added) have.set(p.subnet, p);
      this.o.log.info({ network: { id: netId }, count: added.length, peers: added.slice(0, 8) }, 'peers added');
    }
  }

  /**
   * Join a network, or repair a joined one, in flannel's RegisterNetwork order: the
   * namespace and the VXLAN device first (to learn the VTEP MAC), then the subnet
   * lease, written once and with the MAC (peers never see a lease without one), then
   * bridge and addresses. Callers then sync its peers. A first join that fails is
   * undone (namespace, its record, a lease taken by this call); a repair that fails
   * leaves things for the next reconcile.
   */
  private async join(net: NetworkSpec): Promise<SubnetLease> {
    const netns = this.netnsName(net.id);
    const first = !this.joined.has(net.id);
    const held = this.o.leases.get(net.id);
    try {
      this.owned.record(netns, net.id); // before the namespace exists: never one we made without a record
      const vtep = { netns, vni: net.vni, mtu: this.mtu(net), underlayIp: this.o.underlayIp, underlayDevice: this.o.underlayDevice };
      const { vtepMac } = await this.o.dataplane.ensureVtep(vtep);
      let lease = held?.vtepMac === vtepMac ? held : await this.o.leases.acquire(net, vtepMac);
      const cidr = parseCidr(lease.subnet);
      const built = await this.o.dataplane.ensureNetwork({ ...vtep, hostSubnet: lease.subnet, gateway: addressAt(cidr, 1), vtepIp: addressAt(cidr, 0) });
      // only if vxlan0 was recreated in between (someone deleted it): the lease follows
      if (built.vtepMac !== lease.vtepMac) lease = await this.o.leases.acquire(net, built.vtepMac);
      await this.o.dns?.ensure(net.id, netns, addressAt(cidr, 1));
      if (first) {
        this.joined.add(net.id);
        await this.o.registration.setNetworks([...this.joined]);
      }
      return lease;
    } catch (err) {
      if (first) await this.undoJoin(net.id, held === undefined);
      throw err;
    }
  }

  /**
   * Take back a first join (or what of it was done): DNS, namespace, its record, the
   * lease if `release`. Each step runs even if an earlier one failed; failures are logged.
   */
  private async undoJoin(netId: string, release: boolean): Promise<void> {
    const netns = this.netnsName(netId);
    const wasJoined = this.joined.delete(netId);
    this.programmed.delete(netId);
    const steps: Undo = [
      () => this.o.dns?.remove(netId),
      async () => {
        await this.o.dataplane.deleteNetwork(netns);
        this.owned.forget(netns);
      },
      () => (release ? this.o.leases.release(netId) : undefined),
      () => (wasJoined ? this.o.registration.setNetworks([...this.joined]) : undefined),
    ];
    await this.unwind(steps);
  }

  /** A network this host had joined is gone: remove its endpoints, namespace and lease. */
  private async leave(netId: string): Promise<void> {
    const netns = this.netnsName(netId);
    const eps = this.local.onNetwork(netId);
    for (const ep of eps) await this.o.dataplane.deleteEndpoint(netns, ep.hostIfname);
    this.local.remove(...eps.map((e) => e.id));
    await this.o.dns?.remove(netId);
    await this.o.dataplane.deleteNetwork(netns);
    this.owned.forget(netns);
    this.programmed.delete(netId);
    this.joined.delete(netId);
    this.o.leases.forget(netId);
    await this.o.registration.setNetworks([...this.joined]);
    this.o.log.info({ network: { id: netId } }, 'left removed network');
  }

  /**
   * Make the kernel match the store for everything this agent owns: endpoints whose
   * sandbox is gone dropped; joined networks rebuilt idempotently (no disruption when
   * already right); peers compared with what the kernel really has; veths in its
   * namespaces without a local record removed; recorded namespaces of networks it no
   * longer has deleted. Namespaces it has no record of are never touched.
   */
  private async reconcile(): Promise<void> {
    if (this.stopped) return;
    await this.dropEndpointsWithoutSandbox();
    for (const netId of [...this.joined]) {
      const net = this.view.networks.get(netId);
      if (!net) {
        await this.leave(netId);
        continue;
      }
      await this.join(net);
      const netns = this.netnsName(netId);
      // what the kernel really has, not what we think we programmed
      const kernel = await this.o.dataplane.listPeers(netns);
      this.programmed.set(netId, new Map(kernel.map((p) => [p.subnet, p])));
      await this.syncPeers(netId);
      const keep = new Set(this.local.onNetwork(netId).map((e) => e.hostIfname));
      for (const ifname of await this.o.dataplane.listEndpoints(netns)) {
        if (!keep.has(ifname)) {
          await this.o.dataplane.deleteEndpoint(netns, ifname);
          this.o.log.info({ network: { id: netId }, ifname }, 'removed endpoint without a record');
        }
      }
    }
    const wanted = new Set([...this.joined].map((id) => this.netnsName(id)));
    for (const ns of this.owned.names()) {
      if (wanted.has(ns)) continue;
      await this.o.dataplane.deleteNetwork(ns);
      this.owned.forget(ns);
      this.o.log.info({ netns: ns }, 'removed namespace of a network this host no longer has');
    }
  }

  /**
   * An endpoint whose sandbox namespace is gone (its container died, or the agent
   * crashed while a run was being undone) must not stay published: its host veth,
   * store record and local record go. Without this, a restarted agent would publish
   * a name that nothing answers, and block the name and `net rm` (moby#17217).
   */
  private async dropEndpointsWithoutSandbox(): Promise<void> {
    for (const ep of this.local.all()) {
      if (this.o.dataplane.sandboxExists(ep.sandbox)) continue;
      await this.o.dataplane.deleteEndpoint(this.netnsName(ep.networkId), ep.hostIfname);
      await this.o.store.delete(this.o.keys.endpoint(ep.networkId, ep.id));
      this.local.remove(ep.id);
      this.o.log.warn({ endpoint: { id: ep.id, name: ep.name, container: ep.container, sandbox: ep.sandbox } }, 'dropped endpoint whose sandbox is gone');
    }
  }

  // ---- endpoints -----------------------------------------------------------

  private mtu(net: NetworkSpec): number {
    return net.mtu ?? this.o.underlayMtu - 50;
  }

  resolveNetwork(ref: string): NetworkSpec {
    const net = this.view.findNetwork(ref);
    if (!net) throw new NetworkUnknown(ref);
    return net;
  }

  endpoints(): LocalEndpoint[] {
    return this.local.all();
  }

  /**
   * Attach a sandbox to a network: join the network if needed, allocate an address
   * (or take the requested one), create the veth pair, record it locally and in the
   * store, in that order. Any failure undoes what was done, including the store
   * record (also when the put failed in a way that may have written it) and a join
   * made by this call.
   */
  createEndpoint(req: CreateEndpointRequest): Promise<LocalEndpoint> {
    return this.serial(async () => {
      const net = this.resolveNetwork(req.network);
      const clash = [...this.view.endpoints.values()].find((e) => e.networkId === net.id && (e.name === req.name || e.aliases.includes(req.name)));
      if (clash && clash.container !== req.container) throw new EndpointNameTaken(req.name, net.name, `container ${clash.container.slice(0, 12)} on ${clash.host}`);
      const undo: Undo = [];
      try {
        const first = !this.joined.has(net.id);
        const held = this.o.leases.get(net.id);
        const lease = await this.join(net);
        if (first) undo.push(() => this.undoJoin(net.id, held === undefined));
        await this.syncPeers(net.id);
        const ip = this.pickAddress(req, net, lease);
        const id = randomBytes(32).toString('hex');
        const cidr = parseCidr(lease.subnet);
        const ep: LocalEndpoint = {
          id, networkId: net.id, networkName: net.name, name: req.name, aliases: req.aliases ?? [], ip, mac: macForIp(ip),
          host: this.o.host, container: req.container ?? req.name, createdAt: new Date().toISOString(),
          sandbox: req.sandbox, hostIfname: `ve-${id.slice(0, 11)}`, ifname: req.ifname ?? 'eth0',
          prefixLength: cidr.prefixLength, gateway: addressAt(cidr, 1), mtu: this.mtu(net),
          ...(req.owner !== undefined ? { owner: req.owner } : {}),
        };
        const netns = this.netnsName(net.id);
        // registered first: a create that fails half-way can leave the pair behind
        undo.push(() => this.o.dataplane.deleteEndpoint(netns, ep.hostIfname));
        await this.o.dataplane.ensureEndpoint(netns, {
          sandboxNetnsPath: ep.sandbox, ifname: ep.ifname, hostIfname: ep.hostIfname, ip, prefixLength: ep.prefixLength, mac: ep.mac, gateway: ep.gateway, mtu: ep.mtu,
          // the first interface carries the default route; others only their network's range
          route: ep.ifname === 'eth0' ? '0.0.0.0/0' : net.subnet,
        });
        this.local.add(ep);
        undo.push(() => this.local.remove(id));
        // registered first too: a put that timed out may still have been applied
        const key = this.o.keys.endpoint(net.id, id);
        undo.push(() => this.o.store.delete(key));
        await this.o.store.put(key, JSON.stringify(toRecord(ep)), { lease: this.o.registration.leaseId });
        this.o.log.info({ endpoint: { id, name: ep.name, ip, network: net.name } }, 'endpoint created');
        return ep;
      } catch (err) {
        await this.unwind(undo);
        throw err;
      }
    });
  }

  /** The requested address if usable, else the next free one of this host's subnet. */
  private pickAddress(req: CreateEndpointRequest, net: NetworkSpec, lease: SubnetLease): string {
    const inUse = new Set(this.local.onNetwork(net.id).map((e) => e.ip));
    if (req.ip !== undefined) {
      const problem = addressProblem(req.ip, lease.subnet) ?? (inUse.has(req.ip) ? 'it is in use' : undefined);
      if (problem) throw new AddressUnavailable(req.ip, net.name, problem);
      return req.ip;
    }
    const free = nextFree(lease.subnet, inUse);
    if (!free) throw new AddressUnavailable('(any)', net.name, `no free address left in this host's subnet ${lease.subnet}`);
    return free;
  }

  /** Detach: veth, record, local state. Idempotent for a known id; unknown ids are NotFound. */
  deleteEndpoint(id: string): Promise<void> {
    return this.serial(async () => {
      const ep = this.local.find(id);
      if (!ep) throw new EndpointNotFound(id);
      await this.o.dataplane.deleteEndpoint(this.netnsName(ep.networkId), ep.hostIfname);
      await this.o.store.delete(this.o.keys.endpoint(ep.networkId, ep.id));
      this.local.remove(ep.id);
      this.o.log.info({ endpoint: { id: ep.id, name: ep.name } }, 'endpoint deleted');
    });
  }

  /** (Re-)write the store records of local endpoints, bound to the current liveness lease. */
  private async publishEndpoints(): Promise<void> {
    for (const ep of this.local.all()) {
      if (!this.view.networks.has(ep.networkId)) continue;
      await this.o.store.put(this.o.keys.endpoint(ep.networkId, ep.id), JSON.stringify(toRecord(ep)), { lease: this.o.registration.leaseId });
    }
  }

  /** Runs undo steps last first; a failing step is logged and the others still run. */
  private async unwind(steps: Undo): Promise<void> {
    for (const step of [...steps].reverse()) {
      try {
        await step();
      } catch (err) {
        this.o.log.error({ err }, 'rollback step failed');
      }
    }
  }
}

function toRecord(ep: LocalEndpoint): EndpointRecord {
  return { id: ep.id, networkId: ep.networkId, name: ep.name, aliases: ep.aliases, ip: ep.ip, mac: ep.mac, host: ep.host, container: ep.container, createdAt: ep.createdAt };
}
