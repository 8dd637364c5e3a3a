/**
 * The agent: turns what the store says into kernel state on this host, and keeps it so.
 *
 * Inputs (list + watch, resumed or re-listed after gaps): networks/, leases/, alive/,
 * endpoints/. Local truth that must survive restarts and store outages: the endpoints
 * of this host (state file), the subnets it remembers (lease manager).
 *
 * Per joined network the data plane holds a namespace with br0 + vxlan, and one
 * route/neighbour/FDB triple per *alive* peer holding a lease (flannel's static model:
 * no learning, no multicast; see DESIGN.md). Peer changes are applied incrementally
 * against what was programmed; a full reconcile against the kernel runs at start and
 * after every watch gap, removing only what the agent owns (its namespace prefix).
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  addressAt, parseCidr, writeJsonAtomic,
  type EndpointRecord, type Keys, type KeyValue, type Logger, type NetworkSpec, type Store, type SubnetLease, type Watch, type WatchEvent,
} from '@vxnet/common';
import type { CreateEndpointRequest, LocalEndpoint } from '@vxnet/common/api';
import type { DataPlane, Peer } from './dataplane/index.js';
import type { AgentDns } from './dns/dns-service.js';
import { listNetns } from '@vxnet/netns';
import { AddressUnavailable, EndpointNameTaken, EndpointNotFound, NetworkUnknown } from './errors.js';
import { addressProblem, macForIp, nextFree } from './ipam/ipam.js';
import type { LeaseManager } from './lease/lease-manager.js';
import type { HostRegistration } from './registration/host-registration.js';

export interface AgentOptions {
  store: Store;
  keys: Keys;
  host: string;
  underlayIp: string;
  underlayDevice: string;
  underlayMtu: number;
  /** Namespaces of this agent's networks are named `${netnsPrefix}${netId[0:12]}`. */
  netnsPrefix: string;
  /** Local endpoints, kept across restarts. */
  endpointsFile: string;
  dataplane: DataPlane;
  leases: LeaseManager;
  registration: HostRegistration;
  log: Logger;
  /** Embedded DNS (one server per joined network); none: no DNS. */
  dns?: AgentDns;
}

export class Agent {
  readonly networks = new Map<string, NetworkSpec>();
  /** netId -> subnet -> lease of any host */
  readonly leaseRecords = new Map<string, Map<string, SubnetLease>>();
  readonly alive = new Set<string>();
  /** store key -> endpoint record, every host */
  readonly endpointRecords = new Map<string, EndpointRecord>();
  /** netId -> subnet -> peer as programmed in the kernel */
  private readonly programmed = new Map<string, Map<string, Peer>>();
  private readonly joined = new Set<string>();
  private local: LocalEndpoint[] = [];
  private readonly watches: Watch[] = [];
  private chain: Promise<unknown> = Promise.resolve();
  private stopped = false;

  constructor(private readonly o: AgentOptions) {}

  netnsName(netId: string): string {
    return `${this.o.netnsPrefix}${netId.slice(0, 12)}`;
  }

  /** Start: adopt leases, load the cluster view, reconcile the kernel, then follow changes. */
  async start(): Promise<void> {
    this.local = this.readLocal();
    await this.o.registration.start();
    for (const l of await this.o.leases.adopt()) this.joined.add(l.networkId);
    for (const e of this.local) this.joined.add(e.networkId);

    const prefixes: Array<[string, (events: WatchEvent[]) => void]> = [
      [this.o.keys.networks, (ev) => this.applyNetworks(ev)],
      [this.o.keys.leases, (ev) => this.applyLeases(ev)],
      [this.o.keys.alive, (ev) => this.applyAlive(ev)],
      [this.o.keys.endpoints, (ev) => this.applyEndpoints(ev)],
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
        const net = this.networks.get(id);
        if (net) {
          await this.join(net);
          await this.syncPeers(net.id);
        }
      }
    }));
    await this.serial(() => this.reconcile());
    await this.serial(() => this.publishEndpoints());
    this.o.log.info({ joined: [...this.joined].length, endpoints: this.local.length }, 'agent started');
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

  // ---- store views -------------------------------------------------------

  private applyNetworks(events: WatchEvent[]): void {
    for (const e of events) {
      const id = (e.type === 'put' ? e.kv.key : e.key).slice(this.o.keys.networks.length);
      if (e.type === 'put') this.networks.set(id, JSON.parse(e.kv.value) as NetworkSpec);
      else this.networks.delete(id);
    }
    this.o.dns?.update(this.networks, this.endpointRecords);
  }

  private applyLeases(events: WatchEvent[]): void {
    for (const e of events) {
      const kv: KeyValue | undefined = e.type === 'put' ? e.kv : e.prev;
      const key = e.type === 'put' ? e.kv.key : e.key;
      const [netId, subnetKey] = key.slice(this.o.keys.leases.length).split('/');
      if (!netId || !subnetKey) continue;
      const subnet = subnetKey.replace('_', '/');
      let m = this.leaseRecords.get(netId);
      if (e.type === 'put' && kv) {
        if (!m) this.leaseRecords.set(netId, (m = new Map()));
        m.set(subnet, JSON.parse(kv.value) as SubnetLease);
      } else {
        m?.delete(subnet);
      }
    }
  }

  private applyAlive(events: WatchEvent[]): void {
    for (const e of events) {
      const host = (e.type === 'put' ? e.kv.key : e.key).slice(this.o.keys.alive.length);
      if (e.type === 'put') this.alive.add(host);
      else this.alive.delete(host);
    }
  }

  private applyEndpoints(events: WatchEvent[]): void {
    for (const e of events) {
      if (e.type === 'put') this.endpointRecords.set(e.kv.key, JSON.parse(e.kv.value) as EndpointRecord);
      else this.endpointRecords.delete(e.key);
    }
    this.o.dns?.update(this.networks, this.endpointRecords);
  }

  // ---- kernel ------------------------------------------------------------

  /** Peers this host should have on a network: every other alive host with a lease and a VTEP MAC. */
  private desiredPeers(netId: string): Map<string, Peer> {
    const out = new Map<string, Peer>();
    for (const l of this.leaseRecords.get(netId)?.values() ?? []) {
      if (l.host === this.o.host || !this.alive.has(l.host) || !l.vtepMac) continue;
      out.set(l.subnet, { subnet: l.subnet, vtepIp: addressAt(parseCidr(l.subnet), 0), vtepMac: l.vtepMac, underlayIp: l.underlayIp });
    }
    return out;
  }

  /** Apply peer changes on every joined network; leave networks that were removed. */
  private async syncAll(): Promise<void> {
    if (this.stopped) return;
    for (const netId of [...this.joined]) {
      if (!this.networks.has(netId)) {
        await this.leave(netId);
        continue;
      }
      await this.syncPeers(netId);
    }
  }

  private async syncPeers(netId: string): Promise<void> {
    const netns = this.netnsName(netId);
    const want = this.desiredPeers(netId);
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

  /** Lease a subnet (if needed) and build the network's namespace; callers then sync its peers. */
  private async join(net: NetworkSpec): Promise<SubnetLease> {
    const held = this.o.leases.get(net.id);
    const lease = held ?? (await this.o.leases.acquire(net, ''));
    const cidr = parseCidr(lease.subnet);
    let vtepMac: string;
    try {
      ({ vtepMac } = await this.o.dataplane.ensureNetwork({
        netns: this.netnsName(net.id),
        vni: net.vni,
        hostSubnet: lease.subnet,
        gateway: addressAt(cidr, 1),
        vtepIp: addressAt(cidr, 0),
        mtu: this.mtu(net),
        underlayIp: this.o.underlayIp,
        underlayDevice: this.o.underlayDevice,
      }));
    } catch (err) {
      if (!held && !this.local.some((e) => e.networkId === net.id)) await this.o.leases.release(net.id).catch(() => undefined);
      throw err;
    }
    const current = lease.vtepMac === vtepMac ? lease : await this.o.leases.acquire(net, vtepMac);
    await this.o.dns?.ensure(net.id, this.netnsName(net.id), addressAt(cidr, 1));
    if (!this.joined.has(net.id)) {
      this.joined.add(net.id);
      await this.o.registration.setNetworks([...this.joined]);
    }
    return current;
  }

  /** A network this host had joined is gone: remove its endpoints, namespace and lease. */
  private async leave(netId: string): Promise<void> {
    const netns = this.netnsName(netId);
    for (const ep of this.local.filter((e) => e.networkId === netId)) await this.o.dataplane.deleteEndpoint(netns, ep.hostIfname);
    this.local = this.local.filter((e) => e.networkId !== netId);
    this.writeLocal();
    await this.o.dns?.remove(netId);
    await this.o.dataplane.deleteNetwork(netns);
    this.programmed.delete(netId);
    this.joined.delete(netId);
    this.o.leases.forget(netId);
    await this.o.registration.setNetworks([...this.joined]);
    this.o.log.info({ network: { id: netId } }, 'left removed network');
  }

  /**
   * Make the kernel match the store for everything this agent owns: joined networks
   * rebuilt idempotently (no disruption when already right), peers compared with what
   * the kernel really has, endpoints without a local record removed, namespaces of
   * networks that are gone deleted. Nothing outside the agent's namespace prefix is touched.
   */
  private async reconcile(): Promise<void> {
    if (this.stopped) return;
    const wanted = new Set<string>();
    for (const netId of [...this.joined]) {
      const net = this.networks.get(netId);
      if (!net) {
        await this.leave(netId);
        continue;
      }
      wanted.add(this.netnsName(netId));
      await this.join(net);
      const netns = this.netnsName(netId);
      // what the kernel really has, not what we think we programmed
      const kernel = await this.o.dataplane.listPeers(netns);
      this.programmed.set(netId, new Map(kernel.map((p) => [p.subnet, p])));
      await this.syncPeers(netId);
      const keep = new Set(this.local.filter((e) => e.networkId === netId).map((e) => e.hostIfname));
      for (const ifname of await this.o.dataplane.listEndpoints(netns)) {
        if (!keep.has(ifname)) {
          await this.o.dataplane.deleteEndpoint(netns, ifname);
          this.o.log.info({ network: { id: netId }, ifname }, 'removed endpoint without a record');
        }
      }
    }
    for (const ns of listNetns(this.o.netnsPrefix)) {
      if (!wanted.has(ns)) {
        await this.o.dataplane.deleteNetwork(ns);
        this.o.log.info({ netns: ns }, 'removed namespace of a network this host no longer has');
      }
    }
  }

  // ---- endpoints -----------------------------------------------------------

  private mtu(net: NetworkSpec): number {
    return net.mtu ?? this.o.underlayMtu - 50;
  }

  resolveNetwork(ref: string): NetworkSpec {
    for (const n of this.networks.values()) if (n.name === ref || n.id === ref) return n;
    const byPrefix = [...this.networks.values()].filter((n) => n.id.startsWith(ref));
    if (byPrefix.length === 1 && byPrefix[0]) return byPrefix[0];
    throw new NetworkUnknown(ref);
  }

  endpoints(): LocalEndpoint[] {
    return [...this.local];
  }

  /**
   * Attach a sandbox to a network: join the network if needed, allocate an address
   * (or take the requested one), create the veth pair, publish the record. Any
   * failure undoes what was done.
   */
  createEndpoint(req: CreateEndpointRequest): Promise<LocalEndpoint> {
    return this.serial(async () => {
      const net = this.resolveNetwork(req.network);
      const clash = [...this.endpointRecords.values()].find((e) => e.networkId === net.id && (e.name === req.name || e.aliases.includes(req.name)));
      if (clash && clash.container !== req.container) throw new EndpointNameTaken(req.name, net.name, `container ${clash.container.slice(0, 12)} on ${clash.host}`);
      const undo: Array<() => Promise<unknown>> = [];
      try {
        const lease = await this.join(net);
        await this.syncPeers(net.id);
        const inUse = new Set(this.local.filter((e) => e.networkId === net.id).map((e) => e.ip));
        let ip: string;
        if (req.ip !== undefined) {
          const problem = addressProblem(req.ip, lease.subnet) ?? (inUse.has(req.ip) ? 'it is in use' : undefined);
          if (problem) throw new AddressUnavailable(req.ip, net.name, problem);
          ip = req.ip;
        } else {
          const free = nextFree(lease.subnet, inUse);
          if (!free) throw new AddressUnavailable('(any)', net.name, `no free address left in this host's subnet ${lease.subnet}`);
          ip = free;
        }
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
        await this.o.dataplane.ensureEndpoint(netns, {
          sandboxNetnsPath: ep.sandbox, ifname: ep.ifname, hostIfname: ep.hostIfname, ip, prefixLength: ep.prefixLength, mac: ep.mac, gateway: ep.gateway, mtu: ep.mtu,
          // the first interface carries the default route; others only their network's range
          route: ep.ifname === 'eth0' ? '0.0.0.0/0' : net.subnet,
        });
        undo.push(() => this.o.dataplane.deleteEndpoint(netns, ep.hostIfname));
        this.local.push(ep);
        this.writeLocal();
        undo.push(async () => {
          this.local = this.local.filter((e) => e.id !== id);
          this.writeLocal();
        });
        await this.o.store.put(this.o.keys.endpoint(net.id, id), JSON.stringify(toRecord(ep)), { lease: this.o.registration.leaseId });
        this.o.log.info({ endpoint: { id, name: ep.name, ip, network: net.name } }, 'endpoint created');
        return ep;
      } catch (err) {
        for (const u of undo.reverse()) await u().catch((e: unknown) => this.o.log.error({ err: e }, 'rollback step failed'));
        throw err;
      }
    });
  }

  /** Detach: veth, record, local state. Idempotent for a known id; unknown ids are NotFound. */
  deleteEndpoint(id: string): Promise<void> {
    return this.serial(async () => {
      const ep = this.local.find((e) => e.id === id || e.id.startsWith(id));
      if (!ep) throw new EndpointNotFound(id);
      await this.o.dataplane.deleteEndpoint(this.netnsName(ep.networkId), ep.hostIfname);
      await this.o.store.delete(this.o.keys.endpoint(ep.networkId, ep.id));
      this.local = this.local.filter((e) => e.id !== ep.id);
      this.writeLocal();
      this.o.log.info({ endpoint: { id: ep.id, name: ep.name } }, 'endpoint deleted');
    });
  }

  /** (Re-)write the store records of local endpoints, bound to the current liveness lease. */
  private async publishEndpoints(): Promise<void> {
    for (const ep of this.local) {
      if (!this.networks.has(ep.networkId)) continue;
      await this.o.store.put(this.o.keys.endpoint(ep.networkId, ep.id), JSON.stringify(toRecord(ep)), { lease: this.o.registration.leaseId });
    }
  }

  private readLocal(): LocalEndpoint[] {
    try {
      return JSON.parse(readFileSync(this.o.endpointsFile, 'utf8')) as LocalEndpoint[];
    } catch {
      return [];
    }
  }

  private writeLocal(): void {
    writeJsonAtomic(this.o.endpointsFile, this.local);
  }
}

function toRecord(ep: LocalEndpoint): EndpointRecord {
  return { id: ep.id, networkId: ep.networkId, name: ep.name, aliases: ep.aliases, ip: ep.ip, mac: ep.mac, host: ep.host, container: ep.container, createdAt: ep.createdAt };
}
