/**
 * The agent: turns what the store says into kernel state on this host, and keeps it so.
 *
 * Inputs (list + watch, resumed or re-listed after gaps, kept in a ClusterView):
 * networks/, alive/, endpoints/, and leases/<netId>/ of the networks this host has
 * joined only (a host keeps the leases of its networks, not of the whole cluster).
 * Local truth that must survive restarts and store outages, in the state dir: the
 * endpoints of this host with their published ports (LocalEndpoints), the namespaces
 * and uplinks the agent made (OwnedRecords), the networks it is exposed on
 * (ExposedNetworks), the addresses held for Docker's IPAM (ReservedAddresses), the
 * subnets it remembers (lease manager). All are read before anything else at start;
 * one that cannot be read stops the agent before it changes anything.
 *
 * Per joined network the data plane holds a namespace with br0 + vxlan, and one
 * route/neighbour/FDB triple per *alive* peer holding a lease (flannel's static model:
 * no learning, no multicast; see DESIGN.md). Peer changes are applied incrementally
 * against what was programmed; a full reconcile against the kernel runs at start and
 * after every watch gap. It removes only what the agent recorded making: namespaces
 * in namespaces.json, uplinks in uplinks.json, veths in those namespaces without an
 * endpoint record. Names decide nothing: a foreign namespace or interface called
 * like ours, or an engine's sandbox, is never touched.
 *
 * Traffic in and out (issue 10): each non-internal network gets an uplink into the
 * agent's namespace, where the firewall (one nftables table, rebuilt whole from
 * this agent's state: uplinks, network CIDRs, published ports) masquerades egress,
 * keeps networks apart and lets in only published ports. The table is applied
 * before an uplink is made and after every change of ports, and checked for drift
 * every few seconds. When nftables is unusable no uplink is made at all.
 *
 * Encrypted networks (issue 13): their VTEP sends from this host's WireGuard tunnel
 * address and their peers' FDB entries point at peers' tunnel addresses, so their
 * VXLAN leaves the host only inside WireGuard (wireguard/). The WireGuard peers are
 * every alive host that published a key in its alive record, synced on every change
 * like the VXLAN peers. A host that cannot encrypt refuses to join such a network
 * before making anything, and a peer without WireGuard is never given its traffic.
 */
import { randomBytes } from 'node:crypto';
import { VXNET_DNS_ADDRESS, addressAt, isUserError, parseCidr, type EndpointRecord, type Keys, type Logger, type NetworkSpec, type Store, type SubnetLease, type Watch, type WatchEvent } from '@vxnet/common';
import type { CreateEndpointRequest, ExposeResult, LocalEndpoint, PortMapping } from '@vxnet/common/api';

import { ClusterView } from './cluster-view.js';
import { CNI_OWNER } from '@vxnet/cni/protocol';
import { UPLINK_PREFIX, type DataPlane, type Peer, type SandboxInterface } from './dataplane/index.js';
import type { AgentDns } from './dns/dns-service.js';
import {
  AddressUnavailable, EgressUnavailable, EncryptionUnavailable, EndpointExists, EndpointNameTaken, EndpointNotFound, NetworkInternal, NetworkUnknown, NotExposed, PortUnavailable,
} from './errors.js';
import type { EgressStatus, Firewall, FirewallState } from './firewall/index.js';
import { addressProblem, macForIp, nextFree } from './ipam/ipam.js';
import type { LeaseManager } from './lease/lease-manager.js';
import { NO_METRICS, type AgentMetricsSink } from './metrics/agent-metrics.js';
import { localPortProbe, type PortProbe } from './ports/port-probe.js';
import { portText, publishableAddresses, resolvePorts } from './ports/published-ports.js';
import type { HostRegistration } from './registration/host-registration.js';
import { ExposedNetworks } from './state/exposed-networks.js';
import { LocalEndpoints } from './state/local-endpoints.js';
import { ownedNamespaces, ownedUplinks, type OwnedRecords } from './state/owned-records.js';
import { ReservedAddresses } from './state/reserved-addresses.js';
import { WIREGUARD_OVERHEAD, type Encryption, type EncryptionStatus } from './wireguard/index.js';

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
  /** Uplinks this agent made, kept across restarts (same shape as namespacesFile). */
  uplinksFile: string;
  /** Networks this host is exposed on, kept across restarts (JSON array of { networkId, ip, recordedAt }). */
  exposedFile: string;
  /**
   * Addresses reserved by clients that allocate before they attach (Docker's IPAM),
   * kept across restarts (JSON array of { networkId, ip, holder, recordedAt });
   * absent: kept in memory only (tests and benchmarks that never restart).
   */
  reservedFile?: string;
  dataplane: DataPlane;
  leases: LeaseManager;
  /** Liveness: the agent uses start/stop, leaseId, onNewLease and setNetworks. */
  registration: Pick<HostRegistration, 'start' | 'stop' | 'leaseId' | 'onNewLease' | 'setNetworks'>;
  log: Logger;
  /** Embedded DNS (one server per joined network); none: no DNS. */
  dns?: AgentDns;
  /**
   * The nftables table of the agent's namespace; none: egress, published ports and
   * expose are unavailable (reported in status), and no uplink is made.
   */
  firewall?: Firewall;
  /**
   * The host's WireGuard device (wireguard/wireguard.ts); none, or unavailable:
   * encrypted networks are refused on this host.
   */
  encryption?: Encryption;
  /** How to tell whether a host port is in use (default: bind in this process's namespace). */
  portProbe?: PortProbe;
  /** Drift check period of the firewall, ms (default 5,000; 0: none, tests call checkFirewall). */
  firewallCheckMs?: number;
  /**
   * How often endpoints made through CNI are checked against their sandboxes, ms
   * (default 5,000; 0: never, tests call checkSandboxes): a runtime that lost a
   * container without DEL leaves an endpoint whose namespace is gone (trap C2).
   */
  sandboxCheckMs?: number;
  /** Where data-plane applies, reconcile fixes and watch events are counted (metrics/agent-metrics.ts); none: not counted. */
  metrics?: AgentMetricsSink;
}

type Undo = Array<() => Promise<unknown> | void>;

/**
 * An endpoint as the agent's own clients ask for it: the local API's request plus
 * what only in-process callers (the Docker plugin) may set.
 */
export interface AttachRequest extends CreateEndpointRequest {
  /** The endpoint's id (Docker's EndpointID, 64 hex); default a random one. */
  id?: string;
  /**
   * Leave the container end in the agent's namespace under this name (at most 15
   * characters) for the runtime to move into the sandbox itself (Docker's Join runs
   * before the sandbox exists): the agent then never enters or checks `sandbox`,
   * the runtime sets the address and routes, and the runtime's Leave removes it.
   */
  handoff?: string;
  /** The interface's MAC (Docker's --mac-address); default derived from the address (macForIp). */
  mac?: string;
  /** An MTU below the network's (Docker's -o com.docker.network.driver.mtu); never above it. */
  mtu?: number;
}

export class Agent {
  private readonly view: ClusterView;
  /** netId -> subnet -> peer as programmed in the kernel */
  private readonly programmed = new Map<string, Map<string, Peer>>();
  private readonly joined = new Set<string>();
  private readonly local: LocalEndpoints;
  private readonly owned: OwnedRecords;
  private readonly uplinks: OwnedRecords;
  private readonly exposed: ExposedNetworks;
  private readonly reserved: ReservedAddresses;
  /** Networks whose CIDR (and uplink) the firewall's desired state holds: joined, or being joined. */
  private readonly firewallNets = new Set<string>();
  private firewallTimer: NodeJS.Timeout | undefined;
  private sandboxTimer: NodeJS.Timeout | undefined;
  private readonly watches: Watch[] = [];
  /** netId -> the watch of its subnet leases, for joined networks only (followLeases). */
  private readonly leaseWatches = new Map<string, Watch>();
  private chain: Promise<unknown> = Promise.resolve();
  /** A syncAll queued and not started yet (requestSync). */
  private pendingSync: Promise<void> | undefined;
  /** The WireGuard peers last applied, as text (unchanged: `wg` is not run again). */
  private wgApplied: string | undefined;
  private stopped = false;
  private readonly metrics: AgentMetricsSink;

  constructor(private readonly o: AgentOptions) {
    this.metrics = o.metrics ?? NO_METRICS;
    this.view = new ClusterView(o.keys);
    this.local = new LocalEndpoints(o.endpointsFile);
    this.owned = ownedNamespaces(o.namespacesFile);
    this.uplinks = ownedUplinks(o.uplinksFile);
    this.exposed = new ExposedNetworks(o.exposedFile);
    this.reserved = new ReservedAddresses(o.reservedFile);
  }

  /** Networks as the store has them, by id. */
  get networks(): ReadonlyMap<string, NetworkSpec> {
    return this.view.networks;
  }

  /** Hosts that are alive. */
  get alive(): ReadonlySet<string> {
    return this.view.alive;
  }

  /**
   * Per joined network: peers as programmed in the kernel (what the last apply made,
   * not what the store wants) and local endpoints. For the metrics scrape: no I/O.
   */
  networkCounts(): Array<{ networkId: string; peers: number; endpoints: number }> {
    return [...this.joined].map((id) => ({ networkId: id, peers: this.programmed.get(id)?.size ?? 0, endpoints: this.local.onNetwork(id).length }));
  }

  /** Endpoint records of every network and host, as the DNS has them. */
  get endpointRecords(): number {
    return this.view.endpoints.size;
  }

  netnsName(netId: string): string {
    return `${this.o.netnsPrefix ?? 'vxnet-'}${netId.slice(0, 12)}`;
  }

  /** Host end of a network's uplink: `vxu-` + 11 hex of the network id (15 characters, the kernel's limit). */
  uplinkName(netId: string): string {
    return `${UPLINK_PREFIX}${netId.slice(0, 11)}`;
  }

  /** Whether this host can carry encrypted networks (public parts only), and why not. */
  get encryption(): EncryptionStatus {
    return this.o.encryption?.status ?? { available: false, reason: 'no WireGuard is configured for this agent' };
  }

  /** Whether containers here can reach beyond the overlay, and why not. */
  get egress(): EgressStatus {
    return this.o.firewall?.status ?? { available: false, reason: 'no firewall is configured for this agent' };
  }

  /** This host's address on network `netId` when exposed, else undefined. */
  exposedIp(netId: string): string | undefined {
    return this.exposed.ip(netId);
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
    this.uplinks.load();
    this.exposed.load();
    this.reserved.load();
    this.o.leases.load();
    await this.o.registration.start();
    for (const l of await this.o.leases.adopt()) this.joined.add(l.networkId);
    for (const e of this.local.all()) this.joined.add(e.networkId);

    const prefixes: Array<[string, (events: WatchEvent[]) => void]> = [
      [this.o.keys.networks, (ev) => {
        this.view.applyNetworks(ev);
        this.o.dns?.update(this.view.networks, this.view.endpoints);
      }],
      [this.o.keys.alive, (ev) => this.view.applyAlive(ev)],
      [this.o.keys.endpoints, (ev) => {
        this.view.applyEndpoints(ev);
        this.o.dns?.update(this.view.networks, this.view.endpoints);
      }],
    ];
    for (const [prefix, apply] of prefixes) this.watches.push(await this.follow(prefix, apply));
    for (const id of this.joined) await this.followLeases(id);
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
    await this.serial(() => this.startFirewall());
    await this.serial(() => this.reconcile());
    await this.serial(() => this.publishEndpoints());
    const every = this.o.firewallCheckMs ?? 5000;
    if (every > 0 && this.egress.available) {
      this.firewallTimer = setInterval(() => void this.checkFirewall(), every);
      this.firewallTimer.unref();
    }
    const sandboxEvery = this.o.sandboxCheckMs ?? 5000;
    if (sandboxEvery > 0) {
      this.sandboxTimer = setInterval(() => void this.checkSandboxes().catch((err: unknown) => this.o.log.warn({ err }, 'sandbox check failed; retrying at the next one')), sandboxEvery);
      this.sandboxTimer.unref();
    }
    this.o.log.info({ joined: this.joined.size, endpoints: this.local.all().length, egress: this.egress, encryption: this.encryption }, 'agent started');
  }

  /**
   * List `prefix` into the view (`apply`), then watch it from that snapshot on: every
   * change is applied and the peers of every joined network synced; after a watch gap
   * the kernel is reconciled.
   */
  private async follow(prefix: string, apply: (events: WatchEvent[]) => void): Promise<Watch> {
    const snapshot = await this.o.store.list(prefix);
    apply(snapshot.items.map((kv) => ({ type: 'put' as const, kv })));
    return this.o.store.watch(prefix, snapshot, {
      onEvents: (events) => {
        const deletes = events.filter((e) => e.type === 'delete').length;
        this.metrics.watchEvents('delete', deletes);
        this.metrics.watchEvents('put', events.length - deletes);
        apply(events);
        void this.requestSync();
      },
      onResync: (reason) => {
        this.o.log.warn({ prefix, reason }, 'watch gap; reconciling with the kernel');
        this.metrics.watchResynced();
        void this.serial(() => this.reconcile());
      },
      onError: (err) => this.o.log.warn({ err, prefix }, 'watch interrupted; retrying'),
    });
  }

  /**
   * Follow the subnet leases of network `netId` (leases/<netId>/), if not already.
   * Only networks this host joins are followed: a host on 2 of 10,000 networks keeps
   * the leases of 2, not the whole leases/ tree (issue 15, agent memory).
   */
  private async followLeases(netId: string): Promise<void> {
    if (this.leaseWatches.has(netId)) return;
    this.leaseWatches.set(netId, await this.follow(this.o.keys.networkLeases(netId), (ev) => this.view.applyLeases(ev)));
  }

  /** Stop following the leases of `netId` and forget them. Idempotent. */
  private async unfollowLeases(netId: string): Promise<void> {
    const w = this.leaseWatches.get(netId);
    this.leaseWatches.delete(netId);
    await w?.close(); // no event of it is applied after this
    this.view.forgetLeases(netId);
  }

  /** Stop following the store. Kernel state stays (traffic keeps flowing); the liveness lease is revoked. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.firewallTimer);
    clearInterval(this.sandboxTimer);
    // Each close waits for the server's acknowledgement (up to 2 s): all at once, and
    // not in the way of the liveness revoke (peers drop this host when it goes).
    // Events still delivered meanwhile change nothing: syncAll and reconcile check stopped.
    const closing = Promise.all([...this.watches, ...this.leaseWatches.values()].map((w) => w.close()));
    await this.chain.catch(() => undefined);
    await this.o.dns?.close();
    this.o.encryption?.close();
    this.o.leases.stop();
    await this.o.registration.stop();
    await closing;
    this.o.dataplane.close();
  }

  /** Run kernel work one piece at a time, in order. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.chain.then(fn, fn);
    this.chain = next.catch((err: unknown) => {
      // a refused request (a port taken, a name in use) is the caller's answer, not a fault here
      if (isUserError(err) && err.statusCode < 500) this.o.log.info({ err: { code: err.code, message: err.message } }, 'request refused');
      else this.o.log.error({ err }, 'agent task failed');
    });
    return next;
  }

  // ---- networks ------------------------------------------------------------

  /**
   * syncAll, queued behind the work in progress, once: watch events that arrive
   * while it waits are in the view by the time it runs, so a burst (100 hosts back
   * at once, each its own revision) costs one or two kernel applies, not one each.
   * The watch is not held up meanwhile (its handler returns at once).
   */
  private requestSync(): Promise<void> {
    this.pendingSync ??= this.serial(() => {
      this.pendingSync = undefined;
      return this.syncAll();
    });
    return this.pendingSync;
  }

  /** Apply peer changes on every joined network; leave networks that were removed. */
  private async syncAll(): Promise<void> {
    if (this.stopped) return;
    await this.syncWireGuard();
    for (const netId of [...this.joined]) {
      if (!this.view.networks.has(netId)) {
        await this.leave(netId);
        continue;
      }
      await this.syncPeers(netId);
    }
  }

  /**
   * WireGuard peers = every other alive host with a WireGuard identity (its alive
   * record carries it, so a dead host's peer goes when its liveness does). Applied
   * only when changed; a failure is logged and the next change (or reconcile) retries.
   */
  private async syncWireGuard(): Promise<void> {
    if (!this.o.encryption?.status.available) return;
    const peers = this.view.wireguardPeers(this.o.host);
    const text = JSON.stringify(peers);
    if (text === this.wgApplied) return;
    try {
      await this.o.encryption.setPeers(peers);
      this.wgApplied = text;
    } catch (err) {
      this.wgApplied = undefined;
      this.o.log.error({ err: { code: (err as { code?: string }).code, message: (err as Error).message } }, 'could not apply WireGuard peers; retrying at the next change');
    }
  }

  /** Apply peer changes of one network; resolves how many peers were removed and added. */
  private async syncPeers(netId: string): Promise<number> {
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
      await this.timedApply(() => this.o.dataplane.deletePeers(netns, gone));
      for (const p of gone) have.delete(p.subnet);
      this.o.log.info({ network: { id: netId }, count: gone.length, peers: gone.slice(0, 8) }, 'peers removed');
    }
    const added = [...want.values()].filter((p) => !have.has(p.subnet));
    if (added.length > 0) {
      await this.timedApply(() => this.o.dataplane.ensurePeers(netns, added));
      for (const p of added) have.set(p.subnet, p);
      this.o.log.info({ network: { id: netId }, count: added.length, peers: added.slice(0, 8) }, 'peers added');
    }
    return gone.length + added.length;
  }

  /** One data-plane apply, timed (vxnet_agent_dataplane_apply_seconds) and counted when it fails. */
  private async timedApply(apply: () => Promise<void>): Promise<void> {
    const t0 = process.hrtime.bigint();
    try {
      await apply();
    } catch (err) {
      this.metrics.dataplaneFailed();
      throw err;
    }
    this.metrics.dataplaneApplied(Number(process.hrtime.bigint() - t0) / 1e9);
  }

  /**
   * Join a network, or repair a joined one, in flannel's RegisterNetwork order: the
   * namespace and the VXLAN device first (to learn the VTEP MAC), then the subnet
   * lease, written once and with the MAC (peers never see a lease without one), then
   * bridge and addresses, then (non-internal networks, egress available) the
   * firewall with this network in it and only then the uplink. Callers then sync its
   * peers. A first join that fails is undone (uplink, namespace, their records, the
   * network's place in the firewall, a lease taken by this call); a repair that
   * fails leaves things for the next reconcile.
   */
  private async join(net: NetworkSpec): Promise<SubnetLease> {
    const netns = this.netnsName(net.id);
    const first = !this.joined.has(net.id);
    const held = this.o.leases.get(net.id);
    const vtep = { netns, vni: net.vni, mtu: this.mtu(net), ...this.vtepAddress(net) }; // refuses before anything is made
    try {
      await this.followLeases(net.id); // a read: a store that fails here fails the join before anything is made
      this.owned.record(netns, net.id); // before the namespace exists: never one we made without a record
      const { vtepMac } = await this.o.dataplane.ensureVtep(vtep);
      let lease = held?.vtepMac === vtepMac ? held : await this.o.leases.acquire(net, vtepMac);
      const cidr = parseCidr(lease.subnet);
      const built = await this.o.dataplane.ensureNetwork({ ...vtep, hostSubnet: lease.subnet, gateway: addressAt(cidr, 1), vtepIp: addressAt(cidr, 0) });
      // only if vxlan0 was recreated in between (someone deleted it): the lease follows
      if (built.vtepMac !== lease.vtepMac) lease = await this.o.leases.acquire(net, built.vtepMac);
      await this.o.dns?.ensure(net.id, netns, [addressAt(cidr, 1), VXNET_DNS_ADDRESS]); // both on br0 (ensureNetwork)
      this.firewallNets.add(net.id);
      if (this.egress.available) {
        await this.syncFirewall(); // the rules stand before the way out exists
        if (!net.internal) await this.ensureUplink(net, lease, this.exposedAddress(net, lease));
      }
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
   * Take back a first join (or what of it was done): DNS, the network's place in the
   * firewall, uplink, namespace, their records, the lease if `release`. Each step
   * runs even if an earlier one failed; failures are logged.
   */
  private async undoJoin(netId: string, release: boolean): Promise<void> {
    const netns = this.netnsName(netId);
    const wasJoined = this.joined.delete(netId);
    this.programmed.delete(netId);
    const steps: Undo = [
      () => this.unfollowLeases(netId),
      () => this.o.dns?.remove(netId),
      () => {
        this.firewallNets.delete(netId);
        return this.syncFirewall();
      },
      () => this.deleteUplink(netId),
      async () => {
        await this.o.dataplane.deleteNetwork(netns);
        this.owned.forget(netns);
      },
      () => (release ? this.o.leases.release(netId) : undefined),
      () => (wasJoined ? this.o.registration.setNetworks([...this.joined]) : undefined),
    ];
    await this.unwind(steps);
  }

  /** A network this host had joined is gone: remove its endpoints, uplink, exposure, namespace, lease and firewall entries. */
  private async leave(netId: string): Promise<void> {
    const netns = this.netnsName(netId);
    const eps = this.local.onNetwork(netId);
    for (const ep of eps) await this.o.dataplane.deleteEndpoint(netns, ep.hostIfname);
    this.local.remove(...eps.map((e) => e.id));
    await this.o.dns?.remove(netId);
    await this.deleteUplink(netId);
    this.exposed.remove(netId);
    this.reserved.removeNetwork(netId);
    await this.o.dataplane.deleteNetwork(netns);
    this.owned.forget(netns);
    this.programmed.delete(netId);
    this.joined.delete(netId);
    this.firewallNets.delete(netId);
    // the network is gone either way; a failed apply is retried by the drift check
    await this.syncFirewall().catch((err: unknown) => this.o.log.error({ err, network: { id: netId } }, 'could not remove a left network from the firewall; the drift check retries'));
    this.o.leases.forget(netId);
    await this.unfollowLeases(netId);
    await this.o.registration.setNetworks([...this.joined]);
    this.o.log.info({ network: { id: netId } }, 'left removed network');
  }

  /**
   * Make the kernel match the store for everything this agent owns: endpoints whose
   * sandbox is gone dropped; joined networks rebuilt idempotently (no disruption when
   * already right); peers compared with what the kernel really has; veths in its
   * namespaces without a local record removed; recorded namespaces and uplinks of
   * networks it no longer has (or, for uplinks, no longer may have) deleted, and
   * exposures of networks it left forgotten. Namespaces and uplinks it has no record
   * of are never touched.
   */
  private async reconcile(): Promise<void> {
    if (this.stopped) return;
    this.wgApplied = undefined; // compare with the device again
    await this.syncWireGuard();
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
      this.metrics.reconcileFixed('peer', await this.syncPeers(netId));
      const keep = new Set(this.local.onNetwork(netId).map((e) => e.hostIfname));
      for (const ifname of await this.o.dataplane.listEndpoints(netns)) {
        if (!keep.has(ifname)) {
          await this.o.dataplane.deleteEndpoint(netns, ifname);
          this.metrics.reconcileFixed('endpoint', 1);
          this.o.log.info({ network: { id: netId }, ifname }, 'removed endpoint without a record');
        }
      }
    }
    const wanted = new Set([...this.joined].map((id) => this.netnsName(id)));
    for (const ns of this.owned.names()) {
      if (wanted.has(ns)) continue;
      await this.o.dataplane.deleteNetwork(ns);
      this.owned.forget(ns);
      this.metrics.reconcileFixed('namespace', 1);
      this.o.log.info({ netns: ns }, 'removed namespace of a network this host no longer has');
    }
    const wantedUplinks = new Set(this.egress.available ? [...this.joined].filter((id) => this.view.networks.get(id)?.internal === false).map((id) => this.uplinkName(id)) : []);
    for (const name of this.uplinks.names()) {
      if (wantedUplinks.has(name)) continue;
      await this.o.dataplane.deleteUplink(name);
      this.uplinks.forget(name);
      this.metrics.reconcileFixed('uplink', 1);
      this.o.log.info({ uplink: name }, 'removed an uplink this host may no longer have');
    }
    for (const e of this.exposed.all()) {
      if (this.joined.has(e.networkId)) continue;
      this.exposed.remove(e.networkId);
      this.metrics.reconcileFixed('exposure', 1);
      this.o.log.info({ network: { id: e.networkId }, ip: e.ip }, 'forgot the exposure of a network this host left');
    }
  }

  // ---- the way in and out ------------------------------------------------------

  /**
   * The uplink of `net`, recorded before it is made, with `exposedIp` on it when
   * given (see DataPlane.ensureUplink).
   */
  private async ensureUplink(net: NetworkSpec, lease: SubnetLease, exposedIp: string | undefined): Promise<void> {
    const name = this.uplinkName(net.id);
    this.uplinks.record(name, net.id); // before the device exists: never one we made without a record
    await this.o.dataplane.ensureUplink({
      netns: this.netnsName(net.id), hostIfname: name, hostSubnet: lease.subnet, mtu: this.mtu(net),
      ...(exposedIp !== undefined ? { expose: { ip: exposedIp, network: net.subnet } } : {}),
    });
  }

  /** Deletes the uplink of `netId` if this agent recorded making it, then the record. */
  private async deleteUplink(netId: string): Promise<void> {
    const name = this.uplinkName(netId);
    if (!this.uplinks.has(name)) return;
    await this.o.dataplane.deleteUplink(name);
    this.uplinks.forget(name);
  }

  /**
   * The exposed address of `net` if it is still usable in `lease`; an address that
   * is not (the subnet changed after a lost lease) is replaced by a free one, with a
   * warning. Undefined when not exposed.
   */
  private exposedAddress(net: NetworkSpec, lease: SubnetLease): string | undefined {
    const ip = this.exposed.ip(net.id);
    if (ip === undefined) return undefined;
    const problem = addressProblem(ip, lease.subnet) ?? (this.local.onNetwork(net.id).some((e) => e.ip === ip) ? 'an endpoint has it' : undefined);
    if (problem === undefined) return ip;
    const next = nextFree(lease.subnet, this.addressesInUse(net.id, false));
    if (next === undefined) throw new AddressUnavailable('(any)', net.name, `no free address left in this host's subnet ${lease.subnet} to expose the host on`);
    this.exposed.set(net.id, next);
    this.o.log.warn({ network: { id: net.id, name: net.name }, was: ip, now: next, problem }, 'exposed address moved');
    return next;
  }

  /**
   * Addresses of this host's subnet of `netId` that are taken: endpoints', reserved
   * ones (but those reserved by `holder`), and the exposed one when `withExposed`.
   */
  private addressesInUse(netId: string, withExposed = true, holder?: string): Set<string> {
    const inUse = new Set(this.local.onNetwork(netId).map((e) => e.ip));
    for (const r of this.reserved.onNetwork(netId)) if (holder === undefined || r.holder !== holder) inUse.add(r.ip);
    const exposed = this.exposed.ip(netId);
    if (withExposed && exposed !== undefined) inUse.add(exposed);
    return inUse;
  }

  /** What the firewall should hold now: the networks in firewallNets, every local endpoint's ports. */
  private desiredFirewall(): FirewallState {
    const state: FirewallState = { uplinks: [], networks: [], internalNetworks: [], ports: [] };
    for (const id of this.firewallNets) {
      const net = this.view.networks.get(id);
      if (!net) continue;
      if (net.internal) {
        state.internalNetworks.push(net.subnet);
      } else {
        state.networks.push(net.subnet);
        state.uplinks.push(this.uplinkName(id));
      }
    }
    for (const ep of this.local.all()) {
      for (const p of ep.ports ?? []) state.ports.push({ ...p, containerIp: ep.ip, endpointId: ep.id });
    }
    const enc = this.encryption;
    const vnis = [...this.firewallNets].map((id) => this.view.networks.get(id)).filter((n) => n?.encrypted).map((n) => n!.vni);
    if (enc.available && vnis.length > 0) {
      state.encryptedVnis = vnis;
      state.wireguardDevice = enc.device;
    }
    return state;
  }

  /** Applies the desired table (a no-op when unchanged or when egress is unavailable). */
  private async syncFirewall(): Promise<void> {
    if (!this.o.firewall || !this.egress.available) return;
    await this.o.firewall.apply(this.desiredFirewall());
  }

  /**
   * At start, before reconcile: the presence check, then the whole desired table at
   * once (stale elements of an earlier run gone; reconcile's joins then change
   * nothing). Egress unavailable: nothing applied, and reconcile removes recorded
   * uplinks.
   */
  private async startFirewall(): Promise<void> {
    for (const id of this.joined) if (this.view.networks.has(id)) this.firewallNets.add(id);
    if (!this.o.firewall) {
      this.o.log.warn({ egress: this.egress }, 'egress unavailable: no uplinks will be made; internal networks stay isolated');
      return;
    }
    const status = await this.o.firewall.probe(this.desiredFirewall());
    if (status.available) await this.syncFirewall();
  }

  /**
   * The drift check (every firewallCheckMs): re-applies the table when it was
   * changed behind the agent's back or the last apply failed. Failures are logged;
   * the next check tries again. Resolves true when it re-applied.
   */
  checkFirewall(): Promise<boolean> {
    return this.serial(async () => {
      if (this.stopped || !this.o.firewall) return false;
      try {
        const fixed = await this.o.firewall.check(this.desiredFirewall());
        if (fixed) this.metrics.reconcileFixed('firewall', 1);
        return fixed;
      } catch (err) {
        this.o.log.warn({ err }, 'firewall check failed; retrying at the next one');
        return false;
      }
    });
  }

  /**
   * An endpoint whose sandbox namespace is gone (its container died, or the agent
   * crashed while a run was being undone) must not stay published: its host veth,
   * store record and local record go. Without this, a restarted agent would publish
   * a name that nothing answers, and block the name and `net rm` (moby#17217).
   */
  private async dropEndpointsWithoutSandbox(which: (ep: LocalEndpoint) => boolean = () => true): Promise<void> {
    let ports = false;
    for (const ep of this.local.all().filter(which)) {
      // a handed-off endpoint's sandbox is the runtime's (Docker names one that does
      // not exist yet at Join); the runtime's Leave removes the endpoint
      if (ep.handoff !== undefined) continue;
      if (this.o.dataplane.sandboxExists(ep.sandbox)) continue;
      await this.o.dataplane.deleteEndpoint(this.netnsName(ep.networkId), ep.hostIfname);
      await this.o.store.delete(this.o.keys.endpoint(ep.networkId, ep.id));
      this.local.remove(ep.id);
      this.metrics.reconcileFixed('sandbox', 1);
      ports ||= (ep.ports ?? []).length > 0;
      this.o.log.warn({ endpoint: { id: ep.id, name: ep.name, container: ep.container, sandbox: ep.sandbox } }, 'dropped endpoint whose sandbox is gone');
    }
    if (ports) await this.syncFirewall();
  }

  /**
   * The periodic check of endpoints made through CNI (sandboxCheckMs): those whose
   * sandbox namespace is gone are removed (veth, store record, local record, their
   * address freed). Other owners' endpoints are their runtime's to remove (and are
   * checked at start and after watch gaps, in reconcile). Resolves the number removed.
   */
  checkSandboxes(): Promise<number> {
    return this.serial(async () => {
      if (this.stopped) return 0;
      const before = this.local.all().length;
      await this.dropEndpointsWithoutSandbox((ep) => ep.owner === CNI_OWNER);
      return before - this.local.all().length;
    });
  }

  /** Whether `path` is a live network namespace (DataPlane.sandboxExists). */
  sandboxExists(path: string): boolean {
    return this.o.dataplane.sandboxExists(path);
  }

  /**
   * What the kernel holds for a local endpoint: its interface in the sandbox (none:
   * undefined) and whether its host end is on the network's bridge.
   */
  async inspectEndpoint(ep: LocalEndpoint): Promise<{ sandbox: SandboxInterface | undefined; hostEnd: boolean }> {
    const sandbox = await this.o.dataplane.sandboxInterface(ep.sandbox, ep.ifname);
    const hostEnd = (await this.o.dataplane.listEndpoints(this.netnsName(ep.networkId))).includes(ep.hostIfname);
    return { sandbox, hostEnd };
  }

  // ---- endpoints -----------------------------------------------------------

  /** Fixed, else underlay - 50 (VXLAN), and on encrypted networks - 80 more (WireGuard). */
  private mtu(net: NetworkSpec): number {
    return net.mtu ?? this.o.underlayMtu - 50 - (net.encrypted ? WIREGUARD_OVERHEAD : 0);
  }

  /**
   * Where the VTEP of `net` sends from: the underlay (address and device), or on an
   * encrypted network the WireGuard tunnel address without a device (see
   * VtepSpec.underlayDevice). Throws VXNET_ENCRYPTION_UNAVAILABLE for an encrypted
   * network when this host cannot encrypt: never a plaintext fallback.
   */
  private vtepAddress(net: NetworkSpec): { underlayIp: string; underlayDevice: string | null } {
    if (!net.encrypted) return { underlayIp: this.o.underlayIp, underlayDevice: this.o.underlayDevice };
    const status = this.encryption;
    if (!status.available) throw new EncryptionUnavailable(net.name, this.o.host, status.reason);
    return { underlayIp: status.tunnelIp, underlayDevice: null };
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
   * Attach a sandbox to a network: check its published ports, join the network if
   * needed, allocate an address (or take the requested one), create the veth pair,
   * record it locally (with its ports), apply the firewall when it has ports, record
   * it in the store, in that order. Ports are all checked before anything is made
   * (see checkPorts). Any failure undoes what was done, including the firewall
   * entries, the store record (also when the put failed in a way that may have
   * written it) and a join made by this call. An address reserved by the request's
   * owner (reserveAddress) may be asked for; the reservation stays. With `handoff`
   * (AttachRequest) the container end is left in the agent's namespace instead of
   * being put into `sandbox`; `name` may then be empty until setEndpointNames.
   * Throws VXNET_ENDPOINT_EXISTS for an `id` this host has already.
   */
  createEndpoint(req: AttachRequest): Promise<LocalEndpoint> {
    return this.serial(async () => {
      const net = this.resolveNetwork(req.network);
      if (req.id !== undefined && this.local.all().some((e) => e.id === req.id)) throw new EndpointExists(req.id);
      const clash = req.name === '' ? undefined : [...this.view.endpoints.values()].find((e) => e.networkId === net.id && (e.name === req.name || e.aliases.includes(req.name)));
      if (clash && clash.container !== req.container) throw new EndpointNameTaken(req.name, net.name, `container ${clash.container.slice(0, 12)} on ${clash.host}`);
      const ports = await this.checkPorts(req, net);
      const undo: Undo = [];
      try {
        const first = !this.joined.has(net.id);
        const held = this.o.leases.get(net.id);
        const lease = await this.join(net);
        if (first) undo.push(() => this.undoJoin(net.id, held === undefined));
        await this.syncPeers(net.id);
        const ip = this.pickAddress(req, net, lease);
        const id = req.id ?? randomBytes(32).toString('hex');
        const cidr = parseCidr(lease.subnet);
        const ep: LocalEndpoint = {
          id, networkId: net.id, networkName: net.name, name: req.name, aliases: req.aliases ?? [], ip, mac: req.mac ?? macForIp(ip),
          host: this.o.host, container: req.container ?? req.name, createdAt: new Date().toISOString(),
          sandbox: req.sandbox, hostIfname: `ve-${id.slice(0, 11)}`, ifname: req.ifname ?? 'eth0',
          prefixLength: cidr.prefixLength, gateway: addressAt(cidr, 1), mtu: Math.min(req.mtu ?? Infinity, this.mtu(net)),
          ...(req.owner !== undefined ? { owner: req.owner } : {}),
          ...(req.handoff !== undefined ? { handoff: req.handoff } : {}),
          ports,
        };
        const netns = this.netnsName(net.id);
        // registered first: a create that fails half-way can leave the pair behind
        undo.push(() => this.o.dataplane.deleteEndpoint(netns, ep.hostIfname));
        if (req.handoff !== undefined) {
          await this.o.dataplane.ensureHandoffEndpoint(netns, { hostIfname: ep.hostIfname, handoffIfname: req.handoff, mac: ep.mac, mtu: ep.mtu });
        } else {
          await this.o.dataplane.ensureEndpoint(netns, {
            sandboxNetnsPath: ep.sandbox, ifname: ep.ifname, hostIfname: ep.hostIfname, ip, prefixLength: ep.prefixLength, mac: ep.mac, gateway: ep.gateway, mtu: ep.mtu,
            // the first interface carries the default route; others only their network's range
            route: ep.ifname === 'eth0' ? '0.0.0.0/0' : net.subnet,
          });
        }
        // unwound after the local record is gone: the table is rebuilt without these ports
        if (ports.length > 0) undo.push(() => this.syncFirewall());
        this.local.add(ep);
        undo.push(() => this.local.remove(id));
        if (ports.length > 0) await this.syncFirewall();
        // registered first too: a put that timed out may still have been applied
        const key = this.o.keys.endpoint(net.id, id);
        undo.push(() => this.o.store.delete(key));
        await this.o.store.put(key, JSON.stringify(toRecord(ep)), { lease: this.o.registration.leaseId });
        this.o.log.info({ endpoint: { id, name: ep.name, ip, network: net.name, ports: ports.map(portText) } }, 'endpoint created');
        return ep;
      } catch (err) {
        await this.unwind(undo);
        throw err;
      }
    });
  }

  /**
   * The published ports of `req`, resolved and checked against this host, before
   * anything is made: none on an internal network, none while egress is
   * unavailable, host addresses of this host only, no overlap with another
   * endpoint's ports, no port a process on the host uses (bound and closed again).
   * Throws the first problem (see resolvePorts for the messages).
   */
  private async checkPorts(req: CreateEndpointRequest, net: NetworkSpec): Promise<PortMapping[]> {
    if (!req.ports?.length) return [];
    const what = `publish ports of "${req.name}"`;
    if (net.internal) throw new NetworkInternal(what, net.name);
    if (!this.egress.available) throw new EgressUnavailable(what, this.o.host, this.egress.reason);
    const hostAddresses = publishableAddresses(await this.o.dataplane.listHostAddresses(), (ifname) => ifname.startsWith(UPLINK_PREFIX));
    const published = this.local.all().flatMap((e) => (e.ports ?? []).map((mapping) => ({ mapping, container: e.container, endpointName: e.name })));
    const mappings = resolvePorts(req.ports, { host: this.o.host, underlayIp: this.o.underlayIp, hostAddresses, published });
    const probe = this.o.portProbe ?? localPortProbe;
    const codes = await probe.check(mappings.map((m) => ({ ip: m.hostIp, port: m.hostPort, protocol: m.protocol })));
    for (const [i, code] of codes.entries()) {
      const m = mappings[i];
      if (code === undefined || !m) continue;
      throw new PortUnavailable(portText(m), code === 'EADDRINUSE' ? `a process on host ${this.o.host} is using it` : `binding it to check it failed (${code})`);
    }
    return mappings;
  }

  /**
   * The requested address if usable, else the next free one of this host's subnet
   * (never the exposed address, nor one reserved by another than the request's owner).
   */
  private pickAddress(req: CreateEndpointRequest, net: NetworkSpec, lease: SubnetLease): string {
    const inUse = this.addressesInUse(net.id, true, req.owner);
    if (req.ip !== undefined) {
      const problem = addressProblem(req.ip, lease.subnet) ?? (inUse.has(req.ip) ? 'it is in use' : undefined);
      if (problem) throw new AddressUnavailable(req.ip, net.name, problem);
      return req.ip;
    }
    const free = nextFree(lease.subnet, inUse);
    if (!free) throw new AddressUnavailable('(any)', net.name, `no free address left in this host's subnet ${lease.subnet}`);
    return free;
  }

  /**
   * Detach: veth, record, local state, then its published ports from the firewall.
   * Idempotent for a known id; unknown ids are NotFound. A firewall apply that fails
   * here is logged, not thrown (the endpoint is gone either way): the drift check
   * applies the table again.
   */
  deleteEndpoint(id: string): Promise<void> {
    return this.serial(async () => {
      const ep = this.local.find(id);
      if (!ep) throw new EndpointNotFound(id);
      await this.o.dataplane.deleteEndpoint(this.netnsName(ep.networkId), ep.hostIfname);
      await this.o.store.delete(this.o.keys.endpoint(ep.networkId, ep.id));
      this.local.remove(ep.id);
      if ((ep.ports ?? []).length > 0) {
        await this.syncFirewall().catch((err: unknown) => this.o.log.error({ err, endpoint: { id: ep.id } }, 'could not remove published ports from the firewall; the drift check retries'));
      }
      this.o.log.info({ endpoint: { id: ep.id, name: ep.name } }, 'endpoint deleted');
    });
  }

  /**
   * Give a local endpoint its DNS name, aliases and container id (Docker tells them
   * after the endpoint exists): the store record (what every host's DNS serves),
   * then the local record. Unchanged: nothing written. Throws VXNET_ENDPOINT_NOT_FOUND
   * for an id this host does not have (exact ids only).
   */
  setEndpointNames(id: string, names: { name: string; aliases: string[]; container: string }): Promise<LocalEndpoint> {
    return this.serial(async () => {
      const ep = this.local.all().find((e) => e.id === id);
      if (!ep) throw new EndpointNotFound(id);
      if (ep.name === names.name && ep.container === names.container && ep.aliases.join('\n') === names.aliases.join('\n')) return ep;
      const next: LocalEndpoint = { ...ep, name: names.name, aliases: [...names.aliases], container: names.container };
      // the store first: a put that fails leaves the local record unnamed, so a retry writes again
      if (this.view.networks.has(ep.networkId)) {
        await this.o.store.put(this.o.keys.endpoint(ep.networkId, ep.id), JSON.stringify(toRecord(next)), { lease: this.o.registration.leaseId });
      }
      this.local.add(next);
      this.o.log.info({ endpoint: { id, name: next.name, aliases: next.aliases, container: next.container } }, 'endpoint named');
      return next;
    });
  }

  // ---- addresses held for an IPAM client ---------------------------------------

  /**
   * Join a network (name, id or unique id prefix) if this host has not, in order
   * with all other work: the network, this host's subnet lease and the MTU of its
   * devices. Throws VXNET_NETWORK_NOT_FOUND, VXNET_SUBNET_EXHAUSTED, store errors.
   */
  ensureJoined(ref: string): Promise<{ network: NetworkSpec; lease: SubnetLease; mtu: number }> {
    return this.serial(async () => {
      const net = this.resolveNetwork(ref);
      const lease = await this.joinIfNeeded(net);
      return { network: net, lease, mtu: this.mtu(net) };
    });
  }

  /**
   * Hold an address of this host's subnet of network `netId` for `holder` (Docker's
   * IPAM: RequestAddress comes before the endpoint): `ip` if usable (inside this
   * host's subnet, not its network, gateway or broadcast address, not in use or
   * reserved), else the lowest free one. Joins the network if needed. Recorded
   * before it resolves (reserved.json); an endpoint owned by `holder` may then take
   * it. Throws VXNET_ADDRESS_UNAVAILABLE saying why.
   */
  reserveAddress(netId: string, ip: string | undefined, holder: string): Promise<{ ip: string; prefixLength: number; gateway: string }> {
    return this.serial(async () => {
      const net = this.resolveNetwork(netId);
      const lease = await this.joinIfNeeded(net);
      const inUse = this.addressesInUse(net.id);
      let pick = ip;
      if (pick !== undefined) {
        const problem = addressProblem(pick, lease.subnet) ?? (inUse.has(pick) ? 'it is in use' : undefined);
        if (problem) throw new AddressUnavailable(pick, net.name, problem);
      } else {
        pick = nextFree(lease.subnet, inUse);
        if (pick === undefined) throw new AddressUnavailable('(any)', net.name, `no free address left in this host's subnet ${lease.subnet}`);
      }
      this.reserved.add(net.id, pick, holder);
      const cidr = parseCidr(lease.subnet);
      this.o.log.info({ network: { id: net.id, name: net.name }, ip: pick, holder }, 'address reserved');
      return { ip: pick, prefixLength: cidr.prefixLength, gateway: addressAt(cidr, 1) };
    });
  }

  /** Give back a reserved address; true when it was reserved. Idempotent. */
  releaseAddress(netId: string, ip: string): Promise<boolean> {
    return this.serial(async () => {
      const released = this.reserved.remove(netId, ip);
      if (released) this.o.log.info({ network: { id: netId }, ip }, 'address released');
      return released;
    });
  }

  /** This host's lease of network `netId`, if it holds one. */
  leaseOf(netId: string): SubnetLease | undefined {
    return this.o.leases.get(netId);
  }

  /**
   * For callers already in the serial order: this host's lease of `net`, joining
   * first (then its peers synced) when it has not; a joined network is not repaired
   * here (reconcile and createEndpoint do that). A first join that fails is undone (join).
   */
  private async joinIfNeeded(net: NetworkSpec): Promise<SubnetLease> {
    const held = this.o.leases.get(net.id);
    if (this.joined.has(net.id) && held) return held;
    const lease = await this.join(net);
    await this.syncPeers(net.id);
    return lease;
  }

  // ---- expose --------------------------------------------------------------

  /**
   * Give this host an address on a network (weave expose): reserved in the host's
   * subnet like an endpoint's, put on the uplink, routed to the whole network with
   * it as source, so the host reaches every container of the network on every host
   * without NAT. Joins the network if needed. Idempotent: exposed already, the same
   * address again (and the uplink repaired). Refused on an internal network or when
   * egress is unavailable (no uplink). A failure undoes what was done.
   */
  expose(ref: string): Promise<ExposeResult> {
    return this.serial(async () => {
      const net = this.resolveNetwork(ref);
      const what = `expose host ${this.o.host}`;
      if (net.internal) throw new NetworkInternal(what, net.name);
      if (!this.egress.available) throw new EgressUnavailable(`${what} on network "${net.name}"`, this.o.host, this.egress.reason);
      const undo: Undo = [];
      try {
        const first = !this.joined.has(net.id);
        const held = this.o.leases.get(net.id);
        const lease = await this.join(net); // puts an earlier exposure back on the uplink
        if (first) undo.push(() => this.undoJoin(net.id, held === undefined));
        await this.syncPeers(net.id);
        let ip = this.exposed.ip(net.id);
        if (ip === undefined) {
          ip = nextFree(lease.subnet, this.addressesInUse(net.id));
          if (ip === undefined) throw new AddressUnavailable('(any)', net.name, `no free address left in this host's subnet ${lease.subnet} to expose the host on`);
          // unwound after the record is gone: the uplink loses the address again
          undo.push(() => this.ensureUplink(net, lease, undefined));
          this.exposed.set(net.id, ip);
          undo.push(() => this.exposed.remove(net.id));
          await this.ensureUplink(net, lease, ip);
          this.o.log.info({ network: { id: net.id, name: net.name }, ip }, 'host exposed on the network');
        }
        return { network: net.id, networkName: net.name, ip, prefixLength: parseCidr(net.subnet).prefixLength };
      } catch (err) {
        await this.unwind(undo);
        throw err;
      }
    });
  }

  /**
   * Take the host's address off a network: the uplink loses it (address, routes,
   * proxy-ARP entry), then the record, which frees the address. Throws
   * VXNET_NOT_EXPOSED (404) when the host is not exposed on it.
   */
  unexpose(ref: string): Promise<ExposeResult> {
    return this.serial(async () => {
      const net = this.resolveNetwork(ref);
      const ip = this.exposed.ip(net.id);
      const lease = this.o.leases.get(net.id);
      if (ip === undefined) throw new NotExposed(net.name, this.o.host);
      if (lease && this.joined.has(net.id) && this.uplinks.has(this.uplinkName(net.id))) await this.ensureUplink(net, lease, undefined);
      this.exposed.remove(net.id);
      this.o.log.info({ network: { id: net.id, name: net.name }, ip }, 'host no longer exposed on the network');
      return { network: net.id, networkName: net.name, ip, prefixLength: parseCidr(net.subnet).prefixLength };
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
